// Desired state → map contents. Pure functions of the database (and the config): the same
// rows always compile to the same bytes, which is what lets a full resync at start and a
// series of incremental updates converge on identical maps.
import type { Database } from "bun:sqlite";
import { readFileSync } from "node:fs";
import type { Config } from "../config.ts";
import type { RuleMatch } from "../domain/rules/model.ts";
import { countrySetKey, ruleSetKeys, sourceSetKey } from "../domain/rules/service.ts";
import { intersectAll, prefixToRange, rangesOf } from "../geoip/prefixes.ts";
import { storedNetworks } from "../geoip/service.ts";
import { formatAddress, type Prefix, parsePrefix, toMapped16 } from "../net/cidr.ts";
import {
	Action,
	CONN_SLOTS,
	type CompiledRule,
	encodeConfig,
	encodeL7Config,
	encodeListEntry,
	encodeLpmKey,
	encodeMgmtValue,
	encodeRuleset,
	encodeServiceKey,
	IPPROTO,
	L7,
	L7_QUIC_VERSIONS,
	L7Flag,
	type LevelName,
	type ListPrefixLengths,
	type MapName,
	NO_PREFIX_LENGTHS,
	NO_RULE,
	NO_RULESET,
	type PrefixLengths,
	ProtoBit,
	QUIC_V1,
	QUIC_V2,
	REFLECTION_SOURCE_PORTS,
	type ServiceValue,
	type SrcHash,
	SvcFlag,
	u32,
	u64,
} from "./abi.ts";
import { connectionLimit, perCpuLimit, serviceLimits } from "./levels.ts";

export interface Entry {
	key: Uint8Array;
	value: Uint8Array;
}
/** A map's desired contents, keyed by the hex of the key bytes. */
export type Contents = Map<string, Entry>;
export type MapContents = Map<MapName, Contents>;

export interface CompiledService {
	key: Uint8Array;
	/** ruleset is filled in by the reconciler (double-buffered slot). */
	value: ServiceValue;
}

export interface Compiled {
	static: MapContents;
	lists: MapContents;
	srcsets: MapContents;
	services: Map<string, CompiledService>;
	/** Backend index → encoded pp_ruleset, for backends with at least one active rule. */
	rulesets: Map<number, Uint8Array>;
}

export class CompileError extends Error {}

export const hex = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("hex");
export const sameBytes = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i]);

function put(contents: MapContents, map: MapName, key: Uint8Array, value: Uint8Array): void {
	let m = contents.get(map);
	if (!m) {
		m = new Map();
		contents.set(map, m);
	}
	m.set(hex(key), { key, value });
}

function emptyContents(...maps: MapName[]): MapContents {
	return new Map(maps.map((m) => [m, new Map()]));
}

const lpmKey = (p: Prefix, scope: number) =>
	encodeLpmKey({ family: p.family, addr: p.bytes, prefix: p.prefixLength }, scope);

/** Boot time resolution: /proc/uptime has hundredths of a second. */
const BOOT_TIME_STEP_MS = 10;
let bootTime: number | undefined;

/**
 * Wall-clock expiry → the kernel's CLOCK_MONOTONIC: the wall-clock time of boot, to 10 ms, read
 * once per process so every compile in it agrees. (/proc/stat's btime is whole seconds, which made
 * expiries up to a second late.) Two processes may differ by one step; a daemon that re-adopts
 * the maps then rewrites the entries that expire.
 */
export function bootTimeMs(): number {
	if (bootTime === undefined) {
		const uptime = Number.parseFloat(readFileSync("/proc/uptime", "utf8"));
		if (!Number.isFinite(uptime)) throw new CompileError("/proc/uptime is unreadable");
		bootTime = Math.round((Date.now() - uptime * 1000) / BOOT_TIME_STEP_MS) * BOOT_TIME_STEP_MS;
	}
	return bootTime;
}

export function toMonotonicNs(expiresAt: string | null, bootMs: number): bigint {
	if (expiresAt === null) return 0n;
	return BigInt(Math.max(1, Date.parse(expiresAt) - bootMs)) * 1_000_000n;
}

/** What pp_config says about the lists: the prefix lengths they hold, and whether there are bans. */
export interface ListSummary {
	prefixLengths: ListPrefixLengths;
	bans: boolean;
}

export const EMPTY_LISTS: ListSummary = { prefixLengths: NO_PREFIX_LENGTHS, bans: false };

/**
 * Config-derived maps: the config map, the management allow-list, the reflection ports.
 * listGen invalidates the program's per-source cache of list verdicts; the reconciler bumps it.
 * The list summary tells the program which prefix lengths to probe and whether to probe bans.
 */
