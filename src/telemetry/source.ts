// Where the collector reads counters from: the loaded program's maps in the daemon, or a
// scripted source in tests. Every figure the telemetry reports comes through this interface.
import type { BackendCtr, Ctr, MapName, ReasonName, RuleCtr } from "../dataplane/abi.ts";
import type { BpfMap } from "../dataplane/libbpf.ts";
import { backendCounters, reasonCounters, ruleCounters, type SourceStats, topSources } from "../dataplane/stats.ts";

export interface CounterSource {
	/** Per verdict reason, for the whole host (the kernel does not split reasons per backend). */
	reasons(): Record<ReasonName, Ctr>;
	/** A backend's counters by its data-plane index. */
	backend(index: number): BackendCtr;
	/** A rule's counters by its stats slot. */
	rule(slot: number): RuleCtr;
	/** Every source the program keeps state for (per backend, and per rate-limit rule; counters since the source got its state). */
	sources(): SourceStats[];
}

/** Counters of the loaded program, read through its maps. */
export function mapSource(map: (name: MapName) => BpfMap): CounterSource {
	return {
		reasons: () => reasonCounters(map("pp_reason_ctrs")),
		backend: (index) => backendCounters(map("pp_backend_ctrs"), index),
		rule: (slot) => ruleCounters(map("pp_rule_ctrs"), slot),
		sources: () => topSources(map("pp_src_table"), map("pp_src_limits"), Number.POSITIVE_INFINITY),
	};
}
