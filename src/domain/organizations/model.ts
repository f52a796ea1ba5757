// Organizations: the API's shapes for the organization, its update and its usage.
import { type Static, Type as T } from "@sinclair/typebox";

export const TierSchema = T.Union(
	[T.Literal("FREE"), T.Literal("PRO"), T.Literal("BUSINESS"), T.Literal("ENTERPRISE")],
	{
		description: "rate-limit tier; only an OWNER may change it (billing)",
	},
);

export const Organization = T.Object({
	id: T.String(),
	name: T.String(),
	logoUrl: T.Union([T.String(), T.Null()]),
	tier: TierSchema,
	createdAt: T.String({ format: "date-time" }),
	updatedAt: T.String({ format: "date-time" }),
});
export type Organization = Static<typeof Organization>;

export const OrganizationUpdate = T.Object(
	{
		name: T.Optional(T.String({ minLength: 1, maxLength: 100 })),
		logoUrl: T.Optional(T.Union([T.String({ maxLength: 2048 }), T.Null()])),
		tier: T.Optional(TierSchema),
	},
	{ additionalProperties: false },
);
export type OrganizationUpdate = Static<typeof OrganizationUpdate>;

export const OrganizationUsage = T.Object({
	backendsCount: T.Integer(),
	domainsCount: T.Integer(),
	filterRulesCount: T.Integer(),
	bandwidthUsed: T.Integer(),
	requestsUsed: T.Integer(),
	limits: T.Object({
		maxBackends: T.Integer(),
		maxDomainsPerBackend: T.Integer(),
		maxFilterRules: T.Integer(),
		maxBandwidthBytes: T.Integer(),
		maxRequests: T.Integer(),
	}),
	usageResetAt: T.String({ format: "date-time" }),
});
export type OrganizationUsage = Static<typeof OrganizationUsage>;
