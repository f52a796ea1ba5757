// Mirror of bpf/pp_abi.h: sizes, offsets, enum values, map names, and the encoders and
// decoders user space uses to read and write the data plane's maps. test/bpf/abi.test.ts
// compares LAYOUT and the enums below with the BTF of build/bpf/pp_xdp.o.
// Byte order follows the header: addresses network order (IPv4 v4-mapped in 16 bytes),
// everything else little-endian host order.
import { formatAddress, parseAddress, parsePrefix, toMapped16 } from "../net/cidr.ts";

export const MAX_RULES = 64;
export const RULE_PORT_RANGES = 4;
export const MAX_SOURCE_SETS = 64;
export const MGMT_PORTS = 8;
export const PROTO_CLASSES = 4;
export const REASON_SLOTS = 32;
export const NO_RULESET = 0xffffffff;
export const NO_RULE = 0xffffffff;
export const TOKEN_SCALE = 1_000_000_000n;
/** Longest life of a per-source cached list verdict (PP_CACHE_TTL_NS). */
export const CACHE_TTL_NS = 250_000_000n;
/** u64 words of the IPv6 prefix-length bitmap (PP_LENS_V6_WORDS). */
export const LENS_V6_WORDS = 3;

/** pp_svc_ports (pp_abi.h, "Service index"): TCP ports, then UDP ports (PP_PORT_*). */
export const PORT_KEYS = 2 << 16;
export const PORT_UDP = 1 << 16;
/** pp_svc_ports value: no service on the port. 0 looks in pp_services, n > 0 is slot n - 1. */
export const PORT_NONE = 0xffffffff;

/** Entries of pp_{allow,block}_v4_sum (PP_SUM_WORDS): two bits for each /24, 32 to a u64. */
export const SUM_WORDS = 1 << 19;
/** The states of a /24 in an IPv4 summary (PP_SUM_*); zero probes, so an unwritten map is safe. */
export const SumState = { PROBE: 0, NONE: 1, MATCH: 2 } as const;
/** Ways per set of pp_src_table (PP_SRC_WAYS). */
export const SRC_WAYS = 4;
/** u64 hash seeds of pp_src_table in pp_config (PP_SRC_SEEDS). */
export const SRC_SEEDS = 6;

/** max_entries compiled into the object; the loader overrides them from configuration. */
export const DEFAULT_MAX_ENTRIES = {
	backends: 1024,
	rulesets: 2048,
	ruleSlots: 65536,
	listEntries: 262144,
	bans: 65536,
	srcsetEntries: 262144,
	services: 4096,
	srcLimits: 131072,
	srcSets: 32768,
	mgmtEntries: 256,
	eventsBytes: 256 * 1024,
	l7Sessions: 65536,
	mcFlows: 65536,
	dynBans: 65536,
	connSources: 32768,
} as const;

/** Allowed QUIC versions per backend (PP_L7_QUIC_VERSIONS). */
export const L7_QUIC_VERSIONS = 4;
/** Connections tracked per source in pp_conns (PP_CONN_SLOTS): the highest maxConnectionsPerIp. */
export const CONN_SLOTS = 16;
export const QUIC_V1 = 0x00000001;
export const QUIC_V2 = 0x6b3343cf;

export const MAP_NAMES = [
	"pp_config",
	"pp_mgmt_v4",
	"pp_mgmt_v6",
	"pp_allow_v4",
	"pp_allow_v6",
	"pp_block_v4",
	"pp_block_v6",
	"pp_allow_v4_sum",
	"pp_block_v4_sum",
	"pp_bans",
	"pp_srcset_v4",
	"pp_srcset_v6",
	"pp_services",
	"pp_svc_ports",
	"pp_svc_slots",
	"pp_rulesets",
	"pp_src_table",
	"pp_src_limits",
	"pp_global_bkt",
	"pp_reason_ctrs",
	"pp_rule_ctrs",
	"pp_backend_ctrs",
	"pp_reflect_ports",
	"pp_events",
	"pp_event_ctrs",
	"pp_l7_cfgs",
	"pp_l7_sessions",
	"pp_mc_syns",
	"pp_mc_flows",
	"pp_dyn_bans",
	"pp_clock",
	"pp_scratch",
	"pp_state",
	"pp_syn_cfg",
	"pp_conns",
] as const;
export type MapName = (typeof MAP_NAMES)[number];

/** The keyed maps (hash and LPM) whose contents the reconciler owns entirely. */
export const KEYED_CONTENT_MAPS = [
	"pp_mgmt_v4",
	"pp_mgmt_v6",
	"pp_allow_v4",
	"pp_allow_v6",
	"pp_block_v4",
	"pp_block_v6",
	"pp_bans",
	"pp_srcset_v4",
	"pp_srcset_v6",
	"pp_services",
] as const satisfies readonly MapName[];

/** Key and value C types of each map (ring buffers have neither). */
export const MAP_TYPES: Record<MapName, { key: string; value: string } | null> = {
	pp_config: { key: "__u32", value: "pp_config" },
	pp_mgmt_v4: { key: "pp_lpm_v4_key", value: "__u32" },
	pp_mgmt_v6: { key: "pp_lpm_v6_key", value: "__u32" },
	pp_allow_v4: { key: "pp_lpm_v4_key", value: "pp_list_entry" },
	pp_allow_v6: { key: "pp_lpm_v6_key", value: "pp_list_entry" },
	pp_block_v4: { key: "pp_lpm_v4_key", value: "pp_list_entry" },
	pp_block_v6: { key: "pp_lpm_v6_key", value: "pp_list_entry" },
	pp_allow_v4_sum: { key: "__u32", value: "__u64" },
	pp_block_v4_sum: { key: "__u32", value: "__u64" },
	pp_bans: { key: "pp_addr", value: "__u64" },
	pp_srcset_v4: { key: "pp_lpm_v4_key", value: "__u64" },
	pp_srcset_v6: { key: "pp_lpm_v6_key", value: "__u64" },
	pp_services: { key: "pp_service_key", value: "pp_service" },
	pp_svc_ports: { key: "__u32", value: "__u32" },
	pp_svc_slots: { key: "__u32", value: "pp_svc_slot" },
	pp_rulesets: { key: "__u32", value: "pp_ruleset" },
	pp_src_table: { key: "__u32", value: "pp_src_set" },
	pp_src_limits: { key: "pp_src_key", value: "pp_src_state" },
	pp_global_bkt: { key: "__u32", value: "pp_bucket" },
	pp_reason_ctrs: { key: "__u32", value: "pp_ctr" },
	pp_rule_ctrs: { key: "__u32", value: "pp_rule_ctr" },
	pp_backend_ctrs: { key: "__u32", value: "pp_backend_ctr" },
	pp_reflect_ports: { key: "__u32", value: "__u8" },
	pp_events: null,
	pp_event_ctrs: { key: "__u32", value: "pp_event_ctr" },
	pp_l7_cfgs: { key: "__u32", value: "pp_l7_cfg" },
	pp_l7_sessions: { key: "pp_src_key", value: "__u64" },
	pp_mc_syns: { key: "pp_flow_key", value: "__u64" },
	pp_mc_flows: { key: "pp_flow_key", value: "pp_mc_flow" },
	pp_dyn_bans: { key: "pp_addr", value: "__u64" },
	pp_clock: { key: "__u32", value: "pp_clock" },
	pp_scratch: { key: "__u32", value: "pp_src_way" },
	pp_state: { key: "__u32", value: "pp_state" },
	pp_syn_cfg: { key: "__u32", value: "pp_syn_cfg" },
	pp_conns: { key: "pp_src_key", value: "pp_conn_slots" },
};

