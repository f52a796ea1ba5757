// What every REST request goes through before its handler: the body parser (size limit, JSON
// or form, nothing half-parsed), authentication (Bearer API key or access token, or the UI's
// session cookie with its CSRF token on mutations), and the rate limit of the caller's tier.
// The actor found is kept per request; handlers ask for it with actorOf().
import { Elysia } from "elysia";
import { bearerActor, rateDecision } from "../auth/admission.ts";
import { TooManyRequests } from "../auth/ratelimit.ts";
import type { RequestContext } from "../auth/service.ts";
import type { Actor } from "../domain/actor.ts";
import { Forbidden, Unauthorized, ValidationError } from "../domain/errors.ts";
import type { Services } from "../services.ts";

export const SESSION_COOKIE = "pp_session";
const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/** Bun.serve knows the peer address; Elysia's handle() does not, so the server records it here. */
const peers = new WeakMap<Request, string>();
export function recordPeer(request: Request, address: string | undefined): void {
	if (address) peers.set(request, address);
}
export function peerOf(request: Request): string | null {
	return peers.get(request) ?? null;
}

export function requestContext(request: Request): RequestContext {
	return { ipAddress: peerOf(request), userAgent: request.headers.get("user-agent") };
}

const actors = new WeakMap<Request, Actor>();

/** The authenticated actor of this request; 401 when it came without valid credentials. */
export function actorOf(request: Request): Actor {
	const actor = actors.get(request);
	if (!actor) throw new Unauthorized("missing or invalid credentials: use 'Authorization: Bearer <api key or token>'");
	return actor;
}

export function optionalActorOf(request: Request): Actor | null {
	return actors.get(request) ?? null;
}

export function sessionCookie(request: Request): string | null {
	const header = request.headers.get("cookie");
	if (!header) return null;
	for (const part of header.split(";")) {
		const [name, ...rest] = part.trim().split("=");
		if (name === SESSION_COOKIE) return decodeURIComponent(rest.join("="));
	}
	return null;
}

async function readLimited(request: Request, limit: number): Promise<string> {
	const declared = Number(request.headers.get("content-length") ?? "0");
	if (declared > limit) throw tooLarge(limit);
	const bytes = new Uint8Array(await request.arrayBuffer());
	if (bytes.byteLength > limit) throw tooLarge(limit);
	try {
		return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
	} catch {
		throw ValidationError.field("body", "invalid_encoding", "the body is not valid UTF-8");
	}
}

function tooLarge(limit: number): ValidationError {
	return ValidationError.field("body", "body_too_large", `the body exceeds the limit of ${limit} bytes`);
}

/** Form fields as an object; a repeated field is an error rather than a guess. */
export function formObject(text: string): Record<string, string> {
	const out: Record<string, string> = {};
	for (const [k, v] of new URLSearchParams(text)) {
		if (k in out) throw ValidationError.field(k, "invalid_value", "must not be repeated");
		out[k] = v;
	}
	return out;
}

export function security(services: Services) {
	return new Elysia({ name: "security" })
		.onParse({ as: "global" }, async ({ request, contentType }) => {
			const text = await readLimited(request, services.config.api.body_limit_bytes);
			const type = (contentType ?? "").split(";")[0]?.trim().toLowerCase();
			if (type === "application/x-www-form-urlencoded") return formObject(text);
			if (text.trim() === "") return undefined;
			if (type && type !== "application/json" && !type.endsWith("+json"))
				throw ValidationError.field("body", "unsupported_media_type", "send application/json");
			try {
				return JSON.parse(text);
			} catch {
				throw ValidationError.field("body", "invalid_json", "the body is not valid JSON");
			}
		})
		.onTransform({ as: "global" }, async ({ request, body, set }) => {
			const ctx = requestContext(request);
			// Other schemes (Basic at /oauth/token) are the route's business, not a credential here.
			const presented = await bearerActor(services, request.headers.get("authorization"), ctx);
			let actor: Actor | null = presented?.actor ?? null;
			const rejected = presented !== null && !actor;
			if (!presented) {
				const session = sessionCookie(request);
				if (session) {
					actor = services.auth.authenticateSession(session, ctx);
					if (actor && !SAFE_METHODS.has(request.method)) {
						const presented =
							request.headers.get("x-csrf-token") ??
							(body && typeof body === "object" ? (body as Record<string, unknown>)._csrf : undefined);
						if (!services.auth.checkCsrf(session, typeof presented === "string" ? presented : null))
							throw new Forbidden("missing or invalid CSRF token");
					}
				}
			}
			const decision = rateDecision(services, actor, ctx);
			Object.assign(set.headers, decision.headers);
			if (!decision.allowed) throw new TooManyRequests(decision.retryAfter);
			if (rejected) throw new Unauthorized("invalid, expired or revoked credential");
			if (actor) actors.set(request, actor);
		});
}
