// Cost of pp_xdp per packet, by verdict path, measured with BPF_PROG_TEST_RUN
// (repeat = 1,000,000 by default) against the trivial XDP_PASS program measured in the
// same run. Prints a markdown table. Needs root and `bun run build:bpf`.
//
//   bun test/bench/dataplane-prog.ts [--repeat N] [--rounds N] [--budget-s N] [--only TEXT]
//
// Each path is run `rounds` times and the median kept; the whole run stops early once the
// time budget is spent (remaining paths are reported as skipped).
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import {
	Action,
	type CompiledRule,
	IPPROTO,
	L7,
	L7Flag,
	QUIC_V1,
	QUIC_V2,
	REASON_NAMES,
	type ReasonName,
} from "../../src/dataplane/abi.ts";
import { BpfObject, type BpfProgram, XDP_DROP, XDP_PASS, XDP_TX } from "../../src/dataplane/libbpf.ts";
import { Dataplane, skipReason, TRIVIAL_PATH } from "../bpf/harness.ts";
import { buildPacket, TCP_ACK, TCP_PSH, TCP_SYN } from "../helpers/packets.ts";
import { buildBenchObjects, GAME_TABLE_MARK, openFloor } from "./live.ts";
import { LINUX_SYN_OPTIONS } from "./live-gen.ts";

const { values: args } = parseArgs({
	options: {
		repeat: { type: "string", default: "1000000" },
		rounds: { type: "string", default: "3" },
		"budget-s": { type: "string", default: "120" },
		only: { type: "string" },
		game: { type: "boolean", default: false },
	},
});
const REPEAT = Number(args.repeat);
const ROUNDS = Number(args.rounds);
const DEADLINE = performance.now() + Number(args["budget-s"]) * 1000;

const skip = skipReason();
if (skip) {
	console.error(`dataplane-prog bench skipped: ${skip}`);
	process.exit(0);
}

const SERVER = "192.0.2.10";
const CLIENT = "198.51.100.7";
const BANNED = "198.51.100.66";
const ALLOWED = "198.51.100.77";
const BLOCKED = "100.64.1.1";
/** A /24 with no longer entry in it: its summary state is MATCH. */
const BLOCKED_NET = "100.65.2";
const RULE_HIT = "198.51.100.88";
const JAVA = 25565;
const PREFIXES = 100_000;
const RULES = 64;
const BIG: { requestsPerSecond: number; burstSize: number } = {
	requestsPerSecond: 4_000_000_000,
	burstSize: 4_000_000_000,
};

function pkt(src: string, dport = JAVA): Uint8Array {
	return buildPacket({ src, dst: SERVER, l4: { proto: "tcp", sport: 40000, dport, flags: TCP_ACK }, payload: 64 });
}

/** Deterministic pseudo-random /24 and /32 prefixes outside the addresses used here. */
function* blockPrefixes(n: number): Generator<string> {
	let x = 0x12345678;
	let made = 0;
	while (made < n) {
		x = (Math.imul(x, 1103515245) + 12345) >>> 0;
		const a = 1 + ((x >>> 24) % 223);
		if (a === 10 || a === 100 || a === 127 || a === 192 || a === 198 || a === 203) continue;
		const b = (x >>> 16) & 0xff;
		const c = (x >>> 8) & 0xff;
		made++;
		yield made % 4 === 0 ? `${a}.${b}.${c}.${x & 0xff}/32` : `${a}.${b}.${c}.0/24`;
	}
}

function rules(): CompiledRule[] {
	// Rule i drops its source set i on ports it does not share with the service, except
	// rule 40, which drops set 40 on the service port: realistic country/ASN blocks.
	return Array.from({ length: RULES }, (_, i) => ({
		srcAny: 1n << BigInt(i),
		srcNone: 0n,
		dports: i === 40 ? [{ lo: JAVA, hi: JAVA }] : [{ lo: 1000 + i * 10, hi: 1005 + i * 10 }],
		protos: i % 2 === 0 ? 0 : 1,
		statsSlot: i,
		action: Action.DROP,
	}));
}

interface Path {
	name: string;
	setup: (dp: Dataplane) => void;
	/** Packets sent after setup and before the measured one (a flow's SYN, a session's opening). */
	prime?: (dp: Dataplane) => void;
	packet: Uint8Array;
	verdict: number;
	reason: ReasonName;
}

function service(dp: Dataplane, opts: { ruleset?: number; perIp?: typeof BIG } = {}): void {
	dp.addService({
		addr: SERVER,
		port: JAVA,
		proto: IPPROTO.TCP,
		backend: 1,
		level: "MEDIUM",
		ruleset: opts.ruleset,
		overrides: { perIpRateLimit: opts.perIp ?? BIG, globalRateLimit: BIG },
	});
}

