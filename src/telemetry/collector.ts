// The one sampler of the data plane's counters. Every second it reads each backend's counters,
// the host-wide verdict reasons and the proxy's open connections and counters (the proxy's also
// while the data plane is not loaded); it keeps the last
// telemetry.live_seconds in memory (charts, streams, per-second rates for backend status and
// alerts), feeds attack detection, and hands deltas to the rollups, written every
// telemetry.flush_seconds. The source table (top sources, countries) is read every
// telemetry.source_scan_seconds, and rule counters every stats.rule_sample_seconds (rule stats).
import type { Database } from "bun:sqlite";
import type { Config } from "../config.ts";
import {
	type BackendCtr,
	type Ctr,
	REASON_NAMES,
	type ReasonName,
	TRAFFIC_CLASSES,
	type TrafficClass,
} from "../dataplane/abi.ts";
import type { SourceStats } from "../dataplane/stats.ts";
import type { ProtectionLevel } from "../domain/backends/model.ts";
import type { BackendService } from "../domain/backends/service.ts";
import type { EventBus } from "../events.ts";
import type { GeoIpService } from "../geoip/service.ts";
import type { Logger } from "../log.ts";
import { type BackendRates, type CounterView, PROXY_COUNTER_NAMES, type ProxyCounters } from "../services.ts";
import { AttackDetector, type BackendInfo } from "./attacks.ts";
import { type ClassDelta, Rollups } from "./rollups.ts";
import { monotonicToIso, RuleSampler } from "./rules.ts";
import type { CounterSource } from "./source.ts";

/** Verdict reasons whose packets go on to the kernel stack (or the proxy); the others were dropped. */
export const PASS_REASONS = new Set<ReasonName>([
	"PASS",
	"NO_SERVICE",
	"NON_IP",
	"MGMT",
	"ALLOW",
	"RULE_ALLOW",
	"CHALLENGE",
	"REDIRECT",
]);

/** One second of one backend. Bytes are bytes (the UI multiplies by 8 for bits). */
export interface BackendSecond {
	at: number;
	rxPps: number;
	rxBps: number;
	passPps: number;
	passBps: number;
	dropPps: number;
	dropBps: number;
	connections: number | null;
}

/** One second of the whole host, by verdict. */
export interface HostSecond {
	at: number;
	passedPps: number;
	droppedPps: number;
	passedBps: number;
	droppedBps: number;
}

export type CollectorState =
	| { state: "disabled" }
	| { state: "not-loaded" }
	| { state: "sampling"; intervalMs: number; points: number };

export interface CollectorDeps {
	db: Database;
	settings: () => Config;
	log: Logger;
	bus: EventBus;
	geoip: GeoIpService;
	backends: BackendService;
	activeConnections: (backendId: string) => number | null;
	proxyCounters: (backendId: string) => ProxyCounters | null;
}

interface Reading {
	at: number;
	reasons: Record<ReasonName, Ctr>;
	backends: Map<number, BackendCtr>;
}

interface BackendRow {
	id: string;
	organization_id: string;
	name: string;
	dp_index: number;
	protection: string;
}

const INTERVAL_MS = 1000;
const PRUNE_MS = 3_600_000;
const n = (b: bigint) => Number(b);

export class Collector implements CounterView {
	readonly attacks: AttackDetector;
	readonly rollups: Rollups;
	private readonly ruleSampler: RuleSampler;
	private source: CounterSource | null = null;
	private timer: ReturnType<typeof setInterval> | null = null;
	private previous: Reading | null = null;
	private host: HostSecond[] = [];
	private perBackend = new Map<string, BackendSecond[]>();
	private latestByIndex = new Map<number, BackendSecond>();
	private lastSources = new Map<string, { packets: bigint; bytes: bigint; drops: bigint }>();
	private sources: SourceStats[] = [];
	/** The first scan after attaching only records where each source's counters stand. */
	private primed = false;
	private listeners = new Set<(at: number) => void>();
	/** Each backend's proxy counters at the last reading. */
	private lastProxy = new Map<string, ProxyCounters>();
	private last = { flush: 0, scan: 0, rules: 0, prune: 0 };

	constructor(private readonly deps: CollectorDeps) {
		this.rollups = new Rollups(deps.db);
		this.ruleSampler = new RuleSampler(deps.db);
		this.attacks = new AttackDetector(deps);
	}

