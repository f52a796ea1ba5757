// The metrics the API answers (REST /v1/metrics/*, gRPC MetricsService, the UI): read from the
// rollups and attack records in SQLite, plus the collector's last seconds for live streams.
//
// Definitions (README "Telemetry"): a *request* is a packet admitted to a backend's listeners by
// every kernel check (the backend's pass counter) — requests_per_second is what backend status
// reports. Packets and bytes *in* are everything received for the backend's listeners. Bytes
// *out* are the payload the proxy forwarded from origins to clients, and new/closed connections
// its connections and UDP sessions; they are null where no proxy served the backend in the range.
// The data plane sees no egress, so packetsOut is null.
import type { Database } from "bun:sqlite";
import { REASON_NAMES, type ReasonName, TRAFFIC_CLASSES, type TrafficClass } from "../dataplane/abi.ts";
import type { Actor } from "../domain/actor.ts";
import { type FieldError, Forbidden, NotFound, ValidationError } from "../domain/errors.ts";
import { timeRange } from "../domain/validate.ts";
import { type AttackAction, DROP_REASONS } from "./attacks.ts";
import type { Collector } from "./collector.ts";
import { bucketOf, CLASS_COLUMNS, GRANULARITIES, GRANULARITY_MS, type Granularity } from "./rollups.ts";

/** 31 days of minutes: the most points one query returns per series. */
export const MAX_POINTS = 44_640;
/** Without a granularity, the finest one with at most this many buckets in the range. */
const AUTO_BUCKETS = 1500;
const DEFAULT_RANGE_MS = 3_600_000;

export interface MetricsQuery {
	backendId?: string;
	from?: string;
	to?: string;
	granularity?: string;
	metrics?: string[] | string;
}

interface Range {
	organizationId: string;
	backendId: string | null;
	from: number;
	to: number;
	granularity: Granularity;
	/** A sandbox actor's backends are never measured: every answer is empty. */
	empty: boolean;
}

/** Per traffic class, the summed `${class}_packets` and `${class}_drops` columns (CLASS_COLUMNS). */
type ClassColumns = { [K in TrafficClass as `${K}_packets` | `${K}_drops`]: number };

type TrafficBucket = ClassColumns & {
	bucket: number;
	seconds: number;
	rx_packets: number;
	rx_bytes: number;
	pass_packets: number;
	pass_bytes: number;
	drop_packets: number;
	drop_bytes: number;
	peak_pps: number;
	peak_bps: number;
	connections_max: number | null;
	kernel_seconds: number;
	proxy_seconds: number;
	bytes_from_clients: number;
	bytes_to_clients: number;
	connections_opened: number;
	connections_closed: number;
	refused_limit: number;
	refused_challenge: number;
	refused_routing: number;
};

export interface AttackSource {
	ip: string;
	country: string | null;
	asn: string | null;
	requests: number;
	bytes: number;
	drops: number;
	actionTaken: string;
}

interface AttackRow {
	id: string;
	organization_id: string;
	backend_id: string;
	started_at: string;
	ended_at: string | null;
	last_seen_at: string;
	type: string;
	severity: string;
	peak_pps: number;
	peak_bps: number;
	packets: number;
	bytes: number;
	dropped_packets: number;
	rate_limited_packets: number;
	challenged_packets: number;
	unique_sources: number;
	top_sources: string;
	reasons: string;
	actions: string;
	series: string;
	previous_level: string | null;
	escalated_level: string | null;
	backend_name: string | null;
}

const rate = (total: number, seconds: number) => (seconds > 0 ? Math.round((total / seconds) * 1000) / 1000 : 0);
/** A proxy figure's rate over a bucket, or null when no proxy served the backend in it. */
const proxyRate = (b: TrafficBucket, total: number) => (b.proxy_seconds > 0 ? rate(total, b.seconds) : null);
/** A kernel figure's rate over the seconds the data plane was read, or null when it never was. */
const kernelRate = (b: TrafficBucket, total: number) => (b.kernel_seconds > 0 ? rate(total, b.kernel_seconds) : null);

