// The proxy's in-memory picture of a backend, built by the supervisor from the database and
// updated in place on every change, so open connections keep their objects.
import type { Config } from "../config.ts";
import type { Backend } from "../domain/backends/model.ts";
import type { GeoAnswer } from "../geoip/database.ts";
import type { Logger } from "../log.ts";
import type { ProxyCounters } from "../services.ts";
import type { Balancer, OriginState } from "./balancer.ts";
import type { HealthState } from "./health.ts";
import type { Pong } from "./raknet.ts";
import type { ProxyRule } from "./rules.ts";

export interface OriginRuntime extends OriginState {
	name: string;
	address: string;
	port: number;
	connectTimeoutMs: number;
	readTimeoutMs: number | null;
	writeTimeoutMs: number | null;
	proxyProtocol: 0 | 1 | 2;
	/** The backend's REDIRECT target: never balanced to, only redirected to. */
	honeypot: boolean;
	check: HealthState;
}

/** What a connection must be able to end when its backend goes away. */
export interface Closable {
	close(reason: string): void;
}

export interface BackendRuntime {
	id: string;
	organizationId: string;
	name: string;
	type: Backend["type"];
	domains: string[];
	protection: Backend["protection"];
	healthCheck: Backend["healthCheck"];
	/** Origins that balance (honeypots excluded). */
	origins: OriginRuntime[];
	honeypot: OriginRuntime | null;
	balancer: Balancer;
	rules: ProxyRule[];
	connections: Set<Closable>;
	counters: ProxyCounters;
	/** Last good Minecraft status JSON and when it was read. */
	status: { json: string; at: number } | null;
	/** Last good RakNet pong and when it was read. */
	pong: { pong: Pong; at: number } | null;
	deleted: boolean;
}

export const DEFAULT_CONNECT_TIMEOUT_MS = 5000;

export type ProxyConfig = Config["proxy"];

/** What every listener (TCP and UDP) gets from the supervisor. */
export interface ListenerContext {
	config(): ProxyConfig;
	log: Logger;
	trustedUpstream(ip: string): boolean;
	/**
	 * Counts an open connection or session from ip against proxy.max_connections_per_ip (one
	 * budget for TCP and UDP); false when the address is at its limit.
	 */
	acquireAddress(ip: string): boolean;
	releaseAddress(ip: string): void;
	/** The source's country and ASN from the GeoIP databases (empty without them). */
	geo(ip: string): GeoAnswer;
}

/** Where a REDIRECT rule sends a connection: the honeypot origin while it is enabled, else nowhere
 * (never to the balanced origins). */
export function redirectTarget(b: BackendRuntime): OriginRuntime | null {
	return b.honeypot?.enabled ? b.honeypot : null;
}

/** Whether the backend's challenge applies to a connection the rules did not already decide. */
export function challengeByLevel(b: BackendRuntime): boolean {
	return b.protection.challenge?.enabled === true && b.protection.level === "UNDER_ATTACK";
}

/** Whether a cached status may be answered instead of asking the origin. */
export function serveFromCache(b: BackendRuntime): boolean {
	return b.protection.level === "UNDER_ATTACK" || !b.origins.some((o) => o.enabled && o.health !== "UNHEALTHY");
}

/** Picks the backend for a routed host: by domain, or the only backend when it lists none. */
export function selectBackend(
	backends: readonly BackendRuntime[],
	host: string | null,
	match: (d: readonly string[], h: string) => boolean,
): BackendRuntime | null {
	if (host !== null) for (const b of backends) if (b.domains.length && match(b.domains, host)) return b;
	if (backends.length === 1 && (backends[0] as BackendRuntime).domains.length === 0)
		return backends[0] as BackendRuntime;
	return null;
}
