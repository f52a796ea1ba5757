// /v1/metrics: traffic, attacks, time series and countries from the telemetry rollups (spec:
// Metrics). Query: backendId, from, to (ISO 8601), granularity MINUTE|FIVE_MINUTES|HOUR|DAY.
import { Elysia } from "elysia";
import type { Services } from "../../services.ts";
import { METRIC_NAMES } from "../../telemetry/metrics.ts";
import { actorOf } from "../context.ts";
import { doc } from "../openapi.ts";
import { pageQuery } from "../pagination.ts";

const RANGE =
	"backendId, from, to (ISO 8601; default the last hour), granularity (default: the finest with ≤ 1500 buckets)";

export function metricsRoutes(services: Services) {
	return new Elysia({ name: "metrics-routes" })
		.get(
			"/v1/metrics/traffic",
			({ request, query }) => services.metrics.traffic(actorOf(request), query),
			doc(
				"metrics",
				`Traffic totals and average rates over a range (${RANGE}). requests = packets admitted to the backend's listeners by every kernel check; bytesOut, packetsOut, newConnections and closedConnections are null (not measured)`,
			),
		)
		.get(
			"/v1/metrics/timeseries",
			({ request, query }) =>
				services.metrics.timeseries(actorOf(request), {
					...query,
					metrics: new URL(request.url).searchParams.getAll("metrics").flatMap((m) => m.split(",")),
				}),
			doc(
				"metrics",
				`Time series per bucket (${RANGE}; metrics repeated or comma-separated: ${METRIC_NAMES.join(", ")}; drops_* are host-wide)`,
			),
		)
		.get(
			"/v1/metrics/attacks",
			({ request, query }) => services.metrics.attacks(actorOf(request), query),
			doc(
				"metrics",
				"The active (else latest) attack's figures and every attack overlapping the range (default the last day); attackBps is bits per second",
			),
		)
		.get(
			"/v1/metrics/attacks/history",
			({ request, query }) => {
				const { page, pageSize } = pageQuery(query);
				return services.metrics.listAttacks(actorOf(request), page, pageSize, query.backendId);
			},
			doc("metrics", "Attack history, newest first (page, pageSize, backendId)"),
		)
		.get(
			"/v1/metrics/attacks/:attackId",
			({ request, params }) => services.metrics.attack(actorOf(request), params.attackId),
			doc("metrics", "One attack with its chart (received and dropped packets per second)"),
		)
		.get(
			"/v1/metrics/geo",
			({ request, query }) => services.metrics.geo(actorOf(request), query),
			doc(
				"metrics",
				`Traffic per source country from the kernel's source table (${RANGE}); blocked: every backend in scope refuses the country`,
			),
		);
}