	/** The data plane is loaded: sample its counters from now on. */
	attach(source: CounterSource): void {
		this.source = source;
		this.previous = null;
		this.lastSources.clear();
		this.primed = false;
		this.attacks.recover(Date.now());
		this.baseline();
	}

	/**
	 * The data plane stopped: what was gathered is written. Open attacks stay open (and escalated
	 * levels in place, the program keeps filtering); the next attach closes and restores them.
	 */
	detach(): void {
		if (!this.source) return;
		this.flush(Date.now());
		this.source = null;
		this.previous = null;
	}

	/** The counters being sampled, or null while the data plane is not loaded. */
	get counters(): CounterSource | null {
		return this.source;
	}

	start(): void {
		if (this.timer) return;
		this.timer = setInterval(() => this.tick(), INTERVAL_MS);
	}

	stop(): void {
		if (this.timer) clearInterval(this.timer);
		this.timer = null;
		this.detach();
	}

	state(): CollectorState {
		if (!this.deps.settings().dataplane.enabled) return { state: "disabled" };
		if (!this.source) return { state: "not-loaded" };
		return { state: "sampling", intervalMs: INTERVAL_MS, points: this.host.length };
	}

	/** Called after every second's reading (streams push from here). */
	onTick(fn: (at: number) => void): () => void {
		this.listeners.add(fn);
		return () => this.listeners.delete(fn);
	}

	hostSeries(): HostSecond[] {
		return this.host;
	}

	backendSeries(backendId: string): BackendSecond[] {
		return this.perBackend.get(backendId) ?? [];
	}

	/** The busiest sources of the last scan of the source table, by packets. */
	topSources(limit = 10): SourceStats[] {
		return this.sources.slice(0, limit);
	}

	// CounterView: rule totals for rule stats, per-second rates for backend status and alerts.
	rule(slot: number): { packets: number; bytes: number; lastMatched: string | null } | null {
		if (!this.source) return null;
		try {
			const c = this.source.rule(slot);
			return { packets: n(c.packets), bytes: n(c.bytes), lastMatched: monotonicToIso(c.lastMatchNs) };
		} catch {
			return null;
		}
	}

	backendRates(dpIndex: number): BackendRates | null {
		const s = this.latestByIndex.get(dpIndex);
		if (!s) return null;
		return {
			packetsPerSecond: s.rxPps,
			bytesPerSecond: s.rxBps,
			passedPacketsPerSecond: s.passPps,
			droppedPacketsPerSecond: s.dropPps,
			sampledAt: new Date(s.at).toISOString(),
		};
	}

	/** Takes a baseline of rules not sampled yet; the data plane calls this before compiling new rules. */
	baseline(): void {
		const source = this.source;
		if (source) this.safely("rule baseline", () => this.ruleSampler.sample(source, true));
	}

	sampleRules(): void {
		const source = this.source;
		if (source) this.safely("rule sampling", () => this.ruleSampler.sample(source));
	}

	/** One reading: every second from the timer; tests call it with their own clock. */
	tick(now = Date.now()): void {
		const source = this.source;
		const t = this.deps.settings();
		if (!source) {
			// The proxy is measured whether or not the data plane is loaded.
			this.safely("proxy sampling", () => this.sampleProxy(now));
			this.housekeeping(now, t);
			return;
		}
		this.safely("counter sampling", () => this.sample(source, now, t));
		if (now - this.last.scan >= t.telemetry.source_scan_seconds * 1000) {
			this.last.scan = now;
			this.safely("source scan", () => this.scanSources(source, now));
		}
		if (now - this.last.rules >= t.stats.rule_sample_seconds * 1000) {
			this.last.rules = now;
			this.sampleRules();
		}
		this.housekeeping(now, t);
		for (const fn of this.listeners) this.safely("telemetry listener", () => fn(now));
	}

	/** Flushes the rollups every telemetry.flush_seconds and prunes them every hour. */
	private housekeeping(now: number, t: Config): void {
		if (now - this.last.flush >= t.telemetry.flush_seconds * 1000) this.flush(now);
		if (now - this.last.prune >= PRUNE_MS) {
			this.last.prune = now;
			this.safely("rollup pruning", () => {
				const removed = this.rollups.prune(now, t.telemetry);
				if (removed) this.deps.log.info("telemetry rows pruned", { removed });
			});
		}
	}

