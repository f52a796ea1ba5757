// Converges the kernel's maps on the compiled desired state. It keeps a shadow of what it last
// wrote; a full resync reads the maps themselves into the shadow first, so both paths apply
// the same diff. Capacity is checked for every map before anything is written, and writes are
// ordered so the program never sees a half-built state: new source sets and rule sets first,
// then services pointing at them, then list additions before list removals, deletions last.
import type { Database } from "bun:sqlite";
import { cpus } from "node:os";
import type { Config } from "../config.ts";
import { readRevisions, type Section } from "../domain/revisions.ts";
import type { Logger } from "../log.ts";
import {
	decodeConfig,
	decodeService,
	encodeService,
	encodeSynConfig,
	KEYED_CONTENT_MAPS,
	type MapName,
	NO_RULESET,
	prefixLengthsOf,
	type SrcHash,
	u32,
} from "./abi.ts";
import {
	bootTimeMs,
	type Compiled,
	type CompiledService,
	CompileError,
	type Contents,
	compileL7,
	compileServices,
	compileStatic,
	EMPTY_LISTS,
	type Entry,
	hex,
	ListCompiler,
	type ListSummary,
	type ListUpdate,
	type MapContents,
	sameBytes,
} from "./compile.ts";
import type { BpfMap } from "./libbpf.ts";
import { ServiceIndex } from "./service-index.ts";
import { clearSrcTable, keepSrcHash, newSrcHash } from "./src-table.ts";
import { V4Summary } from "./summary.ts";
import {
	type SynDefense,
	type SynOptions,
	type SynProxy,
	type SynTarget,
	synTargets,
	tcpListeners,
	unionTargets,
} from "./synproxy.ts";

/** TTL / hop limit of the SYN-ACKs the program sends. */
const SYNACK_TTL = 64;

export class CapacityError extends Error {}

export type MapSource = (name: MapName) => BpfMap;

export interface ApplyStats {
	updated: number;
	deleted: number;
	ms: number;
}

export class Reconciler {
	private shadow = new Map<MapName, Contents>();
	/** Backend index → the pp_rulesets slot its services point at, and that slot's bytes. */
	private slots = new Map<number, { slot: number; bytes: Uint8Array }>();
	/** Compiled list rows, kept between syncs so a list change costs what changed. */
	private lists: ListCompiler;
	private revisions: Record<Section, number> | null = null;
	/** The prefix lengths the lists hold and whether there are bans, published in pp_config. */
	private summary: ListSummary = EMPTY_LISTS;
	/** pp_config.list_gen: bumped whenever a list or source set changes (the program caches verdicts). */
	private listGen = 0;
	/** pp_config's pp_src_table seeds: kept across restarts, so sources keep their ways. */
	private srcHash: SrcHash | null = null;
	/** pp_svc_ports and pp_svc_slots: the services by port. */
	private readonly serviceIndex = new ServiceIndex();
	/** The IPv4 summaries of the allow and block lists' global entries. */
	private readonly summaries = new Map<MapName, { list: MapName; summary: V4Summary }>([
		["pp_allow_v4_sum", { list: "pp_allow_v4", summary: new V4Summary() }],
		["pp_block_v4_sum", { list: "pp_block_v4", summary: new V4Summary() }],
	]);
	private synproxy: SynProxy | null = null;
	private synOpts: SynOptions | null = null;
	/** What pp_syn_cfg holds, as last written (null: not written by this reconciler). */
	private synCfg: Uint8Array | null = null;
	private synDefenseNow: SynDefense = "OFF";
	/** The listeners the installed SYNPROXY table holds. */
	private synInstalled: SynTarget[] = [];

	constructor(
		private readonly db: Database,
		private config: Config["dataplane"],
		private readonly maps: MapSource,
		private readonly log: Logger,
		private readonly bootMs = bootTimeMs(),
		/** The CPUs backend-wide limits are shared among (each CPU has its own bucket). */
		private readonly cpuCount = cpus().length,
	) {
		this.lists = new ListCompiler(bootMs);
	}

	setConfig(config: Config["dataplane"]): void {
		this.config = config;
	}

	/** Lets the reconciler install the kernel's SYNPROXY for the services that want SYN cookies. */
	useSynProxy(synproxy: SynProxy, opts: SynOptions): void {
		this.synproxy = synproxy;
		this.synOpts = opts;
	}