export const PROGRAM_NAME = "pp_xdp";

export const Reason = {
	PASS: 0,
	NO_SERVICE: 1,
	NON_IP: 2,
	MGMT: 3,
	ALLOW: 4,
	BAN: 5,
	BLOCK: 6,
	RULE_ALLOW: 7,
	RULE_DROP: 8,
	RULE_RATELIMIT: 9,
	RATELIMIT: 10,
	GLOBAL_RATELIMIT: 11,
	INVALID: 12,
	FRAGMENT: 13,
	REFLECTION: 14,
	CHALLENGE: 15,
	REDIRECT: 16,
	MC_HANDSHAKE: 17,
	RAKNET: 18,
	QUIC: 19,
	SYN_COOKIE: 20,
	CONN_RATELIMIT: 21,
	COOKIE_ACK: 22,
	COOKIE_BAD: 23,
	MAX_CONNS: 24,
	COUNT: 25,
} as const;
export type ReasonName = Exclude<keyof typeof Reason, "COUNT">;
export const REASON_NAMES: ReasonName[] = (Object.keys(Reason) as (keyof typeof Reason)[]).filter(
	(k): k is ReasonName => k !== "COUNT",
);

export const Level = { OFF: 0, LOW: 1, MEDIUM: 2, HIGH: 3, UNDER_ATTACK: 4 } as const;
export type LevelName = keyof typeof Level;

export const SvcFlag = {
	SRC_LIMIT: 1 << 0,
	GLOBAL_LIMIT: 1 << 1,
	DROP_INVALID: 1 << 2,
	DROP_FRAGMENTS: 1 << 3,
	DROP_REFLECTION: 1 << 4,
	L7_VALIDATE: 1 << 5,
	SYN_COOKIES: 1 << 6,
	CONN_LIMIT: 1 << 7,
	VERIFIED_ONLY: 1 << 8,
	CHALLENGE_NEW: 1 << 9,
	SCOPED_ALLOW: 1 << 16,
	SCOPED_BLOCK: 1 << 17,
} as const;

export const L7 = { NONE: 0, MINECRAFT_JAVA: 1, RAKNET: 2, QUIC: 3, HTTP: 4 } as const;
export const L7Flag = { RAKNET: 1 << 0, QUIC: 1 << 1, MC_JAVA: 1 << 2, MC_LEGACY: 1 << 3 } as const;
/** pp_mc_flow.state */
export const McState = { SYN: 1, STATUS: 2, LOGIN: 3, VALID: 4 } as const;

export const PClass = { TCP: 0, UDP: 1, ICMP: 2, OTHER: 3 } as const;

export const ProtoBit = {
	TCP: 1 << PClass.TCP,
	UDP: 1 << PClass.UDP,
	ICMP: 1 << PClass.ICMP,
	OTHER: 1 << PClass.OTHER,
} as const;

export const Action = {
	NONE: 0,
	ALLOW: 1,
	DROP: 2,
	RATE_LIMIT: 3,
	LOG: 4,
	CHALLENGE: 5,
	REDIRECT: 6,
} as const;

export const RuleFlag = { TCP_FLAGS: 1 << 0 } as const;
export const RulesetFlag = { NEEDS_SOURCE: 1 << 0 } as const;
export const EventKind = { SAMPLE: 1, LOG: 2 } as const;
export const Scope = { GLOBAL: 0, CONN: 0x40000000, RULE: 0x80000000 } as const;
export const CfgFlag = { BANS: 1 << 0 } as const;
export const SynFlag = { XDP: 1 << 0 } as const;
export const CacheFlag = { VALID: 1 << 0, ALLOW: 1 << 1, BAN: 1 << 2, BLOCK: 1 << 3, SETS: 1 << 4 } as const;

export const IPPROTO = { ICMP: 1, TCP: 6, UDP: 17, ICMPV6: 58 } as const;

/** Enums as they appear in BTF (name → C constant → value), for the ABI test. */
export const BTF_ENUMS: Record<string, { size: number; values: Record<string, number> }> = {
	pp_reason: { size: 1, values: prefixed("PP_REASON_", Reason) },
	pp_level: { size: 1, values: prefixed("PP_LEVEL_", Level) },
	pp_svc_flag: { size: 4, values: prefixed("PP_SVC_", SvcFlag) },
	pp_l7: { size: 1, values: prefixed("PP_L7_", L7) },
	pp_l7_flag: { size: 4, values: prefixed("PP_L7F_", L7Flag) },
	pp_mc_state: { size: 4, values: prefixed("PP_MC_", McState) },
	pp_proto_bit: { size: 1, values: prefixed("PP_PROTO_", ProtoBit) },
	pp_action: { size: 1, values: prefixed("PP_ACT_", Action) },
	pp_rule_flag: { size: 1, values: prefixed("PP_RULE_", RuleFlag) },
	pp_ruleset_flag: { size: 1, values: prefixed("PP_RS_", RulesetFlag) },
	pp_event_kind: { size: 1, values: prefixed("PP_EVENT_", EventKind) },
	pp_scope: { size: 4, values: prefixed("PP_SCOPE_", Scope) },
	pp_cache_flag: { size: 4, values: prefixed("PP_CACHE_", CacheFlag) },
	pp_cfg_flag: { size: 4, values: prefixed("PP_CFG_", CfgFlag) },
	pp_syn_flag: { size: 4, values: prefixed("PP_SYN_", SynFlag) },
};

