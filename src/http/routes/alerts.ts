// /v1/alerts: alert rules on measured metrics and where to notify (spec: Alerts).
import { Elysia } from "elysia";
import { Alert, AlertCreate, AlertUpdate } from "../../domain/alerts/model.ts";
import type { Services } from "../../services.ts";
import { actorOf } from "../context.ts";
import { doc } from "../openapi.ts";
import { pageQuery } from "../pagination.ts";

export function alertRoutes(services: Services) {
	return new Elysia({ name: "alert-routes" })
		.get(
			"/v1/alerts",
			({ request, query }) => {
				const { page, pageSize } = pageQuery(query);
				return services.alerts.list(actorOf(request), page, pageSize, query.backendId);
			},
			doc("alerts", "List alerts (optionally of one backend)"),
		)
		.post(
			"/v1/alerts",
			({ request, body, set }) => {
				set.status = 201;
				return services.alerts.create(actorOf(request), body);
			},
			doc("alerts", "Create an alert", { body: AlertCreate, response: Alert, status: 201 }),
		)
		.get(
			"/v1/alerts/:alertId",
			({ request, params }) => services.alerts.get(actorOf(request), params.alertId),
			doc("alerts", "Get an alert", { response: Alert }),
		)
		.put(
			"/v1/alerts/:alertId",
			({ request, params, body }) => services.alerts.update(actorOf(request), params.alertId, body),
			doc("alerts", "Update an alert; a changed condition is evaluated afresh", { body: AlertUpdate, response: Alert }),
		)
		.delete(
			"/v1/alerts/:alertId",
			({ request, params, set }) => {
				services.alerts.delete(actorOf(request), params.alertId);
				set.status = 204;
			},
			doc("alerts", "Delete an alert", { status: 204 }),
		);
}