/** Per-backend series: name → value of one bucket. */
const TRAFFIC_SERIES: Record<string, (b: TrafficBucket) => number | null> = {
	requests_per_second: (b) => kernelRate(b, b.pass_packets),
	passed_packets_per_second: (b) => kernelRate(b, b.pass_packets),
	packets_per_second: (b) => kernelRate(b, b.rx_packets),
	bytes_per_second: (b) => kernelRate(b, b.rx_bytes),
	passed_bytes_per_second: (b) => kernelRate(b, b.pass_bytes),
	dropped_packets_per_second: (b) => kernelRate(b, b.drop_packets),
	dropped_bytes_per_second: (b) => kernelRate(b, b.drop_bytes),
	peak_packets_per_second: (b) => (b.kernel_seconds > 0 ? b.peak_pps : null),
	peak_bytes_per_second: (b) => (b.kernel_seconds > 0 ? b.peak_bps : null),
	active_connections: (b) => b.connections_max,
	bytes_out_per_second: (b) => proxyRate(b, b.bytes_to_clients),
	proxied_bytes_in_per_second: (b) => proxyRate(b, b.bytes_from_clients),
	new_connections_per_second: (b) => proxyRate(b, b.connections_opened),
	closed_connections_per_second: (b) => proxyRate(b, b.connections_closed),
	refused_connections_per_second: (b) => proxyRate(b, b.refused_limit + b.refused_challenge + b.refused_routing),
};
/** The traffic classes' names in metric names (pp_backend_ctr: syn, ack, udp, icmp, frag). */
export const CLASS_METRIC_NAMES: Record<TrafficClass, string> = {
	syn: "tcp_syn",
	ack: "tcp_ack",
	udp: "udp",
	icmp: "icmp",
	frag: "fragment",
};
for (const c of TRAFFIC_CLASSES) {
	const name = CLASS_METRIC_NAMES[c];
	TRAFFIC_SERIES[`${name}_packets_per_second`] = (b) => kernelRate(b, b[`${c}_packets`]);
	TRAFFIC_SERIES[`dropped_${name}_packets_per_second`] = (b) => kernelRate(b, b[`${c}_drops`]);
}
/** Host-wide drops per verdict reason (the kernel does not count reasons per backend). */
const reasonSeries = (r: ReasonName) => `drops_${r.toLowerCase()}_per_second`;
export const METRIC_NAMES = [...Object.keys(TRAFFIC_SERIES), ...DROP_REASONS.map(reasonSeries)];
const DEFAULT_METRICS = ["requests_per_second", "packets_per_second", "bytes_per_second", "dropped_packets_per_second"];

const regionNames = new Intl.DisplayNames(["en"], { type: "region" });
function countryName(code: string): string {
	if (code === "ZZ") return "Unknown";
	try {
		return regionNames.of(code) ?? code;
	} catch {
		return code;
	}
}

function require(actor: Actor) {
	if (!actor.permissions.includes("read")) throw new Forbidden("requires the 'read' permission");
}

export class MetricsService {
	constructor(
		private readonly db: Database,
		private readonly collector: Collector,
		private readonly activeConnections: (backendId: string) => number | null,
	) {}

	/** Totals and average rates over the range (default: the last hour). */
	traffic(actor: Actor, query: MetricsQuery = {}) {
		const range = this.range(actor, query);
		const buckets = this.trafficBuckets(range);
		const sum = (k: keyof TrafficBucket) => buckets.reduce((n, b) => n + ((b[k] as number | null) ?? 0), 0);
		const seconds = sum("seconds");
		const last = buckets.at(-1);
		// The kernel's figures, or null (not measured) when the data plane was never read in the range.
		const kernelSeconds = sum("kernel_seconds");
		const kernel = (k: keyof TrafficBucket) => (kernelSeconds > 0 ? sum(k) : null);
		const kernelPerSecond = (k: keyof TrafficBucket) => (kernelSeconds > 0 ? rate(sum(k), kernelSeconds) : null);
		// The proxy's figures, or null (not measured) when no proxy served the scope in the range.
		const proxied = sum("proxy_seconds") > 0;
		const proxy = (k: keyof TrafficBucket) => (proxied ? sum(k) : null);
		return {
			metrics: {
				requestsTotal: kernel("pass_packets"),
				requestsPerSecond: kernelPerSecond("pass_packets"),
				bytesIn: kernel("rx_bytes"),
				bytesOut: proxy("bytes_to_clients"),
				bytesPerSecondIn: kernelPerSecond("rx_bytes"),
				bytesPerSecondOut: proxied ? rate(sum("bytes_to_clients"), seconds) : null,
				packetsIn: kernel("rx_packets"),
				packetsOut: null,
				packetsPerSecond: kernelPerSecond("rx_packets"),
				activeConnections: last ? last.connections_max : null,
				newConnections: proxy("connections_opened"),
				closedConnections: proxy("connections_closed"),
				bytesProxiedIn: proxy("bytes_from_clients"),
				connectionsRefusedLimit: proxy("refused_limit"),
				connectionsRefusedChallenge: proxy("refused_challenge"),
				connectionsRefusedRouting: proxy("refused_routing"),
				packetsPassed: kernel("pass_packets"),
				bytesPassed: kernel("pass_bytes"),
				packetsDropped: kernel("drop_packets"),
				bytesDropped: kernel("drop_bytes"),
				peakPacketsPerSecond: kernelSeconds > 0 ? buckets.reduce((m, b) => Math.max(m, b.peak_pps), 0) : null,
				secondsMeasured: seconds,
			},
			from: new Date(range.from).toISOString(),
			to: new Date(range.to).toISOString(),
			granularity: range.granularity,
			timestamp: new Date().toISOString(),
		};
	}

