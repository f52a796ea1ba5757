// The one in-process event bus. Domain services publish after their transaction commits;
// the data-plane reconciler, audit consumers, webhooks and live streams subscribe.

export interface DomainEvent {
	type: string;
	organizationId: string | null;
	resourceId?: string;
	data?: Record<string, unknown>;
}

type Listener = (event: DomainEvent) => void;

export class EventBus {
	private readonly listeners = new Set<{ pattern: string; fn: Listener }>();

	/** Subscribes to one type, a prefix ("backend.*") or everything ("*"); returns the unsubscribe. */
	on(pattern: string, fn: Listener): () => void {
		const entry = { pattern, fn };
		this.listeners.add(entry);
		return () => this.listeners.delete(entry);
	}

	publish(event: DomainEvent): void {
		for (const { pattern, fn } of this.listeners) {
			if (matches(pattern, event.type)) fn(event);
		}
	}
}

function matches(pattern: string, type: string): boolean {
	if (pattern === "*") return true;
	if (pattern.endsWith(".*")) return type.startsWith(pattern.slice(0, -1));
	return pattern === type;
}
