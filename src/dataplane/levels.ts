// Protection levels: what OFF … UNDER_ATTACK mean, in the only terms the kernel knows —
// the flag bits and numbers written into a service's pp_service value. The semantics live
// here, not in bpf/, so changing a default is a TypeScript change and a resync.
//
// Overrides (a backend's perIpRateLimit / globalRateLimit) replace the level's packet
// numbers. OFF is the kill switch: it ignores overrides and leaves only the explicit
// allow/block lists and bans. A globalRateLimit override also switches the backend bucket
// on at LOW, which has none by default.
import { Level, type LevelName, type Limit, SvcFlag } from "./abi.ts";

export interface RateLimitOverride {
	requestsPerSecond: number;
	burstSize: number;
}

export interface LevelOverrides {
	perIpRateLimit?: RateLimitOverride;
	globalRateLimit?: RateLimitOverride;
}

export interface ServiceLimits {
	level: number;
	flags: number;
	srcPkt: Limit;
	srcByte: Limit;
	globPkt: Limit;
	globByte: Limit;
}

interface LevelDefaults {
	summary: string;
	flags: number;
	/** per source: packets/s and burst, bytes/s and burst */
	srcPkt: Limit;
	srcByte: Limit;
	/** whole backend: packets/s and burst, bytes/s and burst (0 = no bucket) */
	globPkt: Limit;
	globByte: Limit;
	/** new TCP connections (SYNs) per source, enforced with SvcFlag.CONN_LIMIT */
	conn: Limit;
}

const NONE: Limit = { rate: 0, burst: 0 };
const MiB = 1024 * 1024;

/**
 * A byte bucket must never bind before the packet bucket for full-size packets, or an
 * override of the packet rate would be silently undercut.
 */
const MTU_BYTES = 1500;

// L7 validation (MEDIUM up), connection limits and SYN cookies (HIGH up) are enforced by the
// kernel; the reserved bits (verified-only, challenge) are set by the levels that promise them
// and ignored by the program until it implements them.
const LOW = SvcFlag.SRC_LIMIT | SvcFlag.DROP_INVALID;
const MEDIUM = LOW | SvcFlag.GLOBAL_LIMIT | SvcFlag.DROP_FRAGMENTS | SvcFlag.DROP_REFLECTION | SvcFlag.L7_VALIDATE;
const HIGH = MEDIUM | SvcFlag.SYN_COOKIES | SvcFlag.CONN_LIMIT;
const UNDER_ATTACK = HIGH | SvcFlag.VERIFIED_ONLY | SvcFlag.CHALLENGE_NEW;

export const LEVEL_DEFAULTS: Record<LevelName, LevelDefaults> = {
	OFF: {
		summary: "only explicit allow/block lists and bans",
		flags: 0,
		srcPkt: NONE,
		srcByte: NONE,
		globPkt: NONE,
		globByte: NONE,
		conn: NONE,
	},
	LOW: {
		summary: "+ generous per-source limits, invalid-packet drops",
		flags: LOW,
		srcPkt: { rate: 2000, burst: 4000 },
		srcByte: { rate: 4 * MiB, burst: 8 * MiB },
		globPkt: NONE,
		globByte: NONE,
		conn: NONE,
	},
	MEDIUM: {
		summary: "+ backend bucket, fragment and reflection-port drops, protocol validation",
		flags: MEDIUM,
		srcPkt: { rate: 500, burst: 1000 },
		srcByte: { rate: 1 * MiB, burst: 2 * MiB },
		globPkt: { rate: 100_000, burst: 200_000 },
		globByte: { rate: 100 * MiB, burst: 200 * MiB },
		conn: NONE,
	},
	HIGH: {
		summary: "+ tighter limits, connection-rate limits, SYN cookies",
		flags: HIGH,
		srcPkt: { rate: 250, burst: 500 },
		srcByte: { rate: 512 * 1024, burst: 1 * MiB },
		globPkt: { rate: 50_000, burst: 100_000 },
		globByte: { rate: 50 * MiB, burst: 100 * MiB },
		conn: { rate: 20, burst: 40 },
	},
	UNDER_ATTACK: {
		summary: "+ strictest limits, challenge for new players, only verified sources",
		flags: UNDER_ATTACK,
		srcPkt: { rate: 100, burst: 200 },
		srcByte: { rate: 256 * 1024, burst: 512 * 1024 },
		globPkt: { rate: 20_000, burst: 40_000 },
		globByte: { rate: 25 * MiB, burst: 50 * MiB },
		conn: { rate: 5, burst: 10 },
	},
};

function checkOverride(name: string, o: RateLimitOverride): void {
	const ok = (n: number) => Number.isInteger(n) && n > 0 && n <= 0xffffffff;
	if (!ok(o.requestsPerSecond) || !ok(o.burstSize)) {
		throw new RangeError(`${name}: requestsPerSecond and burstSize must be integers in 1..2^32-1`);
	}
}

function bytesFor(pkt: Limit, dflt: Limit): Limit {
	return {
		rate: Math.min(0xffffffff, Math.max(dflt.rate, pkt.rate * MTU_BYTES)),
		burst: Math.min(0xffffffff, Math.max(dflt.burst, pkt.burst * MTU_BYTES)),
	};
}

/** New TCP connections per source a level allows (pp_l7_cfg.conn); OFF for OFF. */
export function connectionLimit(level: LevelName): Limit {
	return { ...LEVEL_DEFAULTS[level].conn };
}

