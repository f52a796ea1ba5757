// Protection levels, compiled rules and rate limits of pp_xdp through BPF_PROG_TEST_RUN.
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import {
	Action,
	CACHE_TTL_NS,
	CacheFlag,
	type CompiledRule,
	decodeSrcWay,
	encodeListEntry,
	encodeLpmKey,
	encodeServiceKey,
	IPPROTO,
	LAYOUT,
	type LevelName,
	PORT_NONE,
	PORT_UDP,
	type PrefixLengths,
	ProtoBit,
	Scope,
	type SrcState,
	SumState,
	SvcFlag,
	u32,
} from "../../src/dataplane/abi.ts";
import { connectionLimit, type LevelOverrides } from "../../src/dataplane/levels.ts";
import { monotonicNowNs, XDP_DROP, XDP_PASS } from "../../src/dataplane/libbpf.ts";
import { newSrcHash, readSrcTable, srcSlot } from "../../src/dataplane/src-table.ts";
import {
	buildPacket,
	type L4,
	type PacketSpec,
	TCP_ACK,
	TCP_FIN,
	TCP_PSH,
	TCP_RST,
	TCP_SYN,
	TCP_URG,
} from "../helpers/packets.ts";
import { cpus, Dataplane, DEFAULT_CONFIG, skipReason } from "./harness.ts";

const skip = skipReason();
if (skip) console.warn(`skipping test/bpf/policy.test.ts: ${skip}`);
const suite = skip ? describe.skip : describe;

const SERVER = "192.0.2.10";
const SERVER6 = "2001:db8::10";
const CLIENT = "198.51.100.7";
const JAVA = 25565;
const BEDROCK = 19132;
const LEVELS: LevelName[] = ["OFF", "LOW", "MEDIUM", "HIGH", "UNDER_ATTACK"];

let dp: Dataplane;

function pkt(l4: L4, over: Partial<PacketSpec> = {}): Uint8Array {
	return buildPacket({ src: CLIENT, dst: SERVER, l4, payload: 16, ...over });
}
const tcp = (dport = JAVA, flags = TCP_SYN, sport = 40000): L4 => ({ proto: "tcp", sport, dport, flags });
const udp = (dport = BEDROCK, sport = 40001): L4 => ({ proto: "udp", sport, dport });

function rule(r: Partial<CompiledRule> & { action: number; statsSlot: number }): CompiledRule {
	return { srcAny: 0n, srcNone: 0n, dports: [], protos: 0, ...r };
}

function serveWithRules(rules: CompiledRule[], level: LevelName = "OFF"): void {
	for (const [port, proto] of [
		[JAVA, IPPROTO.TCP],
		[BEDROCK, IPPROTO.UDP],
	] as const) {
		dp.addService({ addr: SERVER, port, proto, backend: 1, level, ruleset: 7 });
	}
	dp.setRules(7, rules);
}