function fillBlocks(dp: Dataplane): void {
	dp.blockMany([...blockPrefixes(PREFIXES)]);
}

function fillSets(dp: Dataplane): void {
	for (let i = 0; i < RULES; i++) {
		for (let j = 0; j < 100; j++) dp.sourceSets(`${20 + i}.${j}.0.0/16`, [i]);
	}
	dp.sourceSets("198.51.100.0/24", [5]);
	dp.sourceSets(`${RULE_HIT}/32`, [5, 40]);
}

const baseline = (dp: Dataplane) => {
	dp.mgmt("203.0.113.0/24");
	dp.block(`${BLOCKED}/32`);
};

const PATHS: Path[] = [
	{
		name: "pass (service, MEDIUM, small tables)",
		setup: (dp) => {
			baseline(dp);
			service(dp);
		},
		packet: pkt(CLIENT),
		verdict: XDP_PASS,
		reason: "PASS",
	},
	{
		name: "no service (pass, 100k prefixes)",
		setup: (dp) => {
			baseline(dp);
			fillBlocks(dp);
			service(dp);
		},
		packet: pkt(CLIENT, 443),
		verdict: XDP_PASS,
		reason: "NO_SERVICE",
	},
	{
		name: "allow hit",
		setup: (dp) => {
			baseline(dp);
			service(dp);
			dp.allow(`${ALLOWED}/32`);
		},
		packet: pkt(ALLOWED),
		verdict: XDP_PASS,
		reason: "ALLOW",
	},
	{
		name: "ban hit",
		setup: (dp) => {
			baseline(dp);
			service(dp);
			dp.ban(BANNED);
		},
		packet: pkt(BANNED),
		verdict: XDP_DROP,
		reason: "BAN",
	},
	{
		name: "block hit, a /32 (100k prefixes)",
		setup: (dp) => {
			baseline(dp);
			fillBlocks(dp);
			service(dp);
		},
		packet: pkt(BLOCKED),
		verdict: XDP_DROP,
		reason: "BLOCK",
	},
	{
		name: "block hit, a /24 the summary decides (100k prefixes)",
		setup: (dp) => {
			baseline(dp);
			fillBlocks(dp);
			dp.block(`${BLOCKED_NET}.0/24`);
			service(dp);
		},
		packet: pkt(`${BLOCKED_NET}.9`),
		verdict: XDP_DROP,
		reason: "BLOCK",
	},
	{
		name: "rule match (DROP, 64 rules)",
		setup: (dp) => {
			baseline(dp);
			fillSets(dp);
			service(dp, { ruleset: 0 });
			dp.setRules(0, rules());
		},
		packet: pkt(RULE_HIT),
		verdict: XDP_DROP,
		reason: "RULE_DROP",
	},
	{
		name: "rate-limit drop (per source)",
		setup: (dp) => {
			baseline(dp);
			service(dp, { perIp: { requestsPerSecond: 1, burstSize: 1 } });
		},
		packet: pkt(CLIENT),
		verdict: XDP_DROP,
		reason: "RATELIMIT",
	},
	{
		name: "**pass, 100k prefixes + 64 rules**",
		setup: (dp) => {
			baseline(dp);
			fillBlocks(dp);
			fillSets(dp);
			service(dp, { ruleset: 0 });
			dp.setRules(0, rules());
		},
		packet: pkt(CLIENT),
		verdict: XDP_PASS,
		reason: "PASS",
	},
];

// ---- game protocols (issue 6) -----------------------------------------------------------

const BEDROCK = 19132;
const QUIC_PORT = 443;
const RAKNET_MAGIC = [0x00, 0xff, 0xff, 0x00, 0xfe, 0xfe, 0xfe, 0xfe, 0xfd, 0xfd, 0xfd, 0xfd, 0x12, 0x34, 0x56, 0x78];

