// Live drop rate on a veth pair: frames from a live-frames XDP generator (live-gen.ts, in its own
// network namespace, pinned to CPU 0) reach a veth in the root namespace whose receive NAPI runs
// threaded, pinned to CPU 1, so generator and receiver never share a CPU. Three receivers are
// measured in one run, each for a bounded window: pp_xdp with 100k blocked /24 prefixes, an active
// MEDIUM service and 64 rules; the trivial XDP_DROP program; no XDP and an nftables netdev ingress
// chain whose interval set holds the same 100k prefixes. Every frame comes from a blocked prefix,
// so all three drop everything they receive; the generator offers more than any of them can take
// and the excess is refused at the veth's ring (counted on the generator's side as tx_dropped).
//
// --syn (benchLiveSyn): the same pair and generator send spoofed TCP SYNs with Linux's options to a
// TCP service port instead, and the receivers are the trivial XDP_DROP program, a trivial XDP_TX
// program (answers everything, test/bench/bpf/pp_answer.bpf.c) and pp_xdp with the service at HIGH
// and SYN cookies answered from XDP. XDP_TX on a veth needs NAPI on the peer end, so the generator's
// veth runs the trivial XDP_DROP program, its NAPI threaded on the generator's CPU: the SYN-ACKs
// coming back are consumed there (and counted in its rx_packets), not on the receiver's CPU.
//
// Everything created here is named pp-…, removed on return, on error and by exit/signal hooks;
// XDP is attached only to the veth created here and traffic never leaves the pair.