export function compileStatic(
	config: Config["dataplane"],
	listGen: number,
	lists: ListSummary,
	srcHash: SrcHash,
): MapContents {
	const out = emptyContents("pp_config", "pp_mgmt_v4", "pp_mgmt_v6", "pp_reflect_ports");
	put(
		out,
		"pp_config",
		u32(0),
		encodeConfig({
			sampleRate: 64,
			srcHash,
			listGen,
			mgmtPorts: config.management_ports,
			prefixLengths: lists.prefixLengths,
			bans: lists.bans,
		}),
	);
	for (const net of config.admin_networks) {
		const p = parsePrefix(net);
		put(out, p.family === 4 ? "pp_mgmt_v4" : "pp_mgmt_v6", lpmKey(p, 0), encodeMgmtValue());
	}
	for (const port of REFLECTION_SOURCE_PORTS) put(out, "pp_reflect_ports", u32(port), Uint8Array.of(1));
	return out;
}

interface ListRow {
	rowid: number;
	organization_id: string;
	list: "block" | "allow" | "ban";
	cidr: string;
	backend_id: string | null;
	expires_at: string | null;
}

const LIST_MAPS = ["pp_allow_v4", "pp_allow_v6", "pp_block_v4", "pp_block_v6", "pp_bans"] as const;
const LIST_COLUMNS = "rowid, organization_id, list, cidr, backend_id, expires_at";
const LIVE_ROWS = "sandbox = 0 AND (expires_at IS NULL OR expires_at > ?)";
/** Changed rows beyond this are read with one query rather than one each. */
const BULK_ROWS = 256;

/** The organization whose unscoped entries apply to all traffic: the first owner's. */
function operatorOrganization(db: Database): string | null {
	return (
		db
			.query<{ organization_id: string }, []>(
				"SELECT organization_id FROM memberships WHERE role = 'OWNER' ORDER BY created_at LIMIT 1",
			)
			.get()?.organization_id ?? null
	);
}

/** What decides the scopes of a list row besides the row: the operator and the backends. */
interface ListContext {
	operator: string | null;
	backendsOf: Map<string, number[]>;
	index: Map<string, number>;
	/** Equal for equal contexts: a change recompiles every row. */
	signature: string;
}

function listContext(db: Database): ListContext {
	const operator = operatorOrganization(db);
	const backends = db
		.query<{ id: string; organization_id: string; dp_index: number }, []>(
			"SELECT id, organization_id, dp_index FROM backends WHERE sandbox = 0 ORDER BY dp_index",
		)
		.all();
	const backendsOf = new Map<string, number[]>();
	for (const b of backends)
		backendsOf.set(b.organization_id, [...(backendsOf.get(b.organization_id) ?? []), b.dp_index]);
	return {
		operator,
		backendsOf,
		index: new Map(backends.map((b) => [b.id, b.dp_index])),
		signature: JSON.stringify([operator, backends]),
	};
}

interface ListPut {
	map: (typeof LIST_MAPS)[number];
	key: Uint8Array;
	value: Uint8Array;
	/** The prefix length (for pp_config's lengths); bans have none. */
	length: number;
}

/** The map entries one list row compiles to. */
function rowEntries(row: ListRow, ctx: ListContext, bootMs: number): ListPut[] {
	const p = parsePrefix(row.cidr);
	const expiresNs = toMonotonicNs(row.expires_at, bootMs);
	if (row.list === "ban") return [{ map: "pp_bans", key: toMapped16(p.bytes), value: u64(expiresNs), length: -1 }];
	const scopes =
		row.backend_id !== null
			? [ctx.index.get(row.backend_id)].filter((s): s is number => s !== undefined)
			: row.organization_id === ctx.operator
				? [0]
				: (ctx.backendsOf.get(row.organization_id) ?? []);
	const map = `pp_${row.list}_v${p.family}` as ListPut["map"];
	const value = encodeListEntry({ expiresNs, reason: 0, entryId: row.rowid });
	return scopes.map((scope) => ({ map, key: lpmKey(p, scope), value, length: p.prefixLength }));
}

/**
 * Block list, allow list and bans. An entry scoped to a backend goes into that backend's scope;
 * an unscoped entry of the operator's organization is global; an unscoped entry of any other
 * organization applies to each of that organization's backends, never to other tenants' traffic.
 * Where two rows compile to one key, the later row (higher rowid) wins.
 */
export function compileLists(db: Database, now = new Date(), bootMs = bootTimeMs()): MapContents {
	const out = emptyContents(...LIST_MAPS);
	const ctx = listContext(db);
	const rows = db
		.query<ListRow, [string]>(`SELECT ${LIST_COLUMNS} FROM ip_entries WHERE ${LIVE_ROWS} ORDER BY rowid`)
		.all(now.toISOString());
	for (const row of rows) for (const e of rowEntries(row, ctx, bootMs)) put(out, e.map, e.key, e.value);
	return out;
}

/** What a list update changed: the desired contents and, per map, the keys to re-check (null = all). */
export interface ListUpdate {
	contents: MapContents;
	touched: Map<MapName, Set<string>> | null;
}

/**
 * compileLists, incrementally: keeps each row's compiled entries, so an update costs one scan of
 * (rowid, expires_at) plus the work for the rows that changed, not a recompile of every row.
 * Rows change only in expires_at (reason and source do not reach the kernel); a new context
 * (operator, backends) recompiles everything. Its contents always equal compileLists's.
 */
