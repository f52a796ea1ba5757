// Every verdict path of pp_xdp through BPF_PROG_TEST_RUN, for IPv4 and IPv6, untagged and
// with one or two VLAN tags: build a packet, seed the maps, run, assert verdict and counters.
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import {
	Action,
	type CompiledRule,
	IPPROTO,
	type ReasonName,
	SvcFlag,
	TRAFFIC_CLASSES,
	type TrafficClass,
} from "../../src/dataplane/abi.ts";
import { monotonicNowNs, XDP_DROP, XDP_PASS } from "../../src/dataplane/libbpf.ts";
import {
	buildEthernet,
	buildPacket,
	ETH_P_ARP,
	type L4,
	type PacketSpec,
	TCP_ACK,
	TCP_PSH,
	TCP_RST,
	TCP_SYN,
} from "../helpers/packets.ts";
import { Dataplane, skipReason } from "./harness.ts";

const skip = skipReason();
if (skip) console.warn(`skipping test/bpf/verdicts.test.ts: ${skip}`);
const suite = skip ? describe.skip : describe;

type Fam = 4 | 6;
const ADDR = {
	4: {
		server: "192.0.2.10",
		other: "192.0.2.99",
		client: "198.51.100.7",
		client2: "198.51.100.8",
		admin: "203.0.113.5",
		adminNet: "203.0.113.0/24",
		clientNet: "198.51.100.0/24",
	},
	6: {
		server: "2001:db8::10",
		other: "2001:db8::99",
		client: "2001:db8:1::7",
		client2: "2001:db8:1::8",
		admin: "2001:db8:ad::5",
		adminNet: "2001:db8:ad::/48",
		clientNet: "2001:db8:1::/48",
	},
} as const;

const JAVA_PORT = 25565;
const BEDROCK_PORT = 19132;
const SEC = 1_000_000_000n;

function tcp(dport: number, flags = TCP_SYN): L4 {
	return { proto: "tcp", sport: 40000, dport, flags };
}
function udp(dport: number, sport = 40001): L4 {
	return { proto: "udp", sport, dport };
}

function pkt(fam: Fam, vlans: number[], l4: L4, over: Partial<PacketSpec> = {}): Uint8Array {
	return buildPacket({ src: ADDR[fam].client, dst: ADDR[fam].server, l4, vlans, payload: 32, ...over });
}

let dp: Dataplane;

/** Java (TCP, backend 1) and Bedrock (UDP, backend 2) on the server address at a level. */
function services(fam: Fam, level: "OFF" | "LOW" | "MEDIUM" | "HIGH" | "UNDER_ATTACK" = "LOW", extra = 0): void {
	dp.addService({ addr: ADDR[fam].server, port: JAVA_PORT, proto: IPPROTO.TCP, backend: 1, level, extraFlags: extra });
	dp.addService({
		addr: ADDR[fam].server,
		port: BEDROCK_PORT,
		proto: IPPROTO.UDP,
		backend: 2,
		level,
		extraFlags: extra,
	});
}

interface Case {
	name: string;
	setup: (fam: Fam) => void;
	packet: (fam: Fam, vlans: number[]) => Uint8Array;
	verdict: number;
	reason: ReasonName;
	/** Backend the packet is counted under, if any. */
	backend?: number;
}

const now = () => monotonicNowNs();