function prefixed(prefix: string, values: Record<string, number>): Record<string, number> {
	return Object.fromEntries(Object.entries(values).map(([k, v]) => [prefix + k, v]));
}

/** Members as [offset, size] in bytes; arrays give the whole array's size. */
export const LAYOUT = {
	pp_addr: { size: 16, members: { words: [0, 16] } },
	pp_lpm_v4_key: { size: 12, members: { prefixlen: [0, 4], scope: [4, 4], addr: [8, 4] } },
	pp_lpm_v6_key: { size: 24, members: { prefixlen: [0, 4], scope: [4, 4], addr: [8, 16] } },
	pp_list_entry: { size: 16, members: { expires_ns: [0, 8], reason: [8, 4], entry_id: [12, 4] } },
	pp_limit: { size: 8, members: { rate: [0, 4], burst: [4, 4] } },
	pp_service_key: { size: 20, members: { addr: [0, 16], port: [16, 2], proto: [18, 1], pad: [19, 1] } },
	pp_svc_slot: { size: 68, members: { key: [0, 20], svc: [20, 48] } },
	pp_service: {
		size: 48,
		members: {
			backend: [0, 4],
			flags: [4, 4],
			ruleset: [8, 4],
			level: [12, 1],
			l7: [13, 1],
			pad: [14, 2],
			src_pkt: [16, 8],
			src_byte: [24, 8],
			glob_pkt: [32, 8],
			glob_byte: [40, 8],
		},
	},
	pp_port_range: { size: 4, members: { lo: [0, 2], hi: [2, 2] } },
	pp_rule: {
		size: 56,
		members: {
			src_any: [0, 8],
			src_none: [8, 8],
			dports: [16, 16],
			stats_slot: [32, 4],
			limit: [36, 8],
			action: [44, 1],
			protos: [45, 1],
			nr_dports: [46, 1],
			flags: [47, 1],
			tcp_flags_mask: [48, 1],
			tcp_flags_value: [49, 1],
			pad: [50, 6],
		},
	},
	pp_ruleset: {
		size: 4144,
		members: {
			count: [0, 4],
			flags: [4, 1],
			pad: [5, 3],
			unsourced: [8, 8],
			by_proto: [16, 32],
			by_set: [48, 512],
			rules: [560, 3584],
		},
	},
	pp_prefix_lens: { size: 32, members: { v4: [0, 8], v6: [8, 24] } },
	pp_config: {
		size: 184,
		members: {
			sample_rate: [0, 4],
			src_set_mask: [4, 4],
			list_gen: [8, 4],
			nr_mgmt_ports: [12, 4],
			mgmt_ports: [16, 16],
			allow_lens: [32, 32],
			block_lens: [64, 32],
			srcset_lens: [96, 32],
			flags: [128, 4],
			pad: [132, 4],
			src_seed: [136, 48],
		},
	},
	pp_bucket: { size: 24, members: { pkt_tokens: [0, 8], byte_tokens: [8, 8], last_ns: [16, 8] } },
	pp_l7_cfg: {
		size: 64,
		members: {
			flags: [0, 4],
			nr_quic_versions: [4, 4],
			quic_versions: [8, 16],
			session_ns: [24, 8],
			mc_min_proto: [32, 4],
			mc_max_proto: [36, 4],
			ban_ns: [40, 8],
			conn: [48, 8],
			max_conns: [56, 4],
			pad: [60, 4],
		},
	},
	pp_flow_key: { size: 24, members: { backend: [0, 4], sport: [4, 2], pad: [6, 2], src: [8, 16] } },
	pp_mc_flow: { size: 16, members: { state: [0, 4], seq: [4, 4], last_ns: [8, 8] } },
	pp_conn_slots: { size: 160, members: { last_ns: [0, 128], ports: [128, 32] } },
	pp_state: { size: 8, members: { dyn_bans: [0, 4], pad: [4, 4] } },
	pp_clock: { size: 16, members: { jiffies: [0, 8], ns: [8, 8] } },
	pp_syn_cfg: {
		size: 12,
		members: { flags: [0, 4], mss4: [4, 2], mss6: [6, 2], wscale: [8, 1], ttl: [9, 1], pad: [10, 2] },
	},
	pp_src_key: { size: 20, members: { scope: [0, 4], addr: [4, 16] } },
	pp_src_state: {
		size: 72,
		members: {
			bucket: [0, 24],
			packets: [24, 8],
			bytes: [32, 8],
			drops: [40, 8],
			src_sets: [48, 8],
			cache_until_ns: [56, 8],
			list_gen: [64, 4],
			cache: [68, 4],
		},
	},
	pp_src_way: { size: 104, members: { tag: [0, 4], check: [4, 4], key: [8, 20], pad: [28, 4], st: [32, 72] } },
	pp_src_set: { size: 416, members: { way: [0, 416] } },
	pp_ctr: { size: 16, members: { packets: [0, 8], bytes: [8, 8] } },
	pp_rule_ctr: { size: 24, members: { packets: [0, 8], bytes: [8, 8], last_match_ns: [16, 8] } },
	pp_event_ctr: { size: 16, members: { emitted: [0, 8], lost: [8, 8] } },
	pp_class_ctr: { size: 16, members: { packets: [0, 8], drops: [8, 8] } },
	pp_backend_ctr: {
		size: 128,
		members: {
			rx_packets: [0, 8],
			rx_bytes: [8, 8],
			pass_packets: [16, 8],
			pass_bytes: [24, 8],
			drop_packets: [32, 8],
			drop_bytes: [40, 8],
			syn: [48, 16],
			ack: [64, 16],
			udp: [80, 16],
			icmp: [96, 16],
			frag: [112, 16],
		},
	},
	pp_event: {
		size: 64,
		members: {
			ts_ns: [0, 8],
			src: [8, 16],
			dst: [24, 16],
			backend: [40, 4],
			rule_slot: [44, 4],
			pkt_len: [48, 4],
			sport: [52, 2],
			dport: [54, 2],
			proto: [56, 1],
			verdict: [57, 1],
			reason: [58, 1],
			kind: [59, 1],
			vlan: [60, 2],
			pad: [62, 2],
		},
	},
} as const satisfies Record<string, { size: number; members: Record<string, readonly [number, number]> }>;

type StructName = keyof typeof LAYOUT;
function off<S extends StructName>(s: S, m: keyof (typeof LAYOUT)[S]["members"]): number {
	const members = LAYOUT[s].members as Record<string, readonly [number, number]>;
	return (members[m as string] as readonly [number, number])[0];
}