export class ListCompiler {
	/** rowid → its expires_at, compiled entries and the scan that last saw it. */
	private readonly rows = new Map<number, { expiresAt: string | null; puts: ListPut[]; scan: number }>();
	/** map|key hex → the rows that compile to it (the highest rowid wins). */
	private readonly owners = new Map<string, { rowid: number; put: ListPut }[]>();
	private readonly lengthCounts = new Map<MapName, Map<number, number>>();
	private context: string | null = null;
	private scan = 0;
	readonly contents: MapContents = emptyContents(...LIST_MAPS);

	constructor(private readonly bootMs = bootTimeMs()) {}

	update(db: Database, now = new Date()): ListUpdate {
		const ctx = listContext(db);
		const full = ctx.signature !== this.context;
		if (full) this.clear();
		this.context = ctx.signature;
		const scan = ++this.scan;
		const touched = new Map<MapName, Set<string>>(LIST_MAPS.map((m) => [m, new Set<string>()]));
		const live = db.query(`SELECT rowid, expires_at FROM ip_entries WHERE ${LIVE_ROWS}`).values(now.toISOString()) as [
			number,
			string | null,
		][];
		const changed: number[] = [];
		for (const [rowid, expiresAt] of live) {
			const known = this.rows.get(rowid);
			if (known && known.expiresAt === expiresAt) {
				known.scan = scan;
				continue;
			}
			if (known) {
				this.drop(rowid, known.puts, touched);
				this.rows.delete(rowid);
			}
			changed.push(rowid);
		}
		for (const [rowid, known] of this.rows) {
			if (known.scan === scan) continue;
			this.drop(rowid, known.puts, touched);
			this.rows.delete(rowid);
		}
		// A few changed rows are read one by one; many (a first compile) in one query.
		const all =
			changed.length > BULK_ROWS
				? new Map(
						db
							.query<ListRow, [string]>(`SELECT ${LIST_COLUMNS} FROM ip_entries WHERE ${LIVE_ROWS}`)
							.all(now.toISOString())
							.map((r) => [r.rowid, r]),
					)
				: null;
		const fetch = db.query<ListRow, [number]>(`SELECT ${LIST_COLUMNS} FROM ip_entries WHERE rowid = ?`);
		for (const rowid of changed) {
			const row = all ? all.get(rowid) : fetch.get(rowid);
			if (!row) continue;
			const puts = rowEntries(row, ctx, this.bootMs);
			this.rows.set(rowid, { expiresAt: row.expires_at, puts, scan });
			for (const e of puts) this.add(rowid, e, touched);
		}
		return { contents: this.contents, touched: full ? null : touched };
	}

	/** The prefix lengths the allow and block lists hold now, for pp_config. */
	lengths(): { allow: PrefixLengths; block: PrefixLengths } {
		const of = (map: MapName) => [...(this.lengthCounts.get(map)?.keys() ?? [])].sort((a, b) => b - a);
		return {
			allow: { v4: of("pp_allow_v4"), v6: of("pp_allow_v6") },
			block: { v4: of("pp_block_v4"), v6: of("pp_block_v6") },
		};
	}

	private clear(): void {
		this.rows.clear();
		this.owners.clear();
		this.lengthCounts.clear();
		for (const m of this.contents.values()) m.clear();
	}

	private add(rowid: number, put: ListPut, touched: Map<MapName, Set<string>>): void {
		const k = hex(put.key);
		const id = `${put.map}|${k}`;
		const owners = this.owners.get(id);
		if (owners) owners.push({ rowid, put });
		else {
			this.owners.set(id, [{ rowid, put }]);
			this.countLength(put, 1);
		}
		this.settle(put.map, k, owners ?? []);
		if (!owners) (this.contents.get(put.map) as Contents).set(k, { key: put.key, value: put.value });
		touched.get(put.map)?.add(k);
	}

	private drop(rowid: number, puts: ListPut[], touched: Map<MapName, Set<string>>): void {
		for (const put of puts) {
			const k = hex(put.key);
			const id = `${put.map}|${k}`;
			const owners = (this.owners.get(id) ?? []).filter((o) => o.rowid !== rowid);
			if (owners.length) this.owners.set(id, owners);
			else {
				this.owners.delete(id);
				this.countLength(put, -1);
			}
			if (owners.length) this.settle(put.map, k, owners);
			else (this.contents.get(put.map) as Contents).delete(k);
			touched.get(put.map)?.add(k);
		}
	}

	/** A shared key's entry is its highest row's, as compileLists's last write. */
	private settle(map: MapName, k: string, owners: { rowid: number; put: ListPut }[]): void {
		if (!owners.length) return;
		let winner = owners[0] as { rowid: number; put: ListPut };
		for (const o of owners) if (o.rowid > winner.rowid) winner = o;
		(this.contents.get(map) as Contents).set(k, { key: winner.put.key, value: winner.put.value });
	}

