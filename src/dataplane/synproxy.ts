// SYN-flood defence, user-space half. At HIGH and UNDER_ATTACK the XDP program answers SYNs to
// TCP services with SYN cookies (bpf/pp_syncookie.h) and passes the ACKs that return a valid
// cookie; the kernel's nftables SYNPROXY then completes those handshakes with the listener. This
// module owns that nftables table — `inet pistonprotection_synproxy` — and the conntrack setting
// SYNPROXY needs, and says which defence is really in place:
//
//   XDP_SYNCOOKIE     the SYN-cookie targets are in the table and the program answers SYNs
//                     (pp_syn_cfg);
//   KERNEL_SYNCOOKIE  some service wants SYN cookies but the kernel lacks what the above needs
//                     (kfunc/helpers, nft, the synproxy expression) or installing failed: SYNs go
//                     to the kernel's own SYN cookies, behind the per-source SYN rate limit;
//   OFF               no service wants SYN cookies.
//
// The table exists whenever there is a TCP listener at all, at every level (on a host that can
// run XDP SYN cookies, with dataplane.syn_proxy on), because conntrack must follow those flows
// across level changes, and conntrack only runs in a namespace while something (here: the
// table's `ct` and `synproxy` expressions) uses it:
//   - raising a level: flows conntrack did not see start are INVALID once loose pickup is off,
//     and the program's bpf_xdp_ct_lookup() finds no entry for them, so players connected before
//     an attack would be cut off. Tracked from their SYN (or picked up mid-stream while loose
//     pickup is still on), they stay ESTABLISHED.
//   - lowering it: flows SYNPROXY completed have their sequence numbers translated by conntrack
//     (seqadj) and their timestamps by SYNPROXY's own hooks; both hooks go with the last
//     expression that uses them, so the table keeps its synproxy rules, over empty target sets,
//     and those flows keep working. They only break when the table goes: the last TCP listener
//     removed, or `dataplane detach`. A stopped or crashed daemon leaves it (fail-static, like
//     the program and its maps), and the next daemon replaces it with the same contents.
// Its sets: tcp_* every TCP listener (established flows leave the chains at once), cookie_* the
// SYN-cookie targets, whose pure SYNs skip conntrack (XDP answers them; any it leaves to the
// kernel get SYNPROXY's own cookie); their packets conntrack finds INVALID or untracked are
// SYNPROXY's, and what it does not take is dropped. Each change replaces the table atomically.
//
// Conntrack is per namespace, not per port: with the table in place it tracks every flow of the
// host. A flood costs it nothing where XDP drops the flood first (spoofed SYNs, over-limit and
// blocked sources never reach the stack); what XDP passes, conntrack tracks — on a host where
// nothing else used conntrack, that is this table's price.
//
// The third ACK. SYNPROXY completes a handshake with the listener by sending it an ACK in the
// client's name, from the client's address, out of this host; its TSecr echoes the listener's
// SYN-ACK. SYNPROXY's own hook then shifts that TSecr by the flow's timestamp offset, which it
// has just set, as it does for the client's segments: the listener gets back a TSval it never
// sent. Since Linux 6.16 a listener checks the TSecr of the ACK completing its handshake
// (TcpExtTSEcrRejected) and answers such an ACK with a challenge ACK instead, so the handshake
// completed only by chance — when the client's first segment echoed the right timestamp — or
// when the listener retransmitted its SYN-ACK a second later; a client that waits for the
// server to speak first (SMTP, MySQL) always waited that second. The output chain takes the
// timestamp option out of that ACK (it becomes NOPs): with nothing to shift and no TSecr to
// check, the listener takes it, conntrack still sees it (the flow is ESTABLISHED, and NAT and
// the host's own rules apply as before), and the connection's later segments carry timestamps
// as negotiated. Only SYNPROXY sends a pure ACK to a SYN-cookie target from an address that is
// not the host's own (or a transparent proxy on this host, whose ACKs lose their timestamps).
//
// nf_conntrack_tcp_loose must be 0 while there are SYN-cookie targets: with it, conntrack would
// adopt the cookie ACK as an established flow and SYNPROXY would never see it. The previous value
// is kept in <data_dir>/synproxy-state.json, put back when the last target goes, and restored by
// a later daemon or `dataplane detach`. A daemon started at HIGH still cuts the
// flows conntrack was not already tracking.
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