	timeseries(actor: Actor, query: MetricsQuery = {}) {
		const range = this.range(actor, query);
		const raw = query.metrics ?? DEFAULT_METRICS;
		const names = (Array.isArray(raw) ? raw : raw.split(",")).map((m) => m.trim()).filter(Boolean);
		const unknown = names.filter((m) => !METRIC_NAMES.includes(m));
		if (unknown.length)
			throw ValidationError.field(
				"metrics",
				"invalid_enum",
				`unknown metric ${unknown.join(", ")}; known: ${METRIC_NAMES.join(", ")}`,
			);
		const buckets = names.some((m) => m in TRAFFIC_SERIES) ? this.trafficBuckets(range) : [];
		const reasons = names.some((m) => !(m in TRAFFIC_SERIES)) ? this.reasonBuckets(range) : new Map();
		const iso = (t: number) => new Date(t).toISOString();
		return {
			series: (names.length ? names : DEFAULT_METRICS).map((metricName) => {
				const fn = TRAFFIC_SERIES[metricName];
				if (fn)
					return {
						metricName,
						points: buckets
							.map((b) => ({ timestamp: iso(b.bucket), value: fn(b) }))
							.filter((p): p is { timestamp: string; value: number } => p.value !== null),
					};
				const reason = DROP_REASONS.find((r) => reasonSeries(r) === metricName) as ReasonName;
				return {
					metricName,
					points: [...(reasons.get(reason) ?? [])].map((p: { bucket: number; seconds: number; packets: number }) => ({
						timestamp: iso(p.bucket),
						value: rate(p.packets, p.seconds),
					})),
				};
			}),
			granularity: range.granularity,
		};
	}

	/** The current (or latest) attack's figures, and every attack overlapping the range. */
	attacks(actor: Actor, query: MetricsQuery = {}) {
		const range = this.range(actor, query, 86_400_000);
		const rows = range.empty
			? []
			: this.db
					.query<AttackRow, [string, string | null, string | null, string, string]>(
						`SELECT a.*, b.name AS backend_name FROM attacks a LEFT JOIN backends b ON b.id = a.backend_id
						 WHERE a.organization_id = ? AND (? IS NULL OR a.backend_id = ?) AND a.started_at <= ?
							AND (a.ended_at IS NULL OR a.ended_at >= ?) ORDER BY a.started_at DESC LIMIT 100`,
					)
					.all(
						range.organizationId,
						range.backendId,
						range.backendId,
						new Date(range.to).toISOString(),
						new Date(range.from).toISOString(),
					);
		const active = rows.filter((r) => r.ended_at === null).sort((a, b) => b.peak_pps - a.peak_pps);
		const current = active[0] ?? rows[0] ?? null;
		return {
			metrics: current
				? this.attackMetrics(current)
				: {
						underAttack: false,
						attackType: null,
						severity: null,
						attackRequests: 0,
						attackBytes: 0,
						attackPps: 0,
						attackBps: 0,
						requestsDropped: 0,
						requestsChallenged: 0,
						requestsRateLimited: 0,
						uniqueAttackIps: 0,
						topSources: [],
					},
			attacks: rows.map((r) => this.record(r, false)),
			timestamp: new Date().toISOString(),
		};
	}

	/** One attack with its per-second chart. */
	attack(actor: Actor, id: string) {
		require(actor);
		const row = this.db
			.query<AttackRow, [string, string]>(
				`SELECT a.*, b.name AS backend_name FROM attacks a LEFT JOIN backends b ON b.id = a.backend_id
				 WHERE a.id = ? AND a.organization_id = ?`,
			)
			.get(id, actor.organizationId);
		if (!row || actor.sandbox) throw new NotFound("attack", id);
		return this.record(row, true);
	}

