// Minecraft Java connection validation in pp_xdp (bpf/pp_minecraft.h) through BPF_PROG_TEST_RUN:
// the per-flow state from SYN to a validated handshake, status and login starts, the legacy
// ping option, TCP sanity on the protected port, bans for invalid handshakes, every
// truncation of a valid first segment, and concurrent flows per source (maxConnectionsPerIp);
// IPv4 and IPv6.
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { IPPROTO, L7, L7Flag, type LevelName, McState, type ReasonName } from "../../src/dataplane/abi.ts";
import { XDP_DROP, XDP_PASS } from "../../src/dataplane/libbpf.ts";
import { buildPacket, TCP_ACK, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN } from "../helpers/packets.ts";
import { Dataplane, skipReason } from "./harness.ts";

const skip = skipReason();
if (skip) console.warn(`skipping test/bpf/minecraft.test.ts: ${skip}`);
const suite = skip ? describe.skip : describe;

const JAVA = 25565;
const ADDR = {
	4: { server: "192.0.2.10", client: "198.51.100.7", other: "198.51.100.8" },
	6: { server: "2001:db8::10", client: "2001:db8:1::7", other: "2001:db8:1::8" },
} as const;
type Fam = 4 | 6;

export function varint(n: number): number[] {
	const out: number[] = [];
	let v = n >>> 0;
	do {
		let b = v & 0x7f;
		v >>>= 7;
		if (v) b |= 0x80;
		out.push(b);
	} while (v);
	return out;
}

/** A length-prefixed packet: VarInt length, then the body. */
const framed = (body: number[]) => [...varint(body.length), ...body];
const text = (s: string) => [...varint(Buffer.byteLength(s)), ...Buffer.from(s)];

export function handshake(o: { proto?: number; host?: string; port?: number; next?: number; id?: number } = {}) {
	return framed([
		...varint(o.id ?? 0),
		...varint(o.proto ?? 767),
		...text(o.host ?? "play.example.com"),
		((o.port ?? 25565) >> 8) & 255,
		(o.port ?? 25565) & 255,
		...varint(o.next ?? 2),
	]);
}
export const statusRequest = () => framed([0x00]);
export const ping = () => framed([0x01, 0, 0, 0, 0, 0, 0, 0, 42]);
export const loginStart = (name = "Steve") => framed([0x00, ...text(name), ...new Array(16).fill(7)]);

let dp: Dataplane;
let sport = 40000;

function serve(
	fam: Fam,
	o: {
		level?: LevelName;
		flags?: number;
		min?: number;
		max?: number;
		banNs?: bigint;
		maxConns?: number;
		sessionNs?: bigint;
	} = {},
) {
	dp.addService({
		addr: ADDR[fam].server,
		port: JAVA,
		proto: IPPROTO.TCP,
		backend: 1,
		level: o.level ?? "MEDIUM",
		l7: L7.MINECRAFT_JAVA,
		overrides: {
			perIpRateLimit: { requestsPerSecond: 1_000_000, burstSize: 1_000_000 },
			globalRateLimit: { requestsPerSecond: 1_000_000, burstSize: 1_000_000 },
		},
	});
	dp.setL7(1, {
		flags: o.flags ?? L7Flag.MC_JAVA | L7Flag.MC_LEGACY,
		quicVersions: [],
		sessionNs: o.sessionNs ?? 60_000_000_000n,
		mcMinProto: o.min,
		mcMaxProto: o.max,
		banNs: o.banNs ?? 0n,
		maxConns: o.maxConns,
	});
}

/**
 * One connection from a client port: seg() sends a segment with flags and payload at the
 * connection's next sequence number (SYN and FIN take one, data its length), or at `seq`.
 */
function conn(fam: Fam, src: string = ADDR[fam].client, reuse?: { port: number; isn: number }) {
	const port = reuse?.port ?? sport++;
	let next = reuse?.isn ?? 1000;
	const seg = (flags: number, payload: number[] = [], seq = next) => {
		next = seq + payload.length + (flags & (TCP_SYN | TCP_FIN) ? 1 : 0);
		return dp.run(
			buildPacket({
				src,
				dst: ADDR[fam].server,
				l4: { proto: "tcp", sport: port, dport: JAVA, flags, seq },
				payload: Uint8Array.from(payload),
			}),
		);
	};
	/** The sequence number the next segment takes. */
	seg.next = () => next;
	seg.port = port;
	return seg;
}
const DATA = TCP_ACK | TCP_PSH;