import { dlopen, ptr, read } from "bun:ffi";
import { randomBytes } from "node:crypto";
import { readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { compileBpf } from "../../scripts/build-bpf.ts";
import {
	Action,
	type CompiledRule,
	encodeListEntry,
	encodeLpmKey,
	IPPROTO,
	REASON_NAMES,
	type ReasonName,
} from "../../src/dataplane/abi.ts";
import { connectionLimit } from "../../src/dataplane/levels.ts";
import { BpfObject, numPossibleCpus, xdpAttach, xdpDetach, xdpQueryId } from "../../src/dataplane/libbpf.ts";
import { Dataplane, TRIVIAL_PATH } from "../bpf/harness.ts";
import {
	blockedPrefixes,
	GAME_PORT,
	GEN_OBJ,
	type GenResult,
	LINUX_SYN_OPTIONS,
	prefixCidr,
	SERVICE_ADDR,
	SYN_PORT,
} from "./live-gen.ts";

const ROOT = join(import.meta.dir, "..", "..");
const GEN_SCRIPT = join(import.meta.dir, "live-gen.ts");
const GEN_SOURCE = join(import.meta.dir, "bpf", "pp_livegen.bpf.c");
const GEN_CPU = 0;
const RX_CPU = 1;
const RULES = 64;

export type Receiver = "trivial" | "floor" | "pp_xdp" | "nftables";
/**
 * Receivers of the SYN flood: trivial XDP_DROP; answer: trivial XDP_TX; pp_xdp_syn: pp_xdp at HIGH with
 * the backend's bucket lifted, so SYN cookies answer what the program can take; pp_xdp_high: the same
 * with HIGH's own backend bucket (50k packets/s), which is what bounds the answers at that level.
 */
export type SynReceiver = "trivial" | "answer" | "pp_xdp_syn" | "pp_xdp_high";
/** spread: random host bytes, ~25M distinct sources (a spoofed flood); per-prefix: one source (.1) per prefix. */
export type Sources = "spread" | "per-prefix";

export interface LiveOptions {
	prefixes: number;
	/** Measured window per receiver and round. */
	windowS: number;
	/** Sending before the window opens (page pool and caches warm). */
	warmupS: number;
	/** Rounds over all receivers, interleaved; the table reports the median and the range. */
	rounds: number;
	receivers: Receiver[];
	sources: Sources[];
	/** Receivers of the SYN-flood scenario (benchLiveSyn), spread sources. */
	synReceivers: SynReceiver[];
}

function envList<T extends string>(name: string, fallback: T[]): T[] {
	const v = process.env[name];
	return v === undefined || v === "" ? fallback : (v.split(",") as T[]);
}

export const LIVE_DEFAULTS: LiveOptions = {
	prefixes: Number(process.env.PP_BENCH_PREFIXES ?? 100_000),
	windowS: Number(process.env.PP_BENCH_WINDOW_S ?? 3),
	warmupS: 0.5,
	rounds: Number(process.env.PP_BENCH_ROUNDS ?? 3),
	receivers: envList<Receiver>("PP_BENCH_RECEIVERS", ["trivial", "floor", "pp_xdp", "nftables"]),
	sources: envList<Sources>("PP_BENCH_SOURCES", ["spread", "per-prefix"]),
	synReceivers: envList<SynReceiver>("PP_BENCH_SYN_RECEIVERS", ["trivial", "answer", "pp_xdp_syn", "pp_xdp_high"]),
};

const HOSTS: Record<Sources, number> = { spread: 254, "per-prefix": 1 };

/** One receiver under one source pattern, over all rounds (rates per second). */
export interface LiveRow {
	receiver: Receiver;
	label: string;
	sources: Sources;
	/** Drops per second from the receiver's own counter, median over the rounds. */
	drops: number;
	dropsMin: number;
	dropsMax: number;
	/** Frames per second the generator put to the veth (taken by the ring + refused when full), median. */
	offered: number;
	/** Frames per second the receiving veth's NAPI took off the ring (rx_packets), median. */
	received: number;
	/** Generator cost per frame, median. */
	genNs: number;
	countedBy: string;
	/** Anything the receiver counted besides the expected drops. */
	note: string;
}

export interface LiveResult {
	rows: LiveRow[];
	setupNote: string;
	options: LiveOptions;
}

function sh(args: string[], allowFail = false): string {
	const p = Bun.spawnSync(args, { stdout: "pipe", stderr: "pipe" });
	if (p.exitCode !== 0 && !allowFail) throw new Error(`${args.join(" ")} failed: ${p.stderr.toString().trim()}`);
	return p.stdout.toString();
}

/** Separates dataplane-prog.ts's game-protocol table from its main one in its output. */
export const GAME_TABLE_MARK = "<!-- game protocols -->";

/** The floor program (test/bench/bpf/pp_floor.bpf.c): parse + one /24 hash lookup. */
export const FLOOR_OBJ = join(ROOT, "build", "bench", "pp_floor.o");
/** The trivial XDP_TX program (test/bench/bpf/pp_answer.bpf.c). */
export const ANSWER_OBJ = join(ROOT, "build", "bench", "pp_answer.o");

let benchObjectsBuilt = false;

/**
 * Builds the bench's own objects (generator, floor, answer) with the flags of scripts/build-bpf.ts,
 * once per process.
 */
export function buildBenchObjects(): void {
	if (benchObjectsBuilt) return;
	benchObjectsBuilt = true;
	sh(["mkdir", "-p", join(ROOT, "build", "bench")]);
	for (const [source, out] of [
		[GEN_SOURCE, GEN_OBJ],
		[join(import.meta.dir, "bpf", "pp_floor.bpf.c"), FLOOR_OBJ],
		[join(import.meta.dir, "bpf", "pp_answer.bpf.c"), ANSWER_OBJ],
	] as const)
		compileBpf(source, out);
}

/** The floor program loaded privately, its table filled with the blocked /24 prefixes. */
export function openFloor(prefixes: string[]): BpfObject {
	const obj = BpfObject.openMem(new Uint8Array(readFileSync(FLOOR_OBJ)), { noPinning: true });
	try {
		obj.load();
		const entry = encodeListEntry({ expiresNs: 0n, reason: 7, entryId: 2 });
		obj.map("pp_floor_block").updateMany(
			prefixes.map((c) => encodeLpmKey(c)),
			prefixes.map(() => entry),
		);
		return obj;
	} catch (err) {
		obj.close();
		throw err;
	}
}

/** Why the live bench cannot run here, or null. */
export function liveSkipReason(): string | null {
	if (process.getuid?.() !== 0) return "needs root (namespaces, veth, XDP, nftables)";
	if (numPossibleCpus() < 2) return "needs 2 CPUs (generator and receiver on separate CPUs)";
	for (const tool of ["ip", "nft", "taskset", "clang"]) {
		if (Bun.spawnSync(["which", tool]).exitCode !== 0) return `needs ${tool}`;
	}
	return null;
}

// GRO on the receiving veth gives it a NAPI instance without XDP, which the nftables receiver
// needs: a veth only accepts redirected frames when its NAPI is enabled. Set with the legacy
// ETHTOOL_SGRO ioctl, as ethtool itself may not be installed.
const SIOCETHTOOL = 0x8946;
const ETHTOOL_SGRO = 0x2c;
const libc = dlopen("libc.so.6", {
	socket: { args: ["i32", "i32", "i32"], returns: "i32" },
	ioctl: { args: ["i32", "u64", "ptr"], returns: "i32" },
	close: { args: ["i32"], returns: "i32" },
	__errno_location: { args: [], returns: "ptr" },
});

function setGro(ifname: string, on: boolean): void {
	const value = new Uint32Array([ETHTOOL_SGRO, on ? 1 : 0]);
	const ifr = new Uint8Array(40);
	ifr.set(new TextEncoder().encode(ifname).subarray(0, 15));
	new DataView(ifr.buffer).setBigUint64(16, BigInt(ptr(value)), true);
	const fd = libc.symbols.socket(2, 2, 0);
	if (fd < 0) throw new Error("socket(AF_INET, SOCK_DGRAM) failed");
	try {
		if (libc.symbols.ioctl(fd, SIOCETHTOOL, ptr(ifr)) !== 0) {
			const loc = libc.symbols.__errno_location();
			throw new Error(`ETHTOOL_SGRO(${ifname}): errno ${loc === null ? "?" : read.i32(loc, 0)}`);
		}
	} finally {
		libc.symbols.close(fd);
	}
}

/** The veth pair: generator side in namespace pp-gen-<id>, receiver pp-<id>d in the root namespace. */
class Pair {
	readonly id = randomBytes(2).toString("hex");
	readonly ns = `pp-gen-${this.id}`;
	readonly rx = `pp-${this.id}d`;
	readonly tx = `pp-${this.id}g`;
	readonly nftTable = `pp_bench_${this.id}`;
	private nftLoaded = false;
	private readonly children = new Set<ReturnType<typeof Bun.spawn>>();

	create(): void {
		sh(["ip", "netns", "add", this.ns]);
		sh(["ip", "link", "add", this.rx, "type", "veth", "peer", "name", this.tx, "netns", this.ns]);
		// No addresses and no IPv6 on either side: the only frames on the pair are the generator's.
		writeFileSync(`/proc/sys/net/ipv6/conf/${this.rx}/disable_ipv6`, "1");
		this.inNs(["sysctl", "-qw", `net.ipv6.conf.${this.tx}.disable_ipv6=1`]);
		setGro(this.rx, true);
		sh(["ip", "link", "set", this.rx, "up"]);
		this.inNs(["ip", "link", "set", this.tx, "up"]);
		writeFileSync(`/sys/class/net/${this.rx}/threaded`, "1");
	}

	inNs(args: string[]): string {
		return sh(["ip", "netns", "exec", this.ns, ...args]);
	}

	sysfs(attr: string): string {
		return readFileSync(`/sys/class/net/${this.rx}/${attr}`, "utf8").trim();
	}

	get ifindex(): number {
		return Number(this.sysfs("ifindex"));
	}

	/** Pins a veth's NAPI thread ("napi/<dev>-<id>"), by default the receiver's to RX_CPU; returns its pid. */
	pinNapi(dev = this.rx, cpu = RX_CPU): number {
		const comm = `napi/${dev}-`.slice(0, 15);
		const pids = readdirSync("/proc").filter((d) => {
			if (!/^\d+$/.test(d)) return false;
			try {
				return readFileSync(`/proc/${d}/comm`, "utf8").startsWith(comm);
			} catch {
				return false;
			}
		});
		if (pids.length !== 1) throw new Error(`expected one NAPI thread for ${dev}, found ${pids.length}`);
		sh(["taskset", "-pc", String(cpu), pids[0] as string]);
		return Number(pids[0]);
	}

	/**
	 * Generator-side counters: offered = frames the receiver's ring took + frames it refused;
	 * returned = frames that came back (the SYN-ACKs, taken by drainAnswers()'s program).
	 */
	generatorFrames(): { offered: number; returned: number } {
		const [tx, dropped, rx] = this.inNs([
			"cat",
			...["tx_packets", "tx_dropped", "rx_packets"].map((c) => `/sys/class/net/${this.tx}/statistics/${c}`),
		])
			.trim()
			.split("\n")
			.map(Number);
		return { offered: (tx as number) + (dropped as number), returned: rx as number };
	}

	/**
	 * XDP_TX out of the receiving veth silently drops unless its peer has NAPI: the trivial XDP_DROP
	 * program on the generator's veth provides it and consumes the answers, its NAPI threaded and
	 * pinned to the generator's CPU so the receiver's CPU only pays for sending them.
	 */
	drainAnswers(): void {
		this.inNs(["ip", "link", "set", "dev", this.tx, "xdpdrv", "object", TRIVIAL_PATH, "program", "pp_trivial_drop"]);
		this.inNs(["sh", "-c", `echo 1 > /sys/class/net/${this.tx}/threaded`]);
		this.pinNapi(this.tx, GEN_CPU);
	}

	receivedFrames(): number {
		return Number(this.sysfs("statistics/rx_packets"));
	}

	startGenerator(opts: {
		seconds: number;
		prefixes: number;
		hosts: number;
		syn: boolean;
	}): ReturnType<typeof Bun.spawn> {
		const child = Bun.spawn(
			[
				"timeout",
				String(Math.ceil(opts.seconds + 30)),
				"ip",
				"netns",
				"exec",
				this.ns,
				"taskset",
				"-c",
				String(GEN_CPU),
				process.execPath,
				GEN_SCRIPT,
				"--ifname",
				this.tx,
				"--dst-mac",
				this.sysfs("address"),
				"--seconds",
				String(opts.seconds),
				"--prefixes",
				String(opts.prefixes),
				"--hosts",
				String(opts.hosts),
				...(opts.syn ? ["--syn"] : []),
			],
			{ stdout: "pipe", stderr: "pipe" },
		);
		this.children.add(child);
		child.exited.then(() => this.children.delete(child));
		return child;
	}

	private nft(script: string): void {
		const p = Bun.spawnSync(["nft", "-f", "-"], { stdin: Buffer.from(script), stdout: "pipe", stderr: "pipe" });
		if (p.exitCode !== 0) throw new Error(`nft -f failed: ${p.stderr.toString().trim()}`);
	}

	/** The table, its interval set and counter; the hook chain comes with hookNft(). Returns ms taken. */
	loadNft(prefixes: number[]): number {
		const file = join(tmpdir(), `${this.nftTable}.nft`);
		writeFileSync(
			file,
			`table netdev ${this.nftTable} {
	set blocked {
		type ipv4_addr
		flags interval
		elements = { ${prefixes.map(prefixCidr).join(",\n")} }
	}
	counter blocked_drops {
	}
}
`,
		);
		const t0 = performance.now();
		this.nftLoaded = true;
		try {
			sh(["nft", "-f", file]);
		} finally {
			rmSync(file, { force: true });
		}
		return performance.now() - t0;
	}

	hookNft(): void {
		this.nft(`add chain netdev ${this.nftTable} ingress { type filter hook ingress device "${this.rx}" priority -500; policy accept; }
add rule netdev ${this.nftTable} ingress ip saddr @blocked counter name "blocked_drops" drop
`);
	}

	unhookNft(): void {
		this.nft(`flush chain netdev ${this.nftTable} ingress\ndelete chain netdev ${this.nftTable} ingress\n`);
	}

	nftDrops(): number {
		const out = JSON.parse(sh(["nft", "-j", "list", "counter", "netdev", this.nftTable, "blocked_drops"])) as {
			nftables: { counter?: { packets: number } }[];
		};
		const c = out.nftables.find((e) => e.counter !== undefined)?.counter;
		if (c === undefined) throw new Error("nft counter blocked_drops not found");
		return c.packets;
	}

	dropNft(): void {
		if (this.nftLoaded) sh(["nft", "delete", "table", "netdev", this.nftTable], true);
		this.nftLoaded = false;
	}

	destroy(): void {
		for (const c of this.children) c.kill("SIGKILL");
		this.dropNft();
		// Deleting the device also removes its XDP program and the peer.
		sh(["ip", "link", "del", this.rx], true);
		sh(["ip", "netns", "del", this.ns], true);
	}
}

const live = new Set<Pair>();
function destroyAll(): void {
	for (const p of live) p.destroy();
	live.clear();
}
process.on("exit", destroyAll);
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
	process.on(signal, () => {
		destroyAll();
		process.exit(128 + (signal === "SIGINT" ? 2 : signal === "SIGTERM" ? 15 : 1));
	});
}