	/** The SYN defence in place after the last apply. */
	synDefense(): SynDefense {
		return this.synDefenseNow;
	}

	private writeSyn(xdp: boolean): void {
		if (!this.synOpts) return;
		const bytes = encodeSynConfig({ xdp, ...this.synOpts, ttl: SYNACK_TTL });
		if (this.synCfg && sameBytes(this.synCfg, bytes)) return;
		this.maps("pp_syn_cfg").update(u32(0), bytes);
		this.synCfg = bytes;
	}

	/** Reads the maps as they are (e.g. pinned by an earlier daemon) into the shadow. */
	readActual(): void {
		this.shadow.clear();
		this.slots.clear();
		for (const name of ["pp_config", ...KEYED_CONTENT_MAPS] as const) {
			const map = this.maps(name);
			const contents: Contents = new Map();
			for (const key of map.keys()) {
				const value = map.lookup(key);
				if (value) contents.set(hex(key), { key, value });
			}
			this.shadow.set(name, contents);
		}
		const cfg = this.maps("pp_config").lookup(u32(0));
		const actual = cfg ? decodeConfig(cfg) : null;
		this.listGen = actual?.listGen ?? 0;
		const published = actual?.srcHash ?? null;
		this.srcHash = keepSrcHash(published, this.srcSets());
		// New seeds over a table written with other ones: its ways could never be found again.
		if (published && this.srcHash !== published && published.seeds.some((s) => s !== 0n))
			clearSrcTable(this.maps("pp_src_table"));
		const rulesets = this.maps("pp_rulesets");
		for (const { value } of this.shadow.get("pp_services")?.values() ?? []) {
			const svc = decodeService(value);
			if (svc.ruleset === NO_RULESET || this.slots.has(svc.backend)) continue;
			const bytes = rulesets.lookup(u32(svc.ruleset));
			if (bytes) this.slots.set(svc.backend, { slot: svc.ruleset, bytes });
		}
		this.lists = new ListCompiler(this.bootMs);
		this.serviceIndex.adopt(this.maps("pp_svc_slots"), this.maps("pp_svc_ports"));
		this.revisions = null;
		this.synCfg = null;
	}

	private srcSets(): number {
		return this.maps("pp_src_table").info.maxEntries;
	}

	/** The seeds readActual kept or drew; new ones for a reconciler that never read the maps. */
	private hash(): SrcHash {
		this.srcHash ??= newSrcHash(this.srcSets());
		return this.srcHash;
	}

	/** Full resync: what start-up does after loading (re-adopted maps may hold anything). */
	fullResync(now = new Date()): ApplyStats {
		this.readActual();
		return this.sync(now, true);
	}

	/**
	 * Applies what changed since the last sync (by the revision counters in the database), or
	 * everything when forced. Returns null when nothing changed.
	 */
	sync(now = new Date(), force = false): ApplyStats {
		const started = performance.now();
		const revisions = readRevisions(this.db);
		const listsChanged = force || !this.revisions || revisions.lists !== this.revisions.lists;
		// Unchanged lists need no look at all; a forced sync re-checks every entry.
		const update: ListUpdate = listsChanged
			? this.lists.update(this.db, now)
			: { contents: this.lists.contents, touched: new Map() };
		// The summaries follow what the lists say changed; a forced sync re-checks their words
		// against the maps at the write instead of repainting them.
		this.summarise(update);
		if (force) {
			update.touched = null;
			for (const { summary } of this.summaries.values()) summary.recheck();
		}
		const { services, rulesets, srcsets } = compileServices(this.db, now, this.cpuCount);
		this.summary = {
			prefixLengths: { ...this.lists.lengths(), srcset: prefixLengthsOf(this.keysOf(srcsets)) },
			bans: (update.contents.get("pp_bans")?.size ?? 0) > 0,
		};
		const compiled: Compiled = {
			static: compileStatic(this.config, this.listGen, this.summary, this.hash()),
			lists: update.contents,
			srcsets,
			services,
			rulesets,
		};
		const stats = this.apply(compiled, update.touched, compileL7(this.db));
		this.revisions = revisions;
		return { ...stats, ms: Math.round(performance.now() - started) };
	}