	/** Attack history, newest first (the UI's list). */
	listAttacks(actor: Actor, page: number, pageSize: number, backendId?: string) {
		require(actor);
		if (backendId) this.ownBackend(actor, backendId);
		const only = backendId ?? null;
		const totalCount = actor.sandbox
			? 0
			: (this.db
					.query<{ n: number }, [string, string | null, string | null]>(
						"SELECT COUNT(*) AS n FROM attacks WHERE organization_id = ? AND (? IS NULL OR backend_id = ?)",
					)
					.get(actor.organizationId, only, only)?.n ?? 0);
		const rows = actor.sandbox
			? []
			: this.db
					.query<AttackRow, [string, string | null, string | null, number, number]>(
						`SELECT a.*, b.name AS backend_name FROM attacks a LEFT JOIN backends b ON b.id = a.backend_id
						 WHERE a.organization_id = ? AND (? IS NULL OR a.backend_id = ?) ORDER BY a.started_at DESC LIMIT ? OFFSET ?`,
					)
					.all(actor.organizationId, only, only, pageSize, (page - 1) * pageSize);
		return {
			data: rows.map((r) => this.record(r, false)),
			pagination: { page, pageSize, totalCount, hasNext: page * pageSize < totalCount },
		};
	}

	/** Attacks open right now. */
	activeAttacks(actor: Actor) {
		require(actor);
		if (actor.sandbox) return [];
		return this.db
			.query<AttackRow, [string]>(
				`SELECT a.*, b.name AS backend_name FROM attacks a LEFT JOIN backends b ON b.id = a.backend_id
				 WHERE a.ended_at IS NULL AND a.organization_id = ? ORDER BY a.started_at`,
			)
			.all(actor.organizationId)
			.map((r) => this.record(r, false));
	}

	/** Traffic per source country, from the source table's per-source counters. */
	geo(actor: Actor, query: MetricsQuery = {}) {
		const range = this.range(actor, query);
		const rows = range.empty
			? []
			: this.db
					.query<
						{ country: string; packets: number; bytes: number; drops: number; unique_ips: number },
						[Granularity, string, string | null, string | null, number, number]
					>(
						`SELECT country, SUM(packets) AS packets, SUM(bytes) AS bytes, SUM(drops) AS drops, MAX(unique_ips) AS unique_ips
						 FROM geo_rollups WHERE granularity = ? AND organization_id = ? AND (? IS NULL OR backend_id = ?)
							AND bucket >= ? AND bucket <= ? GROUP BY country ORDER BY packets DESC`,
					)
					.all(
						range.granularity,
						range.organizationId,
						range.backendId,
						range.backendId,
						bucketOf(range.granularity, range.from),
						range.to,
					);
		const blocked = this.blockedCountries(range);
		return {
			countries: rows.map((r) => ({
				countryCode: r.country,
				countryName: countryName(r.country),
				requests: r.packets - r.drops,
				packets: r.packets,
				packetsRateLimited: r.drops,
				bytes: r.bytes,
				uniqueIps: r.unique_ips,
				blocked: r.country !== "ZZ" && blocked(r.country),
			})),
			timestamp: new Date().toISOString(),
		};
	}

	/** The collector's last second for a backend (or every backend of the organization), for streams. */
	liveTraffic(actor: Actor, backendId: string | null) {
		require(actor);
		if (backendId) this.ownBackend(actor, backendId);
		const ids = backendId
			? [backendId]
			: actor.sandbox
				? []
				: this.db
						.query<{ id: string }, [string]>("SELECT id FROM backends WHERE organization_id = ? AND sandbox = 0")
						.all(actor.organizationId)
						.map((r) => r.id);
		let at = 0;
		const out = { requestsPerSecond: 0, packetsPerSecond: 0, bytesPerSecondIn: 0, activeConnections: 0 };
		let connections = false;
		for (const id of ids) {
			const s = this.collector.backendSeries(id).at(-1);
			if (!s) continue;
			at = Math.max(at, s.at);
			out.requestsPerSecond += s.passPps;
			out.packetsPerSecond += s.rxPps;
			out.bytesPerSecondIn += s.rxBps;
			const c = this.activeConnections(id);
			if (c !== null) {
				connections = true;
				out.activeConnections += c;
			}
		}
		if (!at) return null;
		return {
			...out,
			activeConnections: connections ? out.activeConnections : null,
			backendId: backendId ?? undefined,
			timestamp: new Date(at).toISOString(),
		};
	}

