// The proxy's codecs and decisions, table-driven: PROXY protocol, Minecraft framing, RakNet
// offline messages, HTTP/TLS sniffing, balancing, health thresholds, challenges and rules.
import { describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { connect as tlsConnect } from "node:tls";
import type { GeoAnswer } from "../../src/geoip/database.ts";
import { Balancer, type OriginState } from "../../src/proxy/balancer.ts";
import { leadingZeroBits, ProofOfWork, ReconnectChallenge, renderPowPage } from "../../src/proxy/challenge.ts";
import { applyResult, type HealthState, probeFor } from "../../src/proxy/health.ts";
import {
	encodeHandshake,
	LocalStatusResponder,
	loginDisconnect,
	normalizeHost,
	ProtocolError,
	packet,
	parseHandshake,
	readVarInt,
	splitPackets,
	writeVarInt,
} from "../../src/proxy/minecraft.ts";
import { encodeV1, encodeV2, parseV2 } from "../../src/proxy/proxy-protocol.ts";
import { encodePing, encodePong, parsePing, parsePong } from "../../src/proxy/raknet.ts";
import { compileProxyRule, connectionFacts, proxyAction } from "../../src/proxy/rules.ts";
import { domainMatches, parseHttpHead, parseSni, RequestFramer, SniffError } from "../../src/proxy/sniff.ts";
import { readProxyV2 } from "../helpers/proxy.ts";

describe("PROXY protocol", () => {
	const cases = [
		{ name: "IPv4", src: "203.0.113.7", dst: "198.51.100.1", family: "v4" },
		{ name: "IPv6", src: "2001:db8::7", dst: "2001:db8::1", family: "v6" },
		{ name: "v4-mapped source on a dual-stack socket", src: "::ffff:203.0.113.7", dst: "198.51.100.1", family: "v4" },
		{ name: "mixed families", src: "203.0.113.7", dst: "2001:db8::1", family: "v6" },
	];
	for (const c of cases)
		test(`v2 round-trips ${c.name} through our parser and the test's independent one`, () => {
			for (const transport of ["TCP", "UDP"] as const) {
				const header = encodeV2(
					{ sourceAddress: c.src, sourcePort: 51234, destinationAddress: c.dst, destinationPort: 25565 },
					transport,
				);
				expect(header.length).toBe(c.family === "v4" ? 28 : 52);
				const parsed = parseV2(Buffer.concat([header, Buffer.from("payload")]));
				if (parsed.kind !== "header") throw new Error(parsed.kind);
				expect(parsed.length).toBe(header.length);
				expect(parsed.transport).toBe(transport);
				expect(parsed.endpoints?.sourceAddress).toBe(c.src.replace("::ffff:", ""));
				expect(parsed.endpoints?.sourcePort).toBe(51234);
				expect(parsed.endpoints?.destinationPort).toBe(25565);
				const theirs = readProxyV2(header);
				expect(theirs?.header.transport).toBe(transport);
				expect(theirs?.header.sourcePort).toBe(51234);
			}
		});

	test("v1 is one text line, TCP6 when a side is IPv6", () => {
		expect(
			encodeV1({
				sourceAddress: "1.2.3.4",
				sourcePort: 5,
				destinationAddress: "6.7.8.9",
				destinationPort: 10,
			}).toString(),
		).toBe("PROXY TCP4 1.2.3.4 6.7.8.9 5 10\r\n");
		expect(
			encodeV1({
				sourceAddress: "2001:db8::1",
				sourcePort: 5,
				destinationAddress: "6.7.8.9",
				destinationPort: 10,
			}).toString(),
		).toBe("PROXY TCP6 2001:db8::1 ::ffff:6.7.8.9 5 10\r\n");
	});

	test("the v2 parser tells absent, incomplete, LOCAL and invalid headers apart", () => {
		const header = encodeV2(
			{ sourceAddress: "1.2.3.4", sourcePort: 1, destinationAddress: "5.6.7.8", destinationPort: 2 },
			"TCP",
		);
		expect(parseV2(Buffer.from("GET / HTTP/1.1\r\n")).kind).toBe("absent");
		expect(parseV2(header.subarray(0, 10)).kind).toBe("incomplete");
		expect(parseV2(header.subarray(0, 20)).kind).toBe("incomplete");
		const local = Buffer.from(header.subarray(0, 16));
		local[12] = 0x20;
		local.writeUInt16BE(0, 14);
		expect(parseV2(local)).toEqual({ kind: "header", length: 16, endpoints: null, transport: null });
		const bad = Buffer.from(header);
		bad[12] = 0x11;
		expect(parseV2(bad).kind).toBe("invalid");
	});
});

describe("Minecraft framing", () => {
	test("VarInts round-trip at their boundaries", () => {
		for (const v of [0, 1, 127, 128, 255, 25565, 2097151, 2147483647, -1]) {
			const bytes = writeVarInt(v);
			expect(readVarInt(bytes, 0)).toEqual({ value: v, next: bytes.length });
		}
		expect(readVarInt(Buffer.from([0x80, 0x80]), 0)).toBeNull();
		expect(() => readVarInt(Buffer.from([0x80, 0x80, 0x80, 0x80, 0x80, 0x01]), 0)).toThrow(ProtocolError);
	});

	const hosts: Array<[string, string]> = [
		["play.example.com", "play.example.com"],
		["Play.Example.COM.", "play.example.com"],
		["mc.example.com\0FML\0", "mc.example.com"],
		["mc.example.com\0FML3\0", "mc.example.com"],
		["mc.example.com.\0FML2\0", "mc.example.com"],
	];
	for (const [raw, host] of hosts)
		test(`a handshake naming ${JSON.stringify(raw)} routes as ${host}`, () => {
			const hs = encodeHandshake({ protocolVersion: 765, address: raw, port: 25565, nextState: 2 });
			const login = packet(0, Buffer.from([5, 65, 108, 105, 99, 101]));
			const parsed = parseHandshake(Buffer.concat([hs, login]));
			expect(parsed?.host).toBe(host);
			expect(parsed?.protocolVersion).toBe(765);
			expect(parsed?.nextState).toBe(2);
			expect(parsed?.length).toBe(hs.length);
			expect(normalizeHost(raw)).toBe(host);
		});

	test("an incomplete handshake waits; garbage is refused", () => {
		const hs = encodeHandshake({ protocolVersion: 765, address: "a.b", port: 1, nextState: 1 });
		for (let i = 0; i < hs.length; i++) expect(parseHandshake(hs.subarray(0, i))).toBeNull();
		expect(() => parseHandshake(Buffer.from("GET / HTTP/1.1\r\n".repeat(6)))).toThrow(ProtocolError);
		expect(() =>
			parseHandshake(encodeHandshake({ protocolVersion: 765, address: "a", port: 1, nextState: 9 })),
		).toThrow(ProtocolError);
	});

	test("the local status responder answers the request and the ping, then is done", () => {
		const r = new LocalStatusResponder('{"description":{"text":"cached"}}');
		const req = packet(0);
		const pingBody = Buffer.alloc(8);
		pingBody.writeBigInt64BE(123456789n);
		const first = r.feed(req.subarray(0, 1));
		expect(first).toEqual({ reply: [], done: false });
		const second = r.feed(Buffer.concat([req.subarray(1), packet(1, pingBody)]));
		expect(second.done).toBe(true);
		const { packets } = splitPackets(Buffer.concat(second.reply));
		expect(packets.map((p) => p.id)).toEqual([0, 1]);
		expect(Buffer.from(packets[0]?.body as Uint8Array).toString()).toContain("cached");
		expect(Buffer.from(packets[1]?.body as Uint8Array).readBigInt64BE()).toBe(123456789n);
	});

	test("a login disconnect carries the message as a JSON text component", () => {
		const { packets } = splitPackets(loginDisconnect('say "hi"'));
		const body = packets[0]?.body as Uint8Array;
		const len = readVarInt(body, 0);
		expect(JSON.parse(Buffer.from(body.subarray(len?.next)).toString())).toEqual({ text: 'say "hi"' });
	});
});

describe("RakNet offline messages", () => {
	test("ping and pong round-trip; other datagrams are not pings", () => {
		const ping = encodePing(42n, 7n);
		expect(parsePing(ping)).toEqual({ time: 42n });
		expect(parsePing(Buffer.from([0x01, 2, 3]))).toBeNull();
		const corrupt = Buffer.from(ping);
		corrupt[13] = 0;
		expect(parsePing(corrupt)).toBeNull();
		const pong = { time: 42n, serverGuid: 99n, motd: "MCPE;Hello;712;1.21.20;0;10;99;PP;Survival;1;" };
		expect(parsePong(encodePong(pong))).toEqual(pong);
	});
});

describe("routing data", () => {
	test("the HTTP head gives method, target, headers and the Host without port", () => {
		const head = parseHttpHead(Buffer.from("GET /x?y HTTP/1.1\r\nHost: Example.COM:8080\r\nCookie: a=1\r\n\r\nbody"));
		expect(head?.method).toBe("GET");
		expect(head?.target).toBe("/x?y");
		expect(head?.host).toBe("example.com");
		expect(head?.headers.get("cookie")).toBe("a=1");
		expect(parseHttpHead(Buffer.from("GET / HTTP/1.1\r\nHost: a"))).toBeNull();
		expect(() => parseHttpHead(Buffer.from("\x16\x03\x01\x02\x00"))).toThrow(SniffError);
	});

	test("SNI comes from a real ClientHello (node:tls), byte by byte", async () => {
		const hello = await new Promise<Buffer>((resolve) => {
			const server = Bun.listen({
				hostname: "127.0.0.1",
				port: 0,
				socket: {
					data(s, d) {
						resolve(Buffer.from(d));
						s.end();
						server.stop(true);
					},
				},
			});
			tlsConnect({ host: "127.0.0.1", port: server.port, servername: "Play.Example.org" }).on("error", () => {});
		});
		expect(parseSni(hello)).toBe("play.example.org");
		expect(parseSni(hello.subarray(0, 40))).toBeNull();
		expect(() => parseSni(Buffer.from("GET / HTTP/1.1\r\n"))).toThrow(SniffError);
	});

	/** Feeds the stream in pieces of `step` bytes, admitting every head; returns the heads' targets and the bytes passed. */
	function frame(stream: string, step: number): { targets: string[]; passed: string } {
		const framer = new RequestFramer();
		const targets: string[] = [];
		let passed = "";
		const bytes = Buffer.from(stream, "latin1");
		for (let off = 0; off < bytes.length; off += step) {
			let input: Buffer = bytes.subarray(off, off + step);
			for (;;) {
				const { pass, next } = framer.feed(input);
				passed += pass.toString("latin1");
				if (!next) break;
				targets.push(next.head.target);
				framer.admit(next.head);
				passed += next.bytes.toString("latin1");
				if (!next.rest.length) break;
				input = next.rest;
			}
		}
		return { targets, passed };
	}

	test("the request framer finds every request head across Content-Length and chunked bodies, in any split", () => {
		const stream = [
			"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nGET /fake\r\n",
			"GET /b HTTP/1.1\r\nHost: x\r\n\r\n",
			"\r\n",
			"POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
			"5;ext=1\r\nGET /\r\nA\r\nHTTP/1.1\r\n\r\n0\r\nTrailer: t\r\n\r\n",
			"GET /d HTTP/1.1\r\nHost: y\r\n\r\n",
		].join("");
		for (const step of [1, 3, 7, 64, stream.length]) {
			const { targets, passed } = frame(stream, step);
			expect(targets).toEqual(["/a", "/b", "/c", "/d"]);
			expect(passed).toBe(stream);
		}
	});

	test("the framer refuses bodies whose length an origin could read differently, and stops at an upgrade", () => {
		const admit = (head: string) => {
			const framer = new RequestFramer();
			const { next } = framer.feed(Buffer.from(head));
			framer.admit(next?.head as never);
			return framer;
		};
		expect(() => admit("POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n")).toThrow(
			SniffError,
		);
		expect(() => admit("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n")).toThrow(SniffError);
		expect(() => admit("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n")).toThrow(SniffError);
		const chunked = admit("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n");
		expect(() => chunked.feed(Buffer.from("zz\r\n"))).toThrow(SniffError);
		const ws = admit("GET /ws HTTP/1.1\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n\r\n");
		const frames = Buffer.from("GET /not-http HTTP/1.1\r\n\r\n");
		expect(ws.feed(frames)).toEqual({ pass: frames, next: null });
	});

	test("domains match exactly or by wildcard, never the bare parent", () => {
		expect(domainMatches(["a.test"], "a.test")).toBe(true);
		expect(domainMatches(["*.a.test"], "x.a.test")).toBe(true);
		expect(domainMatches(["*.a.test"], "a.test")).toBe(false);
		expect(domainMatches(["*.a.test"], "xa.test")).toBe(false);
	});
});

const origin = (id: string, priority: number, weight = 100, extra: Partial<OriginState> = {}): OriginState => ({
	id,
	priority,
	weight,
	enabled: true,
	health: "HEALTHY",
	active: 0,
	maxConnections: null,
	current: 0,
	...extra,
});

describe("the balancer", () => {
	const count = (b: Balancer, os: OriginState[], n: number, ip = (i: number) => `10.0.0.${i % 250}`) => {
		const out: Record<string, number> = {};
		for (let i = 0; i < n; i++) {
			const o = b.pick(os, ip(i));
			if (o) out[o.id] = (out[o.id] ?? 0) + 1;
		}
		return out;
	};

	test("round robin follows weights exactly", () => {
		const os = [origin("a", 1, 300), origin("b", 1, 100)];
		expect(count(new Balancer({ algorithm: "ROUND_ROBIN" }, 1000), os, 400)).toEqual({ a: 300, b: 100 });
	});

	test("the lowest priority number with a usable origin serves; higher ones are failover", () => {
		const os = [origin("p1", 1), origin("p2", 2), origin("p3", 3)];
		const b = new Balancer({ algorithm: "ROUND_ROBIN" }, 1000);
		expect(count(b, os, 10)).toEqual({ p1: 10 });
		(os[0] as OriginState).health = "UNHEALTHY";
		expect(count(b, os, 10)).toEqual({ p2: 10 });
		(os[1] as OriginState).enabled = false;
		expect(count(b, os, 10)).toEqual({ p3: 10 });
		(os[2] as OriginState).weight = 0;
		expect(b.pick(os, "1.1.1.1")).toBeNull();
	});

	test("an origin at maxConnections is skipped, and an unchecked origin serves", () => {
		const os = [origin("full", 1, 100, { active: 5, maxConnections: 5 }), origin("new", 1, 100, { health: "UNKNOWN" })];
		expect(count(new Balancer({ algorithm: "RANDOM" }, 1000), os, 20)).toEqual({ new: 20 });
	});

	test("least connections picks the least loaded per weight", () => {
		const os = [
			origin("a", 1, 100, { active: 10 }),
			origin("b", 1, 100, { active: 3 }),
			origin("c", 1, 200, { active: 8 }),
		];
		expect(new Balancer({ algorithm: "LEAST_CONNECTIONS" }, 1000).pick(os, "x")?.id).toBe("b");
	});

	test("random spreads by weight", () => {
		const c = count(new Balancer({ algorithm: "RANDOM" }, 1000), [origin("a", 1, 900), origin("b", 1, 100)], 5000);
		expect(c.a as number).toBeGreaterThan(4200);
		expect(c.b as number).toBeGreaterThan(250);
	});

	test("IP hash keeps a client on its origin, and only clients of a removed origin move", () => {
		const os = [origin("a", 1), origin("b", 1), origin("c", 1)];
		const b = new Balancer({ algorithm: "IP_HASH" }, 1000);
		const before = new Map<string, string>();
		for (let i = 0; i < 300; i++)
			before.set(`192.0.2.${i % 250}.${i}`, b.pick(os, `192.0.2.${i % 250}.${i}`)?.id as string);
		expect(new Set(before.values()).size).toBe(3);
		for (const [ip, id] of before) expect(b.pick(os, ip)?.id).toBe(id);
		(os[2] as OriginState).health = "UNHEALTHY";
		for (const [ip, id] of before) if (id !== "c") expect(b.pick(os, ip)?.id).toBe(id);
	});

	test("sticky sessions keep a client's origin under round robin", () => {
		const os = [origin("a", 1), origin("b", 1)];
		const b = new Balancer({ algorithm: "ROUND_ROBIN", stickySessions: true }, 60_000);
		const first = b.pick(os, "1.2.3.4")?.id;
		for (let i = 0; i < 10; i++) expect(b.pick(os, "1.2.3.4")?.id).toBe(first as string);
		expect(b.pick(os, "5.6.7.8")?.id).not.toBe(first as string);
	});
});

describe("health thresholds", () => {
	const hc = { enabled: true, healthyThreshold: 2, unhealthyThreshold: 3 };
	test("unhealthy after N failures, healthy again after M successes; the first success of an unchecked origin counts", () => {
		const s: HealthState = { health: "UNKNOWN", okStreak: 0, failStreak: 0, lastError: null };
		expect(applyResult(s, true, hc)).toBe("HEALTHY");
		expect(applyResult(s, false, hc, "refused")).toBe("HEALTHY");
		expect(applyResult(s, false, hc)).toBe("HEALTHY");
		expect(applyResult(s, false, hc)).toBe("UNHEALTHY");
		expect(applyResult(s, true, hc)).toBe("UNHEALTHY");
		expect(applyResult(s, true, hc)).toBe("HEALTHY");
	});

	test("each backend type gets its probe", () => {
		const on = { enabled: true };
		expect(probeFor({ type: "MINECRAFT_JAVA", healthCheck: { ...on, minecraft: { queryStatus: true } } })).toBe(
			"minecraft",
		);
		expect(probeFor({ type: "MINECRAFT_JAVA", healthCheck: on })).toBe("tcp");
		expect(probeFor({ type: "MINECRAFT_BEDROCK", healthCheck: on })).toBe("raknet");
		expect(probeFor({ type: "HTTP", healthCheck: on })).toBe("http");
		expect(probeFor({ type: "TCP", healthCheck: on })).toBe("tcp");
		expect(probeFor({ type: "QUIC", healthCheck: on })).toBe("none");
		expect(probeFor({ type: "TCP", healthCheck: { enabled: false } })).toBe("none");
	});
});

describe("challenges", () => {
	test("the reconnect challenge: refuse, let in within the window, remember, forget after", () => {
		const c = new ReconnectChallenge({ windowMs: 10_000, rememberMs: 60_000 });
		expect(c.check("bk_1", "ip", 0)).toBe("challenge");
		expect(c.check("bk_2", "ip", 1_000)).toBe("challenge");
		expect(c.check("bk_1", "ip", 5_000)).toBe("verified");
		expect(c.check("bk_1", "ip", 30_000)).toBe("pass");
		expect(c.check("bk_1", "ip", 70_000)).toBe("challenge");
		expect(c.check("bk_1", "late", 0)).toBe("challenge");
		expect(c.check("bk_1", "late", 20_000)).toBe("challenge");
	});

	test("verified addresses are stored with their expiry, loaded by a new challenge, and pruned once expired", () => {
		const rows = new Map<string, { backendId: string; address: string; expiresAt: number }>();
		const store = {
			load: (now: number) => [...rows.values()].filter((r) => r.expiresAt > now),
			save: (backendId: string, address: string, expiresAt: number) =>
				rows.set(`${backendId}|${address}`, { backendId, address, expiresAt }),
			prune: (now: number) => {
				for (const [k, r] of rows) if (r.expiresAt <= now) rows.delete(k);
			},
		};
		const settings = { windowMs: 10_000, rememberMs: 60_000 };
		const before = new ReconnectChallenge(settings, store, 0);
		before.check("bk_1", "1.2.3.4", 0);
		expect(before.check("bk_1", "1.2.3.4", 1_000)).toBe("verified");
		expect([...rows.values()]).toEqual([{ backendId: "bk_1", address: "1.2.3.4", expiresAt: 61_000 }]);
		const after = new ReconnectChallenge(settings, store, 2_000);
		expect(after.check("bk_1", "1.2.3.4", 2_000)).toBe("pass");
		expect(after.check("bk_2", "1.2.3.4", 2_000)).toBe("challenge");
		after.sweep(61_000);
		expect(rows.size).toBe(0);
		expect(new ReconnectChallenge(settings, store, 61_000).check("bk_1", "1.2.3.4", 61_000)).toBe("challenge");
	});

	test("proof of work: a solved token yields a cookie bound to backend and address", () => {
		const pow = new ProofOfWork(Buffer.alloc(32, 7), 60_000);
		const token = pow.issue("bk_1", "1.2.3.4", 8);
		let nonce = 0;
		while (leadingZeroBits(createHash("sha256").update(`${token}:${nonce}`).digest()) < 8) nonce++;
		expect(pow.solve(token, String(nonce), "bk_1", "9.9.9.9")).toBeNull();
		expect(pow.solve(token, String(nonce), "bk_2", "1.2.3.4")).toBeNull();
		expect(pow.solve(`${token}x`, String(nonce), "bk_1", "1.2.3.4")).toBeNull();
		const cookie = pow.solve(token, String(nonce), "bk_1", "1.2.3.4") as string;
		expect(cookie).toBeString();
		expect(pow.cleared(`a=b; pp_clearance=${cookie}`, "bk_1", "1.2.3.4")).toBe(true);
		expect(pow.cleared(`pp_clearance=${cookie}`, "bk_1", "1.2.3.5")).toBe(false);
		expect(pow.cleared(`pp_clearance=${cookie}`, "bk_1", "1.2.3.4", Date.now() + 120_000)).toBe(false);
		expect(pow.solve(token, String(nonce), "bk_1", "1.2.3.4", Date.now() + 10 * 60_000)).toBeNull();
	});

	test("the page's embedded SHA-256 agrees with node:crypto", () => {
		const html = renderPowPage("t", 4, "/");
		const script = html.slice(html.indexOf("const K = ["), html.indexOf("const form ="));
		const fns = new Function(`${script}; return { sha256, zeroBits };`)() as {
			sha256(s: string): number[];
			zeroBits(h: number[]): number;
		};
		for (const input of ["", "abc", "x".repeat(55), "y".repeat(56), "z".repeat(64), "token.sig:123456"]) {
			const ours = Buffer.alloc(32);
			fns.sha256(input).forEach((w, i) => {
				ours.writeInt32BE(w, i * 4);
			});
			const want = createHash("sha256").update(input).digest();
			expect(ours.toString("hex")).toBe(want.toString("hex"));
			expect(fns.zeroBits(fns.sha256(input))).toBe(leadingZeroBits(want));
		}
	});
});

describe("proxy rules", () => {
	test("source prefixes, exclusions, ports, protocols, countries and ASNs decide", () => {
		const rules = [
			compileProxyRule("r1", "REDIRECT", {
				sourceIps: [{ address: "10.0.0.0", prefixLength: 8 }],
				sourceIpBlacklist: [{ address: "10.1.0.0", prefixLength: 16 }],
			}),
			compileProxyRule("r2", "CHALLENGE", { protocols: ["TCP"], destinationPorts: [{ start: 25565, end: 25566 }] }),
			compileProxyRule("r3", "REDIRECT", { sourceCountries: ["DE"] }),
		];
		const geo: Record<string, GeoAnswer> = { "192.0.2.1": { country: "DE" }, "192.0.2.2": { country: "FR" } };
		const facts = (ip: string, port = 25565, transport: "TCP" | "UDP" = "TCP") =>
			connectionFacts({ ip, port, transport, backendType: "MINECRAFT_JAVA" as const }, (a) => geo[a] ?? {});
		expect(proxyAction(rules, facts("10.2.3.4"))).toBe("REDIRECT");
		expect(proxyAction(rules, facts("10.1.3.4"))).toBe("CHALLENGE");
		expect(proxyAction(rules, facts("198.51.100.1", 80))).toBeNull();
		expect(proxyAction(rules, facts("198.51.100.1", 25565, "UDP"))).toBeNull();
		expect(proxyAction(rules, facts("2001:db8::1"))).toBe("CHALLENGE");
		expect(proxyAction(rules, facts("192.0.2.1", 80))).toBe("REDIRECT");
		expect(proxyAction(rules, facts("192.0.2.2", 80))).toBeNull();
	});

	test("country and ASN conditions combine like the data plane's: positives all hold, the blacklist excludes", () => {
		const geo: Record<string, GeoAnswer> = {
			"192.0.2.1": { country: "FR", asn: 64500 },
			"192.0.2.2": { country: "FR", asn: 64501 },
			"192.0.2.3": { country: "DE", asn: 64500 },
			"192.0.2.4": {},
		};
		let lookups = 0;
		const facts = (ip: string) =>
			connectionFacts({ ip, port: 80, transport: "TCP", backendType: "HTTP" as const }, (a) => {
				lookups++;
				return geo[a] ?? {};
			});
		const both = [compileProxyRule("r", "CHALLENGE", { sourceCountries: ["FR"], sourceAsns: [64500] })];
		expect(proxyAction(both, facts("192.0.2.1"))).toBe("CHALLENGE");
		expect(proxyAction(both, facts("192.0.2.2"))).toBeNull();
		expect(proxyAction(both, facts("192.0.2.3"))).toBeNull();
		expect(proxyAction(both, facts("192.0.2.4"))).toBeNull();
		const notFrance = [compileProxyRule("r", "CHALLENGE", { sourceCountryBlacklist: ["FR"] })];
		expect(proxyAction(notFrance, facts("192.0.2.1"))).toBeNull();
		expect(proxyAction(notFrance, facts("192.0.2.3"))).toBe("CHALLENGE");
		// A source the database does not know is in no country: not excluded either.
		expect(proxyAction(notFrance, facts("192.0.2.4"))).toBe("CHALLENGE");
		// One lookup per connection, however many rules ask.
		lookups = 0;
		const three = [...notFrance, ...both, ...both];
		proxyAction(three, facts("192.0.2.2"));
		expect(lookups).toBe(1);
	});
});