	/** A backend's proxy counters since the last reading; null when no proxy serves it. */
	private proxyDelta(backendId: string): ProxyCounters | null {
		const current = this.deps.proxyCounters(backendId);
		if (!current) {
			this.lastProxy.delete(backendId);
			return null;
		}
		const before = this.lastProxy.get(backendId);
		const delta = { ...current };
		// The proxy's counters start at zero with the backend; one below its last reading started again.
		if (before) for (const k of PROXY_COUNTER_NAMES) if (current[k] >= before[k]) delta[k] = current[k] - before[k];
		this.lastProxy.set(backendId, { ...current });
		return delta;
	}

	/** One second of the proxy alone (the data plane is not loaded): its figures, no kernel ones. */
	private sampleProxy(now: number): void {
		const rows = this.backendRows();
		for (const r of rows) {
			const proxy = this.proxyDelta(r.id);
			if (proxy) this.rollups.addTraffic(r.id, r.organization_id, now, null, this.deps.activeConnections(r.id), proxy);
		}
		this.forgetProxy(rows);
	}

	private forgetProxy(rows: BackendRow[]): void {
		if (this.lastProxy.size <= rows.length) return;
		const ids = new Set(rows.map((r) => r.id));
		for (const id of this.lastProxy.keys()) if (!ids.has(id)) this.lastProxy.delete(id);
	}

	/** Writes what was gathered since the last flush (open attacks are written every second). */
	flush(now = Date.now()): void {
		this.last.flush = now;
		this.safely("rollup flush", () => this.rollups.flush(now));
	}

	private backendRows(): BackendRow[] {
		return this.deps.db
			.query<BackendRow, []>("SELECT id, organization_id, name, dp_index, protection FROM backends WHERE sandbox = 0")
			.all();
	}

	private sample(source: CounterSource, now: number, config: Config): void {
		const rows = this.backendRows();
		const protocols = new Map<string, Set<string>>();
		for (const l of this.deps.db
			.query<{ backend_id: string; protocol: string }, []>("SELECT backend_id, protocol FROM backend_listeners")
			.all()) {
			const set = protocols.get(l.backend_id) ?? new Set();
			set.add(l.protocol);
			protocols.set(l.backend_id, set);
		}
		const reading: Reading = { at: now, reasons: source.reasons(), backends: new Map() };
		for (const r of rows) reading.backends.set(r.dp_index, source.backend(r.dp_index));
		const prev = this.previous;
		this.previous = reading;
		if (!prev) return;
		const seconds = (now - prev.at) / 1000;
		if (seconds <= 0) return;
		// A counter below its last reading started again from zero (a reload of the program).
		const diff = (a: bigint, b: bigint) => (a >= b ? n(a - b) : n(a));
		const rate = (a: bigint, b: bigint) => Math.round(diff(a, b) / seconds);

		const reasonDeltas: Record<string, { packets: number; bytes: number }> = {};
		const reasonPps: Partial<Record<ReasonName, number>> = {};
		const hostSecond: HostSecond = { at: now, passedPps: 0, droppedPps: 0, passedBps: 0, droppedBps: 0 };
		for (const name of REASON_NAMES) {
			const d = {
				packets: diff(reading.reasons[name].packets, prev.reasons[name].packets),
				bytes: diff(reading.reasons[name].bytes, prev.reasons[name].bytes),
			};
			reasonDeltas[name] = d;
			if (d.packets) reasonPps[name] = Math.round(d.packets / seconds);
			if (PASS_REASONS.has(name)) {
				hostSecond.passedPps += d.packets / seconds;
				hostSecond.passedBps += d.bytes / seconds;
			} else {
				hostSecond.droppedPps += d.packets / seconds;
				hostSecond.droppedBps += d.bytes / seconds;
			}
		}
		this.push(this.host, hostSecond, config.telemetry.live_seconds);
		this.rollups.addReasons(now, reasonDeltas);

		const live = new Set<string>();
		const indexes = new Set<number>();
		for (const r of rows) {
			const c = reading.backends.get(r.dp_index) as BackendCtr;
			const before = prev.backends.get(r.dp_index);
			if (!before) continue;
			live.add(r.id);
			indexes.add(r.dp_index);
			const connections = this.deps.activeConnections(r.id);
			const s: BackendSecond = {
				at: now,
				rxPps: rate(c.rxPackets, before.rxPackets),
				rxBps: rate(c.rxBytes, before.rxBytes),
				passPps: rate(c.passPackets, before.passPackets),
				passBps: rate(c.passBytes, before.passBytes),
				dropPps: rate(c.dropPackets, before.dropPackets),
				dropBps: rate(c.dropBytes, before.dropBytes),
				connections,
			};
			const classes = {} as ClassDelta;
			const classPps: Partial<Record<TrafficClass, number>> = {};
			for (const k of TRAFFIC_CLASSES) {
				classes[`${k}Packets`] = diff(c[`${k}Packets`], before[`${k}Packets`]);
				classes[`${k}Drops`] = diff(c[`${k}Drops`], before[`${k}Drops`]);
				classPps[k] = Math.round(classes[`${k}Packets`] / seconds);
			}
			const series = this.perBackend.get(r.id) ?? [];
			this.perBackend.set(r.id, series);
			this.push(series, s, config.telemetry.live_seconds);
			this.latestByIndex.set(r.dp_index, s);
			this.rollups.addTraffic(
				r.id,
				r.organization_id,
				now,
				{
					rxPackets: diff(c.rxPackets, before.rxPackets),
					rxBytes: diff(c.rxBytes, before.rxBytes),
					passPackets: diff(c.passPackets, before.passPackets),
					passBytes: diff(c.passBytes, before.passBytes),
					dropPackets: diff(c.dropPackets, before.dropPackets),
					dropBytes: diff(c.dropBytes, before.dropBytes),
					...classes,
				},
				connections,
				this.proxyDelta(r.id),
			);
			this.attacks.observe(
				this.info(r, protocols.get(r.id) ?? new Set()),
				{ at: now, rxPps: s.rxPps, rxBps: s.rxBps, dropPps: s.dropPps, classPps },
				reasonPps,
			);
		}
		for (const id of this.perBackend.keys()) if (!live.has(id)) this.perBackend.delete(id);
		this.forgetProxy(rows);
		for (const i of this.latestByIndex.keys()) if (!indexes.has(i)) this.latestByIndex.delete(i);
		this.attacks.forget(live, now);
	}