	private attackMetrics(r: AttackRow) {
		return {
			underAttack: r.ended_at === null,
			attackType: r.type,
			severity: r.severity,
			attackRequests: r.packets,
			attackBytes: r.bytes,
			attackPps: r.peak_pps,
			attackBps: r.peak_bps,
			requestsDropped: r.dropped_packets,
			requestsChallenged: r.challenged_packets,
			requestsRateLimited: r.rate_limited_packets,
			uniqueAttackIps: r.unique_sources,
			topSources: JSON.parse(r.top_sources) as AttackSource[],
			attackId: r.id,
			backendId: r.backend_id,
		};
	}

	private record(r: AttackRow, withSeries: boolean) {
		const end = r.ended_at ?? r.last_seen_at;
		const series = withSeries
			? (JSON.parse(r.series) as { step: number; points: Array<[number, number, number]> })
			: null;
		return {
			id: r.id,
			backendId: r.backend_id,
			backendName: r.backend_name,
			startedAt: r.started_at,
			endedAt: r.ended_at,
			active: r.ended_at === null,
			durationSeconds: Math.max(0, Math.round((Date.parse(end) - Date.parse(r.started_at)) / 1000)),
			attackType: r.type,
			severity: r.severity,
			peakPps: r.peak_pps,
			peakBps: r.peak_bps,
			packets: r.packets,
			bytes: r.bytes,
			droppedPackets: r.dropped_packets,
			rateLimitedPackets: r.rate_limited_packets,
			challengedPackets: r.challenged_packets,
			uniqueSources: r.unique_sources,
			topSources: JSON.parse(r.top_sources) as AttackSource[],
			reasons: JSON.parse(r.reasons) as Partial<Record<ReasonName, number>>,
			actions: JSON.parse(r.actions) as AttackAction[],
			...(series
				? {
						series: {
							stepSeconds: series.step,
							points: series.points.map(([t, rx, drop]) => ({
								timestamp: new Date(t).toISOString(),
								receivedPps: rx,
								droppedPps: drop,
							})),
						},
					}
				: {}),
		};
	}

	private trafficBuckets(range: Range): TrafficBucket[] {
		if (range.empty) return [];
		const cols = `bucket, MAX(seconds) AS seconds, SUM(rx_packets) AS rx_packets,
			SUM(rx_bytes) AS rx_bytes, SUM(pass_packets) AS pass_packets, SUM(pass_bytes) AS pass_bytes,
			SUM(drop_packets) AS drop_packets, SUM(drop_bytes) AS drop_bytes, SUM(peak_pps) AS peak_pps,
			SUM(peak_bps) AS peak_bps, SUM(connections_max) AS connections_max, MAX(proxy_seconds) AS proxy_seconds,
			SUM(bytes_from_clients) AS bytes_from_clients, SUM(bytes_to_clients) AS bytes_to_clients,
			SUM(connections_opened) AS connections_opened, SUM(connections_closed) AS connections_closed,
			SUM(refused_limit) AS refused_limit, SUM(refused_challenge) AS refused_challenge,
			SUM(refused_routing) AS refused_routing, MAX(kernel_seconds) AS kernel_seconds,
			${CLASS_COLUMNS.map((c) => `SUM(${c}) AS ${c}`).join(", ")}`;
		const start = bucketOf(range.granularity, range.from);
		// The backend's primary-key range, or the organization's index range.
		return range.backendId
			? this.db
					.query<TrafficBucket, [Granularity, string, number, number]>(
						`SELECT ${cols} FROM traffic_rollups WHERE granularity = ? AND backend_id = ? AND bucket >= ? AND bucket <= ?
						 GROUP BY bucket ORDER BY bucket`,
					)
					.all(range.granularity, range.backendId, start, range.to)
			: this.db
					.query<TrafficBucket, [Granularity, string, number, number]>(
						`SELECT ${cols} FROM traffic_rollups WHERE granularity = ? AND organization_id = ? AND bucket >= ? AND bucket <= ?
						 GROUP BY bucket ORDER BY bucket`,
					)
					.all(range.granularity, range.organizationId, start, range.to);
	}

