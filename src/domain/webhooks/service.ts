// Webhook subscriptions, and the enqueueing of events for them. Delivery (HTTP, retries,
// signatures) is src/notify/webhooks.ts; this service only decides what is owed to whom.
import type { Database } from "bun:sqlite";
import { requirePermission } from "../../auth/rbac.ts";
import type { DomainEvent } from "../../events.ts";
import type { Actor } from "../actor.ts";
import type { AuditService } from "../audit/service.ts";
import { NotFound } from "../errors.ts";
import { newId, nowIso, randomString } from "../ids.ts";
import { type Page, paginate } from "../pagination.ts";
import { check } from "../validate.ts";
import {
	WEBHOOK_EVENTS,
	type Webhook,
	WebhookCreate,
	type WebhookDelivery,
	type WebhookEvent,
	WebhookUpdate,
} from "./model.ts";

interface WebhookRow {
	id: string;
	organization_id: string;
	url: string;
	events: string;
	secret: string;
	enabled: number;
	disabled_reason: string | null;
	created_at: string;
	updated_at: string;
}

export interface DeliveryRow {
	id: string;
	webhook_id: string;
	event_id: string;
	event_type: string;
	payload: string;
	status: WebhookDelivery["status"];
	attempts: number;
	next_attempt_at: number;
	last_attempt_at: number | null;
	last_status_code: number | null;
	last_error: string | null;
	created_at: string;
	delivered_at: string | null;
}

const toWebhook = (r: WebhookRow): Webhook => ({
	id: r.id,
	url: r.url,
	events: JSON.parse(r.events),
	enabled: r.enabled === 1,
	disabledReason: r.disabled_reason,
	secretPrefix: r.secret.slice(0, 10),
	createdAt: r.created_at,
	updatedAt: r.updated_at,
});

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export const toDelivery = (r: DeliveryRow): WebhookDelivery => ({
	id: r.id,
	eventId: r.event_id,
	eventType: r.event_type,
	status: r.status,
	attempts: r.attempts,
	nextAttemptAt: r.status === "pending" ? iso(r.next_attempt_at) : null,
	lastAttemptAt: iso(r.last_attempt_at),
	lastStatusCode: r.last_status_code,
	lastError: r.last_error,
	createdAt: r.created_at,
	deliveredAt: r.delivered_at,
});

const SUBSCRIBABLE = new Set<string>(WEBHOOK_EVENTS);

export class WebhookService {
	constructor(
		private readonly db: Database,
		private readonly audit: AuditService,
		/** The deliverer's clock, so tests can move time. */
		private readonly now: () => number = Date.now,
	) {}

