// Prometheus text exposition (version 0.0.4) of the same counters the API reports: per-backend
// kernel totals (received, passed, dropped, and by traffic class), the proxy's totals (bytes each
// way, connections opened, closed and refused), the last second's rates, open connections, attack
// state, host-wide verdicts by reason, and per-rule matches. Served without credentials, so only on
// the loopback HTTP listener (or telemetry.prometheus_listen).
import type { Database } from "bun:sqlite";
import { REASON_NAMES, TRAFFIC_CLASSES } from "../dataplane/abi.ts";
import type { ProxyCounters, ProxyView } from "../services.ts";
import type { Collector } from "./collector.ts";
import { PASS_REASONS } from "./collector.ts";
import { CLASS_METRIC_NAMES } from "./metrics.ts";
import type { CounterSource } from "./source.ts";

export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

const escapeLabel = (v: string) => v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
const labels = (l: Record<string, string>) =>
	`{${Object.entries(l)
		.map(([k, v]) => `${k}="${escapeLabel(v)}"`)
		.join(",")}}`;

class Exposition {
	private out: string[] = [];
	metric(
		name: string,
		type: "counter" | "gauge",
		help: string,
		samples: Array<[Record<string, string>, number | bigint]>,
	) {
		this.out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
		for (const [l, v] of samples) this.out.push(`${name}${Object.keys(l).length ? labels(l) : ""} ${v}`);
	}
	text(): string {
		return `${this.out.join("\n")}\n`;
	}
}