	private reasonBuckets(range: Range): Map<ReasonName, Array<{ bucket: number; seconds: number; packets: number }>> {
		const out = new Map<ReasonName, Array<{ bucket: number; seconds: number; packets: number }>>();
		if (range.empty) return out;
		for (const r of this.db
			.query<{ bucket: number; reason: ReasonName; seconds: number; packets: number }, [Granularity, number, number]>(
				"SELECT bucket, reason, seconds, packets FROM reason_rollups WHERE granularity = ? AND bucket >= ? AND bucket <= ? ORDER BY bucket",
			)
			.all(range.granularity, bucketOf(range.granularity, range.from), range.to)) {
			if (!REASON_NAMES.includes(r.reason)) continue;
			const list = out.get(r.reason) ?? [];
			list.push(r);
			out.set(r.reason, list);
		}
		return out;
	}

	/** A country is blocked when every backend in scope refuses it (geoIp settings or an enabled DROP rule). */
	private blockedCountries(range: Range): (country: string) => boolean {
		const backends = this.db
			.query<{ id: string; protection: string }, [string, string | null, string | null]>(
				"SELECT id, protection FROM backends WHERE organization_id = ? AND sandbox = 0 AND (? IS NULL OR id = ?)",
			)
			.all(range.organizationId, range.backendId, range.backendId);
		const rules = this.db
			.query<{ backend_id: string; match: string }, [string]>(
				"SELECT backend_id, match FROM filter_rules WHERE organization_id = ? AND enabled = 1 AND action = 'DROP'",
			)
			.all(range.organizationId);
		const dropped = new Map<string, Set<string>>();
		for (const r of rules) {
			const m = JSON.parse(r.match) as Record<string, unknown>;
			// Only a rule that matches on country alone refuses a whole country.
			const keys = Object.keys(m).filter((k) => m[k] !== undefined);
			if (!keys.every((k) => k === "sourceCountries" || k === "sourceCountryBlacklist")) continue;
			const set = dropped.get(r.backend_id) ?? new Set();
			for (const c of [...((m.sourceCountries as string[]) ?? []), ...((m.sourceCountryBlacklist as string[]) ?? [])])
				set.add(c);
			dropped.set(r.backend_id, set);
		}
		return (country) =>
			backends.length > 0 &&
			backends.every((b) => {
				const geo = (JSON.parse(b.protection) as { geoIp?: { mode: string; countries: string[] } }).geoIp;
				if (geo?.mode === "BLOCK_LIST" && geo.countries.includes(country)) return true;
				if (geo?.mode === "ALLOW_LIST" && !geo.countries.includes(country)) return true;
				return dropped.get(b.id)?.has(country) ?? false;
			});
	}

	private ownBackend(actor: Actor, backendId: string): void {
		const row = this.db
			.query<{ id: string }, [string, string, number]>(
				"SELECT id FROM backends WHERE id = ? AND organization_id = ? AND sandbox = ?",
			)
			.get(backendId, actor.organizationId, actor.sandbox ? 1 : 0);
		if (!row) throw new NotFound("backend", backendId);
	}

	private range(actor: Actor, query: MetricsQuery, defaultMs = DEFAULT_RANGE_MS): Range {
		require(actor);
		const errors: FieldError[] = [];
		// An empty from or to (a submitted form field) means unset here.
		const { from, to } = timeRange({ from: query.from || undefined, to: query.to || undefined }, defaultMs, errors);
		let granularity: Granularity;
		if (query.granularity) {
			const g = query.granularity.toUpperCase() as Granularity;
			if (!GRANULARITIES.includes(g))
				errors.push({
					field: "granularity",
					code: "invalid_enum",
					message: `must be one of ${GRANULARITIES.join(", ")}`,
				});
			granularity = GRANULARITIES.includes(g) ? g : "MINUTE";
			if (!errors.length && (to - from) / GRANULARITY_MS[granularity] > MAX_POINTS)
				errors.push({
					field: "granularity",
					code: "invalid_value",
					message: `the range would have more than ${MAX_POINTS} buckets; choose a coarser granularity`,
				});
		} else {
			granularity = GRANULARITIES.find((g) => (to - from) / GRANULARITY_MS[g] <= AUTO_BUCKETS) ?? "DAY";
		}
		if (errors.length) throw new ValidationError(errors);
		if (query.backendId) this.ownBackend(actor, query.backendId);
		return {
			organizationId: actor.organizationId,
			backendId: query.backendId || null,
			from,
			to,
			granularity,
			empty: actor.sandbox,
		};
	}
}