/** Rule i drops its source set on ports the service does not use: 64 rules evaluated, none deciding. */
function rules(): CompiledRule[] {
	return Array.from({ length: RULES }, (_, i) => ({
		srcAny: 1n << BigInt(i),
		srcNone: 0n,
		dports: [{ lo: 1000 + i * 10, hi: 1005 + i * 10 }],
		protos: i % 2,
		statsSlot: i,
		action: Action.DROP,
	}));
}

/** pp_xdp with the management list, the rules' source sets, the blocked prefixes and `service` on rule set 0. */
function openPpXdp(prefixes: number[], service: (dp: Dataplane) => void = udpService): Dataplane {
	const dp = Dataplane.open({ sampleRate: 0, listGen: 0, mgmtPorts: [22, 8443] }, { cpus: numPossibleCpus() });
	try {
		dp.mgmt("203.0.113.0/24");
		for (let i = 0; i < RULES; i++) {
			for (let j = 0; j < 100; j++) dp.sourceSets(`${20 + i}.${j}.0.0/16`, [i]);
		}
		dp.blockMany(prefixes.map(prefixCidr));
		service(dp);
		dp.setRules(0, rules());
		return dp;
	} catch (err) {
		dp.close();
		throw err;
	}
}

function udpService(dp: Dataplane): void {
	dp.addService({ addr: SERVICE_ADDR, port: GAME_PORT, proto: IPPROTO.UDP, backend: 1, level: "MEDIUM", ruleset: 0 });
}

