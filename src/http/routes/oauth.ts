// OAuth 2.0: /oauth/authorize (consent page in the UI), /oauth/token, and client registration
// under /v1/oauth/clients (spec: Authentication / OAuth 2.0).
import { Type as T } from "@sinclair/typebox";
import { Elysia } from "elysia";
import { ConsentPage } from "../../../views/auth/consent.tsx";
import { Forbidden, Unauthorized } from "../../domain/errors.ts";
import { OAuthClient, OAuthClientCreate } from "../../domain/oauth/model.ts";
import { AuthorizeRedirect } from "../../domain/oauth/service.ts";
import type { Services } from "../../services.ts";
import { actorOf, optionalActorOf, requestContext, sessionCookie } from "../context.ts";
import { doc } from "../openapi.ts";
import { pageQuery } from "../pagination.ts";
import { page } from "./session.ts";

const AUTHORIZE_PARAMS = [
	"response_type",
	"client_id",
	"redirect_uri",
	"scope",
	"state",
	"code_challenge",
	"code_challenge_method",
];

function redirect(location: string, status = 302): Response {
	return new Response(null, { status, headers: { location, "cache-control": "no-store" } });
}

/** `Authorization: Basic base64(client_id:client_secret)` (RFC 6749 §2.3.1, form-encoded parts). */
function basicCredentials(request: Request): { id: string; secret: string } | null {
	const match = /^Basic\s+([A-Za-z0-9+/=]+)$/i.exec(request.headers.get("authorization") ?? "");
	if (!match?.[1]) return null;
	const decoded = Buffer.from(match[1], "base64").toString("utf8");
	const colon = decoded.indexOf(":");
	if (colon < 0) return null;
	return { id: decodeURIComponent(decoded.slice(0, colon)), secret: decodeURIComponent(decoded.slice(colon + 1)) };
}

function toParams(body: unknown): URLSearchParams {
	const params = new URLSearchParams();
	if (body && typeof body === "object")
		for (const [k, v] of Object.entries(body)) if (typeof v === "string") params.set(k, v);
	return params;
}

export function oauthRoutes(services: Services) {
	return new Elysia({ name: "oauth-routes" })
		.get(
			"/oauth/authorize",
			({ request }) => {
				const url = new URL(request.url);
				let authorize: ReturnType<typeof services.oauth.checkAuthorize>;
				try {
					authorize = services.oauth.checkAuthorize(url.searchParams);
				} catch (err) {
					if (err instanceof AuthorizeRedirect) return redirect(err.location());
					throw err;
				}
				const actor = optionalActorOf(request);
				const session = sessionCookie(request);
				const signedIn = actor?.credential?.type === "session";
				if (!(actor && signedIn && session))
					return redirect(`/login?next=${encodeURIComponent(url.pathname + url.search)}`, 303);
				const params = AUTHORIZE_PARAMS.flatMap((k) => {
					const v = url.searchParams.get(k);
					return v === null ? [] : [[k, v] as [string, string]];
				});
				return page(
					ConsentPage({
						clientName: authorize.client.name,
						email: actor.email ?? "",
						scopes: authorize.scope.split(" "),
						csrfToken: services.auth.csrfToken(session),
						params,
					}),
				);
			},
			doc("oauth", "Authorization endpoint (consent page; Authorization Code with PKCE S256)", { public: true }),
		)
		.post(
			"/oauth/authorize",
			({ request, body }) => {
				const actor = optionalActorOf(request);
				const signedIn = actor?.credential?.type === "session";
				if (!(actor && signedIn)) throw new Unauthorized("sign in first");
				const params = toParams(body);
				let authorize: ReturnType<typeof services.oauth.checkAuthorize>;
				try {
					authorize = services.oauth.checkAuthorize(params);
					if (params.get("decision") !== "approve")
						throw new AuthorizeRedirect(
							authorize.redirectUri,
							"access_denied",
							"the user denied the request",
							authorize.state,
						);
					const code = services.oauth.approve(actor, authorize);
					const target = new URL(authorize.redirectUri);
					target.searchParams.set("code", code);
					if (authorize.state !== null) target.searchParams.set("state", authorize.state);
					return redirect(target.toString(), 303);
				} catch (err) {
					if (err instanceof AuthorizeRedirect) return redirect(err.location(), 303);
					throw err;
				}
			},
			{ detail: { hide: true } },
		)
		.post(
			"/oauth/token",
			async ({ request, body, set }) => {
				set.headers["cache-control"] = "no-store";
				return services.oauth.token(toParams(body), basicCredentials(request), requestContext(request));
			},
			doc("oauth", "Token endpoint: authorization_code (PKCE), client_credentials, refresh_token", { public: true }),
		)
		.post(
			"/v1/oauth/clients",
			({ request, body, set }) => {
				const client = services.oauth.createClient(actorOf(request), body);
				set.status = 201;
				return client;
			},
			doc("oauth", "Register an OAuth client (the secret is shown once)", {
				body: OAuthClientCreate,
				response: T.Composite([OAuthClient, T.Object({ clientSecret: T.String() })]),
				status: 201,
			}),
		)
		.get(
			"/v1/oauth/clients",
			({ request, query }) => {
				const { page, pageSize } = pageQuery(query);
				return services.oauth.listClients(actorOf(request), page, pageSize);
			},
			doc("oauth", "List OAuth clients"),
		)
		.delete(
			"/v1/oauth/clients/:clientId",
			({ request, params, set }) => {
				const actor = actorOf(request);
				if (actor.credential?.type === "client") throw new Forbidden("a client cannot revoke clients");
				services.oauth.revokeClient(actor, params.clientId);
				set.status = 204;
			},
			doc("oauth", "Revoke an OAuth client and every token it holds", { status: 204 }),
		);
}
