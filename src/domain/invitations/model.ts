// Invitations: the API's shapes.
import { type Static, Type as T } from "@sinclair/typebox";
import { RoleSchema } from "../users/model.ts";

export const InvitationCreate = T.Object(
	{ email: T.String({ minLength: 1, maxLength: 320 }), role: RoleSchema },
	{ additionalProperties: false },
);

export const InvitationAccept = T.Object(
	{
		token: T.String({ minLength: 1, maxLength: 200 }),
		password: T.String({ minLength: 1, maxLength: 1024 }),
		name: T.Optional(T.String({ maxLength: 200 })),
	},
	{ additionalProperties: false },
);

export const Invitation = T.Object({
	id: T.String(),
	email: T.String(),
	role: RoleSchema,
	createdAt: T.String({ format: "date-time" }),
	expiresAt: T.String({ format: "date-time" }),
	acceptedAt: T.Union([T.String({ format: "date-time" }), T.Null()]),
	revokedAt: T.Union([T.String({ format: "date-time" }), T.Null()]),
});
export type Invitation = Static<typeof Invitation>;
