// Rollups in SQLite: what the collector measured, added into MINUTE, FIVE_MINUTES, HOUR and DAY
// buckets (UTC, bucket = start in epoch milliseconds). The collector hands over deltas per
// minute; each flush adds them to all four granularities in one transaction, so a restart loses
// at most the seconds since the last flush. Retention bounds the rows of each granularity.
import type { Database } from "bun:sqlite";
import type { Config } from "../config.ts";
import { TRAFFIC_CLASSES, type TrafficClass } from "../dataplane/abi.ts";
import { emptyProxyCounters, PROXY_COUNTER_NAMES, type ProxyCounters } from "../services.ts";

export const GRANULARITIES = ["MINUTE", "FIVE_MINUTES", "HOUR", "DAY"] as const;
export type Granularity = (typeof GRANULARITIES)[number];
export const GRANULARITY_MS: Record<Granularity, number> = {
	MINUTE: 60_000,
	FIVE_MINUTES: 300_000,
	HOUR: 3_600_000,
	DAY: 86_400_000,
};

export const bucketOf = (g: Granularity, t: number) => Math.floor(t / GRANULARITY_MS[g]) * GRANULARITY_MS[g];

/** Distinct sources per (granularity bucket, backend, country) are counted up to this many. */
export const UNIQUE_SOURCES_CAP = 100_000;

/** Packets and drops of each traffic class (abi.ts TRAFFIC_CLASSES). */
export type ClassDelta = { [K in TrafficClass as `${K}Packets` | `${K}Drops`]: number };

/** traffic_rollups columns of the traffic classes, in TRAFFIC_CLASSES order (packets, drops). */
export const CLASS_COLUMNS = TRAFFIC_CLASSES.flatMap((c) => [`${c}_packets`, `${c}_drops`]);

export interface TrafficDelta extends ClassDelta {
	seconds: number;
	/** Seconds in which the data plane's counters were read (the kernel figures cover these). */
	kernelSeconds: number;
	rxPackets: number;
	rxBytes: number;
	passPackets: number;
	passBytes: number;
	dropPackets: number;
	dropBytes: number;
	peakPps: number;
	peakBps: number;
	connectionsMax: number | null;
	connectionsSum: number;
	connectionsSeconds: number;
	/** Seconds the proxy served the backend, and its counters' deltas over them. */
	proxySeconds: number;
	proxy: ProxyCounters;
}

interface GeoDelta {
	packets: number;
	bytes: number;
	drops: number;
}

/** Every traffic class at zero packets and drops. */
const emptyClasses = (): ClassDelta =>
	Object.fromEntries(TRAFFIC_CLASSES.flatMap((c) => [`${c}Packets`, `${c}Drops`]).map((k) => [k, 0])) as ClassDelta;

const emptyTraffic = (): TrafficDelta => ({
	...emptyClasses(),
	seconds: 0,
	kernelSeconds: 0,
	rxPackets: 0,
	rxBytes: 0,
	passPackets: 0,
	passBytes: 0,
	dropPackets: 0,
	dropBytes: 0,
	peakPps: 0,
	peakBps: 0,
	connectionsMax: null,
	connectionsSum: 0,
	connectionsSeconds: 0,
	proxySeconds: 0,
	proxy: emptyProxyCounters(),
});

export class Rollups {
	/** backendId|minute → delta since the last flush. */
	private traffic = new Map<string, { backendId: string; organizationId: string; minute: number; d: TrafficDelta }>();
	/** minute|reason → packets, bytes; seconds per minute. */
	private reasons = new Map<string, { minute: number; reason: string; packets: number; bytes: number }>();
	private reasonSeconds = new Map<number, number>();
	private geo = new Map<
		string,
		{ backendId: string; organizationId: string; minute: number; country: string } & GeoDelta
	>();
	/** granularity|bucket|backend|country → distinct sources seen in the bucket. */
	private unique = new Map<string, Set<string>>();

	constructor(private readonly db: Database) {}