/** The flags and numbers a service of this level carries in pp_service. */
export function serviceLimits(level: LevelName, overrides: LevelOverrides = {}): ServiceLimits {
	const d = LEVEL_DEFAULTS[level];
	const out: ServiceLimits = {
		level: Level[level],
		flags: d.flags,
		srcPkt: { ...d.srcPkt },
		srcByte: { ...d.srcByte },
		globPkt: { ...d.globPkt },
		globByte: { ...d.globByte },
	};
	if (level === "OFF") return out;
	if (overrides.perIpRateLimit) {
		checkOverride("perIpRateLimit", overrides.perIpRateLimit);
		out.srcPkt = { rate: overrides.perIpRateLimit.requestsPerSecond, burst: overrides.perIpRateLimit.burstSize };
		out.srcByte = bytesFor(out.srcPkt, d.srcByte);
	}
	if (overrides.globalRateLimit) {
		checkOverride("globalRateLimit", overrides.globalRateLimit);
		out.globPkt = { rate: overrides.globalRateLimit.requestsPerSecond, burst: overrides.globalRateLimit.burstSize };
		out.globByte = d.globByte.rate === 0 ? NONE : bytesFor(out.globPkt, d.globByte);
		out.flags |= SvcFlag.GLOBAL_LIMIT;
	}
	return out;
}

/**
 * Each CPU's share of a backend-wide limit: the program keeps the backend's bucket per CPU
 * (no contention between CPUs), so pp_service carries the limit divided by the CPU count.
 */
export function perCpuLimit(l: Limit, cpus: number): Limit {
	const share = (n: number) => (n === 0 ? 0 : Math.max(1, Math.floor(n / Math.max(1, cpus))));
	return { rate: share(l.rate), burst: share(l.burst) };
}

const CHECKS: [number, string][] = [
	[SvcFlag.SRC_LIMIT, "per-source pps/bps buckets"],
	[SvcFlag.DROP_INVALID, "invalid-packet drops"],
	[SvcFlag.GLOBAL_LIMIT, "backend pps/bps bucket"],
	[SvcFlag.DROP_FRAGMENTS, "fragment drops"],
	[SvcFlag.DROP_REFLECTION, "reflection-port drops"],
	[SvcFlag.L7_VALIDATE, "protocol validation (Minecraft Java, RakNet, QUIC)"],
	[SvcFlag.SYN_COOKIES, "SYN cookies (TCP)"],
	[SvcFlag.CONN_LIMIT, "connection-rate limits"],
	[SvcFlag.CHALLENGE_NEW, "challenge new players*"],
	[SvcFlag.VERIFIED_ONLY, "verified sources only*"],
];

function fmtAmount(v: number, unit: "pkt" | "byte"): string {
	if (unit === "pkt") return v.toLocaleString("en-US");
	return v % MiB === 0 ? `${v / MiB} MiB` : `${v / 1024} KiB`;
}

function fmtRate(l: Limit, unit: "pkt" | "byte"): string {
	if (l.rate === 0) return "—";
	return `${fmtAmount(l.rate, unit)}/s (burst ${fmtAmount(l.burst, unit)})`;
}

/** The README table of levels and their default numbers, generated from LEVEL_DEFAULTS. */
export function protectionLevelsMarkdown(): string {
	let previous = 0;
	const rows = (Object.keys(LEVEL_DEFAULTS) as LevelName[]).map((name) => {
		const d = LEVEL_DEFAULTS[name];
		const added = CHECKS.filter(([bit]) => d.flags & bit & ~previous).map(([, label]) => label);
		previous = d.flags;
		return `| ${name} | ${d.summary} | ${fmtRate(d.srcPkt, "pkt")} | ${fmtRate(d.srcByte, "byte")} | ${fmtRate(d.globPkt, "pkt")} | ${fmtRate(d.globByte, "byte")} | ${added.join(", ") || "—"} |`;
	});
	return [
		"| level | meaning | per-source packets | per-source bytes | backend packets | backend bytes | kernel checks added |",
		"|---|---|---|---|---|---|---|",
		...rows,
		"",
		"Explicit allow/block lists, bans and the management allow-list apply at every level;",
		"structurally malformed packets (truncated or inconsistent headers, which the kernel",
		"would discard anyway) are dropped at every level. `perIpRateLimit` and",
		"`globalRateLimit` on a backend replace the packet numbers (bytes follow at 1500 bytes",
		"per packet when that is higher) at every level except OFF. The backend bucket is per",
		"CPU, each CPU admitting rate/CPUs. SYN cookies are answered from XDP and completed by",
		"the kernel's nftables SYNPROXY, which the daemon installs for exactly those TCP ports;",
		"where the kernel lacks what that needs, the kernel's own SYN cookies answer behind the",
		"per-source connection-rate limit (`dataplane status` shows which). A connection over its",
		"source's rate is refused at the ACK that returns its cookie, with the RST a listener",
		"would send, so the client fails at once rather than holding a connection nobody",
		"completes (where the kernel answers SYNs, the SYN is dropped and the client retries). At every level the",
		"daemon keeps conntrack tracking the TCP listeners' connections (the same nftables table,",
		"without SYN-cookie targets below HIGH), so players connected before the level goes up, and",
		"connections SYNPROXY completed after it comes down, keep working. Checks marked * are",
		"not done in XDP yet: new players are challenged by the proxy (protection.challenge),",
		"and verified-only is not enforced.",
	].join("\n");
}