const CASES: Case[] = [
	{
		name: "service traffic with nothing against it passes",
		setup: (f) => services(f),
		packet: (f, v) => pkt(f, v, tcp(JAVA_PORT)),
		verdict: XDP_PASS,
		reason: "PASS",
		backend: 1,
	},
	{
		name: "traffic for no service passes untouched",
		setup: (f) => services(f),
		packet: (f, v) => pkt(f, v, tcp(443)),
		verdict: XDP_PASS,
		reason: "NO_SERVICE",
	},
	{
		name: "a wildcard-address service matches any destination",
		setup: () => dp.addService({ addr: null, port: JAVA_PORT, proto: IPPROTO.TCP, backend: 3, level: "LOW" }),
		packet: (f, v) => pkt(f, v, tcp(JAVA_PORT), { dst: ADDR[f].other }),
		verdict: XDP_PASS,
		reason: "PASS",
		backend: 3,
	},
	{
		name: "the exact-address service wins over the wildcard",
		setup: (f) => {
			dp.addService({ addr: null, port: JAVA_PORT, proto: IPPROTO.TCP, backend: 3, level: "LOW" });
			services(f);
		},
		packet: (f, v) => pkt(f, v, tcp(JAVA_PORT)),
		verdict: XDP_PASS,
		reason: "PASS",
		backend: 1,
	},
	{
		name: "the management allow-list beats a global block",
		setup: (f) => {
			dp.mgmt(ADDR[f].adminNet);
			dp.block(ADDR[f].adminNet);
			dp.ban(ADDR[f].admin);
		},
		packet: (f, v) => pkt(f, v, tcp(22), { src: ADDR[f].admin }),
		verdict: XDP_PASS,
		reason: "MGMT",
	},
	{
		name: "a management port from outside the admin networks is blocked like anything else",
		setup: (f) => {
			dp.mgmt(ADDR[f].adminNet);
			dp.block(ADDR[f].clientNet);
		},
		packet: (f, v) => pkt(f, v, tcp(22)),
		verdict: XDP_DROP,
		reason: "BLOCK",
	},
	{
		name: "an admin source on a non-management port gets no management pass",
		setup: (f) => {
			dp.mgmt(ADDR[f].adminNet);
			dp.block(ADDR[f].adminNet);
		},
		packet: (f, v) => pkt(f, v, tcp(80), { src: ADDR[f].admin }),
		verdict: XDP_DROP,
		reason: "BLOCK",
	},
	{
		name: "a global allow beats a ban and a block",
		setup: (f) => {
			services(f);
			dp.allow(ADDR[f].clientNet);
			dp.ban(ADDR[f].client);
			dp.block(ADDR[f].clientNet);
		},
		packet: (f, v) => pkt(f, v, tcp(JAVA_PORT)),
		verdict: XDP_PASS,
		reason: "ALLOW",
		backend: 1,
	},
	{
		name: "an expired allow is ignored",
		setup: (f) => {
			services(f);
			dp.allow(ADDR[f].clientNet, 0, now() - SEC);
			dp.block(ADDR[f].clientNet);
		},
		packet: (f, v) => pkt(f, v, tcp(JAVA_PORT)),
		verdict: XDP_DROP,
		reason: "BLOCK",
		backend: 1,
	},
	{
		name: "a permanent ban drops",
		setup: (f) => {
			services(f);
			dp.ban(ADDR[f].client);
		},
		packet: (f, v) => pkt(f, v, tcp(JAVA_PORT)),
		verdict: XDP_DROP,
		reason: "BAN",
		backend: 1,
	},
	{
		name: "an unexpired ban drops even traffic for no service",
		setup: (f) => dp.ban(ADDR[f].client, now() + 3600n * SEC),
		packet: (f, v) => pkt(f, v, tcp(443)),
		verdict: XDP_DROP,
		reason: "BAN",
	},
	{
		name: "an expired ban is ignored",
		setup: (f) => {
			services(f);
			dp.ban(ADDR[f].client, now() - SEC);
		},
		packet: (f, v) => pkt(f, v, tcp(JAVA_PORT)),
		verdict: XDP_PASS,
		reason: "PASS",
		backend: 1,
	},
	{
		name: "a ban is on the exact source only",
		setup: (f) => {
			services(f);
			dp.ban(ADDR[f].client2);
		},
		packet: (f, v) => pkt(f, v, tcp(JAVA_PORT)),
		verdict: XDP_PASS,
		reason: "PASS",
		backend: 1,
	},
	{
		name: "a global block drops traffic for no service",
		setup: (f) => dp.block(ADDR[f].clientNet),
		packet: (f, v) => pkt(f, v, udp(53)),
		verdict: XDP_DROP,
		reason: "BLOCK",
	},
	{
		name: "an unexpired block drops",
		setup: (f) => {
			services(f);
			dp.block(ADDR[f].clientNet, 0, now() + 3600n * SEC);
		},
		packet: (f, v) => pkt(f, v, udp(BEDROCK_PORT)),
		verdict: XDP_DROP,
		reason: "BLOCK",
		backend: 2,
	},
	{
		name: "an expired block is ignored",
		setup: (f) => {
			services(f);
			dp.block(ADDR[f].clientNet, 0, now() - SEC);
		},
		packet: (f, v) => pkt(f, v, udp(BEDROCK_PORT)),
		verdict: XDP_PASS,
		reason: "PASS",
		backend: 2,
	},
	{
		name: "a backend-scoped allow applies to that backend",
		setup: (f) => {
			services(f, "LOW", SvcFlag.SCOPED_ALLOW);
			dp.allow(ADDR[f].clientNet, 1);
			dp.block(ADDR[f].clientNet);
		},
		packet: (f, v) => pkt(f, v, tcp(JAVA_PORT)),
		verdict: XDP_PASS,
		reason: "ALLOW",
		backend: 1,
	},
	{
		name: "a backend-scoped allow does not apply to another backend",
		setup: (f) => {
			services(f, "LOW", SvcFlag.SCOPED_ALLOW);
			dp.allow(ADDR[f].clientNet, 1);
			dp.block(ADDR[f].clientNet);
		},
		packet: (f, v) => pkt(f, v, udp(BEDROCK_PORT)),
		verdict: XDP_DROP,
		reason: "BLOCK",
		backend: 2,
	},
	{
		name: "a backend-scoped block applies to that backend",
		setup: (f) => {
			services(f, "LOW", SvcFlag.SCOPED_BLOCK);
			dp.block(ADDR[f].clientNet, 2);
		},
		packet: (f, v) => pkt(f, v, udp(BEDROCK_PORT)),
		verdict: XDP_DROP,
		reason: "BLOCK",
		backend: 2,
	},
	{
		name: "a backend-scoped block leaves other backends alone",
		setup: (f) => {
			services(f, "LOW", SvcFlag.SCOPED_BLOCK);
			dp.block(ADDR[f].clientNet, 2);
		},
		packet: (f, v) => pkt(f, v, tcp(JAVA_PORT)),
		verdict: XDP_PASS,
		reason: "PASS",
		backend: 1,
	},
	{
		name: "a backend-scoped block leaves traffic for no service alone",
		setup: (f) => {
			services(f, "LOW", SvcFlag.SCOPED_BLOCK);
			dp.block(ADDR[f].clientNet, 2);
		},
		packet: (f, v) => pkt(f, v, udp(BEDROCK_PORT + 1)),
		verdict: XDP_PASS,
		reason: "NO_SERVICE",
	},
	{
		name: "a DROP rule drops",
		setup: (f) => {
			dp.addService({
				addr: ADDR[f].server,
				port: JAVA_PORT,
				proto: IPPROTO.TCP,
				backend: 1,
				level: "LOW",
				ruleset: 0,
			});
			dp.setRules(0, [rule({ action: Action.DROP, statsSlot: 5 })]);
		},
		packet: (f, v) => pkt(f, v, tcp(JAVA_PORT)),
		verdict: XDP_DROP,
		reason: "RULE_DROP",
		backend: 1,
	},
	{
		name: "a CHALLENGE rule hands the packet to the proxy",
		setup: (f) => {
			dp.addService({
				addr: ADDR[f].server,
				port: JAVA_PORT,
				proto: IPPROTO.TCP,
				backend: 1,
				level: "LOW",
				ruleset: 0,
			});
			dp.setRules(0, [rule({ action: Action.CHALLENGE, statsSlot: 5 })]);
		},
		packet: (f, v) => pkt(f, v, tcp(JAVA_PORT)),
		verdict: XDP_PASS,
		reason: "CHALLENGE",
		backend: 1,
	},
	{
		name: "a REDIRECT rule hands the packet to the proxy",
		setup: (f) => {
			dp.addService({
				addr: ADDR[f].server,
				port: JAVA_PORT,
				proto: IPPROTO.TCP,
				backend: 1,
				level: "LOW",
				ruleset: 0,
			});
			dp.setRules(0, [rule({ action: Action.REDIRECT, statsSlot: 5 })]);
		},
		packet: (f, v) => pkt(f, v, tcp(JAVA_PORT)),
		verdict: XDP_PASS,
		reason: "REDIRECT",
		backend: 1,
	},
	{
		name: "an ALLOW rule passes",
		setup: (f) => {
			dp.addService({
				addr: ADDR[f].server,
				port: JAVA_PORT,
				proto: IPPROTO.TCP,
				backend: 1,
				level: "LOW",
				ruleset: 0,
			});
			dp.setRules(0, [rule({ action: Action.ALLOW, statsSlot: 5 })]);
		},
		packet: (f, v) => pkt(f, v, tcp(JAVA_PORT)),
		verdict: XDP_PASS,
		reason: "RULE_ALLOW",
		backend: 1,
	},
	{
		name: "UDP from a reflection port to a MEDIUM service drops",
		setup: (f) => services(f, "MEDIUM"),
		packet: (f, v) => pkt(f, v, udp(BEDROCK_PORT, 123)),
		verdict: XDP_DROP,
		reason: "REFLECTION",
		backend: 2,
	},
	{
		name: "a fragment to a MEDIUM service drops",
		setup: (f) => services(f, "MEDIUM"),
		packet: (f, v) =>
			pkt(
				f,
				v,
				udp(BEDROCK_PORT),
				f === 4 ? { ipv4: { more: true } } : { ipv6Ext: [{ type: "frag", offset: 0, more: true }] },
			),
		verdict: XDP_DROP,
		reason: "FRAGMENT",
		backend: 2,
	},
	{
		name: "a first fragment whose UDP length covers the whole datagram passes a LOW service",
		setup: (f) => services(f, "LOW"),
		packet: (f, v) =>
			pkt(
				f,
				v,
				{ proto: "udp", sport: 40001, dport: BEDROCK_PORT, length: 3008 },
				f === 4 ? { ipv4: { more: true } } : { ipv6Ext: [{ type: "frag", offset: 0, more: true }] },
			),
		verdict: XDP_PASS,
		reason: "PASS",
		backend: 2,
	},
	{
		name: "a later fragment to a MEDIUM service drops through the host entry",
		setup: (f) => services(f, "MEDIUM"),
		packet: (f, v) =>
			pkt(
				f,
				v,
				{ proto: "raw", number: IPPROTO.UDP },
				f === 4 ? { ipv4: { fragOffset8: 10 } } : { ipv6Ext: [{ type: "frag", offset: 10, more: false }] },
			),
		verdict: XDP_DROP,
		reason: "FRAGMENT",
		backend: 2,
	},
	{
		name: "a later fragment from an admin network passes",
		setup: (f) => {
			services(f, "MEDIUM");
			dp.mgmt(ADDR[f].adminNet);
		},
		packet: (f, v) =>
			pkt(
				f,
				v,
				{ proto: "raw", number: IPPROTO.TCP },
				f === 4
					? { src: ADDR[f].admin, ipv4: { fragOffset8: 10 } }
					: { src: ADDR[f].admin, ipv6Ext: [{ type: "frag", offset: 10, more: false }] },
			),
		verdict: XDP_PASS,
		reason: "MGMT",
	},
	{
		name: "impossible TCP flags to a LOW service drop as invalid",
		setup: (f) => services(f, "LOW"),
		packet: (f, v) => pkt(f, v, tcp(JAVA_PORT, 0x03)),
		verdict: XDP_DROP,
		reason: "INVALID",
		backend: 1,
	},
	{
		name: "a truncated header drops as invalid",
		setup: (f) => services(f),
		packet: (f, v) => pkt(f, v, tcp(JAVA_PORT)).subarray(0, (f === 4 ? 34 : 54) + 4 * v.length + 10),
		verdict: XDP_DROP,
		reason: "INVALID",
	},
	{
		name: "ICMP to a service address passes when no ICMP service exists",
		setup: (f) => services(f, "UNDER_ATTACK"),
		packet: (f, v) => pkt(f, v, f === 4 ? { proto: "icmp", type: 8 } : { proto: "icmpv6", type: 128 }),
		verdict: XDP_PASS,
		reason: "NO_SERVICE",
	},
	{
		name: "IPv6 extension headers are walked to find the service",
		setup: (f) => services(f),
		packet: (f, v) =>
			pkt(
				f,
				v,
				udp(BEDROCK_PORT),
				f === 6
					? { ipv6Ext: [{ type: "hop", len8: 1 }, { type: "routing" }, { type: "dst" }] }
					: { ipv4: { options: new Uint8Array([1, 1, 1, 0, 0x94, 4, 0, 0]) } },
			),
		verdict: XDP_PASS,
		reason: "PASS",
		backend: 2,
	},
];

