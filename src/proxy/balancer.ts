// Choosing an origin for a new connection: priority tiers first (the lowest priority number
// with a usable origin serves; higher numbers are failover), then the backend's algorithm
// over that tier, weighted. Weight 0 drains an origin: it takes no new connections.
import type { Backend } from "../domain/backends/model.ts";

export type Health = "HEALTHY" | "UNHEALTHY" | "UNKNOWN";

/** The live state of one origin that the balancer reads (owned by the supervisor). */
export interface OriginState {
	id: string;
	weight: number;
	priority: number;
	enabled: boolean;
	health: Health;
	active: number;
	maxConnections: number | null;
	/** Smooth weighted round robin's running score. */
	current: number;
}

/** UNKNOWN (not checked yet, or checks disabled) serves; only a failed check takes an origin out. */
export function usable(o: OriginState): boolean {
	return o.enabled && o.weight > 0 && o.health !== "UNHEALTHY";
}

function hasRoom(o: OriginState): boolean {
	return o.maxConnections === null || o.active < o.maxConnections;
}

/** The serving tier: origins of the lowest priority number that has a usable one with room. */
export function servingTier<T extends OriginState>(
	origins: readonly T[],
	exclude: ReadonlySet<string> = new Set(),
): T[] {
	let best = Number.POSITIVE_INFINITY;
	for (const o of origins) if (usable(o) && o.priority < best && !exclude.has(o.id) && hasRoom(o)) best = o.priority;
	return origins.filter((o) => o.priority === best && usable(o) && hasRoom(o) && !exclude.has(o.id));
}

export class Balancer {
	private readonly sticky = new Map<string, { originId: string; until: number }>();

	constructor(
		private config: Backend["loadBalancer"],
		private readonly stickyTtlMs: number,
	) {}

	setConfig(config: Backend["loadBalancer"]): void {
		this.config = config;
		if (!config.stickySessions) this.sticky.clear();
	}

	/** An origin for a client, or null when none is usable; `exclude` skips origins that just failed. */
	pick<T extends OriginState>(
		origins: readonly T[],
		clientIp: string,
		exclude: ReadonlySet<string> = new Set(),
	): T | null {
		const tier = servingTier(origins, exclude);
		if (tier.length === 0) return null;
		const now = Date.now();
		if (this.config.stickySessions) {
			const s = this.sticky.get(clientIp);
			if (s && s.until > now) {
				const o = tier.find((x) => x.id === s.originId);
				if (o) {
					s.until = now + this.stickyTtlMs;
					return o;
				}
			}
		}
		const chosen = this.choose(tier, clientIp);
		if (this.config.stickySessions) {
			if (this.sticky.size > 100_000) this.sweep(now);
			this.sticky.set(clientIp, { originId: chosen.id, until: now + this.stickyTtlMs });
		}
		return chosen;
	}

	private choose<T extends OriginState>(tier: T[], clientIp: string): T {
		switch (this.config.algorithm) {
			case "LEAST_CONNECTIONS": {
				let best = tier[0] as T;
				for (const o of tier) if (o.active / o.weight < best.active / best.weight) best = o;
				return best;
			}
			case "RANDOM": {
				const total = tier.reduce((s, o) => s + o.weight, 0);
				let r = Math.random() * total;
				for (const o of tier) {
					r -= o.weight;
					if (r < 0) return o;
				}
				return tier[tier.length - 1] as T;
			}
			case "IP_HASH": {
				// Rendezvous hashing: a client keeps its origin while that origin stays in the tier.
				let best = tier[0] as T;
				let bestScore = -1;
				for (const o of tier) {
					const h = Number(BigInt.asUintN(32, BigInt(Bun.hash.wyhash(`${clientIp}|${o.id}`)))) / 0x100000000;
					const score = -o.weight / Math.log(h || Number.MIN_VALUE);
					if (score > bestScore) {
						bestScore = score;
						best = o;
					}
				}
				return best;
			}
			default: {
				// Smooth weighted round robin (as nginx): even spread, proportional to weight.
				let total = 0;
				let best = tier[0] as T;
				for (const o of tier) {
					o.current += o.weight;
					total += o.weight;
					if (o.current > best.current) best = o;
				}
				best.current -= total;
				return best;
			}
		}
	}

	private sweep(now: number): void {
		for (const [k, v] of this.sticky) if (v.until <= now) this.sticky.delete(k);
	}
}
