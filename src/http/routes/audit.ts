// /v1/audit-logs (spec: Audit Logs).
import { Elysia } from "elysia";
import type { Services } from "../../services.ts";
import { actorOf } from "../context.ts";
import { doc } from "../openapi.ts";
import { withPage } from "../pagination.ts";

export function auditRoutes(services: Services) {
	return new Elysia({ name: "audit-routes" }).get(
		"/v1/audit-logs",
		({ request, query }) => services.audit.list(actorOf(request), withPage(query)),
		doc("audit-logs", "List audit log entries (filters: userId, resourceType, action, from, to)"),
	);
}