	private countLength(put: ListPut, delta: number): void {
		if (put.length < 0) return;
		let counts = this.lengthCounts.get(put.map);
		if (!counts) {
			counts = new Map();
			this.lengthCounts.set(put.map, counts);
		}
		const n = (counts.get(put.length) ?? 0) + delta;
		if (n > 0) counts.set(put.length, n);
		else counts.delete(put.length);
	}
}

interface BackendRow {
	id: string;
	dp_index: number;
	type: string;
	protection: string;
}

const L7_OF: Record<string, number> = {
	MINECRAFT_JAVA: L7.MINECRAFT_JAVA,
	MINECRAFT_BEDROCK: L7.RAKNET,
	QUIC: L7.QUIC,
	HTTP: L7.HTTP,
	HTTPS: L7.HTTP,
	TCP: L7.NONE,
	UDP: L7.NONE,
};

interface Protection {
	enabled?: boolean;
	level?: LevelName;
	perIpRateLimit?: { requestsPerSecond: number; burstSize?: number };
	globalRateLimit?: { requestsPerSecond: number; burstSize?: number };
}

const withBurst = (r: { requestsPerSecond: number; burstSize?: number } | undefined) =>
	r ? { requestsPerSecond: r.requestsPerSecond, burstSize: r.burstSize ?? r.requestsPerSecond * 2 } : undefined;

/**
 * Services (one per listener, plus ICMP host entries) and each backend's compiled rule set.
 * Backend-wide limits are divided among `cpuCount` CPUs (perCpuLimit).
 */
export function compileServices(
	db: Database,
	now: Date,
	cpuCount: number,
): { services: Map<string, CompiledService>; rulesets: Map<number, Uint8Array>; srcsets: MapContents } {
	const services = new Map<string, CompiledService>();
	const scoped = new Map<string, number>();
	for (const r of db
		.query<{ backend_id: string; list: string }, [string]>(
			`SELECT DISTINCT backend_id, list FROM ip_entries WHERE backend_id IS NOT NULL AND sandbox = 0
			 AND (expires_at IS NULL OR expires_at > ?)`,
		)
		.all(now.toISOString())) {
		scoped.set(
			r.backend_id,
			(scoped.get(r.backend_id) ?? 0) | (r.list === "allow" ? SvcFlag.SCOPED_ALLOW : SvcFlag.SCOPED_BLOCK),
		);
	}
	const { rulesets, srcsets } = compileRules(db, now);
	const backends = db
		.query<BackendRow, []>("SELECT id, dp_index, type, protection FROM backends WHERE sandbox = 0 ORDER BY dp_index")
		.all();
	const hosts = new Map<string, ServiceValue[]>();
	for (const b of backends) {
		const protection = JSON.parse(b.protection) as Protection;
		const level: LevelName = protection.enabled === false ? "OFF" : (protection.level ?? "MEDIUM");
		const limits = serviceLimits(level, {
			perIpRateLimit: withBurst(protection.perIpRateLimit),
			globalRateLimit: withBurst(protection.globalRateLimit),
		});
		const value: ServiceValue = {
			backend: b.dp_index,
			flags: limits.flags | (scoped.get(b.id) ?? 0),
			ruleset: NO_RULESET,
			level: limits.level,
			l7: L7_OF[b.type] ?? L7.NONE,
			srcPkt: limits.srcPkt,
			srcByte: limits.srcByte,
			globPkt: perCpuLimit(limits.globPkt, cpuCount),
			globByte: perCpuLimit(limits.globByte, cpuCount),
		};
		const listeners = db
			.query<{ address: string; port: number; protocol: "TCP" | "UDP" }, [string]>(
				"SELECT address, port, protocol FROM backend_listeners WHERE backend_id = ? ORDER BY address, port, protocol",
			)
			.all(b.id);
		for (const l of listeners) {
			const proto = l.protocol === "TCP" ? IPPROTO.TCP : IPPROTO.UDP;
			const key = encodeServiceKey({ addr: l.address === "" ? null : l.address, port: l.port, proto });
			// Backends routed by hostname may share a listener; the kernel entry is the lowest index's.
			if (!services.has(hex(key))) services.set(hex(key), { key, value });
			hostGroup(hosts, l.address, proto, value);
			if (!l.address.includes(":")) hostGroup(hosts, l.address, IPPROTO.ICMP, value);
			if (l.address.includes(":") || l.address === "") hostGroup(hosts, l.address, IPPROTO.ICMPV6, value);
		}
	}
	// Port 0 is the host entry: packets without ports (later fragments, ICMP) to an address a
	// backend listens on. It takes the lowest-indexed backend's limits and the strictest checks
	// of every backend there, so fragments cannot slip past a MEDIUM backend via a LOW one.
	for (const [k, group] of hosts) {
		const [address, protoText] = k.split("|") as [string, string];
		const proto = Number(protoText);
		const first = group[0] as ServiceValue;
		const strict = group.reduce((acc, v) => acc | (v.flags & STRICT_FLAGS), 0);
		const key = encodeServiceKey({ addr: address === "" ? null : address, port: 0, proto });
		const l7 = proto === IPPROTO.TCP || proto === IPPROTO.UDP ? first.l7 : L7.NONE;
		services.set(hex(key), { key, value: { ...first, flags: first.flags | strict, l7 } });
	}
	return { services, rulesets, srcsets };
}