	addTraffic(
		backendId: string,
		organizationId: string,
		at: number,
		/** The kernel's deltas for this second; null when the data plane was not read (disabled). */
		s: Omit<
			TrafficDelta,
			| "seconds"
			| "kernelSeconds"
			| "peakPps"
			| "peakBps"
			| "connectionsMax"
			| "connectionsSum"
			| "connectionsSeconds"
			| "proxySeconds"
			| "proxy"
		> | null,
		connections: number | null,
		/** The proxy's counter deltas for this second; null when no proxy serves the backend. */
		proxy: ProxyCounters | null = null,
	): void {
		const minute = bucketOf("MINUTE", at);
		const key = `${backendId}|${minute}`;
		let entry = this.traffic.get(key);
		if (!entry) {
			entry = { backendId, organizationId, minute, d: emptyTraffic() };
			this.traffic.set(key, entry);
		}
		const d = entry.d;
		d.seconds += 1;
		if (s) {
			d.kernelSeconds += 1;
			d.rxPackets += s.rxPackets;
			d.rxBytes += s.rxBytes;
			d.passPackets += s.passPackets;
			d.passBytes += s.passBytes;
			d.dropPackets += s.dropPackets;
			d.dropBytes += s.dropBytes;
			for (const c of TRAFFIC_CLASSES) {
				d[`${c}Packets`] += s[`${c}Packets`];
				d[`${c}Drops`] += s[`${c}Drops`];
			}
			d.peakPps = Math.max(d.peakPps, s.rxPackets);
			d.peakBps = Math.max(d.peakBps, s.rxBytes);
		}
		if (connections !== null) {
			d.connectionsMax = Math.max(d.connectionsMax ?? 0, connections);
			d.connectionsSum += connections;
			d.connectionsSeconds += 1;
		}
		if (proxy) {
			d.proxySeconds += 1;
			for (const k of PROXY_COUNTER_NAMES) d.proxy[k] += proxy[k];
		}
	}

	/** One second of host-wide verdict reason deltas. */
	addReasons(at: number, deltas: Record<string, { packets: number; bytes: number }>): void {
		const minute = bucketOf("MINUTE", at);
		this.reasonSeconds.set(minute, (this.reasonSeconds.get(minute) ?? 0) + 1);
		for (const [reason, d] of Object.entries(deltas)) {
			const key = `${minute}|${reason}`;
			const e = this.reasons.get(key) ?? { minute, reason, packets: 0, bytes: 0 };
			e.packets += d.packets;
			e.bytes += d.bytes;
			this.reasons.set(key, e);
		}
	}

	addSource(
		backendId: string,
		organizationId: string,
		at: number,
		country: string,
		address: string,
		d: GeoDelta,
	): void {
		const minute = bucketOf("MINUTE", at);
		const key = `${backendId}|${minute}|${country}`;
		const e = this.geo.get(key) ?? { backendId, organizationId, minute, country, packets: 0, bytes: 0, drops: 0 };
		e.packets += d.packets;
		e.bytes += d.bytes;
		e.drops += d.drops;
		this.geo.set(key, e);
		for (const g of GRANULARITIES) {
			const ukey = `${g}|${bucketOf(g, at)}|${backendId}|${country}`;
			let set = this.unique.get(ukey);
			if (!set) {
				set = new Set();
				this.unique.set(ukey, set);
			}
			if (set.size < UNIQUE_SOURCES_CAP) set.add(address);
		}
	}