/** pp_syn_cfg as the reconciler writes it for a 1500-byte MTU, SYNPROXY's window scale 7. */
const SYN_CFG = { xdp: true, mss4: 1460, mss6: 1440, wscale: 7, ttl: 64 };
const UNLIMITED = { requestsPerSecond: 0xffffffff, burstSize: 0xffffffff };

/**
 * The TCP service at HIGH as the reconciler writes it for a plain TCP backend: HIGH's flags and
 * per-source limits, its new-connection limit per source (pp_l7_cfgs, 20/s burst 40) and XDP SYN
 * cookies on; with `lifted` the backend's bucket (HIGH: 50k packets/s) is set out of reach.
 */
function synService(lifted: boolean): (dp: Dataplane) => void {
	return (dp) => {
		dp.addService({
			addr: SERVICE_ADDR,
			port: SYN_PORT,
			proto: IPPROTO.TCP,
			backend: 1,
			level: "HIGH",
			ruleset: 0,
			overrides: lifted ? { globalRateLimit: UNLIMITED } : undefined,
		});
		dp.setL7(1, { flags: 0, quicVersions: [], sessionNs: 60_000_000_000n, conn: connectionLimit("HIGH") });
		dp.setSyn(SYN_CFG);
	};
}

function reasonTotals(dp: Dataplane): Record<ReasonName, number> {
	const r = dp.reasons();
	return Object.fromEntries(REASON_NAMES.map((n) => [n, Number(r[n].packets)])) as Record<ReasonName, number>;
}

interface Snapshot {
	t: number;
	offered: number;
	received: number;
	returned: number;
	counts: Record<string, number>;
}

/** The generator's stdout, read incrementally: its `ready` line, then everything up to exit. */
class LineReader {
	private readonly reader: ReadableStreamDefaultReader<Uint8Array>;
	private readonly decoder = new TextDecoder();
	private buffered = "";

	constructor(stream: ReadableStream<Uint8Array>) {
		this.reader = stream.getReader();
	}

