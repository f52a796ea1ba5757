// The protocol checks of pp_xdp (bpf/pp_raknet.h, bpf/pp_quic.h) through BPF_PROG_TEST_RUN:
// RakNet offline packets and sessions for Bedrock backends, QUIC long headers, Initials and
// sessions for QUIC backends, for IPv4 and IPv6, every truncation of a valid packet, the
// concurrent sessions per source (maxConnectionsPerIp), and the levels and options that switch
// the checks on.
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { IPPROTO, L7, L7Flag, type LevelName, QUIC_V1, QUIC_V2, type ReasonName } from "../../src/dataplane/abi.ts";
import { XDP_DROP, XDP_PASS } from "../../src/dataplane/libbpf.ts";
import { buildPacket } from "../helpers/packets.ts";
import { Dataplane, skipReason } from "./harness.ts";

const skip = skipReason();
if (skip) console.warn(`skipping test/bpf/l7.test.ts: ${skip}`);
const suite = skip ? describe.skip : describe;

const BEDROCK = 19132;
const QUIC = 443;
const SESSION_NS = 60_000_000_000n;
const ADDR = {
	4: { server: "192.0.2.10", client: "198.51.100.7", other: "198.51.100.8" },
	6: { server: "2001:db8::10", client: "2001:db8:1::7", other: "2001:db8:1::8" },
} as const;
type Fam = 4 | 6;

const MAGIC = [0x00, 0xff, 0xff, 0x00, 0xfe, 0xfe, 0xfe, 0xfe, 0xfd, 0xfd, 0xfd, 0xfd, 0x12, 0x34, 0x56, 0x78];

function bytes(...parts: (number[] | Uint8Array | number)[]): Uint8Array {
	const out: number[] = [];
	for (const p of parts) {
		if (typeof p === "number") out.push(p);
		else out.push(...p);
	}
	return Uint8Array.from(out);
}
const zeros = (n: number) => new Uint8Array(n);

const raknet = {
	ping: (id = 0x01) => bytes(id, zeros(8), MAGIC, zeros(8)),
	req1: (mtu = 1492) => bytes(0x05, MAGIC, 11, zeros(mtu - 28 - 18)),
	req2: () => bytes(0x07, MAGIC, 4, [192, 0, 2, 10], [0x4a, 0xbc], [0x05, 0xd4], zeros(8)),
	datagram: (id = 0x84) => bytes(id, [0, 0, 0], 0x40, [0, 8], [0, 0, 0], zeros(8)),
	/** A frame set whose first frame has the flags, the header bytes after its bit length, and the body. */
	frame: (flags: number, header: number[], body: number[]) =>
		bytes(0x84, [0, 0, 1], flags, [(body.length * 8) >> 8, (body.length * 8) & 255], header, body),
};
/** The disconnection notification as jsp-raknet sends it: unreliable, alone. */
const disconnect = () => raknet.frame(0x00, [], [0x15]);

/** A client long header: type bits for the version, DCID and SCID lengths, padded to size. */
function quicLong(opts: {
	version?: number;
	type?: number;
	dcid?: number;
	scid?: number;
	size?: number;
	fixed?: boolean;
}) {
	const version = opts.version ?? QUIC_V1;
	const type = opts.type ?? (version === QUIC_V2 ? 1 : 0);
	const first = 0x80 | (opts.fixed === false ? 0 : 0x40) | (type << 4);
	const v = [(version >>> 24) & 255, (version >>> 16) & 255, (version >>> 8) & 255, version & 255];
	const dcid = opts.dcid ?? 8;
	const scid = opts.scid ?? 8;
	const head = bytes(first, v, dcid, zeros(dcid), scid, zeros(scid));
	return bytes(head, zeros(Math.max(0, (opts.size ?? 1200) - head.length)));
}
const quicShort = (fixed = true) => bytes(fixed ? 0x40 : 0x00, zeros(8), zeros(24));

let dp: Dataplane;

/** Generous limits: these tests send thousands of packets from one source. */
const BIG = { requestsPerSecond: 1_000_000, burstSize: 1_000_000 };

function serve(fam: Fam, level: LevelName = "MEDIUM", flags = L7Flag.RAKNET | L7Flag.QUIC): void {
	const overrides = { perIpRateLimit: BIG, globalRateLimit: BIG };
	const at = { addr: ADDR[fam].server, proto: IPPROTO.UDP, level, overrides };
	dp.addService({ ...at, port: BEDROCK, backend: 1, l7: L7.RAKNET });
	dp.addService({ ...at, port: QUIC, backend: 2, l7: L7.QUIC });
	dp.setL7(1, { flags, quicVersions: [], sessionNs: SESSION_NS });
	dp.setL7(2, { flags, quicVersions: [QUIC_V1, QUIC_V2], sessionNs: SESSION_NS });
}