function view(size: number): [Uint8Array, DataView] {
	const buf = new Uint8Array(size);
	return [buf, new DataView(buf.buffer)];
}

function dv(buf: Uint8Array): DataView {
	return new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
}

// ---- addresses -------------------------------------------------------------------------

export type Family = 4 | 6;

export interface Cidr {
	family: Family;
	/** 4 or 16 bytes, network order, host bits cleared. */
	addr: Uint8Array;
	prefix: number;
}

// Parsing and formatting live in src/net/cidr.ts; these adapt them to the kernel's shapes.

export function parseIp(s: string): { family: Family; addr: Uint8Array } {
	const { family, bytes } = parseAddress(s);
	return { family, addr: bytes };
}

export function parseCidr(s: string): Cidr {
	const p = parsePrefix(s);
	return { family: p.family, addr: p.bytes, prefix: p.prefixLength };
}

/** The 16-byte form the kernel keys bans and services with (IPv4 as ::ffff:a.b.c.d). */
export function addr16(ip: string | Uint8Array): Uint8Array {
	return new Uint8Array(toMapped16(typeof ip === "string" ? parseAddress(ip).bytes : ip));
}

export function formatAddr16(a: Uint8Array): string {
	const isMapped = a.subarray(0, 10).every((b) => b === 0) && a[10] === 0xff && a[11] === 0xff;
	return formatAddress(isMapped ? a.subarray(12, 16) : a);
}

// ---- keys and values -------------------------------------------------------------------

/**
 * Prefix key (management LPM tries and the prefix-list hash maps) for a prefix; scope 0 = global,
 * else a backend index. Choose the _v4/_v6 map by family. Host bits must be clear (parseCidr
 * clears them): the lists are exact-match per length.
 */
export function encodeLpmKey(cidr: Cidr | string, scope = 0): Uint8Array {
	const c = typeof cidr === "string" ? parseCidr(cidr) : cidr;
	const [buf, v] = view(c.family === 4 ? LAYOUT.pp_lpm_v4_key.size : LAYOUT.pp_lpm_v6_key.size);
	v.setUint32(off("pp_lpm_v4_key", "prefixlen"), 32 + c.prefix, true);
	v.setUint32(off("pp_lpm_v4_key", "scope"), scope, true);
	buf.set(c.addr, off("pp_lpm_v4_key", "addr"));
	return buf;
}

export function decodeLpmKey(buf: Uint8Array): { cidr: Cidr; scope: number } {
	const v = dv(buf);
	const family: Family = buf.length === LAYOUT.pp_lpm_v4_key.size ? 4 : 6;
	const a = off("pp_lpm_v4_key", "addr");
	return {
		cidr: { family, addr: buf.slice(a, a + (family === 4 ? 4 : 16)), prefix: v.getUint32(0, true) - 32 },
		scope: v.getUint32(off("pp_lpm_v4_key", "scope"), true),
	};
}

/** The family and prefix length of a prefix key. */
export function lpmKeyLength(key: Uint8Array): { family: Family; length: number } {
	return {
		family: key.length === LAYOUT.pp_lpm_v4_key.size ? 4 : 6,
		length: dv(key).getUint32(off("pp_lpm_v4_key", "prefixlen"), true) - 32,
	};
}

export interface ListEntry {
	/** CLOCK_MONOTONIC ns (monotonicNowNs), 0n = never. */
	expiresNs: bigint;
	reason: number;
	entryId: number;
}

export function encodeListEntry(e: ListEntry): Uint8Array {
	const [buf, v] = view(LAYOUT.pp_list_entry.size);
	v.setBigUint64(off("pp_list_entry", "expires_ns"), e.expiresNs, true);
	v.setUint32(off("pp_list_entry", "reason"), e.reason, true);
	v.setUint32(off("pp_list_entry", "entry_id"), e.entryId, true);
	return buf;
}

export function decodeListEntry(buf: Uint8Array): ListEntry {
	const v = dv(buf);
	return {
		expiresNs: v.getBigUint64(off("pp_list_entry", "expires_ns"), true),
		reason: v.getUint32(off("pp_list_entry", "reason"), true),
		entryId: v.getUint32(off("pp_list_entry", "entry_id"), true),
	};
}

/** Value of the management tries. */
export function encodeMgmtValue(): Uint8Array {
	return u32(1);
}

/** pp_bans key: the exact source. */
export function encodeBanKey(ip: string | Uint8Array): Uint8Array {
	return addr16(ip);
}

export function u32(n: number): Uint8Array {
	const [buf, v] = view(4);
	v.setUint32(0, n, true);
	return buf;
}

export function u64(n: bigint): Uint8Array {
	const [buf, v] = view(8);
	v.setBigUint64(0, n, true);
	return buf;
}

export function readU64(buf: Uint8Array, offset = 0): bigint {
	return dv(buf).getBigUint64(offset, true);
}

/** Source-set mask (pp_srcset_*): bit s set = the prefix belongs to set s. */
export function encodeSetMask(sets: number[]): Uint8Array {
	let mask = 0n;
	for (const s of sets) {
		if (!Number.isInteger(s) || s < 0 || s >= MAX_SOURCE_SETS) throw new RangeError(`source set ${s} out of range`);
		mask |= 1n << BigInt(s);
	}
	return u64(mask);
}

export interface ServiceKey {
	/** null = any local address. */
	addr: string | Uint8Array | null;
	/** 0 = the host entry consulted by packets without ports. */
	port: number;
	proto: number;
}

export function encodeServiceKey(k: ServiceKey): Uint8Array {
	const [buf, v] = view(LAYOUT.pp_service_key.size);
	if (k.addr !== null) buf.set(addr16(k.addr), off("pp_service_key", "addr"));
	v.setUint16(off("pp_service_key", "port"), k.port, true);
	v.setUint8(off("pp_service_key", "proto"), k.proto);
	return buf;
}

export function decodeServiceKey(buf: Uint8Array): { addr: string | null; port: number; proto: number } {
	const v = dv(buf);
	const addr = buf.subarray(off("pp_service_key", "addr"), off("pp_service_key", "addr") + 16);
	return {
		addr: addr.every((b) => b === 0) ? null : formatAddr16(addr),
		port: v.getUint16(off("pp_service_key", "port"), true),
		proto: v.getUint8(off("pp_service_key", "proto")),
	};
}

export interface Limit {
	/** Per second; 0 = unlimited. */
	rate: number;
	/** Bucket depth; 0 = one second of rate. */
	burst: number;
}

