// Parsing robustness of pp_xdp: every header truncated at every byte offset, malformed
// lengths, and the harmless-but-unparsed traffic that must pass.
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { IPPROTO } from "../../src/dataplane/abi.ts";
import { XDP_DROP, XDP_PASS } from "../../src/dataplane/libbpf.ts";
import { buildPacket, checksumsValid, ETH_P_8021Q, type PacketSpec, TCP_ACK } from "../helpers/packets.ts";
import { Dataplane, skipReason } from "./harness.ts";

const skip = skipReason();
if (skip) console.warn(`skipping test/bpf/parsing.test.ts: ${skip}`);
const suite = skip ? describe.skip : describe;

const V4 = { src: "198.51.100.7", dst: "192.0.2.10" };
const V6 = { src: "2001:db8:1::7", dst: "2001:db8::10" };
const TCP_OPTS = new Uint8Array([2, 4, 5, 0xb4, 1, 1, 4, 2]); // MSS, NOP, NOP, SACK-permitted
const IP_OPTS = new Uint8Array([0x94, 4, 0, 0]); // Router Alert

const SHAPES: [string, Omit<PacketSpec, "vlans">][] = [
	[
		"IPv4 TCP with options",
		{ ...V4, l4: { proto: "tcp", sport: 40000, dport: 25565, options: TCP_OPTS }, payload: 12 },
	],
	[
		"IPv4 with IP options, UDP",
		{ ...V4, l4: { proto: "udp", sport: 40000, dport: 19132 }, payload: 9, ipv4: { options: IP_OPTS } },
	],
	[
		"IPv4 first fragment, UDP",
		{ ...V4, l4: { proto: "udp", sport: 40000, dport: 19132 }, payload: 24, ipv4: { more: true } },
	],
	["IPv4 ICMP", { ...V4, l4: { proto: "icmp", type: 8 }, payload: 8 }],
	["IPv6 TCP", { ...V6, l4: { proto: "tcp", sport: 40000, dport: 25565, flags: TCP_ACK }, payload: 5 }],
	[
		"IPv6 hop-by-hop, routing, fragment, UDP",
		{
			...V6,
			l4: { proto: "udp", sport: 40000, dport: 19132 },
			payload: 3,
			ipv6Ext: [{ type: "hop", len8: 1 }, { type: "routing" }, { type: "frag", offset: 0, more: true }],
		},
	],
	["IPv6 ICMPv6", { ...V6, l4: { proto: "icmpv6", type: 128 }, payload: 4 }],
];

let dp: Dataplane;

function protect(): void {
	for (const dst of [V4.dst, V6.dst]) {
		dp.addService({ addr: dst, port: 25565, proto: IPPROTO.TCP, backend: 1, level: "OFF" });
		dp.addService({ addr: dst, port: 19132, proto: IPPROTO.UDP, backend: 2, level: "OFF" });
	}
}

/** Rewrites bytes of a well-formed frame; offsets are from the start of the IP header. */
function mutate(spec: PacketSpec, at: number, bytes: number[]): Uint8Array {
	const p = buildPacket(spec);
	p.set(bytes, 14 + at);
	return p;
}