	async line(): Promise<string> {
		while (!this.buffered.includes("\n")) {
			const { value, done } = await this.reader.read();
			if (done) break;
			this.buffered += this.decoder.decode(value, { stream: true });
		}
		const nl = this.buffered.indexOf("\n");
		const line = nl < 0 ? this.buffered : this.buffered.slice(0, nl);
		this.buffered = nl < 0 ? "" : this.buffered.slice(nl + 1);
		return line.trim();
	}

	async rest(): Promise<string> {
		for (;;) {
			const { value, done } = await this.reader.read();
			if (done) return this.buffered;
			this.buffered += this.decoder.decode(value, { stream: true });
		}
	}
}

/** One window, as rates per second. */
interface Sample {
	/** The receiver's own counters (drops, answers, pp_xdp's reasons). */
	counts: Record<string, number>;
	offered: number;
	received: number;
	/** Frames that came back to the generator's veth (answers). */
	returned: number;
	genNs: number;
}

/** Runs the generator against whatever receives on pair.rx now and measures one window. */
async function measure(
	pair: Pair,
	opts: LiveOptions,
	gen: { hosts: number; syn: boolean },
	counts: () => Record<string, number>,
): Promise<Sample> {
	pair.pinNapi();
	const child = pair.startGenerator({
		seconds: opts.warmupS + opts.windowS + 0.3,
		prefixes: opts.prefixes,
		hosts: gen.hosts,
		syn: gen.syn,
	});
	const stdout = new LineReader(child.stdout as ReadableStream<Uint8Array>);
	const ready = await stdout.line();
	if (ready !== "ready") {
		await child.exited;
		const err = await new Response(child.stderr as ReadableStream).text();
		throw new Error(`generator did not start: ${ready} ${err.trim()}`);
	}
	await Bun.sleep(opts.warmupS * 1000);
	const snap = (): Snapshot => {
		const before = performance.now();
		const s = { t: 0, ...pair.generatorFrames(), received: pair.receivedFrames(), counts: counts() };
		s.t = (before + performance.now()) / 2;
		return s;
	};
	const a = snap();
	await Bun.sleep(opts.windowS * 1000);
	const b = snap();
	const [code, out, err] = await Promise.all([
		child.exited,
		stdout.rest(),
		new Response(child.stderr as ReadableStream).text(),
	]);
	if (code !== 0) throw new Error(`generator exited ${code}: ${err.trim()}`);
	const result = JSON.parse(out.trim().split("\n").at(-1) as string) as GenResult;
	const s = (b.t - a.t) / 1000;
	return {
		counts: Object.fromEntries(Object.entries(b.counts).map(([k, v]) => [k, (v - (a.counts[k] ?? 0)) / s])),
		offered: (b.offered - a.offered) / s,
		received: (b.received - a.received) / s,
		returned: (b.returned - a.returned) / s,
		genNs: result.nsPerFrame,
	};
}

/** A receiver set up once and attached to the veth only while it is measured. */
interface ReceiverUnderTest {
	name: Receiver | SynReceiver;
	label: string;
	countedBy: string;
	attach(): void;
	detach(): void;
	/** Its counters, cumulative: `drops` for the drop receivers, per reason for pp_xdp under SYNs. */
	counts(): Record<string, number>;
	/** What else it counted since attach(), e.g. drop reasons other than BLOCK. */
	unexpected(): string[];
	close(): void;
}

/**
 * A program with no counter of its own (trivial XDP_DROP or XDP_TX, floor): it does the same to
 * every frame, so the veth's rx_packets counts it, under `key`.
 */
function programReceiver(
	pair: Pair,
	obj: BpfObject,
	prog: string,
	r: { name: Receiver | SynReceiver; label: string; key: string },
): ReceiverUnderTest {
	const fd = obj.program(prog).fd;
	return {
		name: r.name,
		label: r.label,
		countedBy: "veth rx_packets",
		attach: () => xdpAttach(pair.ifindex, fd, { mode: "native" }),
		detach: () => xdpDetach(pair.ifindex, { mode: "native", expectedFd: fd }),
		counts: () => ({ [r.key]: pair.receivedFrames() }),
		unexpected: () => [],
		close: () => obj.close(),
	};
}

function loadObject(path: string): BpfObject {
	const obj = BpfObject.openMem(new Uint8Array(readFileSync(path)), { noPinning: true });
	try {
		obj.load();
		return obj;
	} catch (err) {
		obj.close();
		throw err;
	}
}

/** The trivial XDP_DROP program. */
function trivialReceiver(pair: Pair): ReceiverUnderTest {
	return programReceiver(pair, loadObject(TRIVIAL_PATH), "pp_trivial_drop", {
		name: "trivial",
		label: "trivial XDP_DROP",
		key: "drops",
	});
}

/** The trivial XDP_TX program: every frame goes back out unchanged. */
function answerReceiver(pair: Pair): ReceiverUnderTest {
	return programReceiver(pair, loadObject(ANSWER_OBJ), "pp_answer_tx", {
		name: "answer",
		label: "trivial XDP_TX (answers every frame, unchanged)",
		key: "answered",
	});
}

/** The floor program: parse + one /24 hash lookup; every frame hits, so rx_packets counts its drops. */
function floorReceiver(pair: Pair, prefixes: number[]): ReceiverUnderTest {
	return programReceiver(pair, openFloor(prefixes.map(prefixCidr)), "pp_floor_drop", {
		name: "floor",
		label: `floor: parse + one /24 hash lookup in ${prefixes.length.toLocaleString("en-US")} prefixes`,
		key: "drops",
	});
}

