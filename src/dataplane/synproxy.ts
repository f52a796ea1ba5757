// SYN-flood defence, user-space half. At HIGH and UNDER_ATTACK the XDP program answers SYNs to
// TCP services with SYN cookies (bpf/pp_syncookie.h) and passes the ACKs that return a valid
// cookie; the kernel's nftables SYNPROXY then completes those handshakes with the listener. This
// module owns that nftables table — `inet pistonprotection_synproxy`, holding exactly the
// protected (address, port) pairs — and the conntrack setting SYNPROXY needs, and says which
// defence is really in place:
//
//   XDP_SYNCOOKIE     the table is installed and the program answers SYNs (pp_syn_cfg);
//   KERNEL_SYNCOOKIE  some service wants SYN cookies but the kernel lacks what the above needs
//                     (kfunc/helpers, nft, the synproxy expression) or installing failed: SYNs go
//                     to the kernel's own SYN cookies, behind the per-source SYN rate limit;
//   OFF               no service wants SYN cookies.
//
// nf_conntrack_tcp_loose must be 0 while the table exists: with it, conntrack would adopt the
// cookie ACK as an established flow and SYNPROXY would never see it. The previous value is kept
// in <data_dir>/synproxy-state.json so a later daemon, or `dataplane detach`, restores it.
//
// Flows conntrack was not tracking when the table appears (connections opened before the level
// went up, with no other conntrack user on the host) are dropped as INVALID from then on.
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Logger } from "../log.ts";
import { decodeServiceKey, IPPROTO, SvcFlag } from "./abi.ts";
import { missingKernelFuncs } from "./libbpf.ts";

export type SynDefense = "XDP_SYNCOOKIE" | "KERNEL_SYNCOOKIE" | "OFF";

export const SYNPROXY_TABLE = "pistonprotection_synproxy";
const TCP_LOOSE = "/proc/sys/net/netfilter/nf_conntrack_tcp_loose";
const STATE_FILE = "synproxy-state.json";
/** What the program calls; without any of them SYNs stay with the kernel. */
const KERNEL_FUNCS = [
	"bpf_xdp_ct_lookup",
	"bpf_ct_release",
	"bpf_tcp_raw_gen_syncookie_ipv4",
	"bpf_tcp_raw_gen_syncookie_ipv6",
	"bpf_tcp_raw_check_syncookie_ipv4",
	"bpf_tcp_raw_check_syncookie_ipv6",
];

/** One protected TCP listener: address null = every local address. */
export interface SynTarget {
	address: string | null;
	port: number;
}

/** The TCP options SYN-ACKs offer; XDP and SYNPROXY must offer the same. */
export interface SynOptions {
	mss4: number;
	mss6: number;
	wscale: number;
}

/** The TCP listeners (service key, service flags) that want SYN cookies, sorted and unique. */
export function synTargets(services: Iterable<{ key: Uint8Array; flags: number }>): SynTarget[] {
	const out = new Map<string, SynTarget>();
	for (const { key, flags } of services) {
		if (!(flags & SvcFlag.SYN_COOKIES)) continue;
		const { addr: address, port, proto } = decodeServiceKey(key);
		if (proto !== IPPROTO.TCP || port === 0) continue;
		out.set(`${address ?? "*"}|${port}`, { address, port });
	}
	return [...out.values()].sort((a, b) => (a.address ?? "").localeCompare(b.address ?? "") || a.port - b.port);
}

/**
 * The whole table as one `nft -f` script: created if missing, then deleted and rebuilt in the
 * same transaction, so it is replaced atomically. SYNs to the protected pairs skip conntrack
 * (XDP answers them; any it leaves to the kernel get SYNPROXY's own cookie); then packets
 * conntrack finds INVALID or untracked are SYNPROXY's, and what it does not take is dropped.
 */