export interface ServiceValue {
	backend: number;
	flags: number;
	ruleset: number;
	level: number;
	l7: number;
	srcPkt: Limit;
	srcByte: Limit;
	globPkt: Limit;
	globByte: Limit;
}

function setLimit(v: DataView, at: number, l: Limit): void {
	v.setUint32(at, l.rate, true);
	v.setUint32(at + 4, l.burst, true);
}

function getLimit(v: DataView, at: number): Limit {
	return { rate: v.getUint32(at, true), burst: v.getUint32(at + 4, true) };
}

export function encodeService(s: ServiceValue): Uint8Array {
	const [buf, v] = view(LAYOUT.pp_service.size);
	v.setUint32(off("pp_service", "backend"), s.backend, true);
	v.setUint32(off("pp_service", "flags"), s.flags, true);
	v.setUint32(off("pp_service", "ruleset"), s.ruleset, true);
	v.setUint8(off("pp_service", "level"), s.level);
	v.setUint8(off("pp_service", "l7"), s.l7);
	setLimit(v, off("pp_service", "src_pkt"), s.srcPkt);
	setLimit(v, off("pp_service", "src_byte"), s.srcByte);
	setLimit(v, off("pp_service", "glob_pkt"), s.globPkt);
	setLimit(v, off("pp_service", "glob_byte"), s.globByte);
	return buf;
}

export function decodeService(buf: Uint8Array): ServiceValue {
	const v = dv(buf);
	return {
		backend: v.getUint32(off("pp_service", "backend"), true),
		flags: v.getUint32(off("pp_service", "flags"), true),
		ruleset: v.getUint32(off("pp_service", "ruleset"), true),
		level: v.getUint8(off("pp_service", "level")),
		l7: v.getUint8(off("pp_service", "l7")),
		srcPkt: getLimit(v, off("pp_service", "src_pkt")),
		srcByte: getLimit(v, off("pp_service", "src_byte")),
		globPkt: getLimit(v, off("pp_service", "glob_pkt")),
		globByte: getLimit(v, off("pp_service", "glob_byte")),
	};
}

export interface CompiledRule {
	/** Source must be in one of these sets (bit = set index); 0n = any source. */
	srcAny: bigint;
	/** ...and in none of these. */
	srcNone: bigint;
	/** Destination port ranges, inclusive; empty = any port. At most RULE_PORT_RANGES. */
	dports: { lo: number; hi: number }[];
	/** Index into pp_rule_ctrs, stable for the rule's lifetime. */
	statsSlot: number;
	action: number;
	/** Mask of ProtoBit; 0 = any protocol. */
	protos: number;
	/** RATE_LIMIT: packets/s per source. */
	limit?: Limit;
	/** Match (tcp flags byte & mask) == value; TCP only. */
	tcpFlags?: { mask: number; value: number };
}

function encodeRule(v: DataView, at: number, r: CompiledRule): void {
	if (r.dports.length > RULE_PORT_RANGES) throw new RangeError(`at most ${RULE_PORT_RANGES} port ranges per rule`);
	const o = (m: keyof (typeof LAYOUT)["pp_rule"]["members"]) => at + off("pp_rule", m);
	v.setBigUint64(o("src_any"), r.srcAny, true);
	v.setBigUint64(o("src_none"), r.srcNone, true);
	r.dports.forEach((p, i) => {
		v.setUint16(o("dports") + i * LAYOUT.pp_port_range.size + off("pp_port_range", "lo"), p.lo, true);
		v.setUint16(o("dports") + i * LAYOUT.pp_port_range.size + off("pp_port_range", "hi"), p.hi, true);
	});
	v.setUint32(o("stats_slot"), r.statsSlot, true);
	setLimit(v, o("limit"), r.limit ?? { rate: 0, burst: 0 });
	v.setUint8(o("action"), r.action);
	v.setUint8(o("protos"), r.protos);
	v.setUint8(o("nr_dports"), r.dports.length);
	v.setUint8(o("flags"), r.tcpFlags ? RuleFlag.TCP_FLAGS : 0);
	v.setUint8(o("tcp_flags_mask"), r.tcpFlags?.mask ?? 0);
	v.setUint8(o("tcp_flags_value"), r.tcpFlags?.value ?? 0);
}

/**
 * One backend's rules in priority order (first = highest), with the prefilter masks the
 * program uses to skip rules that cannot match. Write it to a spare pp_rulesets slot and
 * then point the services at it, so the program never sees a half-written set.
 */
export function encodeRuleset(rules: CompiledRule[]): Uint8Array {
	if (rules.length > MAX_RULES) throw new RangeError(`at most ${MAX_RULES} rules per backend`);
	const [buf, v] = view(LAYOUT.pp_ruleset.size);
	let unsourced = 0n;
	let needsSource = false;
	const byProto = Array<bigint>(PROTO_CLASSES).fill(0n);
	const bySet = Array<bigint>(MAX_SOURCE_SETS).fill(0n);
	rules.forEach((r, i) => {
		const bit = 1n << BigInt(i);
		if (r.srcAny === 0n) unsourced |= bit;
		if (r.srcAny !== 0n || r.srcNone !== 0n) needsSource = true;
		for (let c = 0; c < PROTO_CLASSES; c++)
			if (r.protos === 0 || r.protos & (1 << c)) byProto[c] = (byProto[c] as bigint) | bit;
		for (let s = 0; s < MAX_SOURCE_SETS; s++) if ((r.srcAny >> BigInt(s)) & 1n) bySet[s] = (bySet[s] as bigint) | bit;
		encodeRule(v, off("pp_ruleset", "rules") + i * LAYOUT.pp_rule.size, r);
	});
	v.setUint32(off("pp_ruleset", "count"), rules.length, true);
	v.setUint8(off("pp_ruleset", "flags"), needsSource ? RulesetFlag.NEEDS_SOURCE : 0);
	v.setBigUint64(off("pp_ruleset", "unsourced"), unsourced, true);
	byProto.forEach((m, c) => {
		v.setBigUint64(off("pp_ruleset", "by_proto") + c * 8, m, true);
	});
	bySet.forEach((m, s) => {
		v.setBigUint64(off("pp_ruleset", "by_set") + s * 8, m, true);
	});
	return buf;
}

