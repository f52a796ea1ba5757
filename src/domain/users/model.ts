// Users and memberships: the API's shapes.
import { type Static, Type as T } from "@sinclair/typebox";

export const RoleSchema = T.Union([T.Literal("OWNER"), T.Literal("ADMIN"), T.Literal("MEMBER"), T.Literal("VIEWER")]);

export const Member = T.Object({
	userId: T.String(),
	email: T.String(),
	name: T.String(),
	role: RoleSchema,
	joinedAt: T.String({ format: "date-time" }),
	lastLoginAt: T.Union([T.String({ format: "date-time" }), T.Null()]),
});
export type Member = Static<typeof Member>;

export const MemberUpdate = T.Object({ role: RoleSchema }, { additionalProperties: false });

export const Login = T.Object(
	{
		email: T.String({ minLength: 1, maxLength: 320 }),
		password: T.String({ minLength: 1, maxLength: 1024 }),
	},
	{ additionalProperties: false },
);
export type Login = Static<typeof Login>;
