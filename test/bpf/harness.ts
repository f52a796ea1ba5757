// Test harness for the XDP program: loads build/bpf/pp_xdp.o privately (no pinning, so
// nothing under /sys/fs/bpf is touched), seeds maps the way the reconciler will, runs
// packets through BPF_PROG_TEST_RUN and reads the per-CPU counters back summed.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import {
	type CompiledRule,
	type Config,
	type Ctr,
	decodeBackendCtr,
	decodeCtr,
	decodeEventCtr,
	decodeRuleCtr,
	decodeSrcState,
	encodeBanKey,
	encodeConfig,
	encodeL7Config,
	encodeListEntry,
	encodeLpmKey,
	encodeMgmtValue,
	encodeRuleset,
	encodeService,
	encodeServiceKey,
	encodeSetMask,
	encodeSrcKey,
	encodeSynConfig,
	KEYED_CONTENT_MAPS,
	type L7Config,
	LAYOUT,
	type LevelName,
	MAP_NAMES,
	type MapName,
	NO_RULESET,
	type PrefixLengths,
	parseCidr,
	REASON_NAMES,
	REFLECTION_SOURCE_PORTS,
	Reason,
	type ReasonName,
	Scope,
	type SrcHash,
	type SrcState,
	type SynConfig,
	sumPerCpu,
	u32,
	u64,
} from "../../src/dataplane/abi.ts";
import { type Contents, hex } from "../../src/dataplane/compile.ts";
import { type LevelOverrides, perCpuLimit, type ServiceLimits, serviceLimits } from "../../src/dataplane/levels.ts";
import { type BpfMap, BpfObject, type BpfProgram, numPossibleCpus } from "../../src/dataplane/libbpf.ts";
import { ServiceIndex } from "../../src/dataplane/service-index.ts";
import { clearSrcTable, findSrc, newSrcHash } from "../../src/dataplane/src-table.ts";
import { V4Summary } from "../../src/dataplane/summary.ts";

export const ROOT = join(import.meta.dir, "..", "..");
/** PP_XDP_OBJ runs the suite against another build of the program. */
export const OBJ_PATH = process.env.PP_XDP_OBJ ?? join(ROOT, "build", "bpf", "pp_xdp.o");
export const TRIVIAL_PATH = join(ROOT, "build", "bpf", "pp_trivial.o");

/** Why BPF tests cannot run here, or null when they can. */
export function skipReason(): string | null {
	if (process.getuid?.() !== 0) return "needs root for BPF_PROG_TEST_RUN";
	if (!existsSync(OBJ_PATH)) return "build/bpf/pp_xdp.o missing: run `bun run build:bpf`";
	return null;
}

export const MGMT_PORTS = [22, 8443];
export const DEFAULT_CONFIG: Config = { sampleRate: 0, listGen: 0, mgmtPorts: MGMT_PORTS };

export interface ServiceSpec {
	/** null = any local address. */
	addr: string | null;
	port: number;
	proto: number;
	backend: number;
	level: LevelName;
	overrides?: LevelOverrides;
	ruleset?: number;
	/** Extra flag bits, e.g. SvcFlag.SCOPED_ALLOW, which the reconciler derives from the lists. */
	extraFlags?: number;
	/** The service's protocol (L7.*) for the protocol checks; default none. */
	l7?: number;
	/** Numbers to use instead of the level's (tests of the buckets themselves). */
	limits?: Partial<Pick<ServiceLimits, "srcPkt" | "srcByte" | "globPkt" | "globByte">>;
}

function zeroPerCpu(map: BpfMap, key: Uint8Array): void {
	map.update(key, new Uint8Array(map.valueBytes));
}

export class Dataplane {
	readonly obj: BpfObject;
	readonly prog: BpfProgram;
	private readonly maps = new Map<MapName, BpfMap>();
	private readonly touchedBackends = new Set<number>();
	private readonly touchedSlots = new Set<number>();
	private config: Config = DEFAULT_CONFIG;
	/** When false, list writes leave list_gen alone (to test the cache contract). */
	autoBumpGen = true;
	/** Prefix lengths written to each list, published in pp_config as the reconciler does. */
	private lengths = { allow: new Set<string>(), block: new Set<string>(), srcset: new Set<string>() };
	/** Whether a ban was written (pp_config's PP_CFG_BANS), as the reconciler publishes it. */
	private hasBans = false;
	/** The IPv4 summaries, kept as the reconciler keeps them once a list is written through here. */
	private summaries = { allow: new V4Summary(), block: new V4Summary() };
	private summariesWritten = false;
	/** The services written, as the reconciler's pp_services contents, and their port index. */
	private services: Contents = new Map();
	private serviceIndex = new ServiceIndex();
	/** The hash of pp_src_table: random seeds per object, as the reconciler's are per install;
	 * a config with its own srcHash replaces it. */
	srcHash: SrcHash;
	private readonly baseHash: SrcHash;