suite("pp_xdp Minecraft Java validation", () => {
	beforeAll(() => {
		dp = Dataplane.open();
	});
	afterAll(() => dp?.close());
	beforeEach(() => dp.reset());

	for (const fam of [4, 6] as const) {
		describe(`IPv${fam}`, () => {
			test("status: SYN, handshake, status request, ping, then anything on the fast path", () => {
				serve(fam);
				const seg = conn(fam);
				expect(seg(TCP_SYN)).toBe(XDP_PASS);
				expect(seg(TCP_ACK)).toBe(XDP_PASS);
				expect(seg(DATA, handshake({ next: 1 }))).toBe(XDP_PASS);
				expect(seg(DATA, statusRequest())).toBe(XDP_PASS);
				expect(seg(DATA, ping())).toBe(XDP_PASS);
				expect(seg(DATA, [0xff, 0xff, 0xff, 0xff])).toBe(XDP_PASS);
				expect(seg(TCP_FIN | TCP_ACK)).toBe(XDP_PASS);
				expect(dp.reasonPackets()).toEqual({ PASS: 7 });
			});

			test("a pending connection moves from pp_mc_syns to pp_mc_flows with its handshake", () => {
				serve(fam);
				const seg = conn(fam);
				seg(TCP_SYN);
				expect([...dp.map("pp_mc_syns").keys()].length).toBe(1);
				expect([...dp.map("pp_mc_flows").keys()].length).toBe(0);
				expect(seg(DATA, [...handshake({ next: 1 }), ...statusRequest()])).toBe(XDP_PASS);
				expect([...dp.map("pp_mc_syns").keys()].length).toBe(0);
				const flows = dp.map("pp_mc_flows");
				expect([...flows.keys()].map((k) => flows.lookup(k)?.[0])).toEqual([McState.VALID]);
			});

			test("the first data sent again (a retransmission) is checked as first data, not as what follows", () => {
				serve(fam, { banNs: 60_000_000_000n });
				const seg = conn(fam);
				seg(TCP_SYN);
				const first = seg.next();
				// The handshake passed here and was lost further on; the client sends it again, then
				// again together with the status request it had sent after it.
				expect(seg(DATA, handshake({ next: 1 }))).toBe(XDP_PASS);
				expect(seg(DATA, handshake({ next: 1 }), first)).toBe(XDP_PASS);
				expect(seg(DATA, [...handshake({ next: 1 }), ...statusRequest()], first)).toBe(XDP_PASS);
				const flows = dp.map("pp_mc_flows");
				expect([...flows.keys()].map((k) => flows.lookup(k)?.[0])).toEqual([McState.VALID]);
				expect(seg(DATA, ping())).toBe(XDP_PASS);
				// Sent again, the first data is checked all the same: garbage there bans.
				const other = conn(fam, ADDR[fam].other);
				other(TCP_SYN);
				const at = other.next();
				expect(other(DATA, handshake({ next: 2 }))).toBe(XDP_PASS);
				expect(other(DATA, handshake({ next: 9 }), at)).toBe(XDP_DROP);
				expect(dp.reasonPackets()).toEqual({ PASS: 7, MC_HANDSHAKE: 1 });
				expect(conn(fam, ADDR[fam].other)(TCP_SYN)).toBe(XDP_DROP);
			});

			test("a new connection from a client port an earlier flow used is checked from the start", () => {
				serve(fam, { banNs: 60_000_000_000n });
				// Left after its handshake: the next connection's handshake is a first segment again.
				const left = conn(fam);
				left(TCP_SYN);
				left(DATA, handshake({ next: 2 }));
				const again = conn(fam, ADDR[fam].client, { port: left.port, isn: 900_000 });
				expect(again(TCP_SYN)).toBe(XDP_PASS);
				expect(again(DATA, [...handshake({ next: 2 }), ...loginStart()])).toBe(XDP_PASS);
				// A finished flow does not wave the next connection's garbage through either.
				const third = conn(fam, ADDR[fam].client, { port: left.port, isn: 5_000_000 });
				expect(third(TCP_SYN)).toBe(XDP_PASS);
				expect(third(DATA, [0xff, 0xff, 0xff])).toBe(XDP_DROP);
				expect(dp.reasonPackets()).toEqual({ PASS: 5, MC_HANDSHAKE: 1 });
			});

			test("a late copy of a flow's own SYN leaves the flow as it was", () => {
				serve(fam);
				const seg = conn(fam);
				seg(TCP_SYN);
				seg(DATA, handshake({ next: 1 }));
				expect(seg(TCP_SYN, [], 1000)).toBe(XDP_PASS);
				expect(seg(DATA, statusRequest(), 1000 + 1 + handshake({ next: 1 }).length)).toBe(XDP_PASS);
				expect(dp.reasonPackets()).toEqual({ PASS: 4 });
			});

			const valid: [string, number[]][] = [
				["handshake and status request in one segment", [...handshake({ next: 1 }), ...statusRequest()]],
				["handshake and login start in one segment", [...handshake({ next: 2 }), ...loginStart()]],
				["a transfer handshake and login start", [...handshake({ next: 3 }), ...loginStart("A")]],
				["a handshake alone", handshake()],
				["an empty server address", handshake({ host: "" })],
				["a 255-byte server address", handshake({ host: "a".repeat(255) })],
				["protocol version 5 (1.7.10)", handshake({ proto: 5 })],
				["a legacy server-list ping", [0xfe, 0x01, 0xfa]],
			];
			for (const [name, payload] of valid) {
				test(`passes: ${name}`, () => {
					serve(fam);
					const seg = conn(fam);
					expect(seg(TCP_SYN)).toBe(XDP_PASS);
					expect(seg(DATA, payload)).toBe(XDP_PASS);
				});
			}

			test("login start after a handshake sent alone is checked too", () => {
				serve(fam);
				const good = conn(fam);
				good(TCP_SYN);
				good(DATA, handshake({ next: 2 }));
				expect(good(DATA, loginStart("Notch"))).toBe(XDP_PASS);
				const bad = conn(fam);
				bad(TCP_SYN);
				bad(DATA, handshake({ next: 2 }));
				expect(bad(DATA, loginStart("x".repeat(17)))).toBe(XDP_DROP);
				expect(dp.reasonPackets().MC_HANDSHAKE).toBe(1);
			});

			const invalid: [string, number[], { min?: number; max?: number; flags?: number }?][] = [
				["packet id 0x01 instead of a handshake", handshake({ id: 1 })],
				["next state 0", handshake({ next: 0 })],
				["next state 4", handshake({ next: 4 })],
				["port 0", handshake({ port: 0 })],
				["a 256-byte server address", handshake({ host: "a".repeat(256) })],
				["a protocol version below the minimum", handshake({ proto: 46 }), { min: 47, max: 769 }],
				["a protocol version above the maximum", handshake({ proto: 770 }), { min: 47, max: 769 }],
				["a 4-byte VarInt length", [0x90, 0x80, 0x80, 0x00, ...handshake().slice(1)]],
				["a length longer than the segment", [...varint(200), ...handshake().slice(1)]],
				["a length shorter than the fields", [handshake().length - 3, ...handshake().slice(1)]],
				["a 6-byte protocol VarInt", framed([0, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01, ...text("h"), 0x63, 0xdd, 2])],
				["a login name of 17 bytes", [...handshake({ next: 2 }), ...loginStart("x".repeat(17))]],
				["an empty login name", [...handshake({ next: 2 }), ...loginStart("")]],
				["a status request with a body", [...handshake({ next: 1 }), ...framed([0x00, 0x01])]],
				["HTTP", [...Buffer.from("GET / HTTP/1.1\r\n\r\n")]],
				["a legacy ping when the option is off", [0xfe, 0x01], { flags: L7Flag.MC_JAVA }],
			];
			for (const [name, payload, opts] of invalid) {
				test(`drops: ${name}`, () => {
					serve(fam, opts ?? {});
					const seg = conn(fam);
					expect(seg(TCP_SYN)).toBe(XDP_PASS);
					expect(seg(DATA, payload)).toBe(XDP_DROP);
					expect(dp.reasonPackets()).toEqual({ PASS: 1, MC_HANDSHAKE: 1 });
				});
			}

			test("an invalid handshake bans the source: its next connection drops as BAN", () => {
				serve(fam, { banNs: 60_000_000_000n });
				const seg = conn(fam);
				seg(TCP_SYN);
				expect(seg(DATA, handshake({ next: 9 }))).toBe(XDP_DROP);
				expect(conn(fam)(TCP_SYN)).toBe(XDP_DROP);
				expect(dp.reasonPackets()).toEqual({ PASS: 1, MC_HANDSHAKE: 1, BAN: 1 });
			});

			const sanity: [string, (seg: ReturnType<typeof conn>) => number, ReasonName][] = [
				["a SYN with payload", (seg) => seg(TCP_SYN, [1, 2, 3]), "INVALID"],
				["a SYN-ACK from a client", (seg) => seg(TCP_SYN | TCP_ACK), "INVALID"],
				["a bare ACK of a connection never opened", (seg) => seg(TCP_ACK), "INVALID"],
				["data of a connection never opened", (seg) => seg(DATA, handshake()), "INVALID"],
			];
			for (const [name, send, reason] of sanity) {
				test(`TCP sanity drops ${name}`, () => {
					serve(fam);
					expect(send(conn(fam))).toBe(XDP_DROP);
					expect(dp.reasonPackets()).toEqual({ [reason]: 1 });
				});
			}

			test("every truncation of a valid first segment drops", () => {
				serve(fam);
				const full = [...handshake({ next: 2 }), ...loginStart()];
				const hs = handshake({ next: 2 }).length;
				for (let n = 1; n < full.length; n++) {
					const seg = conn(fam);
					seg(TCP_SYN);
					// A cut right after the handshake is a handshake sent alone, which is valid.
					expect([n, seg(DATA, full.slice(0, n))]).toEqual([n, n === hs ? XDP_PASS : XDP_DROP]);
				}
				expect(dp.reasonPackets().MC_HANDSHAKE).toBe(full.length - 2);
			});

			describe("maxConnectionsPerIp", () => {
				test("a third concurrent flow's SYN drops; retransmitted SYNs and other sources pass", () => {
					serve(fam, { maxConns: 2 });
					const [a, b, c] = [conn(fam), conn(fam), conn(fam)];
					expect([a(TCP_SYN), b(TCP_SYN), c(TCP_SYN)]).toEqual([XDP_PASS, XDP_PASS, XDP_DROP]);
					expect(a(TCP_SYN)).toBe(XDP_PASS);
					expect(b(DATA, [...handshake({ next: 1 }), ...statusRequest()])).toBe(XDP_PASS);
					expect(conn(fam, ADDR[fam].other)(TCP_SYN)).toBe(XDP_PASS);
					expect(dp.reasonPackets()).toEqual({ PASS: 5, MAX_CONNS: 1 });
				});

				for (const [name, flags] of [
					["FIN", TCP_FIN | TCP_ACK],
					["RST", TCP_RST],
				] as const) {
					test(`the client's ${name} frees the flow's slot, before or after its handshake`, () => {
						serve(fam, { maxConns: 2 });
						const [a, b, c] = [conn(fam), conn(fam), conn(fam)];
						a(TCP_SYN);
						b(TCP_SYN);
						b(DATA, [...handshake({ next: 2 }), ...loginStart()]);
						expect(c(TCP_SYN)).toBe(XDP_DROP);
						expect(b(flags)).toBe(XDP_PASS);
						expect(c(TCP_SYN)).toBe(XDP_PASS);
						expect(conn(fam)(TCP_SYN)).toBe(XDP_DROP);
						expect(a(flags)).toBe(XDP_PASS);
						expect(conn(fam)(TCP_SYN)).toBe(XDP_PASS);
						// The last ACK of a closed flow still passes.
						expect(b(TCP_ACK)).toBe(XDP_PASS);
						expect(dp.reasonPackets().MAX_CONNS).toBe(2);
					});
				}

				test("a flow's slot lapses after the session time without traffic; a validated flow's traffic keeps it", async () => {
					// Wide margins on the kernel's clock: a loaded machine may oversleep by a lot.
					serve(fam, { maxConns: 1, sessionNs: 600_000_000n });
					const a = conn(fam);
					a(TCP_SYN);
					a(DATA, [...handshake({ next: 2 }), ...loginStart()]);
					// Six steps of 150 ms outlast the 600 ms session: only the flow's traffic keeps the slot.
					for (let i = 0; i < 6; i++) {
						await Bun.sleep(150);
						expect(a(DATA, [1, 2, 3])).toBe(XDP_PASS);
						expect(conn(fam)(TCP_SYN)).toBe(XDP_DROP);
					}
					await Bun.sleep(900);
					expect(conn(fam)(TCP_SYN)).toBe(XDP_PASS);
				});

				test("the limit holds without handshake validation, which stays off", () => {
					serve(fam, { flags: 0, maxConns: 1 });
					expect(conn(fam)(TCP_ACK)).toBe(XDP_PASS);
					const a = conn(fam);
					expect(a(TCP_SYN)).toBe(XDP_PASS);
					expect(a(DATA, [0xff, 0xff])).toBe(XDP_PASS);
					expect(conn(fam)(TCP_SYN)).toBe(XDP_DROP);
					expect(a(TCP_FIN | TCP_ACK)).toBe(XDP_PASS);
					expect(conn(fam)(TCP_SYN)).toBe(XDP_PASS);
					expect(dp.reasonPackets()).toEqual({ PASS: 5, MAX_CONNS: 1 });
				});
			});

			test("below MEDIUM nothing is checked", () => {
				serve(fam, { level: "LOW" });
				expect(conn(fam)(TCP_ACK)).toBe(XDP_PASS);
				const seg = conn(fam);
				seg(TCP_SYN);
				expect(seg(DATA, handshake({ next: 9 }))).toBe(XDP_PASS);
			});
		});
	}
});