/** pp_xdp as set up by openPpXdp; counts() gives every reason counter, drops the one the row reports. */
function ppXdpReceiver(
	pair: Pair,
	dp: Dataplane,
	r: { name: Receiver | SynReceiver; label: string; countedBy: string; expected: ReasonName },
): ReceiverUnderTest {
	let before = reasonTotals(dp);
	return {
		name: r.name,
		label: r.label,
		countedBy: r.countedBy,
		attach: () => {
			before = reasonTotals(dp);
			xdpAttach(pair.ifindex, dp.prog.fd, { mode: "native" });
		},
		detach: () => xdpDetach(pair.ifindex, { mode: "native", expectedFd: dp.prog.fd }),
		counts: () => {
			const t = reasonTotals(dp);
			return { ...t, drops: t[r.expected] };
		},
		unexpected: () => {
			const after = reasonTotals(dp);
			return REASON_NAMES.filter((n) => n !== r.expected && after[n] !== before[n]).map(
				(n) => `${n} ${after[n] - before[n]}`,
			);
		},
		close: () => dp.close(),
	};
}

/** No XDP; an nftables netdev ingress chain dropping the same prefixes from an interval set. */
function nftReceiver(pair: Pair, prefixes: number[]): ReceiverUnderTest {
	pair.loadNft(prefixes);
	return {
		name: "nftables",
		label: `nftables netdev ingress, interval set of ${prefixes.length.toLocaleString("en-US")} /24`,
		countedBy: "nft rule counter",
		attach: () => {
			if (xdpQueryId(pair.ifindex, "native") !== 0) throw new Error(`${pair.rx} still has an XDP program`);
			pair.hookNft();
		},
		detach: () => pair.unhookNft(),
		counts: () => ({ drops: pair.nftDrops() }),
		unexpected: () => [],
		close: () => pair.dropNft(),
	};
}

function median(xs: number[]): number {
	const s = [...xs].sort((a, b) => a - b);
	return s[Math.floor(s.length / 2)] as number;
}

interface Measured {
	samples: Sample[];
	notes: string[];
}

/** opts.rounds rounds over all receivers, interleaved, each attached only for its own window. */
async function runRounds(
	pair: Pair,
	receivers: ReceiverUnderTest[],
	opts: LiveOptions,
	gen: { hosts: number; syn: boolean },
): Promise<Map<ReceiverUnderTest, Measured>> {
	const out = new Map<ReceiverUnderTest, Measured>(receivers.map((r) => [r, { samples: [], notes: [] }]));
	for (let round = 0; round < opts.rounds; round++) {
		for (const r of receivers) {
			const m = out.get(r) as Measured;
			r.attach();
			try {
				m.samples.push(await measure(pair, opts, gen, () => r.counts()));
				m.notes.push(...r.unexpected());
			} finally {
				r.detach();
			}
		}
	}
	return out;
}

/** A pair set up by `setup`, receivers opened by `open`, all removed again whatever happens. */
async function withPair<T>(
	setup: (pair: Pair) => void,
	open: (pair: Pair) => ReceiverUnderTest[],
	run: (pair: Pair, receivers: ReceiverUnderTest[]) => Promise<T>,
): Promise<T> {
	buildBenchObjects();
	const pair = new Pair();
	live.add(pair);
	const receivers: ReceiverUnderTest[] = [];
	try {
		pair.create();
		setup(pair);
		receivers.push(...open(pair));
		return await run(pair, receivers);
	} finally {
		for (const r of receivers) r.close();
		pair.destroy();
		live.delete(pair);
	}
}

function timed<T>(setup: string[], name: string, f: () => T): T {
	const t0 = performance.now();
	const r = f();
	setup.push(`${name} loaded in ${((performance.now() - t0) / 1000).toFixed(2)} s`);
	return r;
}

export async function benchLive(opts: LiveOptions = LIVE_DEFAULTS): Promise<LiveResult> {
	const prefixes = blockedPrefixes(opts.prefixes);
	const rows: LiveRow[] = [];
	const setup: string[] = [];
	const open = (pair: Pair): ReceiverUnderTest[] => {
		const receivers: ReceiverUnderTest[] = [];
		try {
			for (const name of opts.receivers) {
				if (name === "trivial") receivers.push(trivialReceiver(pair));
				else if (name === "floor") receivers.push(floorReceiver(pair, prefixes));
				else if (name === "pp_xdp")
					receivers.push(
						timed(setup, name, () =>
							ppXdpReceiver(pair, openPpXdp(prefixes), {
								name,
								label: `pp_xdp: ${prefixes.length.toLocaleString("en-US")} blocked /24, MEDIUM service, ${RULES} rules`,
								countedBy: "pp_reason_ctrs[BLOCK]",
								expected: "BLOCK",
							}),
						),
					);
				else if (name === "nftables") receivers.push(timed(setup, name, () => nftReceiver(pair, prefixes)));
				else throw new Error(`unknown receiver ${name}`);
			}
			return receivers;
		} catch (err) {
			for (const r of receivers) r.close();
			throw err;
		}
	};
	await withPair(
		() => {},
		open,
		async (pair, receivers) => {
			for (const sources of opts.sources) {
				const measured = await runRounds(pair, receivers, opts, { hosts: HOSTS[sources], syn: false });
				for (const r of receivers) {
					const { samples: xs, notes } = measured.get(r) as Measured;
					const drops = xs.map((x) => x.counts.drops as number);
					rows.push({
						receiver: r.name as Receiver,
						label: r.label,
						sources,
						drops: median(drops),
						dropsMin: Math.min(...drops),
						dropsMax: Math.max(...drops),
						offered: median(xs.map((x) => x.offered)),
						received: median(xs.map((x) => x.received)),
						genNs: median(xs.map((x) => x.genNs)),
						countedBy: r.countedBy,
						note: [...new Set(notes)].join(", "),
					});
				}
			}
		},
	);
	return { rows, setupNote: setup.join("; "), options: opts };
}