	private info(r: BackendRow, protocols: Set<string>): BackendInfo {
		const protection = JSON.parse(r.protection) as {
			enabled?: boolean;
			level?: ProtectionLevel;
			autoMitigate?: { enabled: boolean; level?: ProtectionLevel };
		};
		return {
			id: r.id,
			organizationId: r.organization_id,
			name: r.name,
			index: r.dp_index,
			protocols,
			level: protection.level ?? "MEDIUM",
			autoMitigate: protection.autoMitigate ?? null,
		};
	}

	/** Reads the source table: top sources, per-country traffic, attack sources. */
	private scanSources(source: CounterSource, now: number): void {
		const all = source.sources();
		this.sources = [...all].sort((a, b) => (b.packets > a.packets ? 1 : b.packets < a.packets ? -1 : 0));
		const byIndex = new Map(this.backendRows().map((r) => [r.dp_index, r]));
		const seen = new Map<string, { packets: bigint; bytes: bigint; drops: bigint }>();
		const perBackend = new Map<string, Array<{ address: string; packets: number; bytes: number; drops: number }>>();
		const countries = new Map<string, string>();
		for (const s of all) {
			if (s.backend === null) continue;
			const key = `${s.backend}|${s.address}`;
			seen.set(key, { packets: s.packets, bytes: s.bytes, drops: s.drops });
			const row = byIndex.get(s.backend);
			if (!row || !this.primed) continue;
			const before = this.lastSources.get(key);
			// A count below the last one is a new entry for the same source (the old one was evicted).
			const d = (a: bigint, b: bigint | undefined) => (b === undefined || a < b ? n(a) : n(a - b));
			const delta = {
				address: s.address,
				packets: d(s.packets, before?.packets),
				bytes: d(s.bytes, before?.bytes),
				drops: d(s.drops, before?.drops),
			};
			if (delta.packets === 0) continue;
			let country = countries.get(s.address);
			if (country === undefined) {
				country = this.deps.geoip.lookup(s.address).country ?? "ZZ";
				countries.set(s.address, country);
			}
			this.rollups.addSource(row.id, row.organization_id, now, country, s.address, delta);
			const list = perBackend.get(row.id) ?? [];
			list.push(delta);
			perBackend.set(row.id, list);
		}
		this.lastSources = seen;
		this.primed = true;
		for (const [backendId, deltas] of perBackend) this.attacks.observeSources(backendId, deltas);
	}

	private push<T>(series: T[], point: T, keep: number): void {
		series.push(point);
		if (series.length > keep) series.splice(0, series.length - keep);
	}

	private safely(what: string, fn: () => unknown): void {
		try {
			fn();
		} catch (err) {
			this.deps.log.error(`${what} failed`, { error: err });
		}
	}
}
