// Per-second traffic rates for the UI's live charts, from the data plane's pinned counters
// (the same maps `pistonprotection status` reads). Nothing else keeps per-second history yet
// (telemetry rollups come later), so this keeps the last two minutes in memory, and only while
// someone is looking: it stops after a minute without a UI request and starts again on the next.
import { existsSync } from "node:fs";
import { type BackendCtr, type Ctr, type MapName, REASON_NAMES, type ReasonName } from "../dataplane/abi.ts";
import { BpfMap } from "../dataplane/libbpf.ts";
import { backendCounters, reasonCounters, type SourceStats, topSources } from "../dataplane/stats.ts";
import type { Services } from "../services.ts";

/** Verdict reasons whose packets go on to the kernel stack (or the proxy); the others were dropped. */
const PASS_REASONS = new Set<ReasonName>([
	"PASS",
	"NO_SERVICE",
	"NON_IP",
	"MGMT",
	"ALLOW",
	"RULE_ALLOW",
	"CHALLENGE",
	"REDIRECT",
]);

export interface TrafficPoint {
	at: number;
	passedPps: number;
	droppedPps: number;
	passedBps: number;
	droppedBps: number;
}

export interface BackendPoint {
	at: number;
	rxPps: number;
	passPps: number;
	dropPps: number;
	rxBps: number;
}

export type SamplerState =
	| { state: "disabled" }
	| { state: "not-loaded"; pinPath: string }
	| { state: "sampling"; intervalMs: number; points: number };

interface Reading {
	at: number;
	passed: Ctr;
	dropped: Ctr;
	backends: Map<number, BackendCtr>;
}

const IDLE_MS = 60_000;
const SOURCES_TTL_MS = 3000;
const num = (b: bigint) => Number(b);

export class TrafficSampler {
	private readonly maps = new Map<MapName, BpfMap>();
	private timer: ReturnType<typeof setInterval> | null = null;
	private lastViewed = 0;
	private previous: Reading | null = null;
	private global: TrafficPoint[] = [];
	private perBackend = new Map<number, BackendPoint[]>();
	private sources: { at: number; list: SourceStats[] } | null = null;

	constructor(
		private readonly services: Services,
		readonly intervalMs = 1000,
		readonly keep = 120,
	) {}

	/** A UI request arrived: sample (again) from now on. */
	touch(): void {
		this.lastViewed = Date.now();
		if (this.timer || !this.services.config.dataplane.enabled) return;
		this.sample();
		this.timer = setInterval(() => this.sample(), this.intervalMs);
		this.timer.unref?.();
	}

	state(): SamplerState {
		const dp = this.services.config.dataplane;
		if (!dp.enabled) return { state: "disabled" };
		if (!this.loaded()) return { state: "not-loaded", pinPath: dp.pin_path };
		return { state: "sampling", intervalMs: this.intervalMs, points: this.global.length };
	}

	traffic(): TrafficPoint[] {
		return this.global;
	}

	backend(dpIndex: number): BackendPoint[] {
		return this.perBackend.get(dpIndex) ?? [];
	}

	/** The busiest sources in the rate-limit table (read at most every few seconds). */
	topSources(limit = 10): SourceStats[] {
		const map = this.map("pp_src_limits");
		if (!map) return [];
		if (!this.sources || Date.now() - this.sources.at > SOURCES_TTL_MS)
			this.sources = { at: Date.now(), list: topSources(map, limit) };
		return this.sources.list.slice(0, limit);
	}

	stop(): void {
		if (this.timer) clearInterval(this.timer);
		this.timer = null;
		this.previous = null;
		for (const m of this.maps.values()) m.close();
		this.maps.clear();
	}

	private loaded(): boolean {
		return existsSync(`${this.services.config.dataplane.pin_path}/pp_reason_ctrs`);
	}

	private map(name: MapName): BpfMap | null {
		if (!this.loaded()) {
			for (const m of this.maps.values()) m.close();
			this.maps.clear();
			return null;
		}
		let map = this.maps.get(name);
		if (!map) {
			map = BpfMap.fromPinned(`${this.services.config.dataplane.pin_path}/${name}`);
			this.maps.set(name, map);
		}
		return map;
	}

	private sample(): void {
		if (Date.now() - this.lastViewed > IDLE_MS) {
			this.stop();
			return;
		}
		try {
			const reading = this.read();
			if (!reading) {
				this.previous = null;
				return;
			}
			const prev = this.previous;
			this.previous = reading;
			if (!prev) return;
			const seconds = (reading.at - prev.at) / 1000;
			if (seconds <= 0) return;
			const rate = (now: bigint, before: bigint) => Math.max(0, num(now - before)) / seconds;
			this.push(this.global, {
				at: reading.at,
				passedPps: rate(reading.passed.packets, prev.passed.packets),
				droppedPps: rate(reading.dropped.packets, prev.dropped.packets),
				passedBps: rate(reading.passed.bytes, prev.passed.bytes) * 8,
				droppedBps: rate(reading.dropped.bytes, prev.dropped.bytes) * 8,
			});
			for (const [index, now] of reading.backends) {
				const before = prev.backends.get(index);
				if (!before) continue;
				const series = this.perBackend.get(index) ?? [];
				this.perBackend.set(index, series);
				this.push(series, {
					at: reading.at,
					rxPps: rate(now.rxPackets, before.rxPackets),
					passPps: rate(now.passPackets, before.passPackets),
					dropPps: rate(now.dropPackets, before.dropPackets),
					rxBps: rate(now.rxBytes, before.rxBytes) * 8,
				});
			}
			for (const index of this.perBackend.keys()) if (!reading.backends.has(index)) this.perBackend.delete(index);
		} catch (err) {
			this.services.log.warn("traffic sample failed", { error: err });
			this.stop();
		}
	}

	private read(): Reading | null {
		const reasons = this.map("pp_reason_ctrs");
		const backendMap = this.map("pp_backend_ctrs");
		if (!reasons || !backendMap) return null;
		const at = Date.now();
		const counters = reasonCounters(reasons);
		const passed: Ctr = { packets: 0n, bytes: 0n };
		const dropped: Ctr = { packets: 0n, bytes: 0n };
		for (const name of REASON_NAMES) {
			const into = PASS_REASONS.has(name) ? passed : dropped;
			into.packets += counters[name].packets;
			into.bytes += counters[name].bytes;
		}
		// The kernel's counters are indexed by each backend's data-plane slot (as the CLI reads them).
		const backends = new Map<number, BackendCtr>();
		for (const { dp_index } of this.services.db
			.query<{ dp_index: number }, []>("SELECT dp_index FROM backends WHERE sandbox = 0")
			.all())
			backends.set(dp_index, backendCounters(backendMap, dp_index));
		return { at, passed, dropped, backends };
	}

	private push<T>(series: T[], point: T): void {
		series.push(point);
		if (series.length > this.keep) series.splice(0, series.length - this.keep);
	}
}

/** The data-plane slot of each backend (non-sandbox), to find its counters. */
export function backendSlots(services: Services): Map<string, number> {
	return new Map(
		services.db
			.query<{ id: string; dp_index: number }, []>("SELECT id, dp_index FROM backends WHERE sandbox = 0")
			.all()
			.map((r) => [r.id, r.dp_index]),
	);
}