suite("pp_xdp policy", () => {
	beforeAll(() => {
		dp = Dataplane.open();
	});
	afterAll(() => dp?.close());
	beforeEach(() => dp.reset());

	describe("protection levels", () => {
		// [level, fragments dropped, reflection dropped, bogus dropped, per-source limit on]
		const table: [LevelName, boolean, boolean, boolean, boolean][] = [
			["OFF", false, false, false, false],
			["LOW", false, false, true, true],
			["MEDIUM", true, true, true, true],
			["HIGH", true, true, true, true],
			["UNDER_ATTACK", true, true, true, true],
		];
		for (const [level, frag, refl, bogus, srcLimit] of table) {
			test(`${level}: fragments ${frag ? "drop" : "pass"}, reflection ${refl ? "drops" : "passes"}, bogus headers ${bogus ? "drop" : "pass"}`, () => {
				dp.addService({ addr: SERVER, port: BEDROCK, proto: IPPROTO.UDP, backend: 2, level });
				dp.addService({ addr: SERVER, port: JAVA, proto: IPPROTO.TCP, backend: 1, level });
				const verdict = (drop: boolean) => (drop ? XDP_DROP : XDP_PASS);
				expect(dp.run(pkt(udp(), { ipv4: { more: true } }))).toBe(verdict(frag));
				expect(dp.run(pkt({ proto: "raw", number: IPPROTO.UDP }, { ipv4: { fragOffset8: 3 } }))).toBe(verdict(frag));
				expect(dp.run(pkt(udp(BEDROCK, 1900)))).toBe(verdict(refl));
				expect(dp.run(pkt(udp(BEDROCK, 11211), { src: "2001:db8:1::7", dst: SERVER6 }))).toBe(XDP_PASS);
				expect(dp.run(pkt(tcp(JAVA, TCP_SYN | TCP_FIN)))).toBe(verdict(bogus));
				expect(dp.run(pkt(udp(BEDROCK, 40001), { src: "127.0.0.1" }))).toBe(verdict(bogus));
				expect(dp.run(pkt(udp(BEDROCK, 40002)))).toBe(XDP_PASS);
				const counts = dp.reasonPackets();
				expect(counts.FRAGMENT ?? 0).toBe(frag ? 2 : 0);
				expect(counts.REFLECTION ?? 0).toBe(refl ? 1 : 0);
				expect(counts.INVALID ?? 0).toBe(bogus ? 2 : 0);
				// The IPv6 packet has no service on SERVER6, so it is NO_SERVICE at every level.
				expect(counts.NO_SERVICE).toBe(1);
				// Every service source gets an entry (it caches the list verdict); only a level with
				// per-source limits puts its bucket to use.
				expect((dp.srcState(2, CLIENT)?.lastNs ?? 0n) > 0n).toBe(srcLimit);
			});
		}

		test("impossible TCP flag combinations and port 0 are invalid from LOW up", () => {
			dp.addService({ addr: SERVER, port: JAVA, proto: IPPROTO.TCP, backend: 1, level: "LOW" });
			const bad = [0, TCP_SYN | TCP_FIN, TCP_SYN | TCP_RST, TCP_FIN, TCP_FIN | TCP_PSH | TCP_URG, TCP_PSH];
			for (const flags of bad) expect(dp.run(pkt(tcp(JAVA, flags)))).toBe(XDP_DROP);
			expect(dp.run(pkt(tcp(JAVA, TCP_SYN, 0)))).toBe(XDP_DROP);
			const good = [
				TCP_SYN,
				TCP_ACK,
				TCP_SYN | TCP_ACK,
				TCP_FIN | TCP_ACK,
				TCP_RST,
				TCP_RST | TCP_ACK,
				TCP_PSH | TCP_ACK,
			];
			for (const flags of good) expect(dp.run(pkt(tcp(JAVA, flags)))).toBe(XDP_PASS);
			expect(dp.reasonPackets()).toEqual({ INVALID: bad.length + 1, PASS: good.length });
		});
	});

	describe("rules", () => {
		test("the first matching rule decides, and reordering changes the outcome", () => {
			dp.sourceSets("198.51.100.0/24", [3]);
			const allowSet3 = rule({ action: Action.ALLOW, statsSlot: 10, srcAny: 1n << 3n });
			const dropAll = rule({ action: Action.DROP, statsSlot: 11 });
			serveWithRules([allowSet3, dropAll]);
			expect(dp.run(pkt(tcp()))).toBe(XDP_PASS);
			expect(dp.run(pkt(tcp(), { src: "203.0.113.9" }))).toBe(XDP_DROP);
			expect(dp.ruleCtr(10).packets).toBe(1n);
			expect(dp.ruleCtr(11).packets).toBe(1n);

			dp.setRules(7, [dropAll, allowSet3]);
			expect(dp.run(pkt(tcp()))).toBe(XDP_DROP);
			expect(dp.ruleCtr(10).packets).toBe(1n);
			expect(dp.ruleCtr(11).packets).toBe(2n);
			expect(dp.reasonPackets()).toEqual({ RULE_ALLOW: 1, RULE_DROP: 2 });
		});

		test("a rule matches destination port ranges, protocols and TCP flags", () => {
			serveWithRules([
				rule({ action: Action.DROP, statsSlot: 1, protos: ProtoBit.UDP, dports: [{ lo: 19000, hi: 19200 }] }),
				rule({
					action: Action.DROP,
					statsSlot: 2,
					protos: ProtoBit.TCP,
					tcpFlags: { mask: TCP_SYN | TCP_ACK, value: TCP_SYN },
				}),
				rule({
					action: Action.ALLOW,
					statsSlot: 3,
					dports: [
						{ lo: 1, hi: 100 },
						{ lo: JAVA, hi: JAVA },
					],
				}),
			]);
			expect(dp.run(pkt(udp()))).toBe(XDP_DROP);
			expect(dp.run(pkt(tcp(JAVA, TCP_SYN)))).toBe(XDP_DROP);
			expect(dp.run(pkt(tcp(JAVA, TCP_ACK)))).toBe(XDP_PASS);
			expect(dp.ruleCtr(1).packets).toBe(1n);
			expect(dp.ruleCtr(2).packets).toBe(1n);
			expect(dp.ruleCtr(3).packets).toBe(1n);
			expect(dp.reasonPackets()).toEqual({ RULE_DROP: 2, RULE_ALLOW: 1 });
		});

		test("a negated source set excludes sources from a rule", () => {
			dp.sourceSets("198.51.100.0/24", [0]);
			dp.sourceSets("198.51.100.128/25", [0, 9]);
			serveWithRules([rule({ action: Action.DROP, statsSlot: 1, srcAny: 1n, srcNone: 1n << 9n })]);
			expect(dp.run(pkt(tcp()))).toBe(XDP_DROP);
			expect(dp.run(pkt(tcp(), { src: "198.51.100.200" }))).toBe(XDP_PASS);
			expect(dp.run(pkt(tcp(), { src: "203.0.113.1" }))).toBe(XDP_PASS);
		});

		test("a rule on a high source set (bit 63) matches", () => {
			dp.sourceSets("2001:db8:1::/48", [63]);
			dp.addService({ addr: SERVER6, port: JAVA, proto: IPPROTO.TCP, backend: 1, level: "OFF", ruleset: 7 });
			dp.setRules(7, [rule({ action: Action.DROP, statsSlot: 1, srcAny: 1n << 63n })]);
			expect(dp.run(pkt(tcp(), { src: "2001:db8:1::7", dst: SERVER6 }))).toBe(XDP_DROP);
			expect(dp.run(pkt(tcp(), { src: "2001:db8:2::7", dst: SERVER6 }))).toBe(XDP_PASS);
		});

		test("the 64th rule is evaluated", () => {
			const rules = Array.from({ length: 63 }, (_, i) =>
				rule({ action: Action.DROP, statsSlot: i, dports: [{ lo: 1, hi: 1 }] }),
			);
			rules.push(rule({ action: Action.DROP, statsSlot: 63 }));
			serveWithRules(rules);
			expect(dp.run(pkt(tcp()))).toBe(XDP_DROP);
			expect(dp.ruleCtr(63).packets).toBe(1n);
		});

		test("LOG records an event and the next rule still decides", () => {
			dp.setConfig({ ...DEFAULT_CONFIG });
			serveWithRules([
				rule({ action: Action.LOG, statsSlot: 1 }),
				rule({ action: Action.DROP, statsSlot: 2, protos: ProtoBit.UDP }),
			]);
			expect(dp.run(pkt(tcp()))).toBe(XDP_PASS);
			expect(dp.run(pkt(udp()))).toBe(XDP_DROP);
			expect(dp.ruleCtr(1).packets).toBe(2n);
			expect(dp.ruleCtr(2).packets).toBe(1n);
			expect(dp.ruleCtr(1).lastMatchNs).toBeGreaterThan(0n);
			expect(dp.ruleCtr(1).lastMatchNs).toBeLessThanOrEqual(monotonicNowNs());
			expect(dp.eventCtr()).toEqual({ emitted: 2n, lost: 0n });
			expect(dp.reasonPackets()).toEqual({ PASS: 1, RULE_DROP: 1 });
		});

		test("RATE_LIMIT drops a source over the rule's rate and keeps other sources apart", () => {
			serveWithRules([rule({ action: Action.RATE_LIMIT, statsSlot: 4, limit: { rate: 1, burst: 3 } })]);
			const results = Array.from({ length: 6 }, () => dp.run(pkt(tcp())));
			expect(results.slice(0, 3)).toEqual([XDP_PASS, XDP_PASS, XDP_PASS]);
			expect(results.filter((r) => r === XDP_DROP).length).toBeGreaterThanOrEqual(2);
			expect(dp.run(pkt(tcp(), { src: "198.51.100.99" }))).toBe(XDP_PASS);
			const st = dp.srcState(Scope.RULE | 4, CLIENT);
			expect(st?.packets).toBe(6n);
			expect(st?.drops).toBe(BigInt(results.filter((r) => r === XDP_DROP).length));
		});

		test("an ALLOW rule skips the rate limits", () => {
			serveWithRules([rule({ action: Action.ALLOW, statsSlot: 1 })], "UNDER_ATTACK");
			dp.addService({
				addr: SERVER,
				port: JAVA,
				proto: IPPROTO.TCP,
				backend: 1,
				level: "LOW",
				ruleset: 7,
				overrides: { perIpRateLimit: { requestsPerSecond: 1, burstSize: 1 } },
			});
			for (let i = 0; i < 10; i++) expect(dp.run(pkt(tcp()))).toBe(XDP_PASS);
			expect(dp.reasonPackets()).toEqual({ RULE_ALLOW: 10 });
		});
	});

	describe("new-connection rate per source", () => {
		const conn = (level: LevelName) => {
			dp.addService({ addr: SERVER, port: JAVA, proto: IPPROTO.TCP, backend: 1, level });
			dp.setL7(1, { flags: 0, quicVersions: [], sessionNs: 0n, conn: connectionLimit(level) });
		};
		const syn = (src = CLIENT) => dp.run(pkt(tcp(JAVA, TCP_SYN), { src }));

		test("HIGH admits a source's burst of SYNs, then drops them; other sources and ACKs are not counted", () => {
			conn("HIGH");
			const { burst } = connectionLimit("HIGH");
			for (let i = 0; i < burst; i++) expect(syn()).toBe(XDP_PASS);
			expect(syn()).toBe(XDP_DROP);
			expect(dp.run(pkt(tcp(JAVA, TCP_ACK)))).toBe(XDP_PASS);
			expect(syn("198.51.100.8")).toBe(XDP_PASS);
			expect(dp.reasonPackets()).toEqual({ PASS: burst + 2, CONN_RATELIMIT: 1 });
			expect(dp.srcState(Scope.CONN | 1, CLIENT)?.drops).toBe(1n);
		});

		test("UNDER_ATTACK is stricter than HIGH; MEDIUM does not limit connections", () => {
			expect(connectionLimit("UNDER_ATTACK").burst).toBeLessThan(connectionLimit("HIGH").burst);
			conn("MEDIUM");
			for (let i = 0; i < 100; i++) expect(syn()).toBe(XDP_PASS);
		});
	});

	describe("rate limits", () => {
		test("the per-source bucket drops an IPv6 source after the burst", () => {
			dp.addService({
				addr: SERVER6,
				port: BEDROCK,
				proto: IPPROTO.UDP,
				backend: 2,
				level: "MEDIUM",
				overrides: { perIpRateLimit: { requestsPerSecond: 1, burstSize: 3 } },
			});
			const send = (src: string) => dp.run(pkt(udp(), { src, dst: SERVER6 }));
			const res = Array.from({ length: 6 }, () => send("2001:db8:1::7"));
			expect(res.slice(0, 3)).toEqual([XDP_PASS, XDP_PASS, XDP_PASS]);
			expect(res.filter((r) => r === XDP_DROP).length).toBeGreaterThanOrEqual(2);
			expect(send("2001:db8:1::8")).toBe(XDP_PASS);
			expect(dp.srcState(2, "2001:db8:1::7")?.drops).toBe(BigInt(res.filter((r) => r === XDP_DROP).length));
		});

		test("the per-source bucket drops after the burst, per source", () => {
			dp.addService({
				addr: SERVER,
				port: JAVA,
				proto: IPPROTO.TCP,
				backend: 1,
				level: "LOW",
				overrides: { perIpRateLimit: { requestsPerSecond: 1, burstSize: 5 } },
			});
			const res = Array.from({ length: 12 }, () => dp.run(pkt(tcp(JAVA, TCP_ACK))));
			expect(res.slice(0, 5).every((r) => r === XDP_PASS)).toBe(true);
			const dropped = res.filter((r) => r === XDP_DROP).length;
			expect(dropped).toBeGreaterThanOrEqual(6);
			expect(dp.run(pkt(tcp(JAVA, TCP_ACK), { src: "198.51.100.8" }))).toBe(XDP_PASS);
			const st = dp.srcState(1, CLIENT);
			expect(st?.packets).toBe(12n);
			expect(st?.drops).toBe(BigInt(dropped));
			expect(st?.bytes).toBe(BigInt(12 * pkt(tcp()).length));
			expect(dp.reasonPackets().RATELIMIT).toBe(dropped);
			const b = dp.backendCtr(1);
			expect(b.dropPackets).toBe(BigInt(dropped));
			expect(b.passPackets).toBe(BigInt(13 - dropped));
		});

		test("the per-source byte bucket drops large packets", () => {
			dp.addService({
				addr: SERVER,
				port: BEDROCK,
				proto: IPPROTO.UDP,
				backend: 2,
				level: "LOW",
				limits: { srcPkt: { rate: 1_000_000, burst: 1_000_000 }, srcByte: { rate: 1, burst: 10_000 } },
			});
			const big = pkt(udp(), { payload: 1400 });
			const small = pkt(udp());
			const res = Array.from({ length: 10 }, () => dp.run(big));
			const fits = Math.floor(10_000 / big.length);
			expect(res.slice(0, fits).every((r) => r === XDP_PASS)).toBe(true);
			expect(res.slice(fits).every((r) => r === XDP_DROP)).toBe(true);
			// What is left in the bucket still admits a small packet.
			expect(dp.run(small)).toBe(XDP_PASS);
			expect(dp.reasonPackets()).toEqual({ PASS: fits + 1, RATELIMIT: 10 - fits });
		});

		test("the backend bucket drops after its burst, whatever the sources", () => {
			dp.addService({
				addr: SERVER,
				port: JAVA,
				proto: IPPROTO.TCP,
				backend: 1,
				level: "LOW",
				overrides: { globalRateLimit: { requestsPerSecond: 1, burstSize: 4 } },
			});
			let passed = 0;
			const n = 20;
			for (let i = 0; i < n; i++) {
				if (dp.run(pkt(tcp(JAVA, TCP_ACK), { src: `198.51.100.${i + 1}` })) === XDP_PASS) passed++;
			}
			// Buckets are per CPU; the test thread may run on any CPU.
			expect(passed).toBeGreaterThanOrEqual(4);
			expect(passed).toBeLessThanOrEqual(4 * cpus() + 1);
			expect(dp.reasonPackets().GLOBAL_RATELIMIT).toBe(n - passed);
		});

		test("OFF ignores rate-limit overrides", () => {
			dp.addService({
				addr: SERVER,
				port: JAVA,
				proto: IPPROTO.TCP,
				backend: 1,
				level: "OFF",
				overrides: {
					perIpRateLimit: { requestsPerSecond: 1, burstSize: 1 },
					globalRateLimit: { requestsPerSecond: 1, burstSize: 1 },
				},
			});
			for (let i = 0; i < 10; i++) expect(dp.run(pkt(tcp(JAVA, TCP_ACK)))).toBe(XDP_PASS);
		});

		for (const level of LEVELS) {
			test(`${level}: a source within the default limits passes`, () => {
				dp.addService({ addr: SERVER, port: JAVA, proto: IPPROTO.TCP, backend: 1, level });
				for (let i = 0; i < 50; i++) expect(dp.run(pkt(tcp(JAVA, TCP_ACK)))).toBe(XDP_PASS);
			});
		}
	});

	describe("prefix lists: longest match over the published prefix lengths", () => {
		const NONE: PrefixLengths = { v4: [], v6: [] };
		const svc = (addr: string) => dp.addService({ addr, port: JAVA, proto: IPPROTO.TCP, backend: 1, level: "OFF" });
		const from = (src: string, dst: string) => dp.run(buildPacket({ src, dst, l4: tcp(JAVA, TCP_ACK), payload: 8 }));
		const V6_SERVER = "2001:db8::10";
		// [name, entries (allow/block cidr), source, verdict, reason]
		const cases: [string, ["allow" | "block", string][], string, number, string][] = [
			["a /0 block takes every IPv4 source", [["block", "0.0.0.0/0"]], "198.51.100.7", XDP_DROP, "BLOCK"],
			["a /1 block takes its half", [["block", "128.0.0.0/1"]], "198.51.100.7", XDP_DROP, "BLOCK"],
			["a /1 block misses the other half", [["block", "0.0.0.0/1"]], "198.51.100.7", XDP_PASS, "PASS"],
			["a /31 block takes both addresses", [["block", "198.51.100.6/31"]], "198.51.100.7", XDP_DROP, "BLOCK"],
			["a /32 block misses its neighbour", [["block", "198.51.100.8/32"]], "198.51.100.7", XDP_PASS, "PASS"],
			[
				"an allow beats a block of any length",
				[
					["block", "198.51.100.7/32"],
					["allow", "198.0.0.0/8"],
				],
				"198.51.100.7",
				XDP_PASS,
				"ALLOW",
			],
			["a /0 IPv6 block takes every IPv6 source", [["block", "::/0"]], "2001:db8:1::7", XDP_DROP, "BLOCK"],
			["a /33 IPv6 block", [["block", "2001:db8:8000::/33"]], "2001:db8:8000::7", XDP_DROP, "BLOCK"],
			["a /33 IPv6 block misses the other half", [["block", "2001:db8:8000::/33"]], "2001:db8:1::7", XDP_PASS, "PASS"],
			["a /64 IPv6 block", [["block", "2001:db8:1::/64"]], "2001:db8:1::7", XDP_DROP, "BLOCK"],
			["a /65 IPv6 block", [["block", "2001:db8:1::/65"]], "2001:db8:1::7", XDP_DROP, "BLOCK"],
			[
				"a /65 IPv6 block misses the upper half",
				[["block", "2001:db8:1::/65"]],
				"2001:db8:1:0:8000::7",
				XDP_PASS,
				"PASS",
			],
			["a /127 IPv6 block", [["block", "2001:db8:1::6/127"]], "2001:db8:1::7", XDP_DROP, "BLOCK"],
			["a /128 IPv6 block", [["block", "2001:db8:1::7/128"]], "2001:db8:1::7", XDP_DROP, "BLOCK"],
			["a /128 IPv6 block misses its neighbour", [["block", "2001:db8:1::8/128"]], "2001:db8:1::7", XDP_PASS, "PASS"],
			[
				"an IPv6 allow of any length beats a block",
				[
					["block", "2001:db8:1::7/128"],
					["allow", "2001:db8::/29"],
				],
				"2001:db8:1::7",
				XDP_PASS,
				"ALLOW",
			],
		];
		for (const [name, entries, src, verdict, reason] of cases) {
			test(name, () => {
				const v6 = src.includes(":");
				svc(v6 ? V6_SERVER : SERVER);
				for (const [list, cidr] of entries) list === "allow" ? dp.allow(cidr) : dp.block(cidr);
				expect(from(src, v6 ? V6_SERVER : SERVER)).toBe(verdict);
				expect(dp.reasonPackets()).toEqual({ [reason]: 1 });
			});
		}

		test("the longest matching entry decides: an expired /32 hides the /24 around it", () => {
			svc(SERVER);
			dp.block("198.51.100.0/24");
			dp.block(`${CLIENT}/32`, 0, 1n);
			expect(from(CLIENT, SERVER)).toBe(XDP_PASS);
			expect(from("198.51.100.9", SERVER)).toBe(XDP_DROP);
		});

		test("a prefix length nobody published is not probed until it is", () => {
			svc(SERVER);
			dp.setConfig({ ...DEFAULT_CONFIG, prefixLengths: { allow: NONE, block: NONE, srcset: NONE } });
			dp.map("pp_block_v4").update(
				encodeLpmKey("198.51.100.0/24"),
				encodeListEntry({ expiresNs: 0n, reason: 0, entryId: 1 }),
			);
			expect(from(CLIENT, SERVER)).toBe(XDP_PASS);
			dp.setConfig({
				...DEFAULT_CONFIG,
				listGen: 1,
				prefixLengths: { allow: NONE, block: { v4: [24], v6: [] }, srcset: NONE },
			});
			expect(from(CLIENT, SERVER)).toBe(XDP_DROP);
		});

		test("bans are probed only while pp_config says there are some", () => {
			svc(SERVER);
			dp.ban(CLIENT);
			dp.setConfig({ ...DEFAULT_CONFIG, listGen: 5, bans: false });
			expect(from(CLIENT, SERVER)).toBe(XDP_PASS);
			dp.setConfig({ ...DEFAULT_CONFIG, listGen: 6, bans: true });
			expect(from(CLIENT, SERVER)).toBe(XDP_DROP);
			expect(dp.reasonPackets()).toEqual({ PASS: 1, BAN: 1 });
		});

		test("backend-scoped and global entries of different lengths combine", () => {
			dp.addService({
				addr: SERVER,
				port: JAVA,
				proto: IPPROTO.TCP,
				backend: 1,
				level: "OFF",
				extraFlags: SvcFlag.SCOPED_BLOCK,
			});
			dp.block("198.51.100.0/24", 1);
			dp.block("198.51.0.0/16", 2);
			expect(from(CLIENT, SERVER)).toBe(XDP_DROP);
			expect(from("198.51.7.1", SERVER)).toBe(XDP_PASS);
		});
	});

	describe("service index: two array reads find a port's service", () => {
		const to = (dst: string, dport = JAVA, proto: "tcp" | "udp" = "tcp") =>
			dp.run(
				buildPacket({
					src: CLIENT,
					dst,
					l4: proto === "tcp" ? tcp(dport, TCP_ACK) : { proto: "udp", sport: 40000, dport },
					payload: 8,
				}),
			);
		const ports = () => dp.map("pp_svc_ports");
		const index = (key: number) => new DataView((ports().lookup(u32(key)) as Uint8Array).buffer).getUint32(0, true);

		test("a port's only service is found by its slot; other addresses and ports have none", () => {
			dp.addService({ addr: SERVER, port: JAVA, proto: IPPROTO.TCP, backend: 1, level: "OFF" });
			expect(index(JAVA)).toBeGreaterThan(0);
			expect(index(JAVA + 1)).toBe(PORT_NONE);
			expect(index(PORT_UDP + JAVA)).toBe(PORT_NONE);
			expect(to(SERVER)).toBe(XDP_PASS);
			expect(to("192.0.2.11")).toBe(XDP_PASS);
			expect(to(SERVER, JAVA, "udp")).toBe(XDP_PASS);
			expect(dp.reasonPackets()).toEqual({ PASS: 1, NO_SERVICE: 2 });
			expect(dp.backendCtr(1).rxPackets).toBe(1n);
		});

		test("the index is read: a port it says is unused has no service, whatever pp_services holds", () => {
			dp.addService({ addr: SERVER, port: JAVA, proto: IPPROTO.TCP, backend: 1, level: "OFF" });
			dp.map("pp_services").update(
				encodeServiceKey({ addr: SERVER, port: JAVA + 1, proto: IPPROTO.TCP }),
				dp.map("pp_services").lookup(encodeServiceKey({ addr: SERVER, port: JAVA, proto: IPPROTO.TCP })) as Uint8Array,
			);
			expect(to(SERVER, JAVA + 1)).toBe(XDP_PASS);
			ports().update(u32(JAVA + 1), u32(0));
			expect(to(SERVER, JAVA + 1)).toBe(XDP_PASS);
			expect(dp.reasonPackets()).toEqual({ NO_SERVICE: 1, PASS: 1 });
		});

		test("addresses sharing a port go through pp_services: the exact address before any", () => {
			dp.addService({ addr: SERVER, port: JAVA, proto: IPPROTO.TCP, backend: 1, level: "OFF" });
			dp.addService({ addr: null, port: JAVA, proto: IPPROTO.TCP, backend: 2, level: "OFF" });
			expect(index(JAVA)).toBe(0);
			expect(to(SERVER)).toBe(XDP_PASS);
			expect(to("192.0.2.11")).toBe(XDP_PASS);
			expect(dp.backendCtr(1).rxPackets).toBe(1n);
			expect(dp.backendCtr(2).rxPackets).toBe(1n);
		});

		test("a service for any address takes every address on its port", () => {
			dp.addService({ addr: null, port: JAVA, proto: IPPROTO.TCP, backend: 2, level: "OFF" });
			expect(index(JAVA)).toBeGreaterThan(0);
			expect(to(SERVER)).toBe(XDP_PASS);
			expect(to("192.0.2.11")).toBe(XDP_PASS);
			expect(dp.backendCtr(2).rxPackets).toBe(2n);
		});

		test("a changed service moves to a new slot; the old slot keeps what it held", () => {
			dp.addService({ addr: SERVER, port: JAVA, proto: IPPROTO.TCP, backend: 1, level: "OFF" });
			const first = index(JAVA);
			const held = dp.map("pp_svc_slots").lookup(u32(first - 1));
			dp.addService({ addr: SERVER, port: JAVA, proto: IPPROTO.TCP, backend: 1, level: "UNDER_ATTACK" });
			expect(index(JAVA)).not.toBe(first);
			expect(dp.map("pp_svc_slots").lookup(u32(first - 1))).toEqual(held as Uint8Array);
		});
	});

	describe("IPv4 summaries: one read decides a /24", () => {
		const svc = () => dp.addService({ addr: SERVER, port: JAVA, proto: IPPROTO.TCP, backend: 1, level: "OFF" });
		const from = (src: string) => dp.run(buildPacket({ src, dst: SERVER, l4: tcp(JAVA, TCP_ACK), payload: 8 }));
		/** Writes one /24's state straight into a summary, as no list write would. */
		const setState = (list: "allow" | "block", ip: string, state: number) => {
			const n = ip.split(".").reduce((a, o) => a * 256 + Number(o), 0) >>> 8;
			dp.map(`pp_${list}_v4_sum`).withMapped((b) => {
				const halves = new Uint32Array(b);
				const i = n >>> 4;
				const shift = (n & 15) * 2;
				halves[i] = (((halves[i] as number) & ~(3 << shift)) | (state << shift)) >>> 0;
			});
		};

		test("the program reads the summary: MATCH drops with no entry to find, NONE passes one there is", () => {
			svc();
			dp.block("203.0.113.0/24");
			setState("block", CLIENT, SumState.MATCH);
			expect(from(CLIENT)).toBe(XDP_DROP);
			setState("block", "203.0.113.9", SumState.NONE);
			expect(from("203.0.113.9")).toBe(XDP_PASS);
			// The source now has a cached verdict, as after any pass: a change needs the bump.
			setState("block", "203.0.113.9", SumState.PROBE);
			dp.bumpListGen();
			expect(from("203.0.113.9")).toBe(XDP_DROP);
			expect(dp.reasonPackets()).toEqual({ BLOCK: 2, PASS: 1 });
		});

		test("an allow-list MATCH beats a block, and a blocked /24 costs its sources no state", () => {
			svc();
			dp.block("198.51.0.0/16");
			dp.allow("198.51.100.0/24");
			expect(dp.summaryState("allow", CLIENT)).toBe(SumState.MATCH);
			expect(dp.summaryState("block", "198.51.7.1")).toBe(SumState.MATCH);
			expect(from(CLIENT)).toBe(XDP_PASS);
			expect(from("198.51.7.1")).toBe(XDP_DROP);
			expect(dp.srcState(1, "198.51.7.1")).toBeNull();
			expect(dp.reasonPackets()).toEqual({ ALLOW: 1, BLOCK: 1 });
		});

		// Random lists against a longest-prefix-match reference: the longest allow entry that
		// covers the source decides if it has not expired, then the longest block entry.
		test("random lists of every length, permanent, expiring and expired, match a reference", () => {
			let x = 0x2545f491;
			const rand = () => {
				x ^= x << 13;
				x ^= x >>> 17;
				x ^= x << 5;
				return x >>> 0;
			};
			const ip = (n: number) => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
			const future = monotonicNowNs() + 3_600_000_000_000n;
			for (let round = 0; round < 4; round++) {
				dp.reset();
				svc();
				// Everything inside 100.64.0.0/10 so that sources hit entries often.
				const entries: { list: "allow" | "block"; net: number; len: number; live: boolean }[] = [];
				for (let i = 0; i < 80; i++) {
					const len = 10 + (rand() % 23);
					const net = ((0x64400000 | (rand() & 0x003fffff)) & (len === 0 ? 0 : 0xffffffff << (32 - len))) >>> 0;
					const list = rand() % 4 === 0 ? "allow" : "block";
					const kind = rand() % 3; // permanent, expiring later, expired
					if (entries.some((e) => e.list === list && e.net === net && e.len === len)) continue;
					entries.push({ list, net, len, live: kind !== 2 });
					const expires = kind === 0 ? 0n : kind === 1 ? future : 1n;
					list === "allow" ? dp.allow(`${ip(net)}/${len}`, 0, expires) : dp.block(`${ip(net)}/${len}`, 0, expires);
				}
				const longest = (list: "allow" | "block", src: number) =>
					entries
						.filter((e) => e.list === list && (e.len === 0 || src >>> (32 - e.len) === e.net >>> (32 - e.len)))
						.sort((a, b) => b.len - a.len)[0];
				for (let i = 0; i < 300; i++) {
					const near = entries[rand() % entries.length] as (typeof entries)[number];
					const src = i % 2 ? (near.net + (rand() % 512)) >>> 0 : (0x64400000 | (rand() & 0x003fffff)) >>> 0;
					const allow = longest("allow", src);
					const block = longest("block", src);
					const want = allow?.live ? XDP_PASS : block?.live ? XDP_DROP : XDP_PASS;
					expect(`${ip(src)} ${from(ip(src))}`).toBe(`${ip(src)} ${want}`);
				}
			}
		});
	});

	describe("per-source list verdict cache", () => {
		const svc = () => dp.addService({ addr: SERVER, port: JAVA, proto: IPPROTO.TCP, backend: 1, level: "LOW" });
		const send = () => dp.run(pkt(tcp(JAVA, TCP_ACK)));

		test("a ban written with a list_gen bump applies to a source already cached as clean", () => {
			svc();
			expect(send()).toBe(XDP_PASS);
			dp.ban(CLIENT);
			expect(send()).toBe(XDP_DROP);
			dp.unban(CLIENT);
			expect(send()).toBe(XDP_PASS);
			expect(dp.reasonPackets()).toEqual({ PASS: 2, BAN: 1 });
		});

		test("without a list_gen bump the cached verdict stands until the bump (a /24 the summary cannot decide)", () => {
			svc();
			expect(send()).toBe(XDP_PASS);
			dp.autoBumpGen = false;
			dp.block(`${CLIENT}/32`);
			expect(dp.summaryState("block", CLIENT)).toBe(SumState.PROBE);
			expect(send()).toBe(XDP_PASS);
			dp.bumpListGen();
			expect(send()).toBe(XDP_DROP);
		});

		test("bans and /24s the summaries decide need no bump: they are read for every packet", () => {
			svc();
			expect(send()).toBe(XDP_PASS);
			dp.autoBumpGen = false;
			dp.ban(CLIENT);
			expect(send()).toBe(XDP_DROP);
			dp.unban(CLIENT);
			dp.block("198.51.100.0/24");
			expect(dp.summaryState("block", CLIENT)).toBe(SumState.MATCH);
			expect(send()).toBe(XDP_DROP);
			expect(dp.reasonPackets()).toEqual({ PASS: 1, BAN: 1, BLOCK: 1 });
		});

		test("without a list_gen bump a change still applies once the cache TTL runs out", async () => {
			svc();
			expect(send()).toBe(XDP_PASS);
			const st = dp.srcState(1, CLIENT);
			expect(st?.cacheUntilNs).toBeLessThanOrEqual(monotonicNowNs() + CACHE_TTL_NS);
			dp.autoBumpGen = false;
			dp.ban(CLIENT);
			await Bun.sleep(Number(CACHE_TTL_NS / 1_000_000n) + 50);
			expect(send()).toBe(XDP_DROP);
		});

		test("a cached ban ends when the ban expires, with no bump", async () => {
			svc();
			expect(send()).toBe(XDP_PASS);
			dp.ban(CLIENT, monotonicNowNs() + 60_000_000n);
			expect(send()).toBe(XDP_DROP);
			expect(dp.srcState(1, CLIENT)?.cacheUntilNs).toBeGreaterThan(0n);
			await Bun.sleep(100);
			expect(send()).toBe(XDP_PASS);
		});

		test("a cached allow ends when the allow entry expires, with no bump", async () => {
			svc();
			dp.block("198.51.100.0/24");
			dp.allow(`${CLIENT}/32`, 0, monotonicNowNs() + 60_000_000n);
			expect(send()).toBe(XDP_PASS);
			await Bun.sleep(100);
			expect(send()).toBe(XDP_DROP);
			expect(dp.reasonPackets()).toEqual({ ALLOW: 1, BLOCK: 1 });
		});

		test("changed source sets reach the rules after a bump", () => {
			serveWithRules([rule({ action: Action.DROP, statsSlot: 1, srcAny: 1n << 2n })]);
			expect(send()).toBe(XDP_PASS);
			dp.sourceSets("198.51.100.0/24", [2]);
			expect(send()).toBe(XDP_DROP);
			expect(dp.srcState(1, CLIENT)?.srcSets).toBe(1n << 2n);
		});

		test("the source entry counts the packets the lists let through, not those they drop", () => {
			svc();
			for (let i = 0; i < 4; i++) expect(send()).toBe(XDP_PASS);
			dp.ban(CLIENT);
			for (let i = 0; i < 3; i++) expect(send()).toBe(XDP_DROP);
			expect(dp.srcState(1, CLIENT)?.packets).toBe(4n);
			expect(dp.srcState(1, CLIENT)?.drops).toBe(0n);
			expect(dp.reasonPackets()).toEqual({ PASS: 4, BAN: 3 });
		});

		test("a source the lists drop gets no per-source entry: a spoofed flood evicts nobody", () => {
			svc();
			dp.ban(CLIENT);
			dp.block("198.51.100.0/24");
			for (let i = 0; i < 3; i++) expect(send()).toBe(XDP_DROP);
			expect(dp.run(pkt(tcp(JAVA, TCP_ACK), { src: "198.51.100.9" }))).toBe(XDP_DROP);
			expect(dp.srcState(1, CLIENT)).toBeNull();
			expect(dp.srcState(1, "198.51.100.9")).toBeNull();
			expect(dp.reasonPackets()).toEqual({ BAN: 3, BLOCK: 1 });
		});

		test("source sets are looked up once per source, and again after a list change", () => {
			serveWithRules([rule({ action: Action.LOG, statsSlot: 1, srcAny: 1n << 2n })]);
			dp.sourceSets("198.51.100.0/24", [2]);
			expect(send()).toBe(XDP_PASS);
			const st = dp.srcState(1, CLIENT);
			expect(st?.srcSets).toBe(1n << 2n);
			expect((st?.cache ?? 0) & CacheFlag.SETS).toBe(CacheFlag.SETS);
			dp.block("192.0.2.0/24");
			expect(send()).toBe(XDP_PASS);
			expect(dp.ruleCtr(1).packets).toBe(2n);
		});
	});

	describe("source table: a keyed set-associative array of (backend, source) state", () => {
		const svc = (overrides?: LevelOverrides) =>
			dp.addService({ addr: SERVER, port: JAVA, proto: IPPROTO.TCP, backend: 1, level: "LOW", overrides });
		const from = (src: string) => dp.run(pkt(tcp(JAVA, TCP_ACK), { src }));
		/** pp_src_check: the tag folded with every cached field. */
		const check = (tag: number, s: { listGen: number; cache: number; cacheUntilNs: bigint; srcSets: bigint }) => {
			const lo = (x: bigint) => Number(x & 0xffffffffn);
			return (
				(tag ^
					s.listGen ^
					s.cache ^
					lo(s.cacheUntilNs) ^
					lo(s.cacheUntilNs >> 32n) ^
					lo(s.srcSets) ^
					lo(s.srcSets >> 32n)) >>>
				0
			);
		};
		/** Every source in the table, as "backend/address". */
		const held = () =>
			readSrcTable(dp.map("pp_src_table"))
				.map((e) => `${e.backend}/${e.addr}`)
				.sort();

		test("the program keeps a source in the set and under the tag the TypeScript hash gives", () => {
			svc();
			dp.addService({ addr: SERVER, port: BEDROCK, proto: IPPROTO.UDP, backend: 2, level: "LOW" });
			const sources = Array.from({ length: 40 }, (_, i) => `198.51.100.${i + 1}`);
			for (const src of sources) {
				expect(from(src)).toBe(XDP_PASS);
				expect(dp.run(pkt(udp(), { src }))).toBe(XDP_PASS);
			}
			dp.addService({ addr: SERVER6, port: JAVA, proto: IPPROTO.TCP, backend: 3, level: "LOW" });
			const v6 = "2001:db8:1::7";
			expect(dp.run(pkt(tcp(JAVA, TCP_ACK), { src: v6, dst: SERVER6 }))).toBe(XDP_PASS);
			expect(held()).toEqual([...sources.map((a) => `1/${a}`), ...sources.map((a) => `2/${a}`), `3/${v6}`].sort());
			expect(dp.srcState(3, v6)?.packets).toBe(1n);
			for (const src of sources) {
				for (const backend of [1, 2]) {
					const { set, tag } = srcSlot(dp.srcHash, backend, src);
					const ways = dp.map("pp_src_table").lookup(u32(set)) as Uint8Array;
					const found = [0, 1, 2, 3]
						.map((w) => decodeSrcWay(ways, w * LAYOUT.pp_src_way.size))
						.find((w) => w.addr === src && w.scope === backend);
					expect(found?.tag).toBe(tag);
					expect(found?.state.packets).toBe(1n);
				}
			}
		});

		test("other seeds put the same sources elsewhere", () => {
			const a = Array.from({ length: 16 }, (_, i) => srcSlot(dp.srcHash, 1, `198.51.100.${i}`).set);
			const other = newSrcHash(dp.srcHash.setMask + 1);
			const b = Array.from({ length: 16 }, (_, i) => srcSlot(other, 1, `198.51.100.${i}`).set);
			expect(a).not.toEqual(b);
			dp.setConfig({ ...DEFAULT_CONFIG, srcHash: other });
			svc();
			expect(from(CLIENT)).toBe(XDP_PASS);
			expect(dp.srcState(1, CLIENT)?.packets).toBe(1n);
		});

		test("a full set gives a new source the way refreshed longest ago", async () => {
			// One set for everyone: five sources contend for four ways.
			dp.setConfig({ ...DEFAULT_CONFIG, srcHash: { ...dp.srcHash, setMask: 0 } });
			svc();
			const [a, b, c, d, e, f] = [
				"198.51.100.1",
				"198.51.100.2",
				"198.51.100.3",
				"198.51.100.4",
				"198.51.100.5",
				"198.51.100.6",
			];
			for (const src of [a, b, c, d]) {
				expect(from(src)).toBe(XDP_PASS);
				await Bun.sleep(25); // more than two ticks apart (HZ=100): distinct refresh times
			}
			expect(held()).toEqual([a, b, c, d].map((x) => `1/${x}`).sort());
			expect(from(e)).toBe(XDP_PASS);
			expect(held()).toEqual([b, c, d, e].map((x) => `1/${x}`).sort());
			// A list change makes b refresh its verdict: now c is the stalest.
			await Bun.sleep(25);
			dp.bumpListGen();
			expect(from(b)).toBe(XDP_PASS);
			expect(from(f)).toBe(XDP_PASS);
			expect(held()).toEqual([b, d, e, f].map((x) => `1/${x}`).sort());
			expect(dp.srcState(1, b)?.packets).toBe(2n);
			expect(dp.reasonPackets()).toEqual({ PASS: 7 });
		});

		test("a way torn between two sources lends neither's verdict to the other", () => {
			svc();
			dp.block(`${CLIENT}/32`);
			expect(dp.summaryState("block", CLIENT)).toBe(SumState.PROBE);
			const { set, tag } = srcSlot(dp.srcHash, 1, CLIENT);
			const other = srcSlot(dp.srcHash, 1, "198.51.100.200").tag;
			const state = {
				cache: CacheFlag.VALID | CacheFlag.ALLOW,
				listGen: dp.listGen,
				cacheUntilNs: monotonicNowNs() + 10_000_000_000n,
				srcSets: 0n,
			};
			// CLIENT's key with an allow another source computed and sealed: not trusted.
			dp.writeSrcWay(set, 0, { tag, check: check(other, state), scope: 1, ip: CLIENT, state });
			expect(from(CLIENT)).toBe(XDP_DROP);
			expect(dp.reasonPackets()).toEqual({ BLOCK: 1 });
			// The same way sealed with CLIENT's own tag is a cached verdict the program trusts.
			dp.writeSrcWay(set, 0, { tag, check: check(tag, state), scope: 1, ip: CLIENT, state });
			expect(from(CLIENT)).toBe(XDP_PASS);
			expect(dp.reasonPackets()).toEqual({ BLOCK: 1, ALLOW: 1 });
		});

		test("a shared bucket never moves back to an earlier time another CPU's clock may show", async () => {
			svc({ perIpRateLimit: { requestsPerSecond: 10, burstSize: 1 } });
			expect(from(CLIENT)).toBe(XDP_PASS);
			// As if a CPU whose clock is ahead had just emptied the bucket, 500 ms in our future.
			const { set, tag } = srcSlot(dp.srcHash, 1, CLIENT);
			const ahead = monotonicNowNs() + 500_000_000n;
			dp.writeSrcWay(set, 0, {
				tag,
				check: 0,
				scope: 1,
				ip: CLIENT,
				state: { pktTokens: 0n, byteTokens: 1n << 50n, lastNs: ahead },
			});
			for (let w = 1; w < 4; w++) dp.writeSrcWay(set, w, { tag: 0, check: 0, scope: 0, ip: "0.0.0.0", state: {} });
			expect(from(CLIENT)).toBe(XDP_DROP);
			expect(dp.srcState(1, CLIENT)?.lastNs).toBe(ahead);
			// 300 ms later our clock is still behind that time: nothing to credit yet (10/s would
			// have refilled 3 packets had the bucket gone back to our earlier time).
			await Bun.sleep(300);
			expect(from(CLIENT)).toBe(XDP_DROP);
			expect(dp.reasonPackets()).toEqual({ PASS: 1, RATELIMIT: 2 });
		});

		test("the program seals what it caches: its checks are what pp_src_check gives", () => {
			serveWithRules([rule({ action: Action.LOG, statsSlot: 1, srcAny: 1n << 2n })]);
			dp.sourceSets("198.51.100.0/24", [2]);
			expect(from(CLIENT)).toBe(XDP_PASS);
			const { set, tag } = srcSlot(dp.srcHash, 1, CLIENT);
			const way = [0, 1, 2, 3]
				.map((w) => decodeSrcWay(dp.map("pp_src_table").lookup(u32(set)) as Uint8Array, w * LAYOUT.pp_src_way.size))
				.find((w) => w.addr === CLIENT);
			expect(way?.state.cache).toBe(CacheFlag.VALID | CacheFlag.SETS);
			expect(way?.state.srcSets).toBe(1n << 2n);
			expect(way?.check).toBe(check(tag, way?.state as SrcState));
			// The next packet takes its sets from the sealed way: a way whose sets were changed
			// without a new seal is not trusted, and the lists and sets are looked up again.
			dp.writeSrcWay(
				set,
				[0, 1, 2, 3].find(
					(w) =>
						decodeSrcWay(dp.map("pp_src_table").lookup(u32(set)) as Uint8Array, w * LAYOUT.pp_src_way.size).addr ===
						CLIENT,
				) as number,
				{
					tag,
					check: way?.check as number,
					scope: 1,
					ip: CLIENT,
					state: { ...(way?.state as SrcState), srcSets: 0n },
				},
			);
			expect(from(CLIENT)).toBe(XDP_PASS);
			expect(dp.ruleCtr(1).packets).toBe(2n);
			expect(dp.srcState(1, CLIENT)?.srcSets).toBe(1n << 2n);
		});
	});

	describe("packet clock: CLOCK_MONOTONIC read once a tick per CPU", () => {
		/** Two ticks at HZ=100, the coarsest kernel clock: how far behind the packet clock may be. */
		const LAG_NS = 20_000_000n;

		test("what a packet stamps is the monotonic time to within two ticks, and it moves on", async () => {
			serveWithRules([rule({ action: Action.LOG, statsSlot: 1 })]);
			const before = monotonicNowNs();
			expect(dp.run(pkt(tcp()))).toBe(XDP_PASS);
			const after = monotonicNowNs();
			const first = dp.ruleCtr(1).lastMatchNs;
			expect(first).toBeGreaterThanOrEqual(before - LAG_NS);
			expect(first).toBeLessThanOrEqual(after);
			await Bun.sleep(60);
			expect(dp.run(pkt(tcp()))).toBe(XDP_PASS);
			const second = dp.ruleCtr(1).lastMatchNs;
			expect(second - first).toBeGreaterThanOrEqual(60_000_000n - LAG_NS);
			expect(second).toBeLessThanOrEqual(monotonicNowNs());
		});
	});

	describe("events", () => {
		test("drops are sampled to the ring buffer at the configured rate", () => {
			dp.setConfig({ ...DEFAULT_CONFIG, sampleRate: 1 });
			dp.ban(CLIENT);
			for (let i = 0; i < 5; i++) dp.run(pkt(tcp()));
			dp.run(pkt(tcp(), { src: "198.51.100.1" }));
			expect(dp.eventCtr()).toEqual({ emitted: 5n, lost: 0n });
		});

		test("no events when sampling is off", () => {
			dp.ban(CLIENT);
			for (let i = 0; i < 5; i++) dp.run(pkt(tcp()));
			expect(dp.eventCtr()).toEqual({ emitted: 0n, lost: 0n });
		});
	});
});
