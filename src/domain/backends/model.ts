// Backends as the API describes them. The schemas validate input for every face (REST, gRPC,
// UI, CLI) and document the API; types are derived from them.
import { type Static, Type as T } from "@sinclair/typebox";

export const BACKEND_TYPES = ["HTTP", "HTTPS", "TCP", "UDP", "MINECRAFT_JAVA", "MINECRAFT_BEDROCK", "QUIC"] as const;
export const PROTECTION_LEVELS = ["OFF", "LOW", "MEDIUM", "HIGH", "UNDER_ATTACK"] as const;
/** Levels auto-mitigation may raise a backend to. */
export const MITIGATION_LEVELS = ["LOW", "MEDIUM", "HIGH", "UNDER_ATTACK"] as const;
export const LB_ALGORITHMS = ["ROUND_ROBIN", "LEAST_CONNECTIONS", "RANDOM", "IP_HASH"] as const;
/**
 * The origin named this (any case) is the backend's REDIRECT target: connections a REDIRECT
 * rule matches go there, and it is never balanced to. A backend has at most one, and keeps it
 * while any of its REDIRECT rules exists.
 */
export const HONEYPOT_ORIGIN_NAME = "honeypot";
export const isHoneypot = (originName: string) => originName.toLowerCase() === HONEYPOT_ORIGIN_NAME;

const literals = <V extends string>(values: readonly V[], options: { description?: string } = {}) =>
	T.Union(
		values.map((v) => T.Literal(v)),
		options,
	);

export const BackendType = literals(BACKEND_TYPES);
export type BackendType = Static<typeof BackendType>;
export const ProtectionLevel = literals(PROTECTION_LEVELS);
export type ProtectionLevel = Static<typeof ProtectionLevel>;

export const RateLimit = T.Object(
	{
		requestsPerSecond: T.Integer({ minimum: 1, maximum: 100_000_000 }),
		burstSize: T.Optional(T.Integer({ minimum: 1, maximum: 1_000_000_000 })),
	},
	{ additionalProperties: false },
);
export type RateLimit = Static<typeof RateLimit>;

export const OriginSettings = T.Object(
	{
		connectTimeoutMs: T.Optional(T.Integer({ minimum: 100, maximum: 120_000 })),
		readTimeoutMs: T.Optional(T.Integer({ minimum: 100, maximum: 3_600_000 })),
		writeTimeoutMs: T.Optional(T.Integer({ minimum: 100, maximum: 3_600_000 })),
		maxConnections: T.Optional(T.Integer({ minimum: 1, maximum: 1_000_000 })),
		proxyProtocol: T.Optional(T.Union([T.Literal(0), T.Literal(1), T.Literal(2)])),
	},
	{ additionalProperties: false },
);

export const OriginInput = T.Object(
	{
		name: T.String({ minLength: 1, maxLength: 100 }),
		address: T.String({ minLength: 1, maxLength: 253 }),
		port: T.Integer({ minimum: 1, maximum: 65535 }),
		weight: T.Optional(T.Integer({ minimum: 0, maximum: 1000 })),
		priority: T.Optional(T.Integer({ minimum: 1, maximum: 100 })),
		enabled: T.Optional(T.Boolean()),
		settings: T.Optional(OriginSettings),
	},
	{ additionalProperties: false },
);
export type OriginInput = Static<typeof OriginInput>;

export const Listener = T.Object(
	{
		address: T.Optional(T.String({ maxLength: 45, description: "local address; empty or omitted: every address" })),
		port: T.Integer({ minimum: 1, maximum: 65535 }),
		protocol: T.Union([T.Literal("TCP"), T.Literal("UDP")]),
	},
	{ additionalProperties: false },
);
export type Listener = Static<typeof Listener>;

export const Protection = T.Object(
	{
		enabled: T.Optional(T.Boolean()),
		level: T.Optional(ProtectionLevel),
		globalRateLimit: T.Optional(RateLimit),
		perIpRateLimit: T.Optional(RateLimit),
		perIpBandwidth: T.Optional(
			T.Object(
				{
					bytesPerSecond: T.Integer({ minimum: 1, maximum: 4_000_000_000 }),
					burstBytes: T.Optional(T.Integer({ minimum: 1, maximum: 4_000_000_000 })),
				},
				{ additionalProperties: false },
			),
		),
		geoIp: T.Optional(
			T.Object(
				{
					mode: literals(["OFF", "ALLOW_LIST", "BLOCK_LIST"] as const),
					countries: T.Array(T.String({ pattern: "^[A-Z]{2}$" }), { maxItems: 250 }),
				},
				{ additionalProperties: false },
			),
		),
		challenge: T.Optional(
			T.Object(
				{
					enabled: T.Boolean(),
					type: T.Optional(literals(["JAVASCRIPT", "CAPTCHA", "PROOF_OF_WORK", "MINECRAFT_LOGIN"] as const)),
					difficulty: T.Optional(T.Integer({ minimum: 1, maximum: 10 })),
				},
				{ additionalProperties: false },
			),
		),
		autoMitigate: T.Optional(
			T.Object(
				{
					enabled: T.Boolean(),
					level: T.Optional(
						literals(MITIGATION_LEVELS, {
							description: "level while an attack is active; default telemetry.escalation_level",
						}),
					),
				},
				{
					additionalProperties: false,
					description: "raise the protection level while an attack is detected, restore it afterwards",
				},
			),
		),
	},
	{ additionalProperties: false },
);
export type Protection = Static<typeof Protection>;