function send(fam: Fam, dport: number, payload: Uint8Array, src: string = ADDR[fam].client, sport = 40001): number {
	return dp.run(buildPacket({ src, dst: ADDR[fam].server, l4: { proto: "udp", sport, dport }, payload }));
}

suite("pp_xdp protocol checks", () => {
	beforeAll(() => {
		dp = Dataplane.open();
	});
	afterAll(() => dp?.close());
	beforeEach(() => dp.reset());

	for (const fam of [4, 6] as const) {
		describe(`RakNet (Bedrock), IPv${fam}`, () => {
			const cases: [string, () => Uint8Array, number, ReasonName][] = [
				["an unconnected ping with the magic passes", () => raknet.ping(0x01), XDP_PASS, "PASS"],
				["an open-connections ping (0x02) passes", () => raknet.ping(0x02), XDP_PASS, "PASS"],
				["request 1 padded to MTU 1492 passes", () => raknet.req1(1492), XDP_PASS, "PASS"],
				["request 1 padded to MTU 576 passes", () => raknet.req1(576), XDP_PASS, "PASS"],
				["request 1 without MTU padding drops", () => bytes(0x05, MAGIC, 11), XDP_DROP, "RAKNET"],
				["request 2 passes", raknet.req2, XDP_PASS, "PASS"],
				[
					"a ping without the magic drops",
					() => {
						const p = raknet.ping();
						p[9] = 0x01;
						return p;
					},
					XDP_DROP,
					"RAKNET",
				],
				[
					"a ping with the last magic byte wrong drops",
					() => {
						const p = raknet.ping();
						p[24] = 0x79;
						return p;
					},
					XDP_DROP,
					"RAKNET",
				],
				["an oversized ping drops", () => bytes(raknet.ping(), zeros(64)), XDP_DROP, "RAKNET"],
				[
					"request 2 with an unknown address family drops",
					() => {
						const p = raknet.req2();
						p[17] = 5;
						return p;
					},
					XDP_DROP,
					"RAKNET",
				],
				["an unknown offline id drops", () => bytes(0x09, MAGIC, zeros(16)), XDP_DROP, "RAKNET"],
				["an empty datagram drops", () => zeros(0), XDP_DROP, "RAKNET"],
				["a connected datagram without a session drops", () => raknet.datagram(0x84), XDP_DROP, "RAKNET"],
				["an ACK without a session drops", () => raknet.datagram(0xc0), XDP_DROP, "RAKNET"],
			];
			for (const [name, payload, verdict, reason] of cases) {
				test(name, () => {
					serve(fam);
					expect(send(fam, BEDROCK, payload())).toBe(verdict);
					expect(dp.reasonPackets()).toEqual({ [reason]: 1 });
				});
			}

			test("request 2 opens a session: that source's connected datagrams and ACKs pass, others' drop", () => {
				serve(fam);
				expect(send(fam, BEDROCK, raknet.req2())).toBe(XDP_PASS);
				for (const id of [0x80, 0x84, 0x8f, 0xc0, 0xa0]) expect(send(fam, BEDROCK, raknet.datagram(id))).toBe(XDP_PASS);
				expect(send(fam, BEDROCK, raknet.datagram(0x84), ADDR[fam].other)).toBe(XDP_DROP);
				expect(dp.reasonPackets()).toEqual({ PASS: 6, RAKNET: 1 });
			});

			test("a session ends when it expires", async () => {
				serve(fam);
				dp.setL7(1, { flags: L7Flag.RAKNET, quicVersions: [], sessionNs: 30_000_000n });
				expect(send(fam, BEDROCK, raknet.req2())).toBe(XDP_PASS);
				expect(send(fam, BEDROCK, raknet.datagram())).toBe(XDP_PASS);
				await Bun.sleep(80);
				expect(send(fam, BEDROCK, raknet.datagram())).toBe(XDP_DROP);
			});

			describe("maxConnectionsPerIp", () => {
				const limit = (maxConns: number, sessionNs = SESSION_NS, flags: number = L7Flag.RAKNET) =>
					dp.setL7(1, { flags, quicVersions: [], sessionNs, maxConns });
				const req2 = (sport: number, src: string = ADDR[fam].client) => send(fam, BEDROCK, raknet.req2(), src, sport);

				test("request 2 from a third client port drops while two sessions live; the first two and other sources go on", () => {
					serve(fam);
					limit(2);
					expect([req2(40001), req2(40002), req2(40003)]).toEqual([XDP_PASS, XDP_PASS, XDP_DROP]);
					// A retransmitted request 2 belongs to a session the source holds.
					expect(req2(40002)).toBe(XDP_PASS);
					expect(send(fam, BEDROCK, raknet.datagram(), ADDR[fam].client, 40001)).toBe(XDP_PASS);
					expect(req2(40003, ADDR[fam].other)).toBe(XDP_PASS);
					expect(dp.reasonPackets()).toEqual({ PASS: 5, MAX_CONNS: 1 });
				});

				test("a disconnection notification frees the session's slot", () => {
					serve(fam);
					limit(2);
					req2(40001);
					req2(40002);
					expect(send(fam, BEDROCK, disconnect(), ADDR[fam].client, 40001)).toBe(XDP_PASS);
					expect(req2(40003)).toBe(XDP_PASS);
					expect(req2(40001)).toBe(XDP_DROP);
				});

				const frames: [string, Uint8Array, boolean][] = [
					["unreliable", disconnect(), true],
					["reliable", raknet.frame(0x40, [0, 0, 0], [0x15]), true],
					["reliable ordered", raknet.frame(0x60, [0, 0, 0, 0, 0, 0, 0], [0x15]), true],
					["reliable sequenced", raknet.frame(0x80, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0], [0x15]), true],
					["unreliable sequenced", raknet.frame(0x20, [0, 0, 0, 0, 0, 0, 0], [0x15]), true],
					["split", raknet.frame(0x10, new Array(10).fill(0), [0x15]), false],
					["with a longer body", raknet.frame(0x00, [], [0x15, 0x00]), false],
					["another packet id", raknet.frame(0x00, [], [0x13]), false],
					["truncated", disconnect().subarray(0, 7), false],
					["in an ACK", bytes(0xc0, disconnect().subarray(1)), false],
				];
				for (const [name, frame, frees] of frames) {
					test(`a disconnection notification ${name} ${frees ? "frees" : "does not free"} the slot`, () => {
						serve(fam, "MEDIUM", 0);
						limit(1, SESSION_NS, 0);
						req2(40001);
						expect(send(fam, BEDROCK, frame, ADDR[fam].client, 40001)).toBe(XDP_PASS);
						expect(req2(40002)).toBe(frees ? XDP_PASS : XDP_DROP);
					});
				}

				test("a session's slot lapses after the session time without a sign of life; datagrams keep it", async () => {
					serve(fam);
					// Wide margins on the kernel's clock: a loaded machine may oversleep by a lot.
					limit(1, 600_000_000n);
					expect(req2(40001)).toBe(XDP_PASS);
					// Six steps of 150 ms outlast the 600 ms session: only the datagrams' refreshes keep it.
					for (let i = 0; i < 6; i++) {
						await Bun.sleep(150);
						expect(send(fam, BEDROCK, raknet.datagram(), ADDR[fam].client, 40001)).toBe(XDP_PASS);
						expect(req2(40002)).toBe(XDP_DROP);
					}
					await Bun.sleep(900);
					expect(req2(40002)).toBe(XDP_PASS);
				});

				test("the limit holds without the RakNet validation, which stays off", () => {
					serve(fam, "MEDIUM", 0);
					limit(1, SESSION_NS, 0);
					expect(send(fam, BEDROCK, raknet.datagram(), ADDR[fam].client, 40009)).toBe(XDP_PASS);
					expect([req2(40001), req2(40002)]).toEqual([XDP_PASS, XDP_DROP]);
					expect(dp.reasonPackets()).toEqual({ PASS: 2, MAX_CONNS: 1 });
				});
			});

			for (const [name, full] of [
				["ping", raknet.ping()],
				["request 2", raknet.req2()],
			] as const) {
				test(`every truncation of a valid ${name} drops`, () => {
					serve(fam);
					for (let n = 0; n < full.length; n++) {
						expect([n, send(fam, BEDROCK, full.subarray(0, n))]).toEqual([n, XDP_DROP]);
					}
					expect(dp.reasonPackets()).toEqual({ RAKNET: full.length });
					expect(send(fam, BEDROCK, full)).toBe(XDP_PASS);
				});
			}
		});

		describe(`QUIC, IPv${fam}`, () => {
			const cases: [string, () => Uint8Array, number, ReasonName][] = [
				["a v1 Initial of 1200 bytes passes", () => quicLong({}), XDP_PASS, "PASS"],
				["a v2 Initial of 1350 bytes passes", () => quicLong({ version: QUIC_V2, size: 1350 }), XDP_PASS, "PASS"],
				["connection ids of 20 bytes pass", () => quicLong({ dcid: 20, scid: 20 }), XDP_PASS, "PASS"],
				["empty connection ids pass", () => quicLong({ dcid: 0, scid: 0 }), XDP_PASS, "PASS"],
				["an Initial of 1199 bytes drops", () => quicLong({ size: 1199 }), XDP_DROP, "QUIC"],
				["a version not allowed drops", () => quicLong({ version: 0xff00001d }), XDP_DROP, "QUIC"],
				["version negotiation (0) from a client drops", () => quicLong({ version: 0 }), XDP_DROP, "QUIC"],
				["a destination id of 21 bytes drops", () => quicLong({ dcid: 21 }), XDP_DROP, "QUIC"],
				["a source id of 21 bytes drops", () => quicLong({ scid: 21 }), XDP_DROP, "QUIC"],
				["a long header without the fixed bit drops", () => quicLong({ fixed: false }), XDP_DROP, "QUIC"],
				["a v1 Retry from a client drops", () => quicLong({ type: 3 }), XDP_DROP, "QUIC"],
				["a v2 Retry from a client drops", () => quicLong({ version: QUIC_V2, type: 0 }), XDP_DROP, "QUIC"],
				["a Handshake packet without a session drops", () => quicLong({ type: 2, size: 60 }), XDP_DROP, "QUIC"],
				["a short header without a session drops", () => quicShort(), XDP_DROP, "QUIC"],
				["a short header without the fixed bit drops", () => quicShort(false), XDP_DROP, "QUIC"],
			];
			for (const [name, payload, verdict, reason] of cases) {
				test(name, () => {
					serve(fam);
					expect(send(fam, QUIC, payload())).toBe(verdict);
					expect(dp.reasonPackets()).toEqual({ [reason]: 1 });
				});
			}

			test("a valid Initial opens a session: that source's short headers and Handshakes pass", () => {
				serve(fam);
				expect(send(fam, QUIC, quicLong({}))).toBe(XDP_PASS);
				expect(send(fam, QUIC, quicShort())).toBe(XDP_PASS);
				expect(send(fam, QUIC, quicLong({ type: 2, size: 60 }))).toBe(XDP_PASS);
				expect(send(fam, QUIC, quicShort(), ADDR[fam].other)).toBe(XDP_DROP);
				expect(send(fam, QUIC, quicShort(false))).toBe(XDP_DROP);
			});

			test("only the backend's allowed versions pass", () => {
				serve(fam);
				dp.setL7(2, { flags: L7Flag.QUIC, quicVersions: [QUIC_V2], sessionNs: SESSION_NS });
				expect(send(fam, QUIC, quicLong({}))).toBe(XDP_DROP);
				expect(send(fam, QUIC, quicLong({ version: QUIC_V2 }))).toBe(XDP_PASS);
			});

			test("every truncation of a valid Initial's header drops", () => {
				serve(fam);
				const full = quicLong({ dcid: 8, scid: 8, size: 1250 });
				// The header is 1 + 4 + 1 + 8 + 1 + 8 bytes; beyond it a cut is a short Initial.
				for (let n = 0; n < 1200; n++) {
					expect([n, send(fam, QUIC, full.subarray(0, n))]).toEqual([n, XDP_DROP]);
				}
				expect(dp.reasonPackets()).toEqual({ QUIC: 1200 });
				expect(send(fam, QUIC, full.subarray(0, 1200))).toBe(XDP_PASS);
			});
		});

		test(`IPv${fam}: the checks are off below MEDIUM and when the backend's options say so`, () => {
			serve(fam, "LOW");
			expect(send(fam, BEDROCK, raknet.datagram())).toBe(XDP_PASS);
			expect(send(fam, QUIC, quicShort())).toBe(XDP_PASS);
			dp.reset();
			serve(fam, "MEDIUM", 0);
			expect(send(fam, BEDROCK, raknet.datagram())).toBe(XDP_PASS);
			expect(send(fam, QUIC, quicShort())).toBe(XDP_PASS);
			dp.reset();
			serve(fam, "HIGH");
			expect(send(fam, BEDROCK, raknet.datagram())).toBe(XDP_DROP);
			expect(send(fam, QUIC, quicShort())).toBe(XDP_DROP);
		});
	}

	test("a backend without a protocol (plain UDP) is not inspected at any level", () => {
		dp.addService({ addr: ADDR[4].server, port: BEDROCK, proto: IPPROTO.UDP, backend: 1, level: "UNDER_ATTACK" });
		dp.setL7(1, { flags: L7Flag.RAKNET | L7Flag.QUIC, quicVersions: [QUIC_V1], sessionNs: SESSION_NS });
		expect(send(4, BEDROCK, raknet.datagram())).toBe(XDP_PASS);
	});
});
