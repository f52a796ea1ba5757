// SYN cookies answered from XDP (bpf/pp_syncookie.h) through BPF_PROG_TEST_RUN: at HIGH and
// UNDER_ATTACK a SYN to a TCP service comes back as a well-formed SYN-ACK (XDP_TX) carrying a
// cookie, the ACK that returns it passes, a wrong cookie drops; IPv4, IPv6 and VLAN-tagged.
// Below HIGH, or while user space has not installed its SYNPROXY (pp_syn_cfg without the XDP
// flag), SYNs go to the kernel as before.
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { IPPROTO, L7, L7Flag, type LevelName, type SynConfig } from "../../src/dataplane/abi.ts";
import { XDP_DROP, XDP_PASS, XDP_TX } from "../../src/dataplane/libbpf.ts";
import {
	buildPacket,
	checksumsValid,
	linuxSynOptions,
	TCP_ACK,
	TCP_PSH,
	TCP_RST,
	TCP_SYN,
} from "../helpers/packets.ts";
import { Dataplane, skipReason } from "./harness.ts";

const skip = skipReason();
if (skip) console.warn(`skipping test/bpf/syncookie.test.ts: ${skip}`);
const suite = skip ? describe.skip : describe;

const PORT = 7777;
const ADDR = {
	4: { server: "192.0.2.10", client: "198.51.100.7" },
	6: { server: "2001:db8::10", client: "2001:db8:1::7" },
} as const;
type Fam = 4 | 6;
const SYN_CFG: SynConfig = { xdp: true, mss4: 1460, mss6: 1440, wscale: 7, ttl: 64 };
const ISN = 0x11223344;

/** A Minecraft Java login handshake (protocol 767, play.example.com:25565), length-prefixed. */
function handshake(): number[] {
	const host = [...Buffer.from("play.example.com")];
	const body = [0x00, 0xff, 0x05, host.length, ...host, 0x63, 0xdd, 0x02];
	return [body.length, ...body];
}

let dp: Dataplane;
let sport = 41000;

function serve(level: LevelName, o: { syn?: SynConfig | null; l7?: number; proto?: number } = {}) {
	for (const fam of [4, 6] as const)
		dp.addService({
			addr: ADDR[fam].server,
			port: PORT,
			proto: o.proto ?? IPPROTO.TCP,
			backend: 1,
			level,
			l7: o.l7,
			overrides: {
				perIpRateLimit: { requestsPerSecond: 1_000_000, burstSize: 1_000_000 },
				globalRateLimit: { requestsPerSecond: 1_000_000, burstSize: 1_000_000 },
			},
		});
	if (o.syn !== null) dp.setSyn(o.syn ?? SYN_CFG);
}

function segment(
	fam: Fam,
	o: { flags: number; seq?: number; ack?: number; port?: number; options?: Uint8Array; payload?: number[] },
	extra: { vlans?: number[]; ipv4Options?: Uint8Array } = {},
): Uint8Array {
	const frame = buildPacket({
		src: ADDR[fam].client,
		dst: ADDR[fam].server,
		l4: { proto: "tcp", sport: o.port ?? sport, dport: PORT, flags: o.flags, seq: o.seq ?? ISN, options: o.options },
		payload: o.payload ? new Uint8Array(o.payload) : undefined,
		vlans: extra.vlans,
		ipv4: extra.ipv4Options ? { options: extra.ipv4Options } : undefined,
	});
	if (o.ack !== undefined) {
		// buildPacket has no ACK number: set it and redo the TCP checksum the same way.
		const l3 = 14 + 4 * (extra.vlans?.length ?? 0);
		const l4 = l3 + (fam === 4 ? ((frame[l3] as number) & 0x0f) * 4 : 40);
		new DataView(frame.buffer).setUint32(l4 + 8, o.ack >>> 0);
		fixTcpChecksum(frame, l3, l4, fam);
	}
	return frame;
}

