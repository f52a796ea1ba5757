// Filter rules as the API describes them; the schemas validate input for every face.
import { type Static, Type as T } from "@sinclair/typebox";

export const RULE_ACTIONS = ["ALLOW", "DROP", "RATE_LIMIT", "CHALLENGE", "LOG", "REDIRECT"] as const;
const literals = <V extends string>(values: readonly V[]) => T.Union(values.map((v) => T.Literal(v)));

const IpPrefix = T.Object(
	{
		address: T.String({ minLength: 1, maxLength: 45 }),
		prefixLength: T.Optional(T.Integer({ minimum: 0, maximum: 128 })),
	},
	{ additionalProperties: false },
);
const PortRange = T.Object(
	{ start: T.Integer({ minimum: 1, maximum: 65535 }), end: T.Integer({ minimum: 1, maximum: 65535 }) },
	{ additionalProperties: false },
);
const Country = T.String({ pattern: "^[A-Z]{2}$" });

export const RuleMatch = T.Object(
	{
		sourceIps: T.Optional(T.Array(IpPrefix, { maxItems: 10_000 })),
		sourceIpBlacklist: T.Optional(T.Array(IpPrefix, { maxItems: 10_000 })),
		sourceCountries: T.Optional(T.Array(Country, { maxItems: 250 })),
		sourceCountryBlacklist: T.Optional(T.Array(Country, { maxItems: 250 })),
		sourceAsns: T.Optional(T.Array(T.Integer({ minimum: 1, maximum: 4_294_967_295 }), { maxItems: 1000 })),
		destinationIps: T.Optional(T.Array(IpPrefix, { maxItems: 100 })),
		destinationPorts: T.Optional(T.Array(PortRange, { maxItems: 4 })),
		protocols: T.Optional(T.Array(literals(["TCP", "UDP", "ICMP"] as const), { maxItems: 3 })),
		l7Protocols: T.Optional(
			T.Array(literals(["HTTP", "MINECRAFT_JAVA", "MINECRAFT_BEDROCK", "QUIC"] as const), { maxItems: 4 }),
		),
		l7Match: T.Optional(T.Record(T.String(), T.Unknown())),
		timeMatch: T.Optional(
			T.Object(
				{
					daysOfWeek: T.Optional(T.Array(T.Integer({ minimum: 0, maximum: 6 }), { maxItems: 7 })),
					timeRanges: T.Optional(
						T.Array(
							T.Object(
								{
									startMinutes: T.Integer({ minimum: 0, maximum: 1440 }),
									endMinutes: T.Integer({ minimum: 0, maximum: 1440 }),
								},
								{ additionalProperties: false },
							),
							{ maxItems: 16 },
						),
					),
				},
				{ additionalProperties: false },
			),
		),
	},
	{ additionalProperties: false },
);
export type RuleMatch = Static<typeof RuleMatch>;

export const RuleRateLimit = T.Object(
	{
		requestsPerSecond: T.Integer({ minimum: 1, maximum: 100_000_000 }),
		burstSize: T.Optional(T.Integer({ minimum: 1, maximum: 1_000_000_000 })),
		windowSeconds: T.Optional(T.Integer({ minimum: 1, maximum: 86_400 })),
	},
	{ additionalProperties: false },
);

export const RuleCreate = T.Object(
	{
		backendId: T.String({ minLength: 1 }),
		name: T.String({ minLength: 1, maxLength: 200 }),
		description: T.Optional(T.String({ maxLength: 2000 })),
		priority: T.Optional(T.Integer({ minimum: 0, maximum: 1_000_000 })),
		enabled: T.Optional(T.Boolean()),
		match: T.Optional(RuleMatch),
		action: literals(RULE_ACTIONS),
		rateLimit: T.Optional(RuleRateLimit),
	},
	{ additionalProperties: false },
);
export type RuleCreate = Static<typeof RuleCreate>;

export const RuleUpdate = T.Partial(T.Omit(RuleCreate, ["backendId"]), { additionalProperties: false });
export type RuleUpdate = Static<typeof RuleUpdate>;

export const RuleBulkCreate = T.Object(
	{ rules: T.Array(RuleCreate, { minItems: 1, maxItems: 10_000 }) },
	{ additionalProperties: false },
);
export const RuleBulkDelete = T.Object(
	{ ruleIds: T.Array(T.String({ minLength: 1 }), { minItems: 1, maxItems: 10_000 }) },
	{ additionalProperties: false },
);
export const RuleReorder = T.Object(
	{ backendId: T.String({ minLength: 1 }), ruleIds: T.Array(T.String({ minLength: 1 }), { maxItems: 10_000 }) },
	{ additionalProperties: false },
);
export const GRANULARITIES = ["MINUTE", "HOUR", "DAY"] as const;

export interface RuleStats {
	packetsMatched: number;
	bytesMatched: number;
	/** Packets the rule itself dropped: all matches for DROP, none for ALLOW/LOG/CHALLENGE/REDIRECT, null for RATE_LIMIT (the kernel counts matches, not which of them exceeded the limit). */
	packetsDropped: number | null;
	lastMatched: string | null;
}

/** Backend types the proxy can challenge or redirect (CHALLENGE, REDIRECT are proxy actions). */
export const PROXY_ACTION_TYPES: Record<"CHALLENGE" | "REDIRECT", readonly string[]> = {
	// HTTPS is routed by SNI without terminating TLS and RakNet has no place to show a challenge.
	CHALLENGE: ["HTTP", "MINECRAFT_JAVA"],
	REDIRECT: ["HTTP", "HTTPS", "TCP", "UDP", "MINECRAFT_JAVA", "MINECRAFT_BEDROCK"],
};

export interface FilterRule {
	id: string;
	backendId: string;
	name: string;
	description: string;
	priority: number;
	enabled: boolean;
	match: RuleMatch;
	action: (typeof RULE_ACTIONS)[number];
	rateLimit: Static<typeof RuleRateLimit> | null;
	stats: RuleStats;
	createdAt: string;
	updatedAt: string;
}