/** One receiver of the SYN flood over all rounds (rates per second, medians). */
export interface SynRow {
	receiver: SynReceiver;
	label: string;
	/** Frames the receiving veth's NAPI took off the ring (rx_packets): what the receiver handled. */
	handled: number;
	handledMin: number;
	handledMax: number;
	/** Frames sent back with XDP_TX, by the receiver's own count (SYN_COOKIE for pp_xdp). */
	answered: number;
	answeredMin: number;
	answeredMax: number;
	/** Frames that arrived back at the generator's veth. */
	returned: number;
	offered: number;
	genNs: number;
	/** pp_xdp's verdicts by reason, per second (medians), the non-zero ones. */
	reasons: [ReasonName, number][];
	countedBy: string;
}

export interface SynResult {
	rows: SynRow[];
	setupNote: string;
	options: LiveOptions;
}

/**
 * Spoofed SYNs (random host in a random /24 of opts.prefixes, ~25M sources: each sends about one
 * SYN, so per-source limits never bind) to the TCP service, against the SYN receivers. pp_xdp holds
 * the same 100k-prefix block list, of other prefixes than the sources', and the same rules.
 */
export async function benchLiveSyn(opts: LiveOptions = LIVE_DEFAULTS): Promise<SynResult> {
	// blockedPrefixes is deterministic: its first n are the sources, the next n are blocked.
	const blocked = blockedPrefixes(2 * opts.prefixes).slice(opts.prefixes);
	const n = blocked.length.toLocaleString("en-US");
	const setup: string[] = [];
	const open = (pair: Pair): ReceiverUnderTest[] => {
		const receivers: ReceiverUnderTest[] = [];
		try {
			for (const name of opts.synReceivers) {
				if (name === "trivial") receivers.push(trivialReceiver(pair));
				else if (name === "answer") receivers.push(answerReceiver(pair));
				else if (name === "pp_xdp_syn" || name === "pp_xdp_high") {
					const lifted = name === "pp_xdp_syn";
					receivers.push(
						timed(setup, name, () =>
							ppXdpReceiver(pair, openPpXdp(blocked, synService(lifted)), {
								name,
								label: `pp_xdp: HIGH TCP service, XDP SYN cookies, ${lifted ? "backend bucket lifted" : "HIGH's backend bucket (50k/s)"}; ${n} blocked /24 (not the sources), ${RULES} rules`,
								countedBy: "pp_reason_ctrs[SYN_COOKIE]",
								expected: "SYN_COOKIE",
							}),
						),
					);
				} else throw new Error(`unknown SYN receiver ${name}`);
			}
			return receivers;
		} catch (err) {
			for (const r of receivers) r.close();
			throw err;
		}
	};
	const rows = await withPair(
		(pair) => pair.drainAnswers(),
		open,
		async (pair, receivers) => {
			const measured = await runRounds(pair, receivers, opts, { hosts: HOSTS.spread, syn: true });
			return receivers.map((r): SynRow => {
				const xs = (measured.get(r) as Measured).samples;
				const answeredOf = (x: Sample) => x.counts.answered ?? x.counts.SYN_COOKIE ?? 0;
				const handled = xs.map((x) => x.received);
				const answered = xs.map(answeredOf);
				return {
					receiver: r.name as SynReceiver,
					label: r.label,
					handled: median(handled),
					handledMin: Math.min(...handled),
					handledMax: Math.max(...handled),
					answered: median(answered),
					answeredMin: Math.min(...answered),
					answeredMax: Math.max(...answered),
					returned: median(xs.map((x) => x.returned)),
					offered: median(xs.map((x) => x.offered)),
					genNs: median(xs.map((x) => x.genNs)),
					reasons: REASON_NAMES.map((n): [ReasonName, number] => [n, median(xs.map((x) => x.counts[n] ?? 0))]).filter(
						([, v]) => v > 0,
					),
					countedBy: r.countedBy,
				};
			});
		},
	);
	return { rows, setupNote: setup.join("; "), options: opts };
}

function mpps(n: number): string {
	return (n / 1e6).toFixed(2);
}

const SOURCES_LABEL: Record<Sources, string> = {
	spread: "random host in a random blocked /24 (~25M distinct sources)",
	"per-prefix": "one source per blocked /24 (.1, 100k distinct)",
};

