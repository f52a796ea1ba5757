// Samples the data plane's counters in the daemon: each backend's counters every second (kept
// in memory, for per-second rates), and each rule's counters every stats.rule_sample_seconds
// into rule_stats_samples (for rule statistics over time). A rule's first sample is its
// baseline, taken before the rule is first compiled, so a reused counter slot never lends it
// another rule's packets.
import type { Database } from "bun:sqlite";
import type { MapName } from "../dataplane/abi.ts";
import type { BpfMap } from "../dataplane/libbpf.ts";
import { backendCounters, ruleCounters } from "../dataplane/stats.ts";
import { nowIso } from "../domain/ids.ts";
import type { Logger } from "../log.ts";
import type { BackendRates, CounterView } from "../services.ts";

interface RuleState {
	slot: number;
	packets: number;
	bytes: number;
	rawPackets: number;
	rawBytes: number;
	lastMatched: string | null;
}

interface BackendSample {
	at: number;
	rx: number;
	rxBytes: number;
	pass: number;
	drop: number;
}

/** Kernel CLOCK_MONOTONIC nanoseconds → wall-clock ISO time (process.hrtime is the same clock). */
function monotonicToIso(ns: bigint): string | null {
	if (ns === 0n) return null;
	const ago = Number(process.hrtime.bigint() - ns) / 1e6;
	return new Date(Date.now() - Math.max(0, ago)).toISOString();
}

export class CounterSampler implements CounterView {
	private rules = new Map<string, RuleState>();
	private backends = new Map<number, { previous: BackendSample; current: BackendSample }>();

	constructor(
		private readonly db: Database,
		private readonly map: (name: MapName) => BpfMap,
		private readonly log: Logger,
	) {}

	rule(slot: number): { packets: number; bytes: number; lastMatched: string | null } | null {
		try {
			const c = ruleCounters(this.map("pp_rule_ctrs"), slot);
			return { packets: Number(c.packets), bytes: Number(c.bytes), lastMatched: monotonicToIso(c.lastMatchNs) };
		} catch {
			return null;
		}
	}

	backendRates(dpIndex: number): BackendRates | null {
		const s = this.backends.get(dpIndex);
		if (!s) return null;
		const seconds = (s.current.at - s.previous.at) / 1000;
		if (seconds <= 0) return null;
		const rate = (k: keyof BackendSample) => Math.round((s.current[k] - s.previous[k]) / seconds);
		return {
			packetsPerSecond: rate("rx"),
			bytesPerSecond: rate("rxBytes"),
			passedPacketsPerSecond: rate("pass"),
			droppedPacketsPerSecond: rate("drop"),
			sampledAt: new Date(s.current.at).toISOString(),
		};
	}

	/** Reads every live backend's counters (every second). */
	sampleBackends(): void {
		const map = this.map("pp_backend_ctrs");
		const seen = new Set<number>();
		for (const { dp_index } of this.db
			.query<{ dp_index: number }, []>("SELECT dp_index FROM backends WHERE sandbox = 0")
			.all()) {
			seen.add(dp_index);
			const c = backendCounters(map, dp_index);
			const sample: BackendSample = {
				at: Date.now(),
				rx: Number(c.rxPackets),
				rxBytes: Number(c.rxBytes),
				pass: Number(c.passPackets),
				drop: Number(c.dropPackets),
			};
			const prev = this.backends.get(dp_index);
			this.backends.set(dp_index, { previous: prev?.current ?? sample, current: sample });
		}
		for (const index of this.backends.keys()) if (!seen.has(index)) this.backends.delete(index);
	}

	/** Takes a baseline of rules not sampled yet; call before compiling new rules. */
	baseline(): void {
		this.sampleRules(true);
	}

	/** Stores the rules whose counters moved (or, with onlyNew, the first sample of new rules). */
	sampleRules(onlyNew = false): void {
		const map = this.map("pp_rule_ctrs");
		const rows = this.db
			.query<{ id: string; stats_slot: number }, []>(
				"SELECT r.id, r.stats_slot FROM filter_rules r JOIN backends b ON b.id = r.backend_id WHERE b.sandbox = 0",
			)
			.all();
		const insert = this.db.prepare(
			`INSERT OR REPLACE INTO rule_stats_samples (rule_id, sampled_at, packets, bytes, raw_packets, raw_bytes, last_matched)
			 VALUES (?, ?, ?, ?, ?, ?, ?)`,
		);
		const latest = this.db.query<
			{ packets: number; bytes: number; raw_packets: number; raw_bytes: number; last_matched: string | null },
			[string]
		>("SELECT * FROM rule_stats_samples WHERE rule_id = ? ORDER BY sampled_at DESC LIMIT 1");
		const now = nowIso();
		const live = new Set<string>();
		this.db.transaction(() => {
			for (const r of rows) {
				live.add(r.id);
				let state = this.rules.get(r.id);
				if (!state) {
					const stored = latest.get(r.id);
					if (stored)
						state = {
							slot: r.stats_slot,
							packets: stored.packets,
							bytes: stored.bytes,
							rawPackets: stored.raw_packets,
							rawBytes: stored.raw_bytes,
							lastMatched: stored.last_matched,
						};
				}
				if (state && onlyNew) {
					this.rules.set(r.id, state);
					continue;
				}
				const c = ruleCounters(map, r.stats_slot);
				const raw = { packets: Number(c.packets), bytes: Number(c.bytes) };
				if (!state) {
					// Baseline: whatever the slot holds now belongs to no one (or to a deleted rule).
					state = {
						slot: r.stats_slot,
						packets: 0,
						bytes: 0,
						rawPackets: raw.packets,
						rawBytes: raw.bytes,
						lastMatched: null,
					};
					insert.run(r.id, now, 0, 0, raw.packets, raw.bytes, null);
					this.rules.set(r.id, state);
					continue;
				}
				// Counters below the last reading started again from zero (a reload of the program).
				const dp = raw.packets >= state.rawPackets ? raw.packets - state.rawPackets : raw.packets;
				const dbytes = raw.bytes >= state.rawBytes ? raw.bytes - state.rawBytes : raw.bytes;
				state.rawPackets = raw.packets;
				state.rawBytes = raw.bytes;
				this.rules.set(r.id, state);
				if (dp === 0 && dbytes === 0) continue;
				state.packets += dp;
				state.bytes += dbytes;
				state.lastMatched = monotonicToIso(c.lastMatchNs) ?? state.lastMatched;
				insert.run(r.id, now, state.packets, state.bytes, raw.packets, raw.bytes, state.lastMatched);
			}
		})();
		for (const id of this.rules.keys()) if (!live.has(id)) this.rules.delete(id);
		if (!onlyNew) this.log.debug("rule counters sampled", { rules: rows.length });
	}
}