export interface Config {
	/** 1 in N drops become events; 0 = none. */
	sampleRate: number;
	/** pp_src_table's hash: SRC_SEEDS random u64 seeds and its set count - 1 (see src-table.ts). */
	srcHash?: SrcHash;
	/**
	 * Generation of the allow/ban/block/source-set maps (default 0). Increment it (mod 2^32)
	 * after changing them so the change applies from the next packet; otherwise sources
	 * already seen keep their cached verdict for up to CACHE_TTL_NS.
	 */
	listGen?: number;
	/** Management TCP ports (SSH, API/UI), at most MGMT_PORTS. */
	mgmtPorts: number[];
	/**
	 * The prefix lengths each list holds, in any scope (default none). The program probes only
	 * these, longest first: write a list's entries before publishing a new length.
	 */
	prefixLengths?: ListPrefixLengths;
	/** pp_bans holds entries (CfgFlag.BANS); without it the program never probes pp_bans. */
	bans?: boolean;
}

/** Prefix lengths present in one list, per family (pp_prefix_lens). */
export interface PrefixLengths {
	v4: number[];
	v6: number[];
}

export interface ListPrefixLengths {
	allow: PrefixLengths;
	block: PrefixLengths;
	srcset: PrefixLengths;
}

const noLengths = (): PrefixLengths => ({ v4: [], v6: [] });
export const NO_PREFIX_LENGTHS: ListPrefixLengths = { allow: noLengths(), block: noLengths(), srcset: noLengths() };

/** The lengths of the keys of a v4 and a v6 prefix map. */
export function prefixLengthsOf(keys: Iterable<Uint8Array>): PrefixLengths {
	const v4 = new Set<number>();
	const v6 = new Set<number>();
	for (const k of keys) {
		const { family, length } = lpmKeyLength(k);
		(family === 4 ? v4 : v6).add(length);
	}
	return { v4: [...v4].sort((a, b) => b - a), v6: [...v6].sort((a, b) => b - a) };
}

function encodeLens(v: DataView, at: number, l: PrefixLengths): void {
	let v4 = 0n;
	for (const n of l.v4) {
		if (!Number.isInteger(n) || n < 0 || n > 32) throw new RangeError(`IPv4 prefix length ${n}`);
		v4 |= 1n << BigInt(n);
	}
	const v6 = Array<bigint>(LENS_V6_WORDS).fill(0n);
	for (const n of l.v6) {
		if (!Number.isInteger(n) || n < 0 || n > 128) throw new RangeError(`IPv6 prefix length ${n}`);
		v6[n >> 6] = (v6[n >> 6] as bigint) | (1n << BigInt(n & 63));
	}
	v.setBigUint64(at + off("pp_prefix_lens", "v4"), v4, true);
	v6.forEach((w, i) => {
		v.setBigUint64(at + off("pp_prefix_lens", "v6") + i * 8, w, true);
	});
}

function decodeLens(v: DataView, at: number): PrefixLengths {
	const bits = (word: bigint, base: number, max: number) =>
		Array.from({ length: 64 }, (_, i) => i)
			.filter((i) => base + i <= max && (word >> BigInt(i)) & 1n)
			.map((i) => base + i);
	const v6: number[] = [];
	for (let w = 0; w < LENS_V6_WORDS; w++)
		v6.push(...bits(v.getBigUint64(at + off("pp_prefix_lens", "v6") + w * 8, true), w * 64, 128));
	return {
		v4: bits(v.getBigUint64(at + off("pp_prefix_lens", "v4"), true), 0, 32).sort((a, b) => b - a),
		v6: v6.sort((a, b) => b - a),
	};
}

export function encodeConfig(c: Config): Uint8Array {
	if (c.mgmtPorts.length > MGMT_PORTS) throw new RangeError(`at most ${MGMT_PORTS} management ports`);
	const [buf, v] = view(LAYOUT.pp_config.size);
	v.setUint32(off("pp_config", "sample_rate"), c.sampleRate, true);
	v.setUint32(off("pp_config", "src_set_mask"), c.srcHash?.setMask ?? 0, true);
	c.srcHash?.seeds.forEach((seed, i) => {
		v.setBigUint64(off("pp_config", "src_seed") + i * 8, seed, true);
	});
	v.setUint32(off("pp_config", "list_gen"), (c.listGen ?? 0) >>> 0, true);
	v.setUint32(off("pp_config", "nr_mgmt_ports"), c.mgmtPorts.length, true);
	c.mgmtPorts.forEach((p, i) => {
		v.setUint16(off("pp_config", "mgmt_ports") + i * 2, p, true);
	});
	const lens = c.prefixLengths ?? NO_PREFIX_LENGTHS;
	encodeLens(v, off("pp_config", "allow_lens"), lens.allow);
	encodeLens(v, off("pp_config", "block_lens"), lens.block);
	encodeLens(v, off("pp_config", "srcset_lens"), lens.srcset);
	v.setUint32(off("pp_config", "flags"), c.bans ? CfgFlag.BANS : 0, true);
	return buf;
}

export function decodeConfig(buf: Uint8Array): Required<Config> {
	const v = dv(buf);
	const n = v.getUint32(off("pp_config", "nr_mgmt_ports"), true);
	return {
		sampleRate: v.getUint32(off("pp_config", "sample_rate"), true),
		srcHash: {
			setMask: v.getUint32(off("pp_config", "src_set_mask"), true),
			seeds: Array.from({ length: SRC_SEEDS }, (_, i) => v.getBigUint64(off("pp_config", "src_seed") + i * 8, true)),
		},
		listGen: v.getUint32(off("pp_config", "list_gen"), true),
		mgmtPorts: Array.from({ length: Math.min(n, MGMT_PORTS) }, (_, i) =>
			v.getUint16(off("pp_config", "mgmt_ports") + i * 2, true),
		),
		prefixLengths: {
			allow: decodeLens(v, off("pp_config", "allow_lens")),
			block: decodeLens(v, off("pp_config", "block_lens")),
			srcset: decodeLens(v, off("pp_config", "srcset_lens")),
		},
		bans: (v.getUint32(off("pp_config", "flags"), true) & CfgFlag.BANS) !== 0,
	};
}

/** A backend's protocol checks (pp_l7_cfgs), applied at levels with SvcFlag.L7_VALIDATE. */
export interface L7Config {
	/** L7Flag bits. */
	flags: number;
	/** Allowed QUIC versions, at most L7_QUIC_VERSIONS. */
	quicVersions: number[];
	/** How long a RakNet/QUIC session stays open after its last use. */
	sessionNs: bigint;
	/** Minecraft Java protocol versions allowed (inclusive); default any. */
	mcMinProto?: number;
	mcMaxProto?: number;
	/** An invalid Minecraft Java handshake bans its source this long (pp_dyn_bans); 0n = no ban. */
	banNs?: bigint;
	/** New TCP connections (SYNs) per second per source, at levels with SvcFlag.CONN_LIMIT. */
	conn?: Limit;
	/** Concurrent Java flows / RakNet sessions per source, 1 to CONN_SLOTS; 0 or absent = unlimited. */
	maxConns?: number;
}

