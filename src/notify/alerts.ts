// Evaluates alert conditions against measured metrics. An alert moves ok → pending (condition
// holds, waiting durationSeconds) → firing, and back to ok when the condition stops holding;
// alert.fired and alert.resolved are published once per transition and the alert's channels
// notified. No data (the metric is not measured yet) is never treated as a value.
import type { Database } from "bun:sqlite";
import type { Config } from "../config.ts";
import type { AlertMetric, Notification } from "../domain/alerts/model.ts";
import { type AlertRow, toAlert } from "../domain/alerts/service.ts";
import { newId } from "../domain/ids.ts";
import type { EventBus } from "../events.ts";
import type { Logger } from "../log.ts";
import type { CounterView } from "../services.ts";
import { type AlertNotice, notify } from "./channels.ts";

/** Current value of a metric for one backend, or for every backend of an organization. */
export type MetricSource = (metric: AlertMetric, organizationId: string, backendId: string | null) => number | null;

/** Per-second rates from the data plane's sampled counters, summed over the backends in scope. */
export function counterMetrics(db: Database, counters: () => CounterView | null): MetricSource {
	return (metric, organizationId, backendId) => {
		const view = counters();
		if (!view) return null;
		const backends = db
			.query<{ dp_index: number }, [string, string | null, string | null]>(
				"SELECT dp_index FROM backends WHERE organization_id = ? AND sandbox = 0 AND (? IS NULL OR id = ?)",
			)
			.all(organizationId, backendId, backendId);
		let total = 0;
		let measured = false;
		for (const b of backends) {
			const r = view.backendRates(b.dp_index);
			if (!r) continue;
			measured = true;
			total +=
				metric === "bytes_per_second"
					? r.bytesPerSecond
					: metric === "passed_packets_per_second" || metric === "requests_per_second"
						? r.passedPacketsPerSecond
						: metric === "dropped_packets_per_second"
							? r.droppedPacketsPerSecond
							: r.packetsPerSecond;
		}
		return measured ? total : null;
	};
}

function holds(value: number, operator: string, threshold: number): boolean {
	switch (operator) {
		case "GREATER_THAN":
			return value > threshold;
		case "LESS_THAN":
			return value < threshold;
		case "EQUAL":
			return value === threshold;
		default:
			return value !== threshold;
	}
}

export class AlertEvaluator {
	private timer: ReturnType<typeof setInterval> | null = null;
	private pending: Promise<void> = Promise.resolve();

	constructor(
		private readonly db: Database,
		private readonly bus: EventBus,
		private readonly metrics: MetricSource,
		private readonly settings: () => Config,
		private readonly log: Logger,
		private readonly now: () => number = Date.now,
	) {}

	start(): void {
		this.timer = setInterval(() => void this.evaluate(), this.settings().notify.alert_interval_seconds * 1000);
	}

	async stop(): Promise<void> {
		if (this.timer) clearInterval(this.timer);
		this.timer = null;
		await this.pending;
	}

	/** One evaluation of every enabled alert; resolves when its notifications were attempted. */
	evaluate(): Promise<void> {
		const sends: Array<Promise<void>> = [];
		const at = this.now();
		for (const row of this.db.query<AlertRow, []>("SELECT * FROM alerts WHERE enabled = 1").all()) {
			const alert = toAlert(row);
			const value = this.metrics(alert.condition.metric, row.organization_id, alert.backendId);
			if (value === null) continue;
			const on = holds(value, alert.condition.operator, alert.condition.threshold);
			const duration = (alert.condition.durationSeconds ?? 0) * 1000;
			let next = row.state;
			if (on && row.state === "ok") next = duration === 0 ? "firing" : "pending";
			else if (on && row.state === "pending" && at - (row.state_since ?? at) >= duration) next = "firing";
			else if (!on) next = "ok";
			const since = next === row.state ? row.state_since : at;
			const firedNow = next === "firing" && row.state !== "firing";
			const resolvedNow = row.state === "firing" && next === "ok";
			const iso = new Date(at).toISOString();
			this.db
				.prepare(
					`UPDATE alerts SET state = ?, state_since = ?, last_value = ?,
						last_fired_at = CASE WHEN ? THEN ? ELSE last_fired_at END,
						last_resolved_at = CASE WHEN ? THEN ? ELSE last_resolved_at END WHERE id = ?`,
				)
				.run(next, since, value, firedNow ? 1 : 0, iso, resolvedNow ? 1 : 0, iso, row.id);
			if (firedNow || resolvedNow) sends.push(this.transition(row, firedNow ? "fired" : "resolved", value, iso));
		}
		this.pending = Promise.all(sends).then(() => {});
		return this.pending;
	}

	private async transition(row: AlertRow, kind: "fired" | "resolved", value: number, at: string): Promise<void> {
		const alert = toAlert(row);
		const backendName = alert.backendId
			? (this.db.query<{ name: string }, [string]>("SELECT name FROM backends WHERE id = ?").get(alert.backendId)
					?.name ?? null)
			: null;
		const notice: AlertNotice = {
			kind,
			eventId: newId("evt"),
			organizationId: row.organization_id,
			alertId: alert.id,
			alertName: alert.name,
			backendId: alert.backendId,
			backendName,
			metric: alert.condition.metric,
			operator: alert.condition.operator,
			threshold: alert.condition.threshold,
			value,
			at,
		};
		this.bus.publish({
			type: kind === "fired" ? "alert.fired" : "alert.resolved",
			organizationId: row.organization_id,
			resourceId: alert.id,
			data: {
				alertId: alert.id,
				alertName: alert.name,
				backendId: alert.backendId,
				metric: notice.metric,
				threshold: notice.threshold,
				value,
			},
		});
		this.log.info(`alert ${kind}`, { alertId: alert.id, metric: notice.metric, value });
		await Promise.all(
			alert.notifications.map((channel: Notification) =>
				notify(channel, notice, this.settings().notify).catch((err) =>
					this.log.warn("alert notification failed", { alertId: alert.id, channel: channel.type, error: err }),
				),
			),
		);
	}
}