suite("pp_xdp parsing", () => {
	beforeAll(() => {
		dp = Dataplane.open();
	});
	afterAll(() => dp?.close());
	beforeEach(() => {
		dp.reset();
		protect();
	});

	for (const [name, shape] of SHAPES) {
		for (const vlans of [[], [10], [10, 20]]) {
			test(`${name}, ${vlans.length} VLAN tag(s): every truncation drops as invalid`, () => {
				const full = buildPacket({ ...shape, vlans });
				expect(checksumsValid(full)).toBe(true);
				expect(dp.run(full)).toBe(XDP_PASS);
				const whole = dp.reasonPackets();
				let runs = 0;
				for (let len = 14; len < full.length; len++) {
					const r = dp.run(full.slice(0, len));
					if (r !== XDP_DROP) throw new Error(`truncated at ${len}/${full.length}: verdict ${r}`);
					runs++;
				}
				expect(dp.reasonPackets()).toEqual({ ...whole, INVALID: runs });
			});
		}
	}

	describe("malformed headers drop as invalid", () => {
		const udp4: PacketSpec = { ...V4, l4: { proto: "udp", sport: 4000, dport: 19132 }, payload: 8 };
		const tcp4: PacketSpec = { ...V4, l4: { proto: "tcp", sport: 4000, dport: 25565 }, payload: 8 };
		const udp6: PacketSpec = { ...V6, l4: { proto: "udp", sport: 4000, dport: 19132 }, payload: 8 };
		const cases: [string, Uint8Array][] = [
			["IPv4 IHL below 5", mutate(udp4, 0, [0x44])],
			["IPv4 version 6 under the IPv4 EtherType", mutate(udp4, 0, [0x65])],
			["IPv4 total length beyond the frame", mutate(udp4, 2, [0x01, 0x00])],
			["IPv4 total length below the header", mutate(udp4, 2, [0x00, 0x10])],
			["IPv4 IHL beyond the total length", mutate(udp4, 0, [0x4f])],
			["TCP data offset below 5", mutate(tcp4, 20 + 12, [0x40])],
			["TCP data offset beyond the segment", mutate(tcp4, 20 + 12, [0xf0])],
			["UDP length below 8", mutate(udp4, 20 + 4, [0, 7])],
			["UDP length beyond the IP payload", mutate(udp4, 20 + 4, [0, 200])],
			["IPv6 payload length beyond the frame", mutate(udp6, 4, [0x04, 0x00])],
			["IPv6 version 4 under the IPv6 EtherType", mutate(udp6, 0, [0x40])],
			[
				"IPv6 with more extension headers than the walk allows",
				buildPacket({ ...udp6, ipv6Ext: Array.from({ length: 7 }, () => ({ type: "dst" as const })) }),
			],
			[
				"IPv6 extension header running past the payload",
				mutate({ ...udp6, ipv6Ext: [{ type: "dst" }] }, 40 + 1, [200]),
			],
		];
		for (const [name, frame] of cases) {
			test(name, () => {
				expect(dp.run(frame)).toBe(XDP_DROP);
				expect(dp.reasonPackets()).toEqual({ INVALID: 1 });
			});
		}
	});

	describe("harmless traffic the program does not understand passes", () => {
		test("Ethernet padding after a short IPv4 packet", () => {
			const p = buildPacket({ ...V4, l4: { proto: "udp", sport: 4000, dport: 19132 }, payload: 2 });
			const padded = new Uint8Array(60);
			padded.set(p);
			expect(dp.run(padded)).toBe(XDP_PASS);
			expect(dp.reasonPackets()).toEqual({ PASS: 1 });
		});

		test("an unknown L4 protocol to a protected address", () => {
			expect(dp.run(buildPacket({ ...V4, l4: { proto: "raw", number: 47 }, payload: 24 }))).toBe(XDP_PASS);
			expect(dp.run(buildPacket({ ...V6, l4: { proto: "raw", number: 132 }, payload: 24 }))).toBe(XDP_PASS);
			expect(dp.reasonPackets()).toEqual({ NO_SERVICE: 2 });
		});

		test("six extension headers are still walked", () => {
			const p = buildPacket({
				...V6,
				l4: { proto: "udp", sport: 4000, dport: 19132 },
				ipv6Ext: Array.from({ length: 6 }, () => ({ type: "dst" as const })),
			});
			expect(dp.run(p)).toBe(XDP_PASS);
			expect(dp.reasonPackets()).toEqual({ PASS: 1 });
		});

		test("three VLAN tags are not unwrapped", () => {
			const p = buildPacket({ ...V4, l4: { proto: "udp", sport: 4000, dport: 19132 }, vlans: [1, 2] });
			const three = new Uint8Array(p.length + 4);
			three.set(p.subarray(0, 20));
			new DataView(three.buffer).setUint16(20, ETH_P_8021Q);
			new DataView(three.buffer).setUint16(22, 3);
			three.set(p.subarray(20), 24);
			expect(dp.run(three)).toBe(XDP_PASS);
			expect(dp.reasonPackets()).toEqual({ NON_IP: 1 });
		});
	});
});