export function encodeL7Config(c: L7Config): Uint8Array {
	if (c.quicVersions.length > L7_QUIC_VERSIONS) throw new RangeError(`at most ${L7_QUIC_VERSIONS} QUIC versions`);
	const [buf, v] = view(LAYOUT.pp_l7_cfg.size);
	v.setUint32(off("pp_l7_cfg", "flags"), c.flags, true);
	v.setUint32(off("pp_l7_cfg", "nr_quic_versions"), c.quicVersions.length, true);
	c.quicVersions.forEach((q, i) => {
		v.setUint32(off("pp_l7_cfg", "quic_versions") + i * 4, q >>> 0, true);
	});
	v.setBigUint64(off("pp_l7_cfg", "session_ns"), c.sessionNs, true);
	v.setUint32(off("pp_l7_cfg", "mc_min_proto"), c.mcMinProto ?? 0, true);
	v.setUint32(off("pp_l7_cfg", "mc_max_proto"), c.mcMaxProto ?? 0xffffffff, true);
	v.setBigUint64(off("pp_l7_cfg", "ban_ns"), c.banNs ?? 0n, true);
	setLimit(v, off("pp_l7_cfg", "conn"), c.conn ?? { rate: 0, burst: 0 });
	if ((c.maxConns ?? 0) > CONN_SLOTS) throw new RangeError(`at most ${CONN_SLOTS} connections per source`);
	v.setUint32(off("pp_l7_cfg", "max_conns"), c.maxConns ?? 0, true);
	return buf;
}

/** How the program answers SYNs (pp_syn_cfg[0]). */
export interface SynConfig {
	/** Answer SYNs from XDP; only while the nftables SYNPROXY holds every protected port. */
	xdp: boolean;
	mss4: number;
	mss6: number;
	/** Window scale offered in SYN-ACKs; SYNPROXY is configured with the same. */
	wscale: number;
	ttl: number;
}

export function encodeSynConfig(c: SynConfig): Uint8Array {
	const [buf, v] = view(LAYOUT.pp_syn_cfg.size);
	v.setUint32(off("pp_syn_cfg", "flags"), c.xdp ? SynFlag.XDP : 0, true);
	v.setUint16(off("pp_syn_cfg", "mss4"), c.mss4, true);
	v.setUint16(off("pp_syn_cfg", "mss6"), c.mss6, true);
	v.setUint8(off("pp_syn_cfg", "wscale"), c.wscale);
	v.setUint8(off("pp_syn_cfg", "ttl"), c.ttl);
	return buf;
}

export function decodeSynConfig(buf: Uint8Array): SynConfig {
	const v = dv(buf);
	return {
		xdp: (v.getUint32(off("pp_syn_cfg", "flags"), true) & SynFlag.XDP) !== 0,
		mss4: v.getUint16(off("pp_syn_cfg", "mss4"), true),
		mss6: v.getUint16(off("pp_syn_cfg", "mss6"), true),
		wscale: v.getUint8(off("pp_syn_cfg", "wscale")),
		ttl: v.getUint8(off("pp_syn_cfg", "ttl")),
	};
}

/** The keyed hash of pp_src_table (pp_abi.h, "Source table"). */
export interface SrcHash {
	/** SRC_SEEDS u64 seeds. */
	seeds: readonly bigint[];
	/** Sets in pp_src_table - 1: a power of two - 1. */
	setMask: number;
}

/** pp_src_limits key: a rule or connection scope (Scope.RULE | a rule's stats slot,
 * Scope.CONN | a backend index); pp_src_table ways: a backend index. */
export function encodeSrcKey(scope: number, ip: string | Uint8Array): Uint8Array {
	const [buf, v] = view(LAYOUT.pp_src_key.size);
	v.setUint32(off("pp_src_key", "scope"), scope >>> 0, true);
	buf.set(addr16(ip), off("pp_src_key", "addr"));
	return buf;
}

export function decodeSrcKey(buf: Uint8Array): { scope: number; addr: string } {
	const a = off("pp_src_key", "addr");
	return { scope: dv(buf).getUint32(off("pp_src_key", "scope"), true), addr: formatAddr16(buf.subarray(a, a + 16)) };
}

export interface SrcState {
	pktTokens: bigint;
	byteTokens: bigint;
	lastNs: bigint;
	/** Backend scope: every packet of the source to the backend; rule scope: packets the rule's bucket saw. */
	packets: bigint;
	bytes: bigint;
	/** Rate-limit drops. */
	drops: bigint;
	/** Cached list verdict (CacheFlag bits), its source sets, expiry and generation. */
	cache: number;
	srcSets: bigint;
	cacheUntilNs: bigint;
	listGen: number;
}

export function decodeSrcState(buf: Uint8Array): SrcState {
	const v = dv(buf);
	const b = off("pp_src_state", "bucket");
	return {
		pktTokens: v.getBigUint64(b + off("pp_bucket", "pkt_tokens"), true),
		byteTokens: v.getBigUint64(b + off("pp_bucket", "byte_tokens"), true),
		lastNs: v.getBigUint64(b + off("pp_bucket", "last_ns"), true),
		packets: v.getBigUint64(off("pp_src_state", "packets"), true),
		bytes: v.getBigUint64(off("pp_src_state", "bytes"), true),
		drops: v.getBigUint64(off("pp_src_state", "drops"), true),
		cache: v.getUint32(off("pp_src_state", "cache"), true),
		srcSets: v.getBigUint64(off("pp_src_state", "src_sets"), true),
		cacheUntilNs: v.getBigUint64(off("pp_src_state", "cache_until_ns"), true),
		listGen: v.getUint32(off("pp_src_state", "list_gen"), true),
	};
}

/** A way of pp_src_table: tag 0 = free. */
export interface SrcWay {
	tag: number;
	check: number;
	scope: number;
	addr: string;
	state: SrcState;
}

