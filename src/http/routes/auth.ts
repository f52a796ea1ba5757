// /v1/auth: login, refresh, logout (spec: Authentication / JWT Tokens).
import { Type as T } from "@sinclair/typebox";
import { Elysia } from "elysia";
import { Login } from "../../domain/users/model.ts";
import { check } from "../../domain/validate.ts";
import type { Services } from "../../services.ts";
import { actorOf, requestContext } from "../context.ts";
import { doc } from "../openapi.ts";

const Refresh = T.Object({ refreshToken: T.String({ minLength: 1, maxLength: 200 }) }, { additionalProperties: false });
const Tokens = T.Object({
	accessToken: T.String(),
	refreshToken: T.String(),
	expiresIn: T.Integer(),
	tokenType: T.Literal("Bearer"),
});

export function authRoutes(services: Services) {
	return new Elysia({ name: "auth-routes" })
		.post(
			"/v1/auth/login",
			({ body, request }) => {
				check(Login, body);
				return services.auth.login(body.email, body.password, requestContext(request));
			},
			doc("auth", "Sign in with email and password", { body: Login, response: Tokens, public: true }),
		)
		.post(
			"/v1/auth/refresh",
			({ body, request }) => {
				check(Refresh, body);
				return services.auth.refresh(body.refreshToken, requestContext(request));
			},
			doc("auth", "Exchange a refresh token (it rotates; reuse revokes the sign-in)", {
				body: Refresh,
				response: Tokens,
				public: true,
			}),
		)
		.post(
			"/v1/auth/logout",
			({ request, set }) => {
				services.auth.logout(actorOf(request));
				set.status = 204;
			},
			doc("auth", "Revoke the current sign-in", { status: 204 }),
		);
}