/** The checks a host entry takes from every backend on the address. */
const STRICT_FLAGS = SvcFlag.DROP_INVALID | SvcFlag.DROP_FRAGMENTS | SvcFlag.DROP_REFLECTION;

function hostGroup(hosts: Map<string, ServiceValue[]>, address: string, proto: number, value: ServiceValue): void {
	const k = `${address}|${proto}`;
	const group = hosts.get(k) ?? [];
	if (!group.some((v) => v.backend === value.backend)) group.push(value);
	hosts.set(k, group);
}

interface RuleRow {
	backend_id: string;
	backend_dp: number;
	backend_type: string;
	stats_slot: number;
	match: string;
	action: keyof typeof Action;
	rate_limit: string | null;
}

const PROTO_BITS: Record<string, number> = { TCP: ProtoBit.TCP, UDP: ProtoBit.UDP, ICMP: ProtoBit.ICMP };

const prefixText = (p: { address: string; prefixLength?: number }) =>
	parsePrefix(p.prefixLength === undefined ? p.address : `${p.address}/${p.prefixLength}`).text;

/**
 * A source condition of a rule as one source set. Conditions of one rule combine with AND, so the
 * positive ones (addresses, countries, ASNs) become one set: the intersection of their networks.
 */
interface SourceSet {
	key: string;
	prefixes: () => string[];
}

function positiveSet(db: Database, m: RuleMatch): SourceSet | null {
	const key = ruleSetKeys(m).positive;
	if (!key) return null;
	const lists: Array<() => string[]> = [];
	if (m.sourceIps?.length) {
		const ips = sourceSetKey(m.sourceIps);
		lists.push(() => ips.split(","));
	}
	if (m.sourceCountries?.length) lists.push(() => storedNetworks(db, "country", new Set(m.sourceCountries)));
	if (m.sourceAsns?.length) lists.push(() => storedNetworks(db, "asn", new Set(m.sourceAsns?.map(String))));
	// A plain address list keeps its own key, so it shares a set with an equal blacklist.
	if (lists.length === 1) return { key, prefixes: lists[0] as () => string[] };
	return { key, prefixes: () => intersectAll(lists.map((l) => l())) ?? [] };
}

function countrySet(db: Database, countries: string[]): SourceSet {
	const codes = [...new Set(countries)].sort();
	return { key: countrySetKey(codes), prefixes: () => storedNetworks(db, "country", codes) };
}

function negativeSets(db: Database, m: RuleMatch): SourceSet[] {
	const out: SourceSet[] = [];
	if (m.sourceIpBlacklist?.length) {
		const key = sourceSetKey(m.sourceIpBlacklist);
		out.push({ key, prefixes: () => key.split(",") });
	}
	if (m.sourceCountryBlacklist?.length) out.push(countrySet(db, m.sourceCountryBlacklist));
	return out;
}

/**
 * destinationIps: the kernel matches services, not destination addresses, so a rule with
 * destinationIps applies to a backend whose listeners all have an address inside them, and to
 * none whose listeners are all outside. The domain refuses anything in between.
 */
export function destinationScope(
	destinationIps: Array<{ address: string; prefixLength?: number }>,
	listenerAddresses: string[],
): "all" | "none" | "partial" {
	const ranges = rangesOf(destinationIps.map(prefixText));
	const inside = listenerAddresses.map((a) => {
		if (a === "") return false;
		const r = prefixToRange(parsePrefix(a));
		return (r.family === 4 ? ranges.v4 : ranges.v6).some((x) => x.lo <= r.lo && r.hi <= x.hi);
	});
	if (inside.length && inside.every(Boolean)) return "all";
	if (listenerAddresses.every((a) => a !== "") && !inside.some(Boolean)) return "none";
	return "partial";
}

/**
 * Each backend's enabled rules in priority order, behind an implicit first rule for the
 * backend's protection.geoIp. Source conditions become source sets: each distinct set is one
 * bit, and every prefix in pp_srcset_* carries the bits of all the sets that contain it (so
 * the longest-prefix match answers for the shorter ones too). Country and ASN networks come
 * from geoip_sets; timeMatch windows from time_active, which the minute job maintains.
 */