type ServiceFlags = Iterable<{ key: Uint8Array; flags: number }>;

/** The TCP listeners (service key, service flags) that want SYN cookies, sorted and unique. */
export function synTargets(services: ServiceFlags): SynTarget[] {
	return tcpListeners([...services].filter((s) => s.flags & SvcFlag.SYN_COOKIES));
}

/** Every TCP listener among the services, whatever its level, sorted and unique. */
export function tcpListeners(services: ServiceFlags): SynTarget[] {
	const out: SynTarget[] = [];
	for (const { key } of services) {
		const { addr: address, port, proto } = decodeServiceKey(key);
		if (proto === IPPROTO.TCP && port !== 0) out.push({ address, port });
	}
	return unionTargets(out);
}

/** The targets of all the lists, sorted and unique. */
export function unionTargets(...lists: SynTarget[][]): SynTarget[] {
	const all = new Map(lists.flat().map((t) => [`${t.address ?? "*"}|${t.port}`, t]));
	return [...all.values()].sort((x, y) => (x.address ?? "").localeCompare(y.address ?? "") || x.port - y.port);
}

/**
 * The whole table as one `nft -f` script: created if missing, then deleted and rebuilt in the
 * same transaction, so it is replaced atomically. The rules are the same at every level (see the
 * header); only the sets change. The SYN-cookie targets are tracked listeners too.
 */