	/** Brings the IPv4 summaries up to the lists (all of a list when touched is null). */
	private summarise(update: ListUpdate): void {
		for (const { list, summary } of this.summaries.values()) {
			const contents = update.contents.get(list) ?? new Map();
			if (update.touched === null) {
				summary.follow(
					[...contents.values()].map((e) => [e.key, e.value]),
					true,
				);
				continue;
			}
			summary.follow([...(update.touched.get(list) ?? [])].map((k) => [Buffer.from(k, "hex"), contents.get(k)?.value]));
		}
	}

	private keysOf(contents: MapContents): Uint8Array[] {
		return [...contents.values()].flatMap((m) => [...m.values()].map((e) => e.key));
	}

	/** The revisions the maps reflect, or null before the first sync. */
	appliedRevisions(): Record<Section, number> | null {
		return this.revisions ? { ...this.revisions } : null;
	}

	/** True when the database changed since the last sync. */
	changed(): boolean {
		const r = readRevisions(this.db);
		return (
			!this.revisions ||
			r.lists !== this.revisions.lists ||
			r.rules !== this.revisions.rules ||
			r.services !== this.revisions.services
		);
	}

	/**
	 * touched: per list map, the only keys that may differ from the shadow (null = any key).
	 */
	private apply(
		c: Compiled,
		touched: Map<MapName, Set<string>> | null = null,
		l7: Map<number, Uint8Array> = new Map(),
	): Omit<ApplyStats, "ms"> {
		this.checkCapacity(c);
		let updated = 0;
		let deleted = 0;
		let listChanges = 0;
		const listMaps = new Set<MapName>([...c.lists.keys(), ...c.srcsets.keys()]);
		const candidates = (name: MapName, desired: Contents): Iterable<[string, Entry]> => {
			const keys = c.lists.has(name) ? touched?.get(name) : undefined;
			if (keys === undefined) return desired.entries();
			return [...keys].flatMap((k) => {
				const e = desired.get(k);
				return e ? [[k, e] as [string, Entry]] : [];
			});
		};
		const upsert = (name: MapName, desired: Contents) => {
			const map = this.maps(name);
			const current = this.shadow.get(name) ?? new Map();
			const changed = [...candidates(name, desired)].filter(([k, e]) => {
				const have = current.get(k);
				return !have || !sameBytes(have.value, e.value);
			});
			if (changed.length) {
				map.updateMany(
					changed.map(([, e]) => e.key),
					changed.map(([, e]) => e.value),
				);
				for (const [k, e] of changed) current.set(k, e);
				updated += changed.length;
				if (listMaps.has(name)) listChanges += changed.length;
			}
			this.shadow.set(name, current);
		};
		const prune = (name: MapName, desired: Contents) => {
			const current = this.shadow.get(name) ?? new Map();
			const keys = c.lists.has(name) ? touched?.get(name) : undefined;
			const gone =
				keys === undefined
					? [...current.entries()].filter(([k]) => !desired.has(k))
					: [...keys].flatMap((k) => {
							const e = current.get(k);
							return e && !desired.has(k) ? [[k, e] as [string, Entry]] : [];
						});
			if (gone.length) {
				this.maps(name).deleteMany(gone.map(([, e]) => e.key));
				for (const [k] of gone) current.delete(k);
				deleted += gone.length;
				if (listMaps.has(name)) listChanges += gone.length;
			}
		};

		for (const [name, desired] of c.static) upsert(name, desired);
		for (const [name, desired] of c.srcsets) upsert(name, desired);

		// Rule sets are double-buffered: a changed set goes to the backend's other slot, and
		// only then do its services point there.
		const rulesets = this.maps("pp_rulesets");
		const slotOf = new Map<number, number>();
		for (const [backend, bytes] of c.rulesets) {
			const current = this.slots.get(backend);
			if (current && sameBytes(current.bytes, bytes)) {
				slotOf.set(backend, current.slot);
				continue;
			}
			const slot = current?.slot === backend * 2 ? backend * 2 + 1 : backend * 2;
			rulesets.update(u32(slot), bytes);
			this.slots.set(backend, { slot, bytes });
			slotOf.set(backend, slot);
			updated++;
		}
		for (const backend of [...this.slots.keys()]) if (!c.rulesets.has(backend)) this.slots.delete(backend);

		// Protocol checks before the services that use them; a removed backend's are zeroed.
		const l7Desired: Contents = new Map([...l7].map(([b, value]) => [hex(u32(b)), { key: u32(b), value }]));
		upsert("pp_l7_cfgs", l7Desired);
		const l7Current = this.shadow.get("pp_l7_cfgs") as Contents;
		for (const [k, e] of [...l7Current]) {
			if (l7Desired.has(k)) continue;
			this.maps("pp_l7_cfgs").update(e.key, new Uint8Array(e.value.length));
			l7Current.delete(k);
			updated++;
		}

		// SYNPROXY holds every port XDP may answer SYNs for: before services gain SYN cookies it
		// takes the old and the new ports, and only after they changed just the new ones. Every
		// TCP listener stays tracked by conntrack at every level (see synproxy.ts).
		const serviceFlags = [...c.services.values()].map((s) => ({ key: s.key, flags: s.value.flags }));
		const synWant = synTargets(serviceFlags);
		const tcpWant = tcpListeners(serviceFlags);
		let synOk = false;
		if (this.synproxy && this.synOpts && synWant.length) {
			synOk = this.synproxy.apply(tcpWant, unionTargets(this.synInstalled, synWant), this.synOpts);
			if (!synOk) this.writeSyn(false);
		}

		const services: Contents = new Map();
		for (const [k, s] of c.services) services.set(k, this.serviceEntry(s, slotOf));
		upsert("pp_services", services);
		// After the services the index may point at, before those it no longer does go.
		updated += this.serviceIndex.apply(services, this.maps("pp_svc_slots"), this.maps("pp_svc_ports"));
		for (const [name, desired] of c.lists) upsert(name, desired);
		// Between the entries a summary's /24 needs and the removal of those it no longer does.
		for (const [name, { summary }] of this.summaries) {
			const words = summary.write(this.maps(name));
			updated += words;
			listChanges += words;
		}

		prune("pp_services", services);
		if (this.synproxy && this.synOpts) {
			// Without SYN cookies the listeners stay tracked.
			const cookies = synOk ? synWant : [];
			synOk = this.synproxy.apply(tcpWant, cookies, this.synOpts) && cookies.length > 0;
			this.writeSyn(synOk);
			this.synInstalled = synOk ? synWant : [];
			this.synDefenseNow = synOk ? "XDP_SYNCOOKIE" : synWant.length ? "KERNEL_SYNCOOKIE" : "OFF";
		}
		for (const [name, desired] of c.lists) prune(name, desired);
		for (const [name, desired] of c.srcsets) prune(name, desired);
		for (const [name, desired] of c.static)
			if (name !== "pp_config" && name !== "pp_reflect_ports") prune(name, desired);
		if (listChanges) {
			// Sources whose list verdict the program cached must be looked up again.
			this.listGen = (this.listGen + 1) >>> 0;
			upsert(
				"pp_config",
				compileStatic(this.config, this.listGen, this.summary, this.hash()).get("pp_config") as Contents,
			);
		}
		if (updated || deleted) this.log.debug("data plane reconciled", { updated, deleted });
		return { updated, deleted };
	}

	private serviceEntry(s: CompiledService, slotOf: Map<number, number>): Entry {
		return { key: s.key, value: encodeService({ ...s.value, ruleset: slotOf.get(s.value.backend) ?? NO_RULESET }) };
	}

	/** Refuses the whole apply when any map would overflow: nothing is half-applied. */
	private checkCapacity(c: Compiled): void {
		const check = (name: MapName, count: number) => {
			const max = this.maps(name).info.maxEntries;
			if (count > max)
				throw new CapacityError(`${name} would hold ${count} entries but has room for ${max} (dataplane.map_sizes)`);
		};
		for (const group of [c.static, c.lists, c.srcsets]) for (const [name, desired] of group) check(name, desired.size);
		check("pp_services", c.services.size);
		const highest = Math.max(0, ...[...c.services.values()].map((s) => s.value.backend));
		check("pp_rulesets", highest * 2 + 2);
		check("pp_backend_ctrs", highest + 1);
		check("pp_l7_cfgs", highest + 1);
	}
}

export { CompileError };