export function renderTable(targets: SynTarget[], o: SynOptions): string {
	const v4 = targets.filter((t) => t.address !== null && !t.address.includes(":"));
	const v6 = targets.filter((t) => t.address?.includes(":"));
	const any = targets.filter((t) => t.address === null);
	const set = (name: string, type: string, elems: string[]) =>
		`\tset ${name} {\n\t\ttype ${type}\n${elems.length ? `\t\telements = { ${elems.join(", ")} }\n` : ""}\t}`;
	const matches = [
		...(v4.length ? ["ip daddr . tcp dport @v4"] : []),
		...(v6.length ? ["ip6 daddr . tcp dport @v6"] : []),
		...(any.length ? ["tcp dport @any"] : []),
	];
	const rules = (chain: string, hook: string, priority: string, body: (m: string) => string[]) =>
		[
			`\tchain ${chain} {`,
			`\t\ttype filter hook ${hook} priority ${priority}; policy accept;`,
			...matches.flatMap((m) => body(m).map((r) => `\t\t${m} ${r}`)),
			"\t}",
		].join("\n");
	const proxy = (m: string) => [
		`ct state invalid,untracked synproxy mss ${m.startsWith("ip6") ? o.mss6 : o.mss4} wscale ${o.wscale} timestamp sack-perm`,
		"ct state invalid drop",
	];
	// Any-address ports serve both families: each family gets its own MSS.
	const anyProxy = (m: string) =>
		m.startsWith("tcp")
			? [
					`meta nfproto ipv4 ct state invalid,untracked synproxy mss ${o.mss4} wscale ${o.wscale} timestamp sack-perm`,
					`meta nfproto ipv6 ct state invalid,untracked synproxy mss ${o.mss6} wscale ${o.wscale} timestamp sack-perm`,
					"ct state invalid drop",
				]
			: proxy(m);
	return [
		`table inet ${SYNPROXY_TABLE}`,
		`delete table inet ${SYNPROXY_TABLE}`,
		`table inet ${SYNPROXY_TABLE} {`,
		set(
			"v4",
			"ipv4_addr . inet_service",
			v4.map((t) => `${t.address} . ${t.port}`),
		),
		set(
			"v6",
			"ipv6_addr . inet_service",
			v6.map((t) => `${t.address} . ${t.port}`),
		),
		set(
			"any",
			"inet_service",
			any.map((t) => String(t.port)),
		),
		rules("raw", "prerouting", "raw", () => ["tcp flags & (syn | ack) == syn notrack"]),
		rules("input", "input", "filter", anyProxy),
		rules("forward", "forward", "filter", anyProxy),
		"}",
		"",
	].join("\n");
}

/** The window scale Linux listeners of this host use: the one SYNPROXY and XDP must offer. */
export function listenerWscale(): number {
	const read = (p: string) => {
		try {
			return Number(readFileSync(p, "utf8").trim().split(/\s+/).pop());
		} catch {
			return 0;
		}
	};
	const space = Math.max(read("/proc/sys/net/ipv4/tcp_rmem"), read("/proc/sys/net/core/rmem_max"), 65535);
	// tcp_select_initial_window(): ilog2(space) - 15, clamped to 0..14.
	return Math.min(14, Math.max(0, Math.floor(Math.log2(space)) - 15));
}

/** MSS for the smallest MTU among the interfaces XDP runs on (1500 when none is readable). */
export function synOptions(interfaces: string[]): SynOptions {
	const mtus = interfaces.flatMap((name) => {
		try {
			return [Number(readFileSync(`/sys/class/net/${name}/mtu`, "utf8").trim())];
		} catch {
			return [];
		}
	});
	const mtu = mtus.length ? Math.min(...mtus) : 1500;
	return { mss4: mtu - 40, mss6: mtu - 60, wscale: listenerWscale() };
}

export type NftRunner = (script: string) => { ok: boolean; error: string };

function nftBinary(): string | null {
	return Bun.which("nft") ?? ["/usr/sbin/nft", "/sbin/nft"].find((p) => existsSync(p)) ?? null;
}

/** Runs `nft -f -` with the script; ok false with nft's message on failure. */
export function runNft(script: string): { ok: boolean; error: string } {
	const nft = nftBinary();
	if (nft === null) return { ok: false, error: "nft is not installed" };
	const p = Bun.spawnSync([nft, "-f", "-"], { stdin: Buffer.from(script), stdout: "pipe", stderr: "pipe" });
	return { ok: p.exitCode === 0, error: p.stderr.toString().trim() };
}

/** Why XDP SYN cookies cannot run on this host, or null when they can. */
export function synProxyUnsupported(): string | null {
	const missing = missingKernelFuncs(KERNEL_FUNCS);
	if (missing.length) return `the kernel lacks ${missing.join(", ")}`;
	if (!existsSync(TCP_LOOSE)) return `${TCP_LOOSE} is missing (no conntrack)`;
	if (nftBinary() === null) return "nft is not installed";
	return null;
}

