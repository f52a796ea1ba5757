// The domain services, built once per process over one database and one event bus.
// Faces (REST, gRPC, UI, CLI) receive this and call into it; they hold no logic of their own.
import type { Database } from "bun:sqlite";
import { KeyRing } from "./auth/keys.ts";
import { RateLimiter } from "./auth/ratelimit.ts";
import { AuthService } from "./auth/service.ts";
import { LoginThrottle } from "./auth/throttle.ts";
import type { Config } from "./config.ts";
import type { SynDefense } from "./dataplane/synproxy.ts";
import { AlertService } from "./domain/alerts/service.ts";
import { ApiKeyService } from "./domain/apikeys/service.ts";
import { AuditService } from "./domain/audit/service.ts";
import { BackendService } from "./domain/backends/service.ts";
import { InvitationService } from "./domain/invitations/service.ts";
import { IpListService } from "./domain/iplists/service.ts";
import { OAuthService } from "./domain/oauth/service.ts";
import { OrganizationService } from "./domain/organizations/service.ts";
import { FilterRuleService } from "./domain/rules/service.ts";
import { UserService } from "./domain/users/service.ts";
import { WebhookService } from "./domain/webhooks/service.ts";
import { EventBus } from "./events.ts";
import { GeoIpService } from "./geoip/service.ts";
import type { Logger } from "./log.ts";
import { Collector } from "./telemetry/collector.ts";
import { MetricsService } from "./telemetry/metrics.ts";

export interface DataPlaneReadiness {
	/** disabled: deliberately off in config; idle: loaded, no interface configured. */
	state: "disabled" | "idle" | "attached" | "failed" | "starting";
	interfaces: Array<{ name: string; mode: string }>;
	/** The database revisions the kernel's maps reflect (see dataplane_revisions). */
	applied?: { services: number; rules: number; lists: number };
	/** The SYN-flood defence in place (src/dataplane/synproxy.ts), once loaded. */
	synDefense?: SynDefense;
	error?: string;
}

export type OriginHealth = "HEALTHY" | "UNHEALTHY" | "UNKNOWN";

/**
 * A backend's proxy figures, cumulative since the proxy began serving it (they restart from zero
 * with the daemon, like any counter). TCP connections and UDP sessions count alike.
 */
export interface ProxyCounters {
	/** Payload bytes forwarded client → origin (PROXY headers not included). */
	bytesFromClients: number;
	/** Payload bytes forwarded origin → client. */
	bytesToClients: number;
	/** Connections and sessions that reached an origin, and those of them that ended. */
	opened: number;
	closed: number;
	/** Refused by the per-address limit (UDP: each datagram that could not start a session). */
	refusedLimit: number;
	/** Answered with a challenge (reconnect message, proof-of-work page) instead of an origin. */
	refusedChallenge: number;
	/** No origin could take it: none usable, all unreachable, or a REDIRECT without a honeypot. */
	refusedRouting: number;
}

export const PROXY_COUNTER_NAMES = [
	"bytesFromClients",
	"bytesToClients",
	"opened",
	"closed",
	"refusedLimit",
	"refusedChallenge",
	"refusedRouting",
] as const satisfies ReadonlyArray<keyof ProxyCounters>;

export const emptyProxyCounters = (): ProxyCounters => ({
	bytesFromClients: 0,
	bytesToClients: 0,
	opened: 0,
	closed: 0,
	refusedLimit: 0,
	refusedChallenge: 0,
	refusedRouting: 0,
});

/** What the proxy supervisor tells the domain about live traffic (src/proxy registers it). */
export interface ProxyView {
	originHealth(originId: string): OriginHealth;
	activeConnections(backendId: string): number | null;
	/** The backend's cumulative counters, or null when the proxy does not serve it. */
	counters(backendId: string): ProxyCounters | null;
	/** Refusals no backend could be named for: a shared listener's per-address limit, an unknown host. */
	refusedUnrouted(): { limit: number; routing: number };
}

/** What the data plane tells the domain about its counters (src/dataplane registers it). */
export interface CounterView {
	/** Live totals of a rule's kernel counters (its stats slot). */
	rule(slot: number): { packets: number; bytes: number; lastMatched: string | null } | null;
	/** A backend's rates over the last sampled second, or null before two samples exist. */
	backendRates(dpIndex: number): BackendRates | null;
}

