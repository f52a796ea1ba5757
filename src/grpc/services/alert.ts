// AlertService: the REST alert endpoints (/v1/alerts) over gRPC. MetricsService offers
// CreateAlert and ListAlerts too, as the spec lists them; both use these handlers.
import { type GrpcDeps, type Handlers, ids, pageOf } from "../handlers.ts";

export function alertHandlers({ services }: GrpcDeps): Handlers {
	const { alerts } = services;
	return {
		CreateAlert: (actor, request) => ({ alert: alerts.create(actor, request) }),
		GetAlert: (actor, request) => ({ alert: alerts.get(actor, ids(request, "alertId").alertId) }),
		UpdateAlert: (actor, { alertId, ...body }) => ({
			alert: alerts.update(actor, ids({ alertId }, "alertId").alertId, body),
		}),
		DeleteAlert: (actor, request) => {
			alerts.delete(actor, ids(request, "alertId").alertId);
			return {};
		},
		ListAlerts: (actor, request) => {
			const { page, pageSize } = pageOf(request);
			const result = alerts.list(actor, page, pageSize, (request.backendId as string | undefined) || undefined);
			return { alerts: result.data, pagination: result.pagination };
		},
	};
}
