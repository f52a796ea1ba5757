// OAuth 2.0 clients: the API's shapes.
import { type Static, Type as T } from "@sinclair/typebox";
import { PermissionSchema } from "../apikeys/model.ts";

export const OAuthClientCreate = T.Object(
	{
		name: T.String({ minLength: 1, maxLength: 100 }),
		redirectUris: T.Array(T.String({ minLength: 1, maxLength: 2048 }), { maxItems: 10 }),
		scopes: T.Array(PermissionSchema, { minItems: 1, maxItems: 4 }),
	},
	{ additionalProperties: false },
);

export const OAuthClient = T.Object({
	id: T.String(),
	name: T.String(),
	redirectUris: T.Array(T.String()),
	scopes: T.Array(PermissionSchema),
	createdAt: T.String({ format: "date-time" }),
	revokedAt: T.Union([T.String({ format: "date-time" }), T.Null()]),
});
export type OAuthClient = Static<typeof OAuthClient>;
