// API keys: the API's shapes.
import { type Static, Type as T } from "@sinclair/typebox";

export const PermissionSchema = T.Union([
	T.Literal("read"),
	T.Literal("write"),
	T.Literal("delete"),
	T.Literal("admin"),
]);

export const ApiKeyCreate = T.Object(
	{
		name: T.String({ minLength: 1, maxLength: 100 }),
		permissions: T.Array(PermissionSchema, { minItems: 1, maxItems: 4 }),
		environment: T.Optional(T.Union([T.Literal("live"), T.Literal("test")])),
		expiresAt: T.Optional(T.Union([T.String({ maxLength: 64 }), T.Null()])),
	},
	{ additionalProperties: false },
);
export type ApiKeyCreate = Static<typeof ApiKeyCreate>;

export const ApiKey = T.Object({
	id: T.String(),
	name: T.String(),
	environment: T.Union([T.Literal("live"), T.Literal("test")]),
	prefix: T.String({ description: "the first characters of the key, to recognise it" }),
	permissions: T.Array(PermissionSchema),
	expiresAt: T.Union([T.String({ format: "date-time" }), T.Null()]),
	lastUsedAt: T.Union([T.String({ format: "date-time" }), T.Null()]),
	revokedAt: T.Union([T.String({ format: "date-time" }), T.Null()]),
	createdAt: T.String({ format: "date-time" }),
});
