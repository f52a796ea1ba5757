// The REST face: one Elysia app served on the HTTPS and the loopback HTTP listener.
// One plugin per resource; handlers are thin: parse, call a domain service, render.
import { Elysia } from "elysia";
import { ValidationError } from "../domain/errors.ts";
import { fieldPath } from "../domain/validate.ts";
import type { Services } from "../services.ts";
import { assetRoutes } from "../ui/assets.ts";
import { uiRoutes } from "../ui/routes.ts";
import { security } from "./context.ts";
import { problem, problemResponse, toProblem } from "./problem.ts";
import { alertRoutes } from "./routes/alerts.ts";
import { apiKeyRoutes } from "./routes/apikeys.ts";
import { auditRoutes } from "./routes/audit.ts";
import { authRoutes } from "./routes/auth.ts";
import { backendRoutes } from "./routes/backends.ts";
import { docsRoutes } from "./routes/docs.ts";
import { filterRoutes } from "./routes/filters.ts";
import { ipRoutes } from "./routes/ips.ts";
import { memberRoutes } from "./routes/members.ts";
import { metricsRoutes } from "./routes/metrics.ts";
import { oauthRoutes } from "./routes/oauth.ts";
import { organizationRoutes } from "./routes/organizations.ts";
import { sessionRoutes } from "./routes/session.ts";
import { webhookRoutes } from "./routes/webhooks.ts";

export { peerOf, recordPeer } from "./context.ts";

export function buildHttpApp(services: Services) {
	return (
		new Elysia()
			.onError(({ error, code, request, set }) => {
				const instance = new URL(request.url).pathname;
				const headers = Object.fromEntries(
					Object.entries(set.headers).filter((e): e is [string, string] => typeof e[1] === "string"),
				);
				if (code === "VALIDATION") {
					const errors = error.all.map((e) => ({
						field: ("path" in e && e.path ? fieldPath(e.path) : "") || "body",
						code: "invalid_value",
						message: e.summary ?? e.message ?? "invalid",
					}));
					return problemResponse(toProblem(new ValidationError(errors), instance), headers);
				}
				if (code === "NOT_FOUND") return problemResponse(problem("not-found", 404, "no such route", instance));
				if (code === "PARSE") {
					// Our parser's own errors arrive wrapped; anything else the body parser met is bad JSON.
					const cause = (error as { cause?: unknown }).cause;
					const reason =
						cause instanceof ValidationError
							? cause
							: ValidationError.field("body", "invalid_json", "the body is not valid JSON");
					return problemResponse(toProblem(reason, instance), headers);
				}
				const p = toProblem(error, instance);
				if (p.status >= 500) services.log.error("request failed", { path: instance, error });
				if (typeof p.retryAfter === "number") headers["retry-after"] = String(p.retryAfter);
				return problemResponse(p, headers);
			})
			// Probes stay outside authentication and rate limits: registered before the hooks.
			.get("/healthz", () => ({ status: "ok" }), { detail: { hide: true } })
			.get(
				"/readyz",
				({ set }) => {
					const readiness = services.readiness();
					if (!readiness.ready) set.status = 503;
					return readiness;
				},
				{ detail: { hide: true } },
			)
			.use(assetRoutes())
			.use(security(services))
			.use(docsRoutes())
			.use(authRoutes(services))
			.use(sessionRoutes(services))
			.use(organizationRoutes(services))
			.use(memberRoutes(services))
			.use(apiKeyRoutes(services))
			.use(auditRoutes(services))
			.use(oauthRoutes(services))
			.use(webhookRoutes(services))
			.use(alertRoutes(services))
			.use(backendRoutes(services))
			.use(filterRoutes(services))
			.use(ipRoutes(services))
			.use(metricsRoutes(services))
			.use(uiRoutes(services))
	);
}

export type HttpApp = ReturnType<typeof buildHttpApp>;
