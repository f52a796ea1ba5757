// The REST face: one Elysia app served on the HTTPS and the loopback HTTP listener.
// Handlers are thin; everything they do is a call into a domain service.
import { Elysia } from "elysia";
import type { Actor, Permission } from "../domain/actor.ts";
import { Forbidden, Unauthorized, ValidationError } from "../domain/errors.ts";
import type { Services } from "../services.ts";
import { problem, problemResponse, toProblem } from "./problem.ts";

/** Bun.serve knows the peer address; Elysia's handle() does not, so the server records it here. */
const peers = new WeakMap<Request, string>();
export function recordPeer(request: Request, address: string | undefined): void {
	if (address) peers.set(request, address);
}
export function peerOf(request: Request): string | null {
	return peers.get(request) ?? null;
}

export function authenticate(services: Services, request: Request): Actor {
	const header = request.headers.get("authorization");
	if (!header) throw new Unauthorized("missing Authorization header");
	const match = /^Bearer\s+(\S+)$/i.exec(header);
	if (!match?.[1]) throw new Unauthorized("Authorization must be 'Bearer <credential>'");
	const actor = services.apiKeys.authenticate(match[1], {
		ipAddress: peerOf(request),
		userAgent: request.headers.get("user-agent"),
	});
	if (!actor) throw new Unauthorized("invalid, expired or revoked credential");
	return actor;
}

export function requirePermission(actor: Actor, permission: Permission): void {
	if (!actor.permissions.includes(permission)) throw new Forbidden(`requires the '${permission}' permission`);
}

export function buildHttpApp(services: Services) {
	return new Elysia()
		.onError(({ error, code, request }) => {
			const instance = new URL(request.url).pathname;
			if (code === "VALIDATION") {
				const errors = error.all.map((e) => ({
					field: "path" in e && e.path ? e.path.replace(/^\//, "").replaceAll("/", ".") : "body",
					code: "invalid_value",
					message: e.summary ?? e.message ?? "invalid",
				}));
				return problemResponse(toProblem(new ValidationError(errors), instance));
			}
			if (code === "NOT_FOUND") return problemResponse(problem("not-found", 404, "no such route", instance));
			if (code === "PARSE") return problemResponse(problem("validation", 400, "request body is not valid", instance));
			const p = toProblem(error, instance);
			if (p.status >= 500) services.log.error("request failed", { path: instance, error });
			return problemResponse(p);
		})
		.get("/healthz", () => ({ status: "ok" }))
		.get("/readyz", ({ set }) => {
			const readiness = services.readiness();
			if (!readiness.ready) set.status = 503;
			return readiness;
		})
		.get("/v1/organizations/current", ({ request }) => {
			const actor = authenticate(services, request);
			requirePermission(actor, "read");
			return services.organizations.current(actor);
		});
}

export type HttpApp = ReturnType<typeof buildHttpApp>;
