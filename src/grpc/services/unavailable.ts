// MetricsService: the telemetry collector (traffic counters rolled up over time) and attack
// detection do not exist on this appliance yet, so those RPCs answer UNIMPLEMENTED naming what
// is missing, after authentication like any call. Its CreateAlert and ListAlerts are AlertService's.
import type { GrpcDeps, Handlers } from "../handlers.ts";
import { unavailable } from "../handlers.ts";
import { alertHandlers } from "./alert.ts";

const TELEMETRY = "the telemetry collector (traffic counters rolled up over time)";

export function metricsHandlers(deps: GrpcDeps): Handlers {
	const alerts = alertHandlers(deps);
	return {
		...unavailable("MetricsService", (method) => {
			if (method.includes("Attack")) return "attack detection (attack metrics)";
			if (method.includes("Geo")) return `${TELEMETRY}, per country`;
			return `${TELEMETRY}; live per-backend rates are in BackendService.GetBackendStatus`;
		}),
		CreateAlert: alerts.CreateAlert,
		ListAlerts: alerts.ListAlerts,
	} as Handlers;
}
