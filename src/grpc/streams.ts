// The spec's "Concurrent Streams" per tier (Rate Limits): open Watch*/Stream* calls of one
// organization, across every client and credential. In memory, like the request limits.
import type { Tier } from "../auth/ratelimit.ts";
import { DomainError } from "../domain/errors.ts";

/** null: unlimited (Enterprise). */
export const CONCURRENT_STREAMS: Record<Tier, number | null> = {
	FREE: 1,
	PRO: 10,
	BUSINESS: 50,
	ENTERPRISE: null,
};

export class StreamLimitExceeded extends DomainError {
	constructor(tier: Tier, limit: number) {
		super(
			429,
			"rate-limited",
			`the ${tier} tier allows ${limit} concurrent stream${limit === 1 ? "" : "s"} per organization; close one first`,
		);
	}
}

export class StreamLimiter {
	private readonly open = new Map<string, number>();

	/** Counts one open stream of the organization; returns its release (idempotent). */
	acquire(organizationId: string, tier: Tier): () => void {
		const limit = CONCURRENT_STREAMS[tier];
		const current = this.open.get(organizationId) ?? 0;
		if (limit !== null && current >= limit) throw new StreamLimitExceeded(tier, limit);
		this.open.set(organizationId, current + 1);
		let released = false;
		return () => {
			if (released) return;
			released = true;
			const n = (this.open.get(organizationId) ?? 1) - 1;
			if (n > 0) this.open.set(organizationId, n);
			else this.open.delete(organizationId);
		};
	}

	count(organizationId: string): number {
		return this.open.get(organizationId) ?? 0;
	}
}