function fixTcpChecksum(frame: Uint8Array, l3: number, l4: number, fam: Fam): void {
	const v = new DataView(frame.buffer, frame.byteOffset);
	v.setUint16(l4 + 16, 0);
	const len = frame.length - l4;
	let sum = 0;
	const add = (b: Uint8Array) => {
		for (let i = 0; i + 1 < b.length; i += 2) sum += ((b[i] as number) << 8) | (b[i + 1] as number);
		if (b.length % 2) sum += (b[b.length - 1] as number) << 8;
	};
	if (fam === 4) add(frame.subarray(l3 + 12, l3 + 20));
	else add(frame.subarray(l3 + 8, l3 + 40));
	sum += 6 + len;
	add(frame.subarray(l4));
	while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
	v.setUint16(l4 + 16, ~sum & 0xffff);
}

interface SynAck {
	frame: Uint8Array;
	srcMac: string;
	dstMac: string;
	src: Uint8Array;
	dst: Uint8Array;
	ttl: number;
	sport: number;
	dport: number;
	seq: number;
	ack: number;
	flags: number;
	window: number;
	doff: number;
	options: Map<number, Uint8Array>;
}

/** Decodes the SYN-ACK the program wrote (Ethernet, optional VLAN tags, IPv4/IPv6, TCP). */
function decode(frame: Uint8Array, fam: Fam, vlans = 0): SynAck {
	const v = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
	const l3 = 14 + 4 * vlans;
	const l4 = l3 + (fam === 4 ? 20 : 40);
	const doff = (v.getUint8(l4 + 12) >> 4) * 4;
	const options = new Map<number, Uint8Array>();
	for (let i = l4 + 20; i < l4 + doff; ) {
		const kind = frame[i] as number;
		if (kind === 0) break;
		if (kind === 1) {
			i++;
			continue;
		}
		const len = frame[i + 1] as number;
		options.set(kind, frame.slice(i + 2, i + len));
		i += len;
	}
	const mac = (o: number) => Buffer.from(frame.subarray(o, o + 6)).toString("hex");
	return {
		frame,
		dstMac: mac(0),
		srcMac: mac(6),
		src: frame.slice(fam === 4 ? l3 + 12 : l3 + 8, fam === 4 ? l3 + 16 : l3 + 24),
		dst: frame.slice(fam === 4 ? l3 + 16 : l3 + 24, fam === 4 ? l3 + 20 : l3 + 40),
		ttl: v.getUint8(fam === 4 ? l3 + 8 : l3 + 7),
		sport: v.getUint16(l4),
		dport: v.getUint16(l4 + 2),
		seq: v.getUint32(l4 + 4),
		ack: v.getUint32(l4 + 8),
		flags: v.getUint8(l4 + 13),
		window: v.getUint16(l4 + 14),
		doff,
		options,
	};
}

const ip = (fam: Fam, which: "client" | "server") =>
	buildPacket({ src: ADDR[fam][which], dst: ADDR[fam][which], l4: { proto: "raw", number: 0 } }).slice(
		fam === 4 ? 14 + 12 : 14 + 8,
		fam === 4 ? 14 + 16 : 14 + 24,
	);

function run(frame: Uint8Array): { verdict: number; out: Uint8Array } {
	const r = dp.prog.testRun(frame);
	return { verdict: r.retval, out: r.dataOut };
}