export function compileRules(
	db: Database,
	_now = new Date(),
): { rulesets: Map<number, Uint8Array>; srcsets: MapContents } {
	const rows = db
		.query<RuleRow, []>(
			`SELECT b.id AS backend_id, b.dp_index AS backend_dp, b.type AS backend_type, r.stats_slot, r.match, r.action,
				r.rate_limit
			 FROM filter_rules r JOIN backends b ON b.id = r.backend_id
			 WHERE r.enabled = 1 AND r.time_active = 1 AND b.sandbox = 0 ORDER BY b.dp_index, r.priority, r.created_at, r.id`,
		)
		.all();
	const backends = db
		.query<{ id: string; dp_index: number; protection: string }, []>(
			"SELECT id, dp_index, protection FROM backends WHERE sandbox = 0 ORDER BY dp_index",
		)
		.all();
	const listenerAddresses = (backendId: string) =>
		db
			.query<{ address: string }, [string]>("SELECT address FROM backend_listeners WHERE backend_id = ?")
			.all(backendId)
			.map((l) => l.address);

	const sets = new Map<string, SourceSet>();
	const use = (s: SourceSet | null) => {
		if (s) sets.set(s.key, s);
		return s;
	};
	interface Pending {
		backend: number;
		positive: SourceSet | null;
		negative: SourceSet[];
		make: (srcAny: bigint, srcNone: bigint) => CompiledRule;
	}
	const pending: Pending[] = [];
	for (const b of backends) {
		const geo = (JSON.parse(b.protection) as { geoIp?: { mode: string; countries: string[] } }).geoIp;
		if (!geo || geo.mode === "OFF" || (geo.mode === "BLOCK_LIST" && !geo.countries.length)) continue;
		const set = use(countrySet(db, geo.countries)) as SourceSet;
		const allowList = geo.mode === "ALLOW_LIST";
		// Not counted per rule (no stats slot): its drops show as RULE_DROP and in the backend's counters.
		const make = (srcAny: bigint, srcNone: bigint): CompiledRule => ({
			srcAny: allowList ? 0n : srcAny,
			srcNone: allowList ? srcNone : 0n,
			dports: [],
			statsSlot: NO_RULE,
			action: Action.DROP,
			protos: 0,
		});
		pending.push({ backend: b.dp_index, positive: allowList ? null : set, negative: allowList ? [set] : [], make });
	}
	for (const r of rows) {
		const m = JSON.parse(r.match) as RuleMatch;
		if (
			m.l7Protocols?.length &&
			!m.l7Protocols.some((p) => r.backend_type === p || (p === "HTTP" && r.backend_type === "HTTPS"))
		)
			continue;
		if (m.destinationIps?.length && destinationScope(m.destinationIps, listenerAddresses(r.backend_id)) !== "all")
			continue;
		const rate = r.rate_limit ? (JSON.parse(r.rate_limit) as { requestsPerSecond: number; burstSize?: number }) : null;
		const make = (srcAny: bigint, srcNone: bigint): CompiledRule => ({
			srcAny,
			srcNone,
			dports: (m.destinationPorts ?? []).map((p) => ({ lo: p.start, hi: p.end })),
			statsSlot: r.stats_slot,
			action: Action[r.action],
			protos: (m.protocols ?? []).reduce((acc, p) => acc | (PROTO_BITS[p] ?? 0), 0),
			limit: rate ? { rate: rate.requestsPerSecond, burst: rate.burstSize ?? rate.requestsPerSecond * 2 } : undefined,
		});
		pending.push({
			backend: r.backend_dp,
			positive: use(positiveSet(db, m)),
			negative: negativeSets(db, m).map((s) => use(s) as SourceSet),
			make,
		});
	}

	const sortedSets = [...sets.keys()].sort();
	if (sortedSets.length > 64)
		throw new CompileError(`${sortedSets.length} distinct source lists; the data plane holds 64`);
	const bitOf = new Map(sortedSets.map((k, i) => [k, 1n << BigInt(i)]));
	const bits = (s: SourceSet | null) => (s ? (bitOf.get(s.key) as bigint) : 0n);

	const byBackend = new Map<number, CompiledRule[]>();
	for (const p of pending) {
		const rule = p.make(
			bits(p.positive),
			p.negative.reduce((acc, s) => acc | bits(s), 0n),
		);
		byBackend.set(p.backend, [...(byBackend.get(p.backend) ?? []), rule]);
	}
	const rulesets = new Map<number, Uint8Array>();
	for (const [backend, rules] of byBackend) rulesets.set(backend, encodeRuleset(rules));

	// prefix text → (prefix, mask of the sets naming it)
	const prefixes = new Map<string, { p: Prefix; mask: bigint }>();
	for (const key of sortedSets) {
		const bit = bitOf.get(key) as bigint;
		for (const text of (sets.get(key) as SourceSet).prefixes()) {
			const p = parsePrefix(text);
			const e = prefixes.get(p.text) ?? { p, mask: 0n };
			e.mask |= bit;
			prefixes.set(p.text, e);
		}
	}
	const srcsets = emptyContents("pp_srcset_v4", "pp_srcset_v6");
	const lengths = { 4: new Set<number>(), 6: new Set<number>() };
	for (const { p } of prefixes.values()) lengths[p.family].add(p.prefixLength);
	const sortedLengths = { 4: [...lengths[4]].sort((a, b) => a - b), 6: [...lengths[6]].sort((a, b) => a - b) };
	for (const { p, mask } of prefixes.values()) {
		let full = mask;
		for (const len of sortedLengths[p.family]) {
			if (len >= p.prefixLength) break;
			const outer = prefixes.get(`${formatAddress(maskTo(p.bytes, len))}/${len}`);
			if (outer) full |= outer.mask;
		}
		put(srcsets, p.family === 4 ? "pp_srcset_v4" : "pp_srcset_v6", lpmKey(p, 0), u64(full));
	}
	return { rulesets, srcsets };
}