function rule(r: Partial<CompiledRule> & { action: number; statsSlot: number }): CompiledRule {
	return { srcAny: 0n, srcNone: 0n, dports: [], protos: 0, ...r };
}

suite("pp_xdp verdicts", () => {
	beforeAll(() => {
		dp = Dataplane.open();
	});
	afterAll(() => dp?.close());
	beforeEach(() => dp.reset());

	for (const fam of [4, 6] as const) {
		for (const vlans of [[], [100], [100, 200]]) {
			describe(`IPv${fam}, ${vlans.length} VLAN tag(s)`, () => {
				for (const c of CASES) {
					test(c.name, () => {
						c.setup(fam);
						const p = c.packet(fam, vlans);
						expect(dp.run(p)).toBe(c.verdict);
						expect(dp.reasonPackets()).toEqual({ [c.reason]: 1 });
						expect(dp.reasons()[c.reason].bytes).toBe(BigInt(p.length));
						if (c.backend !== undefined) {
							const b = dp.backendCtr(c.backend);
							expect(b.rxPackets).toBe(1n);
							expect(b.rxBytes).toBe(BigInt(p.length));
							expect(c.verdict === XDP_DROP ? b.dropPackets : b.passPackets).toBe(1n);
						}
					});
				}
			});
		}
	}

	for (const fam of [4, 6] as const) {
		describe(`IPv${fam}: traffic classes in the backend's counters`, () => {
			const frag = (f: Fam) =>
				f === 4 ? { ipv4: { fragOffset8: 10 } } : { ipv6Ext: [{ type: "frag" as const, offset: 10, more: false }] };
			const echo = (f: Fam): L4 => (f === 4 ? { proto: "icmp", type: 8 } : { proto: "icmpv6", type: 128 });
			const cases: [string, (f: Fam) => Uint8Array, number, TrafficClass, boolean][] = [
				["a SYN is tcp SYN", (f) => pkt(f, [], tcp(JAVA_PORT)), 1, "syn", false],
				["a bare ACK is other TCP", (f) => pkt(f, [], tcp(JAVA_PORT, TCP_ACK)), 1, "ack", false],
				["data is other TCP", (f) => pkt(f, [], tcp(JAVA_PORT, TCP_ACK | TCP_PSH)), 1, "ack", false],
				["a SYN-ACK is other TCP", (f) => pkt(f, [], tcp(JAVA_PORT, TCP_SYN | TCP_ACK)), 1, "ack", false],
				["a SYN+RST is a dropped SYN", (f) => pkt(f, [], tcp(JAVA_PORT, TCP_SYN | TCP_RST)), 1, "syn", true],
				["a datagram is UDP", (f) => pkt(f, [], udp(BEDROCK_PORT)), 2, "udp", false],
				[
					"a UDP datagram from a reflection port is a dropped UDP",
					(f) => pkt(f, [], udp(BEDROCK_PORT, 123)),
					2,
					"udp",
					true,
				],
				// ICMP has no port: it counts for the backend of the address's ICMP host entry.
				["an echo request is ICMP", (f) => pkt(f, [], echo(f)), 1, "icmp", false],
				["a later fragment is a dropped fragment", (f) => pkt(f, [], udp(BEDROCK_PORT), frag(f)), 2, "frag", true],
			];
			for (const [name, packet, backend, cls, dropped] of cases) {
				test(name, () => {
					services(fam, "MEDIUM");
					dp.addService({
						addr: ADDR[fam].server,
						port: 0,
						proto: fam === 4 ? IPPROTO.ICMP : IPPROTO.ICMPV6,
						backend: 1,
						level: "MEDIUM",
					});
					expect(dp.run(packet(fam))).toBe(dropped ? XDP_DROP : XDP_PASS);
					const b = dp.backendCtr(backend);
					const counted = Object.fromEntries(
						TRAFFIC_CLASSES.flatMap((c) => [
							[`${c}Packets`, b[`${c}Packets`]],
							[`${c}Drops`, b[`${c}Drops`]],
						]),
					);
					expect(counted).toEqual({
						...Object.fromEntries(
							TRAFFIC_CLASSES.flatMap((c) => [
								[`${c}Packets`, 0n],
								[`${c}Drops`, 0n],
							]),
						),
						[`${cls}Packets`]: 1n,
						[`${cls}Drops`]: dropped ? 1n : 0n,
					});
					expect(b.rxPackets).toBe(1n);
				});
			}

			test("a packet of another IP protocol is in no class", () => {
				services(fam, "LOW");
				dp.addService({ addr: ADDR[fam].server, port: 0, proto: 47, backend: 1, level: "LOW" });
				expect(dp.run(pkt(fam, [], { proto: "raw", number: 47 }))).toBe(XDP_PASS);
				const b = dp.backendCtr(1);
				expect(b.rxPackets).toBe(1n);
				expect(TRAFFIC_CLASSES.map((c) => b[`${c}Packets`])).toEqual([0n, 0n, 0n, 0n, 0n]);
			});
		});
	}

	test("non-IP frames pass, tagged or not", () => {
		for (const vlans of [[], [7], [7, 8]]) expect(dp.run(buildEthernet(ETH_P_ARP, 28, vlans))).toBe(XDP_PASS);
		expect(dp.reasonPackets()).toEqual({ NON_IP: 3 });
	});

	test("ACK packets of an established flow pass at every level", () => {
		for (const level of ["OFF", "LOW", "MEDIUM", "HIGH", "UNDER_ATTACK"] as const) {
			dp.reset();
			services(4, level);
			expect(dp.run(pkt(4, [], tcp(JAVA_PORT, TCP_ACK)))).toBe(XDP_PASS);
		}
	});
});