export function exposition(
	db: Database,
	collector: Collector,
	source: CounterSource | null,
	proxy: ProxyView | null = null,
): string {
	const e = new Exposition();
	const backends = db
		.query<{ id: string; name: string; organization_id: string; dp_index: number }, []>(
			"SELECT id, name, organization_id, dp_index FROM backends WHERE sandbox = 0 ORDER BY dp_index",
		)
		.all();
	const active = new Set(
		db
			.query<{ backend_id: string }, []>("SELECT backend_id FROM attacks WHERE ended_at IS NULL")
			.all()
			.map((r) => r.backend_id),
	);
	const id = (b: (typeof backends)[number]) => ({
		backend_id: b.id,
		backend: b.name,
		organization_id: b.organization_id,
	});
	e.metric("pistonprotection_up", "gauge", "1 while the data plane's counters are readable", [[{}, source ? 1 : 0]]);
	if (source) {
		const ctrs = backends.map((b) => [b, source.backend(b.dp_index)] as const);
		const counter = (name: string, help: string, pick: (c: (typeof ctrs)[number][1]) => bigint) =>
			e.metric(
				name,
				"counter",
				help,
				ctrs.map(([b, c]) => [id(b), pick(c)]),
			);
		counter(
			"pistonprotection_backend_received_packets_total",
			"Packets received for the backend's listeners",
			(c) => c.rxPackets,
		);
		counter(
			"pistonprotection_backend_received_bytes_total",
			"Bytes received for the backend's listeners",
			(c) => c.rxBytes,
		);
		counter(
			"pistonprotection_backend_requests_total",
			"Requests: packets admitted to the backend by every kernel check",
			(c) => c.passPackets,
		);
		counter("pistonprotection_backend_passed_bytes_total", "Bytes admitted to the backend", (c) => c.passBytes);
		counter("pistonprotection_backend_dropped_packets_total", "Packets for the backend dropped", (c) => c.dropPackets);
		counter("pistonprotection_backend_dropped_bytes_total", "Bytes for the backend dropped", (c) => c.dropBytes);
		const byClass = (name: string, help: string, field: "Packets" | "Drops") =>
			e.metric(
				name,
				"counter",
				help,
				ctrs.flatMap(([b, c]) =>
					TRAFFIC_CLASSES.map((k): [Record<string, string>, bigint] => [
						{ ...id(b), class: CLASS_METRIC_NAMES[k] },
						c[`${k}${field}`],
					]),
				),
			);
		byClass(
			"pistonprotection_backend_class_received_packets_total",
			"Packets received for the backend by class: tcp_syn (SYN without ACK), tcp_ack (other TCP), udp, icmp, fragment",
			"Packets",
		);
		byClass(
			"pistonprotection_backend_class_dropped_packets_total",
			"Packets for the backend dropped, by class as in pistonprotection_backend_class_received_packets_total",
			"Drops",
		);
		const reasons = source.reasons();
		e.metric(
			"pistonprotection_verdict_packets_total",
			"counter",
			"Packets judged by the data plane, host-wide, by verdict and reason",
			REASON_NAMES.map((r) => [{ reason: r, verdict: PASS_REASONS.has(r) ? "pass" : "drop" }, reasons[r].packets]),
		);
		e.metric(
			"pistonprotection_verdict_bytes_total",
			"counter",
			"Bytes judged by the data plane, host-wide, by verdict and reason",
			REASON_NAMES.map((r) => [{ reason: r, verdict: PASS_REASONS.has(r) ? "pass" : "drop" }, reasons[r].bytes]),
		);
		const rules = db
			.query<{ id: string; backend_id: string; stats_slot: number }, []>(
				"SELECT r.id, r.backend_id, r.stats_slot FROM filter_rules r JOIN backends b ON b.id = r.backend_id WHERE b.sandbox = 0",
			)
			.all();
		e.metric(
			"pistonprotection_rule_matched_packets_total",
			"counter",
			"Packets a filter rule matched (its kernel counter slot)",
			rules.map((r) => [{ rule_id: r.id, backend_id: r.backend_id }, source.rule(r.stats_slot).packets]),
		);
	}
	if (proxy) {
		const served = backends.flatMap((b) => {
			const c = proxy.counters(b.id);
			return c ? [[b, c] as const] : [];
		});
		const each = (pick: (c: ProxyCounters) => Array<[Record<string, string>, number]>) =>
			served.flatMap(([b, c]) => pick(c).map(([l, v]) => [{ ...id(b), ...l }, v] as [Record<string, string>, number]));
		e.metric(
			"pistonprotection_backend_proxy_bytes_total",
			"counter",
			"Payload bytes the proxy forwarded, by direction",
			each((c) => [
				[{ direction: "client_to_origin" }, c.bytesFromClients],
				[{ direction: "origin_to_client" }, c.bytesToClients],
			]),
		);
		e.metric(
			"pistonprotection_backend_proxy_connections_opened_total",
			"counter",
			"Proxied connections and UDP sessions that reached an origin",
			each((c) => [[{}, c.opened]]),
		);
		e.metric(
			"pistonprotection_backend_proxy_connections_closed_total",
			"counter",
			"Proxied connections and UDP sessions that ended",
			each((c) => [[{}, c.closed]]),
		);
		e.metric(
			"pistonprotection_backend_proxy_connections_refused_total",
			"counter",
			"Connections the proxy did not forward, by reason (limit: per-address limit, UDP per datagram; challenge; routing: no origin could take it)",
			each((c) => [
				[{ reason: "limit" }, c.refusedLimit],
				[{ reason: "challenge" }, c.refusedChallenge],
				[{ reason: "routing" }, c.refusedRouting],
			]),
		);
		const unrouted = proxy.refusedUnrouted();
		e.metric(
			"pistonprotection_proxy_unrouted_refused_connections_total",
			"counter",
			"Connections refused before a backend was known: a shared listener's per-address limit, an unknown host",
			[
				[{ reason: "limit" }, unrouted.limit],
				[{ reason: "routing" }, unrouted.routing],
			],
		);
	}
	const rates = backends.map((b) => [b, collector.backendSeries(b.id).at(-1)] as const);
	const gauge = (name: string, help: string, pick: (s: NonNullable<(typeof rates)[number][1]>) => number | null) =>
		e.metric(
			name,
			"gauge",
			help,
			rates.flatMap(([b, s]) => {
				const v = s ? pick(s) : null;
				return v === null ? [] : [[id(b), v] as [Record<string, string>, number]];
			}),
		);
	gauge("pistonprotection_backend_requests_per_second", "Requests in the last sampled second", (s) => s.passPps);
	gauge("pistonprotection_backend_packets_per_second", "Packets received in the last sampled second", (s) => s.rxPps);
	gauge("pistonprotection_backend_bytes_per_second", "Bytes received in the last sampled second", (s) => s.rxBps);
	gauge(
		"pistonprotection_backend_dropped_packets_per_second",
		"Packets dropped in the last sampled second",
		(s) => s.dropPps,
	);
	gauge("pistonprotection_backend_active_connections", "Open proxied connections", (s) => s.connections);
	e.metric(
		"pistonprotection_backend_under_attack",
		"gauge",
		"1 while attack detection has an attack open on the backend",
		backends.map((b) => [id(b), active.has(b.id) ? 1 : 0]),
	);
	e.metric(
		"pistonprotection_attacks_total",
		"counter",
		"Attacks detected (kept for telemetry.attack_retention_days), by backend and type",
		db
			.query<{ backend_id: string; type: string; n: number }, []>(
				"SELECT backend_id, type, COUNT(*) AS n FROM attacks GROUP BY backend_id, type ORDER BY backend_id, type",
			)
			.all()
			.map((r) => [{ backend_id: r.backend_id, type: r.type }, r.n]),
	);
	return e.text();
}
