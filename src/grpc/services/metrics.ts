// MetricsService: the REST metrics (/v1/metrics/...) over gRPC, from the same telemetry service,
// and live streams pushed by the collector every interval_seconds (default 1). CreateAlert and
// ListAlerts are AlertService's.
import { ValidationError } from "../../domain/errors.ts";
import type { MetricsQuery } from "../../telemetry/metrics.ts";
import type { GrpcDeps, Handlers, Json, StreamContext } from "../handlers.ts";
import { alertHandlers } from "./alert.ts";

/** Drops nulls: a proto3 scalar cannot say "not measured", so the field is left unset. */
function defined(value: Json): Json {
	return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== null && v !== undefined));
}

function query(request: Json): MetricsQuery {
	const pick = (k: string) =>
		typeof request[k] === "string" && request[k] !== "" ? (request[k] as string) : undefined;
	return {
		backendId: pick("backendId"),
		from: pick("from"),
		to: pick("to"),
		granularity: pick("granularity"),
		metrics: Array.isArray(request.metrics) && request.metrics.length ? (request.metrics as string[]) : undefined,
	};
}

function interval(request: Json): number {
	const seconds = (request.intervalSeconds as number | undefined) ?? 0;
	if (seconds < 0 || seconds > 3600)
		throw ValidationError.field("intervalSeconds", "invalid_value", "must be from 1 to 3600 (0: every second)");
	return seconds || 1;
}

/** Sends `build()` now and then every `every` collector ticks, until the call ends. */
function push(deps: GrpcDeps, ctx: StreamContext, every: number, build: () => Json | null): void {
	let ticks = 0;
	const send = () => {
		try {
			const message = build();
			if (message) ctx.send(message);
		} catch (err) {
			ctx.fail(err);
		}
	};
	ctx.onClose(
		deps.services.telemetry.onTick(() => {
			if (++ticks % every === 0) send();
		}),
	);
	send();
}

export function metricsHandlers(deps: GrpcDeps): Handlers {
	const { metrics } = deps.services;
	const alerts = alertHandlers(deps);
	return {
		GetTrafficMetrics: (actor, request) => {
			const r = metrics.traffic(actor, query(request));
			return { metrics: defined(r.metrics), timestamp: r.timestamp };
		},
		GetTrafficTimeSeries: (actor, request) => metrics.timeseries(actor, query(request)),
		GetAttackMetrics: (actor, request) => {
			const r = metrics.attacks(actor, query(request));
			return { metrics: defined(r.metrics), attacks: r.attacks.map(defined), timestamp: r.timestamp };
		},
		GetGeoMetrics: (actor, request) => metrics.geo(actor, query(request)),
		StreamTrafficMetrics: {
			stream: (ctx) => {
				const backendId = query(ctx.request).backendId ?? null;
				const every = interval(ctx.request);
				push(deps, ctx, every, () => {
					const live = metrics.liveTraffic(ctx.actor, backendId);
					return live ? defined(live) : null;
				});
			},
		},
		StreamAttackMetrics: {
			stream: (ctx) => {
				const backendId = query(ctx.request).backendId;
				const every = interval(ctx.request);
				push(deps, ctx, every, () => ({
					...defined(metrics.attacks(ctx.actor, { backendId }).metrics),
					timestamp: new Date().toISOString(),
				}));
			},
		},
		CreateAlert: alerts.CreateAlert,
		ListAlerts: alerts.ListAlerts,
	} as Handlers;
}
