// Reads the data plane's counters: per reason, per backend, per rule, and per source (the
// source table and the rule buckets). Per-CPU values are summed here; callers see plain totals.
import {
	type BackendCtr,
	type Ctr,
	decodeBackendCtr,
	decodeCtr,
	decodeRuleCtr,
	decodeSrcKey,
	decodeSrcState,
	REASON_NAMES,
	Reason,
	type ReasonName,
	type RuleCtr,
	Scope,
	sumPerCpu,
	u32,
	zeroBackendCtr,
} from "./abi.ts";
import type { BpfMap } from "./libbpf.ts";
import { readSrcTable } from "./src-table.ts";

function perCpu<T extends object>(
	map: BpfMap,
	index: number,
	decode: (b: Uint8Array) => T,
	maxFields: (keyof T)[] = [],
): T | null {
	const values = map.lookupPerCpu(u32(index));
	return values ? sumPerCpu(values.map(decode), maxFields) : null;
}

export function reasonCounters(map: BpfMap): Record<ReasonName, Ctr> {
	const out = {} as Record<ReasonName, Ctr>;
	for (const name of REASON_NAMES) out[name] = perCpu(map, Reason[name], decodeCtr) ?? { packets: 0n, bytes: 0n };
	return out;
}

export function backendCounters(map: BpfMap, index: number): BackendCtr {
	return perCpu(map, index, decodeBackendCtr) ?? zeroBackendCtr();
}

export function ruleCounters(map: BpfMap, slot: number): RuleCtr {
	return perCpu(map, slot, decodeRuleCtr, ["lastMatchNs"]) ?? { packets: 0n, bytes: 0n, lastMatchNs: 0n };
}

export interface SourceStats {
	address: string;
	/** Backend index, or null for a rule's own bucket. */
	backend: number | null;
	packets: bigint;
	bytes: bigint;
	drops: bigint;
}

/**
 * The busiest sources by packets: every (backend, source) of pp_src_table, and the sources rate-
 * limit rules keep buckets for in pp_src_limits (backend null; connection buckets are left out).
 */
export function topSources(table: BpfMap, ruleBuckets: BpfMap, limit = 10): SourceStats[] {
	const all: SourceStats[] = readSrcTable(table).map((e) => ({
		address: e.addr,
		backend: e.backend,
		packets: e.state.packets,
		bytes: e.state.bytes,
		drops: e.state.drops,
	}));
	for (const key of ruleBuckets.keys()) {
		const { scope, addr } = decodeSrcKey(key);
		if (!(scope & Scope.RULE)) continue;
		const value = ruleBuckets.lookup(key);
		if (!value) continue;
		const s = decodeSrcState(value);
		all.push({ address: addr, backend: null, packets: s.packets, bytes: s.bytes, drops: s.drops });
	}
	return all.sort((a, b) => (b.packets > a.packets ? 1 : b.packets < a.packets ? -1 : 0)).slice(0, limit);
}