	/** Adds everything gathered since the last flush to every granularity; returns rows written. */
	flush(now: number): number {
		let rows = 0;
		const traffic = this.db.prepare(
			`INSERT INTO traffic_rollups (granularity, backend_id, organization_id, bucket, seconds, rx_packets, rx_bytes,
				pass_packets, pass_bytes, drop_packets, drop_bytes, peak_pps, peak_bps, connections_max, connections_sum,
				connections_seconds, proxy_seconds, bytes_from_clients, bytes_to_clients, connections_opened,
				connections_closed, refused_limit, refused_challenge, refused_routing, ${CLASS_COLUMNS.join(", ")},
				kernel_seconds)
			 SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22,
				?23, ?24, ${CLASS_COLUMNS.map((_, i) => `?${25 + i}`).join(", ")}, ?${25 + CLASS_COLUMNS.length}
			 WHERE EXISTS (SELECT 1 FROM backends WHERE id = ?2)
			 ON CONFLICT (granularity, backend_id, bucket) DO UPDATE SET
				seconds = seconds + excluded.seconds, rx_packets = rx_packets + excluded.rx_packets,
				rx_bytes = rx_bytes + excluded.rx_bytes, pass_packets = pass_packets + excluded.pass_packets,
				pass_bytes = pass_bytes + excluded.pass_bytes, drop_packets = drop_packets + excluded.drop_packets,
				drop_bytes = drop_bytes + excluded.drop_bytes, peak_pps = MAX(peak_pps, excluded.peak_pps),
				peak_bps = MAX(peak_bps, excluded.peak_bps),
				connections_max = CASE WHEN excluded.connections_max IS NULL THEN connections_max
					ELSE MAX(COALESCE(connections_max, 0), excluded.connections_max) END,
				connections_sum = connections_sum + excluded.connections_sum,
				connections_seconds = connections_seconds + excluded.connections_seconds,
				proxy_seconds = proxy_seconds + excluded.proxy_seconds,
				bytes_from_clients = bytes_from_clients + excluded.bytes_from_clients,
				bytes_to_clients = bytes_to_clients + excluded.bytes_to_clients,
				connections_opened = connections_opened + excluded.connections_opened,
				connections_closed = connections_closed + excluded.connections_closed,
				refused_limit = refused_limit + excluded.refused_limit,
				refused_challenge = refused_challenge + excluded.refused_challenge,
				refused_routing = refused_routing + excluded.refused_routing,
				${CLASS_COLUMNS.map((c) => `${c} = ${c} + excluded.${c}`).join(", ")},
				kernel_seconds = kernel_seconds + excluded.kernel_seconds`,
		);
		const reason = this.db.prepare(
			`INSERT INTO reason_rollups (granularity, bucket, reason, seconds, packets, bytes) VALUES (?, ?, ?, ?, ?, ?)
			 ON CONFLICT (granularity, bucket, reason) DO UPDATE SET seconds = seconds + excluded.seconds,
				packets = packets + excluded.packets, bytes = bytes + excluded.bytes`,
		);
		const geo = this.db.prepare(
			`INSERT INTO geo_rollups (granularity, backend_id, organization_id, bucket, country, packets, bytes, drops, unique_ips)
			 SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9 WHERE EXISTS (SELECT 1 FROM backends WHERE id = ?2)
			 ON CONFLICT (granularity, backend_id, bucket, country) DO UPDATE SET packets = packets + excluded.packets,
				bytes = bytes + excluded.bytes, drops = drops + excluded.drops,
				unique_ips = MAX(unique_ips, excluded.unique_ips)`,
		);
		this.db.transaction(() => {
			for (const e of this.traffic.values()) {
				const d = e.d;
				for (const g of GRANULARITIES) {
					traffic.run(
						g,
						e.backendId,
						e.organizationId,
						bucketOf(g, e.minute),
						d.seconds,
						d.rxPackets,
						d.rxBytes,
						d.passPackets,
						d.passBytes,
						d.dropPackets,
						d.dropBytes,
						d.peakPps,
						d.peakBps,
						d.connectionsMax,
						d.connectionsSum,
						d.connectionsSeconds,
						d.proxySeconds,
						...PROXY_COUNTER_NAMES.map((k) => d.proxy[k]),
						...TRAFFIC_CLASSES.flatMap((c) => [d[`${c}Packets`], d[`${c}Drops`]]),
						d.kernelSeconds,
					);
					rows++;
				}
			}
			for (const e of this.reasons.values()) {
				const seconds = this.reasonSeconds.get(e.minute) ?? 0;
				for (const g of GRANULARITIES) {
					reason.run(g, bucketOf(g, e.minute), e.reason, seconds, e.packets, e.bytes);
					rows++;
				}
			}
			for (const e of this.geo.values()) {
				for (const g of GRANULARITIES) {
					const unique = this.unique.get(`${g}|${bucketOf(g, e.minute)}|${e.backendId}|${e.country}`)?.size ?? 0;
					geo.run(
						g,
						e.backendId,
						e.organizationId,
						bucketOf(g, e.minute),
						e.country,
						e.packets,
						e.bytes,
						e.drops,
						unique,
					);
					rows++;
				}
			}
		})();
		this.traffic.clear();
		this.reasons.clear();
		this.reasonSeconds.clear();
		this.geo.clear();
		// Distinct-source sets of buckets that have ended are no longer needed.
		for (const key of this.unique.keys()) {
			const [g, bucket] = key.split("|") as [Granularity, string];
			if (Number(bucket) + GRANULARITY_MS[g] <= now) this.unique.delete(key);
		}
		return rows;
	}

	/** Deletes rollups older than each granularity's retention, and ended attacks past theirs. */
	prune(now: number, t: Config["telemetry"]): number {
		const days: Record<Granularity, number> = {
			MINUTE: t.retention_minute_days,
			FIVE_MINUTES: t.retention_five_minutes_days,
			HOUR: t.retention_hour_days,
			DAY: t.retention_day_days,
		};
		let removed = 0;
		for (const g of GRANULARITIES) {
			const cutoff = now - days[g] * 86_400_000;
			for (const table of ["traffic_rollups", "reason_rollups", "geo_rollups"])
				removed += this.db.prepare(`DELETE FROM ${table} WHERE granularity = ? AND bucket < ?`).run(g, cutoff).changes;
		}
		removed += this.db
			.prepare("DELETE FROM attacks WHERE ended_at IS NOT NULL AND ended_at < ?")
			.run(new Date(now - t.attack_retention_days * 86_400_000).toISOString()).changes;
		return removed;
	}
}