/** The bytes of an address with every bit from `length` on cleared. */
function maskTo(bytes: Uint8Array, length: number): Uint8Array {
	const out = Uint8Array.from(bytes);
	for (let bit = length; bit < out.length * 8; bit++) out[bit >> 3] = (out[bit >> 3] as number) & ~(0x80 >> (bit & 7));
	return out;
}

/**
 * A rule's l7Match options the data plane enforces: minecraftJava.{validateHandshake,
 * minProtocolVersion, maxProtocolVersion, allowLegacyPing, banSeconds, maxConnectionsPerIp},
 * minecraftBedrock.{validateRaknetMagic, maxConnectionsPerIp} and quic.{validateInitial,
 * allowedVersions}. Other protocols and options are refused, not ignored.
 */
interface L7Options {
	java?: boolean;
	minProto?: number;
	maxProto?: number;
	legacy?: boolean;
	banSeconds?: number;
	raknet?: boolean;
	javaMaxConns?: number;
	bedrockMaxConns?: number;
	quic?: boolean;
	quicVersions?: number[];
}

/** QUIC version numbers by their l7Match names: 1 = v1 (RFC 9000), 2 = v2 (RFC 9369). */
const QUIC_VERSION_OF: Record<number, number> = { 1: QUIC_V1, 2: QUIC_V2 };
/** How long a RakNet connection or QUIC client stays known after its last packet. */
export const L7_SESSION_NS = 60_000_000_000n;
/** How long an invalid Minecraft Java handshake bans its source by default. */
export const MC_BAN_SECONDS = 300;
const MAX_BAN_SECONDS = 30 * 86_400;
const MAX_PROTOCOL = 0x7fffffff;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** Errors in a rule's l7Match, as { field, code, message } under match.l7Match. */
export function l7MatchErrors(l7Match: Record<string, unknown>): { field: string; code: string; message: string }[] {
	const errors: { field: string; code: string; message: string }[] = [];
	const err = (field: string, code: string, message: string) =>
		errors.push({ field: `match.l7Match${field}`, code, message });
	const known: Record<string, string[]> = {
		minecraftJava: [
			"validateHandshake",
			"minProtocolVersion",
			"maxProtocolVersion",
			"allowLegacyPing",
			"banSeconds",
			"maxConnectionsPerIp",
		],
		minecraftBedrock: ["validateRaknetMagic", "maxConnectionsPerIp"],
		quic: ["validateInitial", "allowedVersions"],
	};
	const integer = (v: unknown, max: number) => typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= max;
	for (const [protocol, options] of Object.entries(l7Match)) {
		const allowed = known[protocol];
		if (!allowed) {
			err(`.${protocol}`, "unsupported", `the data plane does not validate ${protocol}`);
			continue;
		}
		if (!isObject(options)) {
			err(`.${protocol}`, "invalid_value", "must be an object");
			continue;
		}
		for (const [name, value] of Object.entries(options)) {
			const field = `.${protocol}.${name}`;
			if (!allowed.includes(name)) err(field, "unsupported", `${protocol}.${name} is not enforced by the data plane`);
			else if (name === "allowedVersions") {
				if (!Array.isArray(value) || !value.length || value.length > L7_QUIC_VERSIONS)
					err(field, "invalid_value", `a list of 1 to ${L7_QUIC_VERSIONS} versions`);
				else if (value.some((v) => typeof v !== "number" || !(v in QUIC_VERSION_OF)))
					err(field, "invalid_enum", "versions are 1 (QUIC v1) and 2 (QUIC v2)");
			} else if (name === "minProtocolVersion" || name === "maxProtocolVersion") {
				if (!integer(value, MAX_PROTOCOL)) err(field, "invalid_value", `an integer from 0 to ${MAX_PROTOCOL}`);
			} else if (name === "banSeconds") {
				if (!integer(value, MAX_BAN_SECONDS)) err(field, "invalid_value", `an integer from 0 to ${MAX_BAN_SECONDS}`);
			} else if (name === "maxConnectionsPerIp") {
				// The kernel keeps one slot per connection of a source (pp_conns).
				if (!integer(value, CONN_SLOTS) || value === 0)
					err(field, "invalid_value", `an integer from 1 to ${CONN_SLOTS}`);
			} else if (typeof value !== "boolean") err(field, "invalid_value", "must be true or false");
		}
		if (protocol === "minecraftJava") {
			const { minProtocolVersion: min, maxProtocolVersion: max } = options;
			if (typeof min === "number" && typeof max === "number" && min > max)
				err(".minecraftJava.minProtocolVersion", "invalid_value", "must not exceed maxProtocolVersion");
		}
	}
	return errors;
}