/** The way at byte offset at of a pp_src_set array (one set, or the whole mmapped table). */
export function decodeSrcWay(buf: Uint8Array, at = 0): SrcWay {
	const v = new DataView(buf.buffer, buf.byteOffset + at, LAYOUT.pp_src_way.size);
	const key = off("pp_src_way", "key");
	const st = off("pp_src_way", "st");
	const way = buf.subarray(at, at + LAYOUT.pp_src_way.size);
	return {
		tag: v.getUint32(off("pp_src_way", "tag"), true),
		check: v.getUint32(off("pp_src_way", "check"), true),
		...decodeSrcKey(way.subarray(key, key + LAYOUT.pp_src_key.size)),
		state: decodeSrcState(way.subarray(st, st + LAYOUT.pp_src_state.size)),
	};
}

// ---- counters (per-CPU values are summed by the caller with sumPerCpu) -------------------

export interface Ctr {
	packets: bigint;
	bytes: bigint;
}

export function decodeCtr(buf: Uint8Array): Ctr {
	const v = dv(buf);
	return {
		packets: v.getBigUint64(off("pp_ctr", "packets"), true),
		bytes: v.getBigUint64(off("pp_ctr", "bytes"), true),
	};
}

export interface RuleCtr {
	packets: bigint;
	bytes: bigint;
	lastMatchNs: bigint;
}

export function decodeRuleCtr(buf: Uint8Array): RuleCtr {
	const v = dv(buf);
	return {
		packets: v.getBigUint64(off("pp_rule_ctr", "packets"), true),
		bytes: v.getBigUint64(off("pp_rule_ctr", "bytes"), true),
		lastMatchNs: v.getBigUint64(off("pp_rule_ctr", "last_match_ns"), true),
	};
}

/**
 * Traffic classes of the per-backend counters (pp_backend_ctr members): TCP SYN without ACK,
 * other TCP (ACKs, data, FIN, RST), UDP, ICMP and ICMPv6, IP fragments. A packet is in at most
 * one; ICMP counts for the lowest-numbered backend listening on the address.
 */
export const TRAFFIC_CLASSES = ["syn", "ack", "udp", "icmp", "frag"] as const;
export type TrafficClass = (typeof TRAFFIC_CLASSES)[number];
/** Packets and drops of each traffic class, flat so that sumPerCpu adds them. */
export type ClassCounters = { [K in TrafficClass as `${K}Packets` | `${K}Drops`]: bigint };

export interface BackendCtr extends ClassCounters {
	rxPackets: bigint;
	rxBytes: bigint;
	passPackets: bigint;
	passBytes: bigint;
	dropPackets: bigint;
	dropBytes: bigint;
}

/** A backend's counters before any packet. */
export const zeroBackendCtr = (): BackendCtr => decodeBackendCtr(new Uint8Array(LAYOUT.pp_backend_ctr.size));

export function decodeBackendCtr(buf: Uint8Array): BackendCtr {
	const v = dv(buf);
	const g = (m: keyof (typeof LAYOUT)["pp_backend_ctr"]["members"], at = 0) =>
		v.getBigUint64(off("pp_backend_ctr", m) + at, true);
	const classes = {} as ClassCounters;
	for (const c of TRAFFIC_CLASSES) {
		classes[`${c}Packets`] = g(c, off("pp_class_ctr", "packets"));
		classes[`${c}Drops`] = g(c, off("pp_class_ctr", "drops"));
	}
	return {
		rxPackets: g("rx_packets"),
		rxBytes: g("rx_bytes"),
		passPackets: g("pass_packets"),
		passBytes: g("pass_bytes"),
		dropPackets: g("drop_packets"),
		dropBytes: g("drop_bytes"),
		...classes,
	};
}

export interface EventCtr {
	emitted: bigint;
	lost: bigint;
}

export function decodeEventCtr(buf: Uint8Array): EventCtr {
	const v = dv(buf);
	return {
		emitted: v.getBigUint64(off("pp_event_ctr", "emitted"), true),
		lost: v.getBigUint64(off("pp_event_ctr", "lost"), true),
	};
}

/** Sums per-CPU values field by field (every field a bigint counter; max-like fields take the max). */
export function sumPerCpu<T extends object>(values: T[], maxFields: (keyof T)[] = []): T {
	const out = { ...(values[0] as T) };
	for (const v of values.slice(1)) {
		for (const k of Object.keys(v) as (keyof T)[]) {
			const a = out[k] as unknown as bigint;
			const b = v[k] as unknown as bigint;
			if (!maxFields.includes(k)) (out[k] as unknown as bigint) = a + b;
			else if (b > a) (out[k] as unknown as bigint) = b;
		}
	}
	return out;
}

export interface PpEvent {
	tsNs: bigint;
	src: string;
	dst: string;
	backend: number;
	ruleSlot: number;
	pktLen: number;
	sport: number;
	dport: number;
	proto: number;
	verdict: number;
	reason: number;
	kind: number;
	vlan: number;
}

export function decodeEvent(buf: Uint8Array): PpEvent {
	const v = dv(buf);
	const o = (m: keyof (typeof LAYOUT)["pp_event"]["members"]) => off("pp_event", m);
	return {
		tsNs: v.getBigUint64(o("ts_ns"), true),
		src: formatAddr16(buf.subarray(o("src"), o("src") + 16)),
		dst: formatAddr16(buf.subarray(o("dst"), o("dst") + 16)),
		backend: v.getUint32(o("backend"), true),
		ruleSlot: v.getUint32(o("rule_slot"), true),
		pktLen: v.getUint32(o("pkt_len"), true),
		sport: v.getUint16(o("sport"), true),
		dport: v.getUint16(o("dport"), true),
		proto: v.getUint8(o("proto")),
		verdict: v.getUint8(o("verdict")),
		reason: v.getUint8(o("reason")),
		kind: v.getUint8(o("kind")),
		vlan: v.getUint16(o("vlan"), true),
	};
}

/**
 * UDP source ports of well-known reflection/amplification protocols; the loader writes
 * them to pp_reflect_ports. A game port never legitimately receives from these.
 */
export const REFLECTION_SOURCE_PORTS: readonly number[] = [
	17, // QOTD
	19, // chargen
	53, // DNS
	69, // TFTP
	111, // portmap
	123, // NTP
	137, // NetBIOS name service
	161, // SNMP
	389, // CLDAP
	427, // SLP
	520, // RIP
	623, // IPMI/RMCP
	1434, // MS-SQL browser
	1900, // SSDP
	3283, // Apple Remote Desktop
	3702, // WS-Discovery
	5353, // mDNS
	5683, // CoAP
	10001, // Ubiquiti discovery
	11211, // memcached
	32414, // Plex GDM
	33848, // Jenkins discovery
	37810, // DVR DHCPDiscover
];