export class SynProxy {
	private installed: string | null = null;
	/** True once removal succeeded and nothing was installed since: removing again is a no-op. */
	private removed = false;
	private lastError: string | null = null;
	private readonly unsupported: string | null;

	constructor(
		private readonly dataDir: string,
		private readonly log: Logger,
		private readonly nft: NftRunner = runNft,
		unsupported: string | null = synProxyUnsupported(),
	) {
		this.unsupported = unsupported;
		if (unsupported)
			log.warn("XDP SYN cookies unavailable; kernel SYN cookies stay in charge", { reason: unsupported });
	}

	get supported(): boolean {
		return this.unsupported === null;
	}

	/** Whether the table is in place (with at least one protected listener). */
	get active(): boolean {
		return this.installed !== null;
	}

	/**
	 * Installs or atomically replaces the table with exactly these targets; no targets removes it.
	 * Returns whether the table now protects them. Never throws: a failure is logged (once per
	 * distinct error) and leaves the kernel's SYN cookies in charge.
	 */
	apply(targets: SynTarget[], opts: SynOptions): boolean {
		if (!targets.length) {
			this.remove();
			return false;
		}
		if (this.unsupported) return false;
		const script = renderTable(targets, opts);
		if (script === this.installed) return true;
		try {
			this.looseOff();
		} catch (err) {
			return this.failed(`cannot set ${TCP_LOOSE}: ${(err as Error).message}`);
		}
		const r = this.nft(script);
		if (!r.ok) {
			// Whatever a failed transaction left is not ours to trust: nothing half-installed stays.
			this.remove();
			return this.failed(`nft: ${r.error}`);
		}
		if (this.installed === null) this.log.info("SYN proxy installed", { table: SYNPROXY_TABLE, ports: targets.length });
		this.installed = script;
		this.removed = false;
		this.lastError = null;
		return true;
	}

	/** Removes the table (if any) and restores nf_conntrack_tcp_loose; logs, never throws. */
	remove(): void {
		if (this.removed) return;
		try {
			removeSynProxy(this.dataDir, this.nft);
			if (this.installed !== null) this.log.info("SYN proxy removed", { table: SYNPROXY_TABLE });
			this.removed = true;
		} catch (err) {
			this.log.error("SYN proxy removal failed", { error: err });
		}
		this.installed = null;
	}

	private failed(error: string): false {
		if (error !== this.lastError)
			this.log.error("SYN proxy not installed; kernel SYN cookies stay in charge", { error });
		this.lastError = error;
		return false;
	}

	/** Saves the current value once (a crashed daemon's saved value wins), then sets 0. */
	private looseOff(): void {
		const state = join(this.dataDir, STATE_FILE);
		if (!existsSync(state)) {
			const previous = readFileSync(TCP_LOOSE, "utf8").trim();
			writeFileSync(state, `${JSON.stringify({ tcpLoose: previous })}\n`, { mode: 0o600 });
		}
		writeFileSync(TCP_LOOSE, "0\n");
	}
}

/**
 * Removes the table and restores nf_conntrack_tcp_loose from the saved state, if there is any.
 * Used by the daemon and by `dataplane detach` (another process, hence the file).
 */
export function removeSynProxy(dataDir: string, nft: NftRunner = runNft): void {
	if (nftBinary() !== null || nft !== runNft) {
		const r = nft(`table inet ${SYNPROXY_TABLE}\ndelete table inet ${SYNPROXY_TABLE}\n`);
		if (!r.ok) throw new Error(`cannot remove nftables table ${SYNPROXY_TABLE}: ${r.error}`);
	}
	const state = join(dataDir, STATE_FILE);
	if (!existsSync(state)) return;
	const { tcpLoose } = JSON.parse(readFileSync(state, "utf8")) as { tcpLoose: string };
	if (!/^\d+$/.test(tcpLoose)) throw new Error(`${state}: tcpLoose "${tcpLoose}" is not a number`);
	if (existsSync(TCP_LOOSE)) writeFileSync(TCP_LOOSE, `${tcpLoose}\n`);
	rmSync(state, { force: true });
}

/** Whether the table exists now (the truth for `status`, whoever installed it). */
export function synProxyInstalled(nft = nftBinary()): boolean {
	if (nft === null) return false;
	return (
		Bun.spawnSync([nft, "list", "table", "inet", SYNPROXY_TABLE], { stdout: "ignore", stderr: "ignore" }).exitCode === 0
	);
}