function l7Options(l7Match: Record<string, unknown> | undefined): L7Options {
	const java = isObject(l7Match?.minecraftJava) ? l7Match.minecraftJava : {};
	const bedrock = isObject(l7Match?.minecraftBedrock) ? l7Match.minecraftBedrock : {};
	const quic = isObject(l7Match?.quic) ? l7Match.quic : {};
	const num = (v: unknown) => (typeof v === "number" ? v : undefined);
	const bool = (v: unknown) => (typeof v === "boolean" ? v : undefined);
	return {
		java: bool(java.validateHandshake),
		minProto: num(java.minProtocolVersion),
		maxProto: num(java.maxProtocolVersion),
		legacy: bool(java.allowLegacyPing),
		banSeconds: num(java.banSeconds),
		javaMaxConns: num(java.maxConnectionsPerIp),
		raknet: typeof bedrock.validateRaknetMagic === "boolean" ? bedrock.validateRaknetMagic : undefined,
		bedrockMaxConns: num(bedrock.maxConnectionsPerIp),
		quic: typeof quic.validateInitial === "boolean" ? quic.validateInitial : undefined,
		quicVersions: Array.isArray(quic.allowedVersions)
			? quic.allowedVersions.map((v) => QUIC_VERSION_OF[v as number]).filter((v): v is number => v !== undefined)
			: undefined,
	};
}

/**
 * Each backend's protocol checks (pp_l7_cfgs), keyed by backend index: a Minecraft Java backend
 * validates handshakes per connection (legacy ping allowed, invalid handshakes ban for
 * MC_BAN_SECONDS), a Bedrock backend RakNet, a QUIC backend QUIC Initials (versions 1 and 2), by
 * default, and the level's new-connection rate per source (levels.ts); an enabled rule's
 * l7Match changes that, the highest-priority rule that sets an option deciding. The kernel
 * applies them at the levels with SvcFlag.L7_VALIDATE (MEDIUM and up), maxConnectionsPerIp
 * (concurrent Java flows or RakNet sessions per source) too, with or without the validation.
 */
export function compileL7(db: Database): Map<number, Uint8Array> {
	const out = new Map<number, Uint8Array>();
	const backends = db
		.query<{ id: string; dp_index: number; type: string; protection: string }, []>(
			"SELECT id, dp_index, type, protection FROM backends WHERE sandbox = 0 ORDER BY dp_index",
		)
		.all();
	const rules = db
		.query<{ backend_id: string; match: string }, []>(
			`SELECT backend_id, match FROM filter_rules WHERE enabled = 1 AND time_active = 1
			 ORDER BY priority, created_at, id`,
		)
		.all();
	for (const b of backends) {
		const options: L7Options = {};
		for (const r of rules) {
			if (r.backend_id !== b.id) continue;
			const o = l7Options((JSON.parse(r.match) as RuleMatch).l7Match);
			for (const k of Object.keys(o) as (keyof L7Options)[])
				if (options[k] === undefined) Object.assign(options, { [k]: o[k] });
		}
		const java = b.type === "MINECRAFT_JAVA" && (options.java ?? true);
		const raknet = b.type === "MINECRAFT_BEDROCK" && (options.raknet ?? true);
		const quic = b.type === "QUIC" && (options.quic ?? true);
		const legacy = java && (options.legacy ?? true);
		out.set(
			b.dp_index,
			encodeL7Config({
				flags:
					(java ? L7Flag.MC_JAVA : 0) |
					(legacy ? L7Flag.MC_LEGACY : 0) |
					(raknet ? L7Flag.RAKNET : 0) |
					(quic ? L7Flag.QUIC : 0),
				quicVersions: quic ? (options.quicVersions ?? [QUIC_V1, QUIC_V2]) : [],
				sessionNs: L7_SESSION_NS,
				mcMinProto: options.minProto ?? 0,
				mcMaxProto: options.maxProto ?? MAX_PROTOCOL,
				banNs: java ? BigInt(options.banSeconds ?? MC_BAN_SECONDS) * 1_000_000_000n : 0n,
				conn: connectionLimit(levelOf(b.protection)),
				maxConns:
					(b.type === "MINECRAFT_JAVA" ? options.javaMaxConns : undefined) ??
					(b.type === "MINECRAFT_BEDROCK" ? options.bedrockMaxConns : undefined) ??
					0,
			}),
		);
	}
	return out;
}

/** A backend's effective level: its protection's, OFF when protection is disabled. */
function levelOf(protection: string): LevelName {
	const p = JSON.parse(protection) as Protection;
	return p.enabled === false ? "OFF" : (p.level ?? "MEDIUM");
}