export interface BackendRates {
	packetsPerSecond: number;
	bytesPerSecond: number;
	passedPacketsPerSecond: number;
	droppedPacketsPerSecond: number;
	sampledAt: string;
}

/** Live views the domain reads through (the proxy and the data plane register theirs later). */
export interface LiveView {
	originHealth(originId: string): OriginHealth;
	activeConnections(backendId: string): number | null;
	proxyCounters(backendId: string): ProxyCounters | null;
	counters(): CounterView | null;
}

export interface Readiness {
	ready: boolean;
	database: "ok" | "error";
	dataplane: DataPlaneReadiness;
}

export function createServices(db: Database, config: Config, log: Logger) {
	const bus = new EventBus();
	const audit = new AuditService(db);
	const settings = () => config;
	const organizations = new OrganizationService(db, settings, audit);
	const users = new UserService(db, organizations, audit);
	const apiKeys = new ApiKeyService(db, audit);
	const keys = KeyRing.open(config.storage.data_dir);
	const auth = new AuthService(db, settings, audit, apiKeys, keys, new LoginThrottle(() => config.auth));
	const invitations = new InvitationService(db, settings, organizations, users, audit);
	const oauth = new OAuthService(db, settings, auth, audit);
	const rateLimiter = new RateLimiter();
	const geoip = new GeoIpService(settings);
	let proxy: ProxyView | null = null;
	const proxyView = () => proxy;
	let counters: CounterView | null = null;
	const live: LiveView = {
		originHealth: (originId: string): OriginHealth => proxy?.originHealth(originId) ?? "UNKNOWN",
		activeConnections: (backendId: string): number | null => proxy?.activeConnections(backendId) ?? null,
		proxyCounters: (backendId: string): ProxyCounters | null => proxy?.counters(backendId) ?? null,
		counters: () => counters,
	};
	const backends = new BackendService(db, audit, bus, config.dataplane.map_sizes.backends, geoip, live);
	const ipLists = new IpListService(db, config, audit, bus);
	const rules = new FilterRuleService(db, audit, bus, settings, geoip, live);
	// The one sampler of the data plane's counters; the data plane attaches its maps when loaded.
	const telemetry = new Collector({
		db,
		settings,
		log: log.child({ component: "telemetry" }),
		bus,
		geoip,
		backends,
		activeConnections: live.activeConnections,
		proxyCounters: live.proxyCounters,
	});
	const metrics = new MetricsService(db, telemetry, live.activeConnections);
	const webhooks = new WebhookService(db, audit);
	const alerts = new AlertService(db, audit, settings);
	let dataplane: () => DataPlaneReadiness = () => ({
		state: config.dataplane.enabled ? "starting" : "disabled",
		interfaces: [],
	});

	return {
		db,
		config,
		log,
		bus,
		audit,
		organizations,
		users,
		apiKeys,
		auth,
		invitations,
		oauth,
		rateLimiter,
		backends,
		ipLists,
		rules,
		webhooks,
		alerts,
		geoip,
		telemetry,
		metrics,
		/** The data plane registers how to report its state once it exists. */
		setDataPlaneReadiness(fn: () => DataPlaneReadiness) {
			dataplane = fn;
		},
		/** The proxy registers its live view of origins; until then every origin is UNKNOWN. */
		setProxyView(view: ProxyView) {
			proxy = view;
		},
		/** The data plane registers its counters once loaded; until then rule stats and rates come from samples only. */
		setCounterView(view: CounterView | null) {
			counters = view;
		},
		/** The data plane's live counters and per-second rates, or null while it is not loaded. */
		counters: live.counters,
		/** Health and connections of an origin as the proxy's health checks see them. */
		originHealth: live.originHealth,
		/** Open proxied connections of a backend, or null when no proxy serves it. */
		activeConnections: live.activeConnections,
		/** A backend's cumulative proxy counters, or null when no proxy serves it. */
		proxyCounters: live.proxyCounters,
		/** The proxy's live view, or null while no proxy runs in this process. */
		proxy: proxyView,
		readiness(): Readiness {
			let database: Readiness["database"] = "ok";
			try {
				db.query("SELECT 1").get();
			} catch {
				database = "error";
			}
			const dp = dataplane();
			const dataplaneOk = dp.state === "attached" || dp.state === "disabled" || dp.state === "idle";
			return {
				ready: database === "ok" && dataplaneOk,
				database,
				dataplane: dp,
			};
		},
	};
}

export type Services = ReturnType<typeof createServices>;
