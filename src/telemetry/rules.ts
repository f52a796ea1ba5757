// Rule counter samples for rule statistics: each rule's counters are stored in
// rule_stats_samples when they moved (every stats.rule_sample_seconds). A rule's first sample is
// its baseline, taken before the rule is first compiled, so a reused counter slot never lends it
// another rule's packets. Totals survive program reloads: a kernel counter below the last
// reading started again from zero.
import type { Database } from "bun:sqlite";
import { nowIso } from "../domain/ids.ts";
import type { CounterSource } from "./source.ts";

interface RuleState {
	slot: number;
	packets: number;
	bytes: number;
	rawPackets: number;
	rawBytes: number;
	lastMatched: string | null;
}

/** Kernel CLOCK_MONOTONIC nanoseconds → wall-clock ISO time (process.hrtime is the same clock). */
export function monotonicToIso(ns: bigint): string | null {
	if (ns === 0n) return null;
	const ago = Number(process.hrtime.bigint() - ns) / 1e6;
	return new Date(Date.now() - Math.max(0, ago)).toISOString();
}

export class RuleSampler {
	private rules = new Map<string, RuleState>();

	constructor(private readonly db: Database) {}

	/** Stores the rules whose counters moved (or, with onlyNew, the first sample of new rules). */
	sample(source: CounterSource, onlyNew = false): number {
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
				const c = source.rule(r.stats_slot);
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
		return rows.length;
	}
}