/** Markdown: one table per source pattern, ratios within the pattern. */
export function liveTable(r: LiveResult): string {
	const o = r.options;
	const lines = [
		`Generator: BPF_PROG_TEST_RUN in live-frames mode (BPF_F_TEST_XDP_LIVE_FRAMES, batch 64), an XDP program redirecting 60-byte UDP/IPv4 frames (64 on the wire) to port ${GAME_PORT} out of a veth in namespace pp-gen-…, on CPU ${GEN_CPU}. Receiver: the peer veth in the root namespace, NAPI threaded and pinned to CPU ${RX_CPU}. ${o.rounds} rounds × ${o.windowS} s per receiver (after ${o.warmupS} s warm-up), interleaved; median (min–max) in Mpps. Every frame comes from a blocked prefix, so every receiver drops all it takes off the ring; offered is what the generator put to the veth, ring-full refusals included. ${r.setupNote}.`,
	];
	for (const sources of o.sources) {
		const rows = r.rows.filter((x) => x.sources === sources);
		const trivial = rows.find((x) => x.receiver === "trivial")?.drops ?? Number.NaN;
		const nft = rows.find((x) => x.receiver === "nftables")?.drops ?? Number.NaN;
		lines.push(
			"",
			`Sources: ${SOURCES_LABEL[sources]}`,
			"",
			"| receiver | drops/s (M) | × trivial XDP_DROP | × nftables | offered/s (M) | generator ns/frame | drops counted by |",
			"|---|---:|---:|---:|---:|---:|---|",
		);
		for (const row of rows) {
			const saturated = row.offered > row.drops * 1.05 ? "" : " (not saturated)";
			lines.push(
				`| ${row.label}${row.note ? ` (also: ${row.note})` : ""} | ${mpps(row.drops)} (${mpps(row.dropsMin)}–${mpps(row.dropsMax)}) | ${(row.drops / trivial).toFixed(2)} | ${(row.drops / nft).toFixed(2)} | ${mpps(row.offered)}${saturated} | ${row.genNs.toFixed(0)} | ${row.countedBy} |`,
			);
		}
	}
	return lines.join("\n");
}

/** Markdown: the SYN-flood table, rates against the trivial XDP_DROP program of the same run. */
export function synTable(r: SynResult): string {
	const o = r.options;
	const trivial = r.rows.find((x) => x.receiver === "trivial")?.handled ?? Number.NaN;
	const lines = [
		`Generator: the drop-rate bench's (live frames, batch 64, CPU ${GEN_CPU}; answered pages come back rewritten and are restored from the template), sending ${LINUX_SYN_OPTIONS.length + 54}-byte TCP SYNs (${LINUX_SYN_OPTIONS.length + 58} on the wire) with Linux's options (MSS 1460, SACK permitted, timestamps, window scale 7) to port ${SYN_PORT}, each from a random host in a random /24 of ${o.prefixes.toLocaleString("en-US")} (~25M distinct sources, so each sends about one SYN and per-source limits never bind); the TCP checksum is left stale by the per-frame rewrite, which XDP SYN cookies do not check. Receiver: NAPI threaded on CPU ${RX_CPU}. Answers (XDP_TX) go back to the generator's veth, where the trivial XDP_DROP program takes them, its NAPI threaded on CPU ${GEN_CPU}. ${o.rounds} rounds × ${o.windowS} s per receiver (after ${o.warmupS} s warm-up), interleaved; median (min–max) in Mpps. handled: frames the receiver took off the ring (rx_packets); answered: frames it sent back by its own count; back at generator: the generator veth's rx_packets. ${r.setupNote}.`,
		"",
		"| receiver | handled/s (M) | × trivial XDP_DROP | answered/s (M) | answered / offered | back at generator/s (M) | offered/s (M) | generator ns/frame | verdicts/s (M) |",
		"|---|---:|---:|---:|---:|---:|---:|---:|---|",
	];
	for (const row of r.rows) {
		const verdicts =
			row.receiver === "trivial"
				? "XDP_DROP: all"
				: row.receiver === "answer"
					? "XDP_TX: all"
					: row.reasons.map(([n, v]) => `${n} ${mpps(v)}`).join(", ");
		const saturated = row.offered > row.handled * 1.05 ? "" : " (not saturated)";
		const drop = row.receiver === "trivial";
		const answered = drop ? "—" : `${mpps(row.answered)} (${mpps(row.answeredMin)}–${mpps(row.answeredMax)})`;
		lines.push(
			`| ${row.label} | ${mpps(row.handled)} (${mpps(row.handledMin)}–${mpps(row.handledMax)}) | ${(row.handled / trivial).toFixed(2)} | ${answered} | ${drop ? "—" : (row.answered / row.offered).toFixed(2)} | ${mpps(row.returned)} | ${mpps(row.offered)}${saturated} | ${row.genNs.toFixed(0)} | ${verdicts} |`,
		);
	}
	return lines.join("\n");
}

if (import.meta.main) {
	const skip = liveSkipReason();
	if (skip) {
		console.error(`live bench skipped: ${skip}`);
		process.exit(0);
	}
	// --syn: only the SYN flood (benchLiveSyn); otherwise the drop rate tables.
	if (process.argv.includes("--syn")) console.log(synTable(await benchLiveSyn()));
	else console.log(liveTable(await benchLive()));
}