	/** cpus: the CPU count backend-wide limits are divided by, as compileServices does. */
	private constructor(
		obj: BpfObject,
		readonly cpus: number,
	) {
		this.obj = obj;
		this.prog = obj.program("pp_xdp");
		for (const name of MAP_NAMES) this.maps.set(name, obj.map(name));
		this.baseHash = newSrcHash(this.map("pp_src_table").info.maxEntries);
		this.srcHash = this.baseHash;
	}

	static open(config: Config = DEFAULT_CONFIG, opts: { cpus?: number } = {}): Dataplane {
		const obj = BpfObject.openMem(readFileSync(OBJ_PATH), { noPinning: true });
		try {
			obj.load();
		} catch (err) {
			obj.close();
			throw err;
		}
		const dp = new Dataplane(obj, opts.cpus ?? 1);
		dp.setConfig(config);
		const one = new Uint8Array([1]);
		for (const port of REFLECTION_SOURCE_PORTS) dp.map("pp_reflect_ports").update(u32(port), one);
		return dp;
	}

	map(name: MapName): BpfMap {
		const m = this.maps.get(name);
		if (m === undefined) throw new Error(`no map ${name}`);
		return m;
	}

	setConfig(c: Config): void {
		this.config = c;
		if (c.srcHash) this.srcHash = c.srcHash;
		const lens = (set: Set<string>): PrefixLengths => {
			const out: PrefixLengths = { v4: [], v6: [] };
			for (const k of set) {
				const [fam, len] = k.split("/") as [string, string];
				(fam === "4" ? out.v4 : out.v6).push(Number(len));
			}
			return out;
		};
		const prefixLengths = c.prefixLengths ?? {
			allow: lens(this.lengths.allow),
			block: lens(this.lengths.block),
			srcset: lens(this.lengths.srcset),
		};
		const bans = c.bans ?? this.hasBans;
		this.map("pp_config").update(u32(0), encodeConfig({ ...c, prefixLengths, bans, srcHash: this.srcHash }));
	}

	/** Publishes the length of a prefix written to a list (after the entry, as the ABI requires). */
	private addLength(list: "allow" | "block" | "srcset", cidr: string): void {
		const c = parseCidr(cidr);
		this.lengths[list].add(`${c.family}/${c.prefix}`);
		this.setConfig(this.config);
	}

	/** Increments pp_config.list_gen, as user space must after changing a list. */
	bumpListGen(): void {
		this.setConfig({ ...this.config, listGen: ((this.config.listGen ?? 0) + 1) >>> 0 });
	}

	private listsChanged(): void {
		if (this.autoBumpGen) this.bumpListGen();
	}

	/** Writes the service and its port-0 host entry, as the reconciler does. */
	addService(s: ServiceSpec): void {
		const lim = { ...serviceLimits(s.level, s.overrides), ...s.limits };
		const value = encodeService({
			backend: s.backend,
			flags: lim.flags | (s.extraFlags ?? 0),
			ruleset: s.ruleset ?? NO_RULESET,
			level: lim.level,
			l7: s.l7 ?? 0,
			srcPkt: lim.srcPkt,
			srcByte: lim.srcByte,
			globPkt: perCpuLimit(lim.globPkt, this.cpus),
			globByte: perCpuLimit(lim.globByte, this.cpus),
		});
		for (const key of [
			encodeServiceKey({ addr: s.addr, port: s.port, proto: s.proto }),
			encodeServiceKey({ addr: s.addr, port: 0, proto: s.proto }),
		]) {
			this.map("pp_services").update(key, value);
			this.services.set(hex(key), { key, value });
		}
		this.serviceIndex.apply(this.services, this.map("pp_svc_slots"), this.map("pp_svc_ports"));
		this.touchedBackends.add(s.backend);
	}

	private lpm(base: "pp_allow" | "pp_block" | "pp_mgmt" | "pp_srcset", cidr: string): BpfMap {
		return this.map(`${base}_v${parseCidr(cidr).family}` as MapName);
	}

	allow(cidr: string, scope = 0, expiresNs = 0n): void {
		const [key, value] = [encodeLpmKey(cidr, scope), encodeListEntry({ expiresNs, reason: 0, entryId: 1 })];
		this.lpm("pp_allow", cidr).update(key, value);
		this.summarise("allow", [[key, value]]);
		this.addLength("allow", cidr);
		this.listsChanged();
	}

	block(cidr: string, scope = 0, expiresNs = 0n): void {
		const [key, value] = [encodeLpmKey(cidr, scope), encodeListEntry({ expiresNs, reason: 7, entryId: 2 })];
		this.lpm("pp_block", cidr).update(key, value);
		this.summarise("block", [[key, value]]);
		this.addLength("block", cidr);
		this.listsChanged();
	}