function varint(n: number): number[] {
	const out: number[] = [];
	let v = n >>> 0;
	do {
		out.push((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
		v >>>= 7;
	} while (v);
	return out;
}
const framed = (body: number[]) => [...varint(body.length), ...body];

/** A Minecraft Java handshake to play.example.com:25565, protocol 767. */
function mcHandshake(next: number): number[] {
	const host = [...Buffer.from("play.example.com")];
	return framed([0, ...varint(767), host.length, ...host, 0x63, 0xdd, next]);
}

function tcpSeg(flags: number, payload: number[]): Uint8Array {
	return buildPacket({
		src: CLIENT,
		dst: SERVER,
		l4: { proto: "tcp", sport: 40000, dport: JAVA, flags },
		payload: Uint8Array.from(payload),
	});
}

function udpTo(dport: number, payload: number[]): Uint8Array {
	return buildPacket({
		src: CLIENT,
		dst: SERVER,
		l4: { proto: "udp", sport: 40001, dport },
		payload: Uint8Array.from(payload),
	});
}

function gameServices(dp: Dataplane): void {
	baseline(dp);
	const overrides = { perIpRateLimit: BIG, globalRateLimit: BIG };
	dp.addService({
		addr: SERVER,
		port: JAVA,
		proto: IPPROTO.TCP,
		backend: 1,
		level: "MEDIUM",
		l7: L7.MINECRAFT_JAVA,
		overrides,
	});
	dp.addService({
		addr: SERVER,
		port: BEDROCK,
		proto: IPPROTO.UDP,
		backend: 2,
		level: "MEDIUM",
		l7: L7.RAKNET,
		overrides,
	});
	dp.addService({
		addr: SERVER,
		port: QUIC_PORT,
		proto: IPPROTO.UDP,
		backend: 3,
		level: "MEDIUM",
		l7: L7.QUIC,
		overrides,
	});
	const l7 = { quicVersions: [QUIC_V1, QUIC_V2], sessionNs: 60_000_000_000n, banNs: 0n };
	dp.setL7(1, { ...l7, flags: L7Flag.MC_JAVA | L7Flag.MC_LEGACY });
	dp.setL7(2, { ...l7, flags: L7Flag.RAKNET });
	dp.setL7(3, { ...l7, flags: L7Flag.QUIC });
}

const quicInitial = (() => {
	const head = [0xc0, 0, 0, 0, 1, 8, ...new Array(8).fill(0x11), 8, ...new Array(8).fill(0x22)];
	return [...head, ...new Array(1200 - head.length).fill(0)];
})();

const GAME_PATHS: Path[] = [
	{
		name: "Minecraft handshake validation (full parse; next state 4, dropped, no ban)",
		setup: gameServices,
		prime: (dp) => dp.run(tcpSeg(TCP_SYN, [])),
		packet: tcpSeg(TCP_ACK | TCP_PSH, mcHandshake(4)),
		verdict: XDP_DROP,
		reason: "MC_HANDSHAKE",
	},
	{
		name: "Minecraft validated-flow fast path (data segment)",
		setup: gameServices,
		prime: (dp) => {
			dp.run(tcpSeg(TCP_SYN, []));
			dp.run(tcpSeg(TCP_ACK | TCP_PSH, [...mcHandshake(1), ...framed([0])]));
		},
		packet: tcpSeg(TCP_ACK | TCP_PSH, new Array(64).fill(0x42)),
		verdict: XDP_PASS,
		reason: "PASS",
	},
	{
		name: "RakNet unconnected ping (magic checked)",
		setup: gameServices,
		packet: udpTo(BEDROCK, [0x01, ...new Array(8).fill(0), ...RAKNET_MAGIC, ...new Array(8).fill(0)]),
		verdict: XDP_PASS,
		reason: "PASS",
	},
	{
		name: "QUIC Initial, 1200 bytes (header checked, session refreshed)",
		setup: gameServices,
		packet: udpTo(QUIC_PORT, quicInitial),
		verdict: XDP_PASS,
		reason: "PASS",
	},
];

const SYN_SINGLE_RUNS = 20_000;

/**
 * Answering a SYN rewrites the frame into the SYN-ACK, and BPF_PROG_TEST_RUN repeats on the
 * rewritten frame: so each SYN is its own run (repeat 1, timed by the kernel around the program
 * only), the trivial program measured the same way next to it.
 */
function synCookieRows(): string[] {
	const syn = buildPacket({
		src: CLIENT,
		dst: SERVER,
		l4: { proto: "tcp", sport: 40002, dport: JAVA, flags: TCP_SYN, options: LINUX_SYN_OPTIONS },
	});
	dp.reset();
	dp.addService({
		addr: SERVER,
		port: JAVA,
		proto: IPPROTO.TCP,
		backend: 1,
		level: "HIGH",
		overrides: { perIpRateLimit: BIG, globalRateLimit: BIG },
	});
	dp.setSyn({ xdp: true, mss4: 1460, mss6: 1440, wscale: 7, ttl: 64 });
	if (dp.run(syn) !== XDP_TX || !dp.reasonPackets().SYN_COOKIE)
		throw new Error("SYN-cookie generation: the SYN was not answered with XDP_TX");
	const single = (prog: BpfProgram) => () => {
		let total = 0;
		for (let i = 0; i < SYN_SINGLE_RUNS; i++) total += prog.testRun(syn).durationNs;
		return Math.round(total / SYN_SINGLE_RUNS);
	};
	const base = timeProg(single(trivialPass));
	const ns = timeProg(single(dp.prog));
	if (base === null || ns === null)
		return ["| SYN-cookie generation (SYN → SYN-ACK, XDP_TX) | skipped (time budget) | |"];
	return [
		`| trivial XDP_PASS, one packet per run (${SYN_SINGLE_RUNS.toLocaleString("en-US")} runs) | ${base} | 1.00 |`,
		`| SYN-cookie generation (SYN → SYN-ACK with MSS/TS/WS, XDP_TX; HIGH, one packet per run) | ${ns} | ${(ns / base).toFixed(2)} |`,
	];
}

function median(xs: number[]): number {
	const s = [...xs].sort((a, b) => a - b);
	return s[Math.floor(s.length / 2)] as number;
}

function timeProg(run: () => number): number | null {
	const samples: number[] = [];
	for (let i = 0; i < ROUNDS; i++) {
		if (performance.now() > DEADLINE) break;
		samples.push(run());
	}
	return samples.length === 0 ? null : median(samples);
}

const trivialObj = BpfObject.openMem(readFileSync(TRIVIAL_PATH), { noPinning: true });
trivialObj.load();
const trivialPass = trivialObj.program("pp_trivial_pass");
const trivialDrop = trivialObj.program("pp_trivial_drop");
const probe = pkt(CLIENT);
const trivial = timeProg(() => trivialPass.testRun(probe, { repeat: REPEAT }).durationNs) as number;
const trivialDropNs = timeProg(() => trivialDrop.testRun(probe, { repeat: REPEAT }).durationNs) as number;

// The floor: parse + one /24 hash lookup in a table of the same prefixes (test/bench/bpf/pp_floor.bpf.c).
buildBenchObjects();
const floorPrefixes = [...blockPrefixes(PREFIXES)].filter((c) => c.endsWith("/24"));
const floorObj = openFloor(floorPrefixes);
const floorProg = floorObj.program("pp_floor_drop");
const floorPacket = pkt((floorPrefixes[0] as string).replace(/0\/24$/, "9"));
if (floorProg.testRun(floorPacket).retval !== XDP_DROP) throw new Error("floor program did not drop a blocked source");
const floorNs = timeProg(() => floorProg.testRun(floorPacket, { repeat: REPEAT }).durationNs) as number;
floorObj.close();

const rows: string[] = [
	"| path | ns/packet | × trivial XDP_PASS |",
	"|---|---:|---:|",
	`| trivial XDP_PASS | ${trivial} | 1.00 |`,
	`| trivial XDP_DROP | ${trivialDropNs} | ${(trivialDropNs / trivial).toFixed(2)} |`,
	`| floor: parse + one /24 hash lookup, ${floorPrefixes.length.toLocaleString("en-US")} prefixes (drop) | ${floorNs} | ${(floorNs / trivial).toFixed(2)} |`,
];

const dp = Dataplane.open();
function measurePaths(paths: Path[], out: string[]): void {
	for (const path of paths.filter((p) => args.only === undefined || p.name.includes(args.only))) {
		if (performance.now() > DEADLINE) {
			out.push(`| ${path.name} | skipped (time budget) | |`);
			continue;
		}
		dp.reset();
		path.setup(dp);
		// Burn the bucket so the measured repetitions all take the path being named.
		dp.run(path.packet);
		dp.reset();
		path.setup(dp);
		if (path.reason === "RATELIMIT") dp.run(path.packet);
		path.prime?.(dp);
		const before = dp.reasonPackets();
		const verdict = dp.run(path.packet);
		const after = dp.reasonPackets();
		const counts = Object.fromEntries(REASON_NAMES.map((r) => [r, (after[r] ?? 0) - (before[r] ?? 0)]));
		const reason = REASON_NAMES.find((r) => (counts[r] ?? 0) > 0 && r === path.reason);
		if (verdict !== path.verdict || reason === undefined) {
			throw new Error(
				`${path.name}: expected ${path.reason}, got verdict ${verdict} reasons ${JSON.stringify(counts)}`,
			);
		}
		const ns = timeProg(() => dp.prog.testRun(path.packet, { repeat: REPEAT }).durationNs);
		out.push(
			ns === null
				? `| ${path.name} | skipped (time budget) | |`
				: `| ${path.name} | ${ns} | ${(ns / trivial).toFixed(2)} |`,
		);
	}
}
measurePaths(PATHS, rows);
const gameRows: string[] = [
	"| path | ns/packet | × trivial XDP_PASS |",
	"|---|---:|---:|",
	`| trivial XDP_PASS | ${trivial} | 1.00 |`,
];
if (args.game) {
	measurePaths(GAME_PATHS, gameRows);
	gameRows.push(...synCookieRows());
}
dp.close();
trivialObj.close();

console.log(
	`BPF_PROG_TEST_RUN, repeat ${REPEAT.toLocaleString("en-US")}, median of ${ROUNDS}, ${PREFIXES.toLocaleString("en-US")} blocked prefixes, ${RULES} rules\n`,
);
console.log(rows.join("\n"));
if (args.game) {
	console.log(`\n${GAME_TABLE_MARK}\n`);
	console.log(gameRows.join("\n"));
}