	/** Creates a subscription; the secret (given or generated) is returned this once. */
	create(actor: Actor, input: unknown): Webhook & { secret: string } {
		requirePermission(actor, "admin");
		check(WebhookCreate, input);
		const id = newId("wh");
		const secret = input.secret ?? `whsec_${randomString(32, "0123456789abcdefghijklmnopqrstuvwxyz")}`;
		const now = nowIso();
		this.db.transaction(() => {
			this.db
				.prepare(
					`INSERT INTO webhooks (id, organization_id, url, events, secret, enabled, created_at, updated_at)
					 VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
				)
				.run(
					id,
					actor.organizationId,
					input.url,
					JSON.stringify(input.events),
					secret,
					input.enabled === false ? 0 : 1,
					now,
					now,
				);
			this.audit.record(actor, {
				action: "webhook.created",
				resourceType: "webhook",
				resourceId: id,
				description: `Created webhook to ${input.url}`,
				metadata: { events: input.events },
			});
		})();
		return { ...this.get(actor, id), secret };
	}

	get(actor: Actor, id: string): Webhook {
		requirePermission(actor, "read");
		return toWebhook(this.row(actor, id));
	}

	list(actor: Actor, page = 1, pageSize = 20): Page<Webhook> {
		requirePermission(actor, "read");
		const rows = this.db
			.query<WebhookRow, [string]>("SELECT * FROM webhooks WHERE organization_id = ? ORDER BY created_at, id")
			.all(actor.organizationId);
		return paginate(rows.map(toWebhook), page, pageSize);
	}

	/** Re-enabling clears the reason it was disabled for. */
	update(actor: Actor, id: string, input: unknown): Webhook {
		requirePermission(actor, "admin");
		check(WebhookUpdate, input);
		const current = this.row(actor, id);
		this.db.transaction(() => {
			const enabled = input.enabled ?? current.enabled === 1;
			this.db
				.prepare(
					`UPDATE webhooks SET url = ?, events = ?, secret = ?, enabled = ?, disabled_reason = ?, updated_at = ?
					 WHERE id = ?`,
				)
				.run(
					input.url ?? current.url,
					input.events ? JSON.stringify(input.events) : current.events,
					input.secret ?? current.secret,
					enabled ? 1 : 0,
					enabled ? null : current.disabled_reason,
					nowIso(),
					id,
				);
			this.audit.record(actor, {
				action: "webhook.updated",
				resourceType: "webhook",
				resourceId: id,
				description: `Updated webhook to ${input.url ?? current.url}`,
				metadata: { fields: Object.keys(input as object).filter((k) => k !== "secret") },
			});
		})();
		return this.get(actor, id);
	}

	delete(actor: Actor, id: string): void {
		requirePermission(actor, "admin");
		const current = this.row(actor, id);
		this.db.transaction(() => {
			this.db.prepare("DELETE FROM webhooks WHERE id = ?").run(id);
			this.audit.record(actor, {
				action: "webhook.deleted",
				resourceType: "webhook",
				resourceId: id,
				description: `Deleted webhook to ${current.url}`,
			});
		})();
	}

	deliveries(actor: Actor, id: string, page = 1, pageSize = 20): Page<WebhookDelivery> {
		requirePermission(actor, "read");
		this.row(actor, id);
		const rows = this.db
			.query<DeliveryRow, [string]>(
				"SELECT * FROM webhook_deliveries WHERE webhook_id = ? ORDER BY created_at DESC, id DESC",
			)
			.all(id);
		return paginate(rows.map(toDelivery), page, pageSize);
	}

	/** Queues a test event for one webhook, whatever its subscriptions; returns the delivery. */
	sendTest(actor: Actor, id: string): WebhookDelivery {
		requirePermission(actor, "write");
		const hook = this.row(actor, id);
		const event = this.envelope({
			type: "webhook.test",
			organizationId: actor.organizationId,
			resourceId: id,
			data: { webhookId: id, message: "Test event from PistonProtection" },
		});
		const deliveryId = this.db.transaction(() => {
			const deliveryId = this.insertDelivery(hook.id, event);
			this.audit.record(actor, {
				action: "webhook.tested",
				resourceType: "webhook",
				resourceId: id,
				description: `Sent a test event to ${hook.url}`,
			});
			return deliveryId;
		})();
		return toDelivery(
			this.db
				.query<DeliveryRow, [string]>("SELECT * FROM webhook_deliveries WHERE id = ?")
				.get(deliveryId) as DeliveryRow,
		);
	}

	/**
	 * Records a delivery for every enabled subscription of the event's organization; runs in one
	 * transaction so an event is owed to all of them or to none. Returns how many were queued.
	 */
	enqueue(event: DomainEvent): number {
		if (!SUBSCRIBABLE.has(event.type) || !event.organizationId) return 0;
		const hooks = this.db
			.query<WebhookRow, [string]>("SELECT * FROM webhooks WHERE organization_id = ? AND enabled = 1")
			.all(event.organizationId)
			.filter((h) => (JSON.parse(h.events) as string[]).includes(event.type as WebhookEvent));
		if (!hooks.length) return 0;
		const envelope = this.envelope(event);
		this.db.transaction(() => {
			for (const h of hooks) this.insertDelivery(h.id, envelope);
		})();
		return hooks.length;
	}

	private envelope(event: DomainEvent): { id: string; type: string; timestamp: string; body: string } {
		const id = newId("evt");
		const timestamp = new Date(this.now()).toISOString();
		const data = { ...(event.resourceId ? { resourceId: event.resourceId } : {}), ...event.data };
		const body = JSON.stringify({ id, type: event.type, timestamp, organizationId: event.organizationId, data });
		return { id, type: event.type, timestamp, body };
	}

	private insertDelivery(webhookId: string, e: { id: string; type: string; body: string }): string {
		const id = newId("whd");
		this.db
			.prepare(
				`INSERT INTO webhook_deliveries (id, webhook_id, event_id, event_type, payload, status, next_attempt_at, created_at)
				 VALUES (?, ?, ?, ?, ?, 'pending', ?, ?)`,
			)
			.run(id, webhookId, e.id, e.type, e.body, this.now(), nowIso());
		return id;
	}

	private row(actor: Actor, id: string): WebhookRow {
		const row = this.db
			.query<WebhookRow, [string, string]>("SELECT * FROM webhooks WHERE id = ? AND organization_id = ?")
			.get(id, actor.organizationId);
		if (!row) throw new NotFound("webhook", id);
		return row;
	}
}
