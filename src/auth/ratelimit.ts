// API rate limits by tier (spec, Rate Limits): a per-minute window of `requestsPerMinute` and a
// token bucket of `burst` refilled at requestsPerMinute/60 per second, so a client can neither
// exceed the minute's allowance nor spend it in one spike. Authenticated requests count against
// their organization, anonymous ones against their source address. State is in memory: limits
// protect this process, and a restart forgetting them is harmless.
import { DomainError } from "../domain/errors.ts";

export type Tier = "FREE" | "PRO" | "BUSINESS" | "ENTERPRISE";
export const TIERS: Tier[] = ["FREE", "PRO", "BUSINESS", "ENTERPRISE"];

/** null: unlimited (Enterprise). */
export const TIER_LIMITS: Record<Tier, { requestsPerMinute: number; burst: number } | null> = {
	FREE: { requestsPerMinute: 60, burst: 10 },
	PRO: { requestsPerMinute: 600, burst: 100 },
	BUSINESS: { requestsPerMinute: 3000, burst: 500 },
	ENTERPRISE: null,
};

export class TooManyRequests extends DomainError {
	constructor(
		readonly retryAfter: number,
		message = `You have exceeded the rate limit. Please retry after ${retryAfter} seconds.`,
	) {
		super(429, "rate-limited", message);
	}
}

export interface RateDecision {
	allowed: boolean;
	headers: Record<string, string>;
	retryAfter: number;
}

interface Bucket {
	windowStart: number;
	count: number;
	tokens: number;
	refilledAt: number;
}

const WINDOW_MS = 60_000;
const MAX_TRACKED = 50_000;

export class RateLimiter {
	private readonly buckets = new Map<string, Bucket>();

	consume(subject: string, tier: Tier, now = Date.now()): RateDecision {
		const limits = TIER_LIMITS[tier];
		const windowStart = now - (now % WINDOW_MS);
		const reset = String((windowStart + WINDOW_MS) / 1000);
		if (!limits)
			return {
				allowed: true,
				retryAfter: 0,
				headers: { "X-RateLimit-Limit": "unlimited", "X-RateLimit-Remaining": "unlimited", "X-RateLimit-Reset": reset },
			};
		let b = this.buckets.get(subject);
		if (!b) {
			if (this.buckets.size >= MAX_TRACKED) this.prune(windowStart);
			b = { windowStart, count: 0, tokens: limits.burst, refilledAt: now };
			this.buckets.set(subject, b);
		}
		if (b.windowStart !== windowStart) {
			b.windowStart = windowStart;
			b.count = 0;
		}
		const rate = limits.requestsPerMinute / 60_000;
		b.tokens = Math.min(limits.burst, b.tokens + (now - b.refilledAt) * rate);
		b.refilledAt = now;

		let retryAfter = 0;
		if (b.count >= limits.requestsPerMinute) retryAfter = Math.ceil((windowStart + WINDOW_MS - now) / 1000);
		else if (b.tokens < 1) retryAfter = Math.ceil((1 - b.tokens) / rate / 1000);
		const allowed = retryAfter === 0;
		if (allowed) {
			b.count++;
			b.tokens -= 1;
		}
		const remaining = Math.max(0, Math.min(limits.requestsPerMinute - b.count, Math.floor(b.tokens)));
		const headers: Record<string, string> = {
			"X-RateLimit-Limit": String(limits.requestsPerMinute),
			"X-RateLimit-Remaining": String(remaining),
			"X-RateLimit-Reset": reset,
		};
		if (!allowed) {
			headers["X-RateLimit-RetryAfter"] = String(retryAfter);
			headers["Retry-After"] = String(retryAfter);
		}
		return { allowed, headers, retryAfter };
	}

	private prune(windowStart: number): void {
		for (const [k, b] of this.buckets) if (b.windowStart < windowStart) this.buckets.delete(k);
		// Still full of live subjects: forget the oldest half rather than grow without bound.
		if (this.buckets.size >= MAX_TRACKED) {
			let n = 0;
			for (const k of this.buckets.keys()) if (n++ < MAX_TRACKED / 2) this.buckets.delete(k);
		}
	}
}