	/** Follows the entries written in the list's summary, as the reconciler does. */
	private summarise(list: "allow" | "block", entries: [Uint8Array, Uint8Array][]): void {
		this.summaries[list].follow(entries);
		if (this.summaries[list].write(this.map(`pp_${list}_v4_sum`))) this.summariesWritten = true;
	}

	/** The summary state the harness wrote for an address's /24 (SumState). */
	summaryState(list: "allow" | "block", ip: string): number {
		const a = parseCidr(`${ip}/32`).addr;
		return this.summaries[list].stateAt(new DataView(a.buffer, a.byteOffset).getUint32(0));
	}

	/** Many blocked prefixes at once (benchmarks), through the batch API. */
	blockMany(cidrs: string[], scope = 0): void {
		const entry = encodeListEntry({ expiresNs: 0n, reason: 7, entryId: 2 });
		for (const fam of [4, 6] as const) {
			const mine = cidrs.filter((c) => parseCidr(c).family === fam);
			if (!mine.length) continue;
			const keys = mine.map((c) => encodeLpmKey(c, scope));
			this.map(`pp_block_v${fam}`).updateMany(
				keys,
				mine.map(() => entry),
			);
			this.summarise(
				"block",
				keys.map((k) => [k, entry]),
			);
			for (const c of mine) this.lengths.block.add(`${fam}/${parseCidr(c).prefix}`);
		}
		this.setConfig(this.config);
		this.listsChanged();
	}

	mgmt(cidr: string): void {
		this.lpm("pp_mgmt", cidr).update(encodeLpmKey(cidr, 0), encodeMgmtValue());
	}

	ban(ip: string, expiresNs = 0n): void {
		this.map("pp_bans").update(encodeBanKey(ip), u64(expiresNs));
		if (!this.hasBans) {
			this.hasBans = true;
			this.setConfig(this.config);
		}
		this.listsChanged();
	}

	unban(ip: string): void {
		this.map("pp_bans").delete(encodeBanKey(ip));
		this.listsChanged();
	}

	sourceSets(cidr: string, sets: number[]): void {
		this.lpm("pp_srcset", cidr).update(encodeLpmKey(cidr, 0), encodeSetMask(sets));
		this.addLength("srcset", cidr);
		this.listsChanged();
	}

	/** A backend's protocol checks (pp_l7_cfgs). */
	setL7(backend: number, c: L7Config): void {
		this.map("pp_l7_cfgs").update(u32(backend), encodeL7Config(c));
		this.touchedBackends.add(backend);
	}

	/** How SYNs are answered (pp_syn_cfg), as the reconciler writes it. */
	setSyn(c: SynConfig): void {
		this.map("pp_syn_cfg").update(u32(0), encodeSynConfig(c));
	}

	setRules(slot: number, rules: CompiledRule[]): void {
		this.map("pp_rulesets").update(u32(slot), encodeRuleset(rules));
		for (const r of rules) this.touchedSlots.add(r.statsSlot);
	}

	run(pkt: Uint8Array): number {
		return this.prog.testRun(pkt).retval;
	}

	reasons(): Record<ReasonName, Ctr> {
		const out = {} as Record<ReasonName, Ctr>;
		const m = this.map("pp_reason_ctrs");
		for (const name of REASON_NAMES) {
			const per = m.lookupPerCpu(u32(Reason[name])) ?? [];
			out[name] = sumPerCpu(per.map(decodeCtr));
		}
		return out;
	}

	/** Packets per reason, only the non-zero ones. */
	reasonPackets(): Partial<Record<ReasonName, number>> {
		const out: Partial<Record<ReasonName, number>> = {};
		for (const [name, c] of Object.entries(this.reasons()) as [ReasonName, Ctr][]) {
			if (c.packets > 0n) out[name] = Number(c.packets);
		}
		return out;
	}

	backendCtr(backend: number) {
		const per = this.map("pp_backend_ctrs").lookupPerCpu(u32(backend)) ?? [];
		return sumPerCpu(per.map(decodeBackendCtr));
	}

	ruleCtr(slot: number) {
		const per = this.map("pp_rule_ctrs").lookupPerCpu(u32(slot)) ?? [];
		return sumPerCpu(per.map(decodeRuleCtr), ["lastMatchNs"]);
	}

	eventCtr() {
		const per = this.map("pp_event_ctrs").lookupPerCpu(u32(0)) ?? [];
		return sumPerCpu(per.map(decodeEventCtr));
	}