export const LoadBalancer = T.Object(
	{ algorithm: literals(LB_ALGORITHMS), stickySessions: T.Optional(T.Boolean()) },
	{ additionalProperties: false },
);

export const HealthCheck = T.Object(
	{
		enabled: T.Boolean(),
		intervalSeconds: T.Optional(T.Integer({ minimum: 1, maximum: 3600 })),
		timeoutSeconds: T.Optional(T.Integer({ minimum: 1, maximum: 300 })),
		healthyThreshold: T.Optional(T.Integer({ minimum: 1, maximum: 100 })),
		unhealthyThreshold: T.Optional(T.Integer({ minimum: 1, maximum: 100 })),
		minecraft: T.Optional(T.Object({ queryStatus: T.Boolean() }, { additionalProperties: false })),
		http: T.Optional(
			T.Object(
				{ path: T.String({ pattern: "^/" }), expectedStatus: T.Optional(T.Integer({ minimum: 100, maximum: 599 })) },
				{ additionalProperties: false },
			),
		),
	},
	{ additionalProperties: false },
);

const Domain = T.String({
	maxLength: 253,
	pattern: "^(\\*\\.)?([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\\.)*[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$",
});

export const BackendCreate = T.Object(
	{
		name: T.String({ minLength: 1, maxLength: 253 }),
		type: BackendType,
		origins: T.Optional(T.Array(OriginInput, { maxItems: 64 })),
		listeners: T.Optional(T.Array(Listener, { minItems: 1, maxItems: 16 })),
		loadBalancer: T.Optional(LoadBalancer),
		healthCheck: T.Optional(HealthCheck),
		protection: T.Optional(Protection),
		domains: T.Optional(T.Array(Domain, { maxItems: 100 })),
	},
	{ additionalProperties: false },
);
export type BackendCreate = Static<typeof BackendCreate>;

export const BackendUpdate = T.Partial(BackendCreate, { additionalProperties: false });
export type BackendUpdate = Static<typeof BackendUpdate>;

/** Where a backend listens when its create request names no listeners. */
export const DEFAULT_LISTENERS: Record<BackendType, Listener[] | null> = {
	MINECRAFT_JAVA: [{ port: 25565, protocol: "TCP" }],
	MINECRAFT_BEDROCK: [{ port: 19132, protocol: "UDP" }],
	HTTP: [{ port: 80, protocol: "TCP" }],
	HTTPS: [{ port: 443, protocol: "TCP" }],
	QUIC: [{ port: 443, protocol: "UDP" }],
	TCP: null,
	UDP: null,
};

export const OriginUpdate = T.Partial(OriginInput, { additionalProperties: false });
export type OriginUpdate = Static<typeof OriginUpdate>;

export const HEALTH_STATES = ["HEALTHY", "DEGRADED", "UNHEALTHY", "UNKNOWN"] as const;
export type Health = (typeof HEALTH_STATES)[number];

/** A backend's live state. Rates are null when no data plane measures them (disabled or not loaded). */
export interface BackendStatus {
	health: Health;
	healthyOrigins: number;
	totalOrigins: number;
	/** Packets per second admitted to the backend's listeners (what passed every check). */
	requestsPerSecond: number | null;
	/** Bytes per second received for the backend's listeners. */
	bytesPerSecond: number | null;
	/** Packets per second received for the backend's listeners. */
	packetsPerSecond: number | null;
	/** Open proxied connections; null until the proxy serves the backend. */
	activeConnections: number | null;
	/** True while attack detection (src/telemetry) has an attack on the backend open. */
	underAttack: boolean;
	lastUpdated: string;
}

export interface Origin {
	id: string;
	name: string;
	address: string;
	port: number;
	weight: number;
	priority: number;
	enabled: boolean;
	healthStatus: "HEALTHY" | "UNHEALTHY" | "UNKNOWN";
	settings: Static<typeof OriginSettings>;
}

export interface Backend {
	id: string;
	organizationId: string;
	name: string;
	type: BackendType;
	listeners: Array<{ address: string; port: number; protocol: "TCP" | "UDP" }>;
	origins: Origin[];
	loadBalancer: Static<typeof LoadBalancer>;
	healthCheck: Static<typeof HealthCheck>;
	protection: Protection & { enabled: boolean; level: ProtectionLevel };
	domains: string[];
	status: BackendStatus;
	createdAt: string;
	updatedAt: string;
}
