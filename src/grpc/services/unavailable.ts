// MetricsService, AlertService and WebhookService: their capabilities (the telemetry collector,
// attack detection, alert evaluation, webhook delivery) do not exist on this appliance yet, so
// every RPC answers UNIMPLEMENTED naming what is missing, after authentication like any call.
import { unavailable } from "../handlers.ts";

const TELEMETRY = "the telemetry collector (traffic counters rolled up over time)";

export const metricsHandlers = () =>
	unavailable("MetricsService", (method) => {
		if (method.includes("Attack")) return "attack detection (attack metrics)";
		if (method.includes("Geo")) return `${TELEMETRY}, per country`;
		if (method.includes("Alert")) return "alerting (alert rules and their evaluation)";
		return `${TELEMETRY}; live per-backend rates are in BackendService.GetBackendStatus`;
	});

export const alertHandlers = () => unavailable("AlertService", () => "alerting (alert rules and their evaluation)");

export const webhookHandlers = () => unavailable("WebhookService", () => "webhooks (signed, retried event delivery)");