	/** The program's state for (scope, source): a backend's in pp_src_table, found by the
	 * hash as the program places it; a rule's or connection scope's in pp_src_limits. */
	srcState(scope: number, ip: string): SrcState | null {
		if ((scope & (Scope.RULE | Scope.CONN)) === 0) return findSrc(this.map("pp_src_table"), this.srcHash, scope, ip);
		const v = this.map("pp_src_limits").lookup(encodeSrcKey(scope, ip));
		return v === null ? null : decodeSrcState(v);
	}

	/** Writes way `way` of set `set` of pp_src_table by hand (tests of torn ways and of
	 * buckets touched by other CPUs); counters are left 0. */
	writeSrcWay(
		set: number,
		way: number,
		w: { tag: number; check: number; scope: number; ip: string; state: Partial<SrcState> },
	): void {
		const table = this.map("pp_src_table");
		const bytes = table.lookup(u32(set)) ?? new Uint8Array(LAYOUT.pp_src_set.size);
		const at = way * LAYOUT.pp_src_way.size;
		const v = new DataView(bytes.buffer, bytes.byteOffset + at, LAYOUT.pp_src_way.size);
		const m = LAYOUT.pp_src_way.members;
		const st = LAYOUT.pp_src_state.members;
		v.setUint32(m.tag[0], w.tag, true);
		v.setUint32(m.check[0], w.check, true);
		bytes.set(encodeSrcKey(w.scope, w.ip), at + m.key[0]);
		v.setBigUint64(m.st[0] + st.src_sets[0], w.state.srcSets ?? 0n, true);
		v.setBigUint64(m.st[0] + st.cache_until_ns[0], w.state.cacheUntilNs ?? 0n, true);
		v.setUint32(m.st[0] + st.list_gen[0], w.state.listGen ?? 0, true);
		v.setUint32(m.st[0] + st.cache[0], w.state.cache ?? 0, true);
		const b = m.st[0] + st.bucket[0];
		const bk = LAYOUT.pp_bucket.members;
		v.setBigUint64(b + bk.pkt_tokens[0], w.state.pktTokens ?? 0n, true);
		v.setBigUint64(b + bk.byte_tokens[0], w.state.byteTokens ?? 0n, true);
		v.setBigUint64(b + bk.last_ns[0], w.state.lastNs ?? 0n, true);
		table.update(u32(set), bytes);
	}

	/** The list generation last published in pp_config. */
	get listGen(): number {
		return this.config.listGen ?? 0;
	}

	/** Empties every table and counter so the next test starts from nothing. */
	reset(config: Config = DEFAULT_CONFIG): void {
		for (const name of [
			...KEYED_CONTENT_MAPS,
			"pp_src_limits",
			"pp_l7_sessions",
			"pp_mc_syns",
			"pp_mc_flows",
			"pp_dyn_bans",
			"pp_conns",
		] as const) {
			const m = this.map(name);
			for (const k of [...m.keys()]) m.delete(k);
		}
		for (let r = 0; r < Reason.COUNT; r++) zeroPerCpu(this.map("pp_reason_ctrs"), u32(r));
		for (const b of this.touchedBackends) {
			zeroPerCpu(this.map("pp_backend_ctrs"), u32(b));
			zeroPerCpu(this.map("pp_global_bkt"), u32(b));
			this.map("pp_l7_cfgs").update(u32(b), new Uint8Array(this.map("pp_l7_cfgs").valueBytes));
		}
		for (const s of this.touchedSlots) zeroPerCpu(this.map("pp_rule_ctrs"), u32(s));
		zeroPerCpu(this.map("pp_event_ctrs"), u32(0));
		this.map("pp_state").update(u32(0), new Uint8Array(this.map("pp_state").valueBytes));
		this.map("pp_syn_cfg").update(u32(0), new Uint8Array(this.map("pp_syn_cfg").valueBytes));
		this.touchedBackends.clear();
		this.touchedSlots.clear();
		this.autoBumpGen = true;
		this.lengths = { allow: new Set(), block: new Set(), srcset: new Set() };
		this.hasBans = false;
		clearSrcTable(this.map("pp_src_table"));
		this.srcHash = this.baseHash;
		// The port index back to zero (look in pp_services), what a map nobody wrote holds.
		this.map("pp_svc_ports").withMapped((b) => new Uint8Array(b).fill(0));
		this.services = new Map();
		this.serviceIndex = new ServiceIndex();
		if (this.summariesWritten) {
			// Back to all PROBE (zero), what a map nobody summarised holds.
			for (const name of ["pp_allow_v4_sum", "pp_block_v4_sum"] as const)
				this.map(name).withMapped((b) => new Uint8Array(b).fill(0));
			this.summaries = { allow: new V4Summary(), block: new V4Summary() };
			this.summariesWritten = false;
		}
		this.setConfig(config);
	}

	close(): void {
		this.obj.close();
	}
}

export function cpus(): number {
	return numPossibleCpus();
}
