// The web UI's sign-in: /login (form) sets the httpOnly session cookie (Secure over TLS,
// SameSite=Lax); /logout revokes it. The UI's pages use the same domain checks as the API.
import { Elysia } from "elysia";
import { LoginPage } from "../../../views/auth/login.tsx";
import { DomainError } from "../../domain/errors.ts";
import type { Services } from "../../services.ts";
import { actorOf, requestContext, SESSION_COOKIE } from "../context.ts";

/** Only our own paths: an absolute or protocol-relative `next` would be an open redirect. */
function safeNext(next: unknown): string {
	return typeof next === "string" && /^\/(?![/\\])/.test(next) ? next : "/";
}

/** A server-rendered auth page: never cached, never framed, no scripts. */
export function page(body: string, status = 200, headers: Record<string, string> = {}): Response {
	return new Response(body, {
		status,
		headers: {
			"content-type": "text/html; charset=utf-8",
			"cache-control": "no-store",
			"x-frame-options": "DENY",
			"content-security-policy":
				"default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
			...headers,
		},
	});
}

function cookie(request: Request, value: string, maxAge: number): string {
	const secure = new URL(request.url).protocol === "https:" ? "; Secure" : "";
	return `${SESSION_COOKIE}=${value}; Path=/; HttpOnly; SameSite=Lax; Max-Age=${maxAge}${secure}`;
}

export function sessionRoutes(services: Services) {
	return new Elysia({ name: "session-routes" })
		.get("/login", ({ query }) => page(LoginPage({ next: safeNext(query.next) })), { detail: { hide: true } })
		.post(
			"/login",
			async ({ request, body }) => {
				const form = (body ?? {}) as Record<string, unknown>;
				const next = safeNext(form.next);
				const email = typeof form.email === "string" ? form.email : "";
				const password = typeof form.password === "string" ? form.password : "";
				// Login CSRF: a browser always sends Origin on a cross-site form post.
				const origin = request.headers.get("origin");
				if (origin && origin !== new URL(request.url).origin)
					return page(LoginPage({ next, email, error: "This sign-in did not come from this site." }), 403);
				try {
					const { sessionToken, maxAge } = await services.auth.loginSession(email, password, requestContext(request));
					return new Response(null, {
						status: 303,
						headers: {
							location: next,
							"set-cookie": cookie(request, sessionToken, maxAge),
							"cache-control": "no-store",
						},
					});
				} catch (err) {
					if (!(err instanceof DomainError)) throw err;
					const message = err.status === 429 ? err.message : "Invalid email or password.";
					return page(LoginPage({ next, email, error: message }), err.status === 429 ? 429 : 401);
				}
			},
			{ detail: { hide: true } },
		)
		.post(
			"/logout",
			({ request }) => {
				services.auth.logout(actorOf(request));
				return new Response(null, {
					status: 303,
					headers: { location: "/login", "set-cookie": cookie(request, "", 0), "cache-control": "no-store" },
				});
			},
			{ detail: { hide: true } },
		);
}