suite("pp_xdp SYN cookies", () => {
	beforeAll(() => {
		dp = Dataplane.open();
	});
	afterAll(() => dp?.close());
	beforeEach(() => {
		dp.reset();
		sport++;
	});

	for (const fam of [4, 6] as const) {
		test(`IPv${fam}: a SYN at HIGH comes back as a SYN-ACK with a cookie, our MSS, a TS cookie and our window scale`, () => {
			serve("HIGH");
			const syn = segment(fam, { flags: TCP_SYN, options: linuxSynOptions(0xcafe0001) });
			const { verdict, out } = run(syn);
			expect(verdict).toBe(XDP_TX);
			expect(out.length).toBe(14 + (fam === 4 ? 20 : 40) + 40);
			expect(checksumsValid(out)).toBe(true);
			const a = decode(out, fam);
			expect(a.srcMac).toBe(Buffer.from(syn.subarray(0, 6)).toString("hex"));
			expect(a.dstMac).toBe(Buffer.from(syn.subarray(6, 12)).toString("hex"));
			expect(a.src).toEqual(ip(fam, "server"));
			expect(a.dst).toEqual(ip(fam, "client"));
			expect(a.ttl).toBe(64);
			expect([a.sport, a.dport]).toEqual([PORT, sport]);
			expect(a.flags).toBe(TCP_SYN | TCP_ACK);
			expect(a.ack).toBe(ISN + 1);
			expect(a.window).toBe(0);
			expect(a.doff).toBe(40);
			const mss = a.options.get(2) as Uint8Array;
			expect((mss[0] as number) * 256 + (mss[1] as number)).toBe(fam === 4 ? 1460 : 1440);
			expect(a.options.has(4)).toBe(true);
			const ts = new DataView((a.options.get(8) as Uint8Array).buffer);
			// TSval's low 6 bits: the client's window scale (7) and SACK permitted (bit 4).
			expect(ts.getUint32(0) & 0x3f).toBe(7 | 0x10);
			expect(ts.getUint32(4)).toBe(0xcafe0001);
			expect(a.options.get(3)).toEqual(new Uint8Array([7]));
			expect(dp.reasonPackets()).toEqual({ SYN_COOKIE: 1 });
			const b = dp.backendCtr(1);
			expect([b.rxPackets, b.dropPackets, b.passPackets]).toEqual([1n, 1n, 0n]);
		});

		test(`IPv${fam}: the ACK returning the cookie passes to SYNPROXY; a wrong cookie drops`, () => {
			serve("HIGH");
			const a = decode(run(segment(fam, { flags: TCP_SYN, options: linuxSynOptions(7) })).out, fam);
			expect(run(segment(fam, { flags: TCP_ACK, seq: ISN + 1, ack: a.seq + 1 })).verdict).toBe(XDP_PASS);
			// A cookie's low bits encode the MSS index, so a neighbour may be valid: change the
			// hash bits, and the sequence number the cookie covers.
			expect(run(segment(fam, { flags: TCP_ACK, seq: ISN + 1, ack: (a.seq ^ 0x00555500) + 1 })).verdict).toBe(XDP_DROP);
			expect(run(segment(fam, { flags: TCP_ACK, seq: ISN + 1 + 0x100000, ack: a.seq + 1 })).verdict).toBe(XDP_DROP);
			// The first data segment may overtake conntrack's entry: it carries the cookie too.
			expect(
				run(segment(fam, { flags: TCP_ACK | TCP_PSH, seq: ISN + 1, ack: a.seq + 1, payload: [1, 2, 3] })).verdict,
			).toBe(XDP_PASS);
			expect(dp.reasonPackets()).toEqual({ SYN_COOKIE: 1, COOKIE_ACK: 2, COOKIE_BAD: 2 });
		});

		test(`IPv${fam}: a bare SYN without options gets the MSS only (no timestamps to carry the rest)`, () => {
			serve("UNDER_ATTACK");
			const { verdict, out } = run(segment(fam, { flags: TCP_SYN }));
			expect(verdict).toBe(XDP_TX);
			expect(checksumsValid(out)).toBe(true);
			const a = decode(out, fam);
			expect([...a.options.keys()]).toEqual([2]);
			expect(a.ack).toBe(ISN + 1);
		});

		test(`IPv${fam}: segments of no flow that are no cookie ACK drop (RST, bare ACK of a guessed cookie)`, () => {
			serve("HIGH");
			expect(run(segment(fam, { flags: TCP_RST | TCP_ACK, seq: ISN, ack: 5 })).verdict).toBe(XDP_DROP);
			expect(run(segment(fam, { flags: TCP_ACK, seq: ISN, ack: 0x12345678 })).verdict).toBe(XDP_DROP);
			expect(dp.reasonPackets()).toEqual({ COOKIE_BAD: 2 });
		});

		for (const level of ["OFF", "LOW", "MEDIUM"] as const)
			test(`IPv${fam}: at ${level} a SYN goes to the kernel untouched`, () => {
				serve(level);
				const syn = segment(fam, { flags: TCP_SYN, options: linuxSynOptions(1) });
				const { verdict, out } = run(syn);
				expect(verdict).toBe(XDP_PASS);
				expect(out).toEqual(syn);
				expect(dp.reasonPackets()).toEqual({ PASS: 1 });
			});

		test(`IPv${fam}: at HIGH without the kernel's SYNPROXY installed, SYNs and ACKs go to the kernel`, () => {
			serve("HIGH", { syn: { ...SYN_CFG, xdp: false } });
			expect(run(segment(fam, { flags: TCP_SYN })).verdict).toBe(XDP_PASS);
			expect(run(segment(fam, { flags: TCP_ACK, seq: ISN + 1, ack: 99 })).verdict).toBe(XDP_PASS);
			expect(dp.reasonPackets()).toEqual({ PASS: 2 });
		});
	}

	test("a VLAN-tagged SYN is answered with its tags in place", () => {
		serve("HIGH");
		const { verdict, out } = run(segment(4, { flags: TCP_SYN }, { vlans: [100, 200] }));
		expect(verdict).toBe(XDP_TX);
		expect(out.length).toBe(22 + 20 + 40);
		expect(new DataView(out.buffer).getUint16(14) & 0x0fff).toBe(100);
		expect(new DataView(out.buffer).getUint16(18) & 0x0fff).toBe(200);
		expect(checksumsValid(out)).toBe(true);
		expect(decode(out, 4, 2).ack).toBe(ISN + 1);
	});

	test("a VLAN-tagged refused cookie ACK gets its RST with its tags in place; one with IPv4 options is only dropped", () => {
		serve("HIGH");
		dp.setL7(1, { flags: 0, quicVersions: [], sessionNs: 0n, conn: { rate: 1, burst: 1 } });
		const vlans = { vlans: [100, 200] };
		const a = decode(run(segment(4, { flags: TCP_SYN }, vlans)).out, 4, 2);
		expect(run(segment(4, { flags: TCP_ACK, seq: ISN + 1, ack: a.seq + 1 }, vlans)).verdict).toBe(XDP_PASS);
		const b = decode(run(segment(4, { flags: TCP_SYN, port: sport + 1 }, vlans)).out, 4, 2);
		const { verdict, out } = run(segment(4, { flags: TCP_ACK, port: sport + 1, seq: ISN + 1, ack: b.seq + 1 }, vlans));
		expect(verdict).toBe(XDP_TX);
		expect(out.length).toBe(22 + 20 + 20);
		expect(new DataView(out.buffer).getUint16(14) & 0x0fff).toBe(100);
		expect(new DataView(out.buffer).getUint16(18) & 0x0fff).toBe(200);
		expect(checksumsValid(out)).toBe(true);
		const rst = decode(out, 4, 2);
		expect([rst.flags, rst.seq, rst.dport]).toEqual([TCP_RST, (b.seq + 1) >>> 0, sport + 1]);
		const c = decode(run(segment(4, { flags: TCP_SYN, port: sport + 2 })).out, 4);
		const withOptions = segment(
			4,
			{ flags: TCP_ACK, port: sport + 2, seq: ISN + 1, ack: c.seq + 1 },
			{ ipv4Options: new Uint8Array([1, 1, 1, 0]) },
		);
		expect(run(withOptions).verdict).toBe(XDP_DROP);
		expect(dp.reasonPackets()).toEqual({ SYN_COOKIE: 3, COOKIE_ACK: 1, CONN_RATELIMIT: 2 });
	});

	test("SYNs XDP does not rewrite (IPv4 options, a payload) are left to the kernel's SYNPROXY", () => {
		serve("HIGH");
		const opts = new Uint8Array([1, 1, 1, 0]);
		expect(run(segment(4, { flags: TCP_SYN }, { ipv4Options: opts })).verdict).toBe(XDP_PASS);
		expect(run(segment(4, { flags: TCP_SYN, payload: [1, 2, 3, 4] })).verdict).toBe(XDP_PASS);
		expect(dp.reasonPackets()).toEqual({ PASS: 2 });
	});

	test("UDP services are not touched", () => {
		serve("HIGH", { proto: IPPROTO.UDP });
		const dgram = buildPacket({
			src: ADDR[4].client,
			dst: ADDR[4].server,
			l4: { proto: "udp", sport, dport: PORT },
			payload: 8,
		});
		expect(run(dgram).verdict).toBe(XDP_PASS);
	});

	test("Minecraft Java at HIGH: the cookie ACK opens the connection for the handshake checks", () => {
		serve("HIGH", { l7: L7.MINECRAFT_JAVA });
		dp.setL7(1, { flags: L7Flag.MC_JAVA, quicVersions: [], sessionNs: 60_000_000_000n });
		const a = decode(run(segment(4, { flags: TCP_SYN })).out, 4);
		expect(a.flags).toBe(TCP_SYN | TCP_ACK);
		const seq = ISN + 1;
		expect(run(segment(4, { flags: TCP_ACK, seq, ack: a.seq + 1 })).verdict).toBe(XDP_PASS);
		// conntrack has no entry in a test run, so the handshake still carries a valid cookie.
		expect(run(segment(4, { flags: TCP_ACK | TCP_PSH, seq, ack: a.seq + 1, payload: handshake() })).verdict).toBe(
			XDP_PASS,
		);
		expect(dp.reasonPackets()).toEqual({ SYN_COOKIE: 1, COOKIE_ACK: 2 });
	});

	test("Minecraft Java at HIGH: a new connection from a client port an earlier flow used is checked from the start", () => {
		serve("HIGH", { l7: L7.MINECRAFT_JAVA });
		dp.setL7(1, { flags: L7Flag.MC_JAVA, quicVersions: [], sessionNs: 60_000_000_000n, banNs: 60_000_000_000n });
		// Each connection's handshake alone: the first flow is left waiting for its login start.
		for (const isn of [ISN, ISN + 100_000]) {
			const a = decode(run(segment(4, { flags: TCP_SYN, seq: isn })).out, 4);
			expect(run(segment(4, { flags: TCP_ACK, seq: isn + 1, ack: a.seq + 1 })).verdict).toBe(XDP_PASS);
			const data = segment(4, { flags: TCP_ACK | TCP_PSH, seq: isn + 1, ack: a.seq + 1, payload: handshake() });
			expect(run(data).verdict).toBe(XDP_PASS);
		}
		expect(dp.reasonPackets()).toEqual({ SYN_COOKIE: 2, COOKIE_ACK: 4 });
	});

	test("at HIGH spoofed SYNs cost no connection bucket: every SYN is answered, new connections are counted at their cookie ACK", () => {
		serve("HIGH");
		dp.setL7(1, { flags: 0, quicVersions: [], sessionNs: 0n, conn: { rate: 1, burst: 2 } });
		const answers = Array.from({ length: 5 }, (_, i) =>
			decode(run(segment(4, { flags: TCP_SYN, port: sport + i })).out, 4),
		);
		expect(answers.every((a) => a.flags === (TCP_SYN | TCP_ACK))).toBe(true);
		expect(dp.reasonPackets()).toEqual({ SYN_COOKIE: 5 });
		const acks = answers.map((a, i) =>
			run(segment(4, { flags: TCP_ACK, port: sport + i, seq: ISN + 1, ack: a.seq + 1 })),
		);
		// Over the rate, the connection is refused with the listener's RST rather than left open.
		expect(acks.map((r) => r.verdict)).toEqual([XDP_PASS, XDP_PASS, XDP_TX, XDP_TX, XDP_TX]);
		expect(dp.reasonPackets()).toEqual({ SYN_COOKIE: 5, COOKIE_ACK: 2, CONN_RATELIMIT: 3 });
	});

	for (const fam of [4, 6] as const) {
		test(`IPv${fam}: a refused cookie ACK comes back as the RST a listener sends for it, options and payload cut`, () => {
			serve("HIGH");
			dp.setL7(1, { flags: 0, quicVersions: [], sessionNs: 0n, conn: { rate: 1, burst: 1 } });
			const a = decode(run(segment(fam, { flags: TCP_SYN, options: linuxSynOptions(3) })).out, fam);
			const b = decode(run(segment(fam, { flags: TCP_SYN, port: sport + 1 })).out, fam);
			expect(run(segment(fam, { flags: TCP_ACK, seq: ISN + 1, ack: a.seq + 1 })).verdict).toBe(XDP_PASS);
			const ack = segment(fam, {
				flags: TCP_ACK | TCP_PSH,
				port: sport + 1,
				seq: ISN + 1,
				ack: b.seq + 1,
				payload: [1, 2, 3],
			});
			const r = run(ack);
			expect(r.verdict).toBe(XDP_TX);
			const rst = decode(r.out, fam);
			expect(r.out.length).toBe(14 + (fam === 4 ? 20 : 40) + 20);
			expect([rst.flags, rst.seq, rst.ack, rst.window, rst.doff]).toEqual([TCP_RST, (b.seq + 1) >>> 0, 0, 0, 20]);
			expect([rst.sport, rst.dport]).toEqual([PORT, sport + 1]);
			expect([rst.src, rst.dst]).toEqual([ip(fam, "server"), ip(fam, "client")]);
			const inMacs = decode(ack, fam);
			expect([rst.srcMac, rst.dstMac]).toEqual([inMacs.dstMac, inMacs.srcMac]);
			expect(checksumsValid(r.out)).toBe(true);
			expect(dp.reasonPackets()).toEqual({ SYN_COOKIE: 2, COOKIE_ACK: 1, CONN_RATELIMIT: 1 });
		});
	}

	test("Minecraft Java at HIGH: maxConnectionsPerIp counts connections at their cookie ACK, since XDP answers the SYN", () => {
		serve("HIGH", { l7: L7.MINECRAFT_JAVA });
		dp.setL7(1, { flags: L7Flag.MC_JAVA, quicVersions: [], sessionNs: 60_000_000_000n, maxConns: 2 });
		const open = (port: number) => {
			const a = decode(run(segment(4, { flags: TCP_SYN, port })).out, 4);
			expect(a.flags).toBe(TCP_SYN | TCP_ACK);
			return run(segment(4, { flags: TCP_ACK, port, seq: ISN + 1, ack: a.seq + 1 })).verdict;
		};
		expect(open(sport)).toBe(XDP_PASS);
		expect(open(sport + 1000)).toBe(XDP_PASS);
		// A retransmitted cookie ACK keeps its connection's slot rather than taking another.
		expect(open(sport)).toBe(XDP_PASS);
		expect(open(sport + 2000)).toBe(XDP_TX);
		expect(dp.reasonPackets()).toEqual({ SYN_COOKIE: 4, COOKIE_ACK: 3, MAX_CONNS: 1 });
		// Freeing by FIN needs the flow in conntrack (test runs have none); MEDIUM's tests cover it.
	});
});