export function renderTable(listeners: SynTarget[], cookies: SynTarget[], o: SynOptions): string {
	const families = (targets: SynTarget[]) => ({
		v4: targets.filter((t) => t.address !== null && !t.address.includes(":")),
		v6: targets.filter((t) => t.address?.includes(":")),
		any: targets.filter((t) => t.address === null),
	});
	const sets = (prefix: string, targets: SynTarget[]) => {
		const f = families(targets);
		const set = (name: string, type: string, elems: string[]) =>
			`\tset ${prefix}_${name} {\n\t\ttype ${type}\n${elems.length ? `\t\telements = { ${elems.join(", ")} }\n` : ""}\t}`;
		return [
			set(
				"v4",
				"ipv4_addr . inet_service",
				f.v4.map((t) => `${t.address} . ${t.port}`),
			),
			set(
				"v6",
				"ipv6_addr . inet_service",
				f.v6.map((t) => `${t.address} . ${t.port}`),
			),
			set(
				"any",
				"inet_service",
				f.any.map((t) => String(t.port)),
			),
		];
	};
	const match = (prefix: string) => [
		`ip daddr . tcp dport @${prefix}_v4`,
		`ip6 daddr . tcp dport @${prefix}_v6`,
		`tcp dport @${prefix}_any`,
	];
	const synproxy = (family: string, mss: number) =>
		`${family}ct state invalid,untracked synproxy mss ${mss} wscale ${o.wscale} timestamp sack-perm`;
	// Any-address ports serve both families: each family gets its own MSS.
	const [cookie4, cookie6, cookieAny] = match("cookie");
	const proxy = [
		`${cookie4} ${synproxy("", o.mss4)}`,
		`${cookie4} ct state invalid drop`,
		`${cookie6} ${synproxy("", o.mss6)}`,
		`${cookie6} ct state invalid drop`,
		`${cookieAny} ${synproxy("meta nfproto ipv4 ", o.mss4)}`,
		`${cookieAny} ${synproxy("meta nfproto ipv6 ", o.mss6)}`,
		`${cookieAny} ct state invalid drop`,
	];
	const chain = (name: string, hook: string, priority: string, rules: string[]) =>
		[
			`\tchain ${name} {`,
			`\t\ttype filter hook ${hook} priority ${priority}; policy accept;`,
			...rules.map((r) => `\t\t${r}`),
			"\t}",
		].join("\n");
	const filter = [...match("tcp").map((m) => `${m} ct state established,related accept`), ...proxy];
	return [
		`table inet ${SYNPROXY_TABLE}`,
		`delete table inet ${SYNPROXY_TABLE}`,
		`table inet ${SYNPROXY_TABLE} {`,
		...sets("tcp", unionTargets(listeners, cookies)),
		...sets("cookie", cookies),
		chain(
			"raw",
			"prerouting",
			"raw",
			match("cookie").map((m) => `${m} tcp flags & (syn | ack) == syn notrack`),
		),
		chain("input", "input", "filter", filter),
		chain("forward", "forward", "filter", filter),
		// SYNPROXY's own ACK to the listener: see "The third ACK" above.
		chain(
			"output",
			"output",
			"filter",
			match("cookie").map(
				(m) => `${m} tcp flags & (fin | syn | rst | ack) == ack fib saddr type != local reset tcp option timestamp`,
			),
		),
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

/** Where nft is installed, or null. */
export function nftBinary(): string | null {
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

	/**
	 * Installs or atomically replaces the table: `listeners` tracked, `cookies` (SYN-cookie
	 * targets) proxied; neither removes it. Returns whether the table now holds exactly these.
	 * Never throws: a failure is logged (once per distinct error) and leaves the table as it was
	 * (nft applies a script as one transaction), with the kernel's SYN cookies in charge.
	 */
	apply(listeners: SynTarget[], cookies: SynTarget[], opts: SynOptions): boolean {
		if (!listeners.length && !cookies.length) {
			this.remove();
			return true;
		}
		if (this.unsupported) return false;
		const script = renderTable(listeners, cookies, opts);
		if (cookies.length) {
			try {
				this.looseOff();
			} catch (err) {
				return this.failed(`cannot set ${TCP_LOOSE}: ${(err as Error).message}`);
			}
		}
		if (script !== this.installed) {
			const r = this.nft(script);
			if (!r.ok) return this.failed(`nft: ${r.error}`);
			this.log.info(this.installed === null ? "SYN proxy table installed" : "SYN proxy table updated", {
				table: SYNPROXY_TABLE,
				tracked: listeners.length,
				synCookies: cookies.length,
			});
			this.installed = script;
			this.removed = false;
		}
		if (!cookies.length) {
			try {
				restoreLoose(this.dataDir);
			} catch (err) {
				return this.failed(`cannot restore ${TCP_LOOSE}: ${(err as Error).message}`);
			}
		}
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
			this.log.error("SYN proxy table not updated; SYNs that want cookies get the kernel's own", { error });
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
	restoreLoose(dataDir);
}

/** Puts back the nf_conntrack_tcp_loose value saved before it was set to 0, if one was saved. */
function restoreLoose(dataDir: string): void {
	const state = join(dataDir, STATE_FILE);
	if (!existsSync(state)) return;
	const { tcpLoose } = JSON.parse(readFileSync(state, "utf8")) as { tcpLoose: string };
	if (!/^\d+$/.test(tcpLoose)) throw new Error(`${state}: tcpLoose "${tcpLoose}" is not a number`);
	if (existsSync(TCP_LOOSE)) writeFileSync(TCP_LOOSE, `${tcpLoose}\n`);
	rmSync(state, { force: true });
}

/** Whether the table exists now with SYN-cookie targets (the truth for `status`, whoever installed it). */
export function synProxyInstalled(nft = nftBinary()): boolean {
	if (nft === null) return false;
	const p = Bun.spawnSync([nft, "-j", "list", "table", "inet", SYNPROXY_TABLE], { stdout: "pipe", stderr: "ignore" });
	if (p.exitCode !== 0) return false;
	const { nftables } = JSON.parse(p.stdout.toString()) as { nftables: { set?: { name: string; elem?: unknown[] } }[] };
	return nftables.some((o) => o.set?.name.startsWith("cookie_") && o.set.elem?.length);
}
