// TCP and UDP forwarding with real echo origins: byte-exact transfers with half-close, PROXY v2
// to the origin, origin limits and timeouts, per-address limits, UDP sessions, failover between
// priority tiers, and configuration changes while another backend's clients stream.
import { afterEach, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { createSocket } from "node:dgram";
import { connect, createServer, type Socket } from "node:net";
import {
	type EchoOrigin,
	echoThrough,
	freePort,
	proxyCore,
	tcpEchoOrigin,
	type UdpEchoOrigin,
	udpEchoOrigin,
	until,
} from "../helpers/proxy.ts";

type Core = Awaited<ReturnType<typeof proxyCore>>;
let core: Core | null = null;
const cleanups: Array<() => unknown> = [];

afterEach(async () => {
	for (const c of cleanups.splice(0).reverse()) await c();
	core?.close();
	core = null;
});

async function echo(opts: Parameters<typeof tcpEchoOrigin>[0] = {}): Promise<EchoOrigin> {
	const o = await tcpEchoOrigin(opts);
	cleanups.push(() => o.stop());
	return o;
}

async function tcpBackend(c: Core, origins: Array<Record<string, unknown>>, extra: Record<string, unknown> = {}) {
	const port = await freePort();
	const backend = c.services.backends.create(c.owner, {
		name: `tcp-${port}`,
		type: "TCP",
		listeners: [{ address: "127.0.0.1", port, protocol: "TCP" }],
		origins,
		...extra,
	});
	await until(() => c.proxy.status().listeners.some((l) => l.port === port), 5000, "listener");
	return { port, backend };
}

/** Opens a connection and resolves once it is established; `closed` settles when it ends. */
function hold(port: number, localAddress?: string) {
	const s: Socket = connect({ host: "127.0.0.1", port, localAddress });
	s.on("error", () => {});
	const closed = new Promise<void>((r) => s.on("close", () => r()));
	cleanups.push(() => s.destroy());
	return { socket: s, closed, ready: new Promise<void>((r) => s.on("connect", () => r())) };
}

describe("TCP forwarding", () => {
	test("moves 24 MiB of random bytes each way byte-exact with half-close, and the origin reads the client's address from PROXY v2", async () => {
		core = await proxyCore();
		const origin = await echo({ proxyProtocol: true });
		const { port, backend } = await tcpBackend(core, [
			{ name: "o", address: "127.0.0.1", port: origin.port, settings: { proxyProtocol: 2 } },
		]);
		const payload = randomBytes(24 * 1024 * 1024);
		const [one, two] = await Promise.all([
			echoThrough(port, payload, { localAddress: "127.0.0.5" }),
			echoThrough(port, payload.subarray(0, 3_000_001), { localAddress: "127.0.0.6" }),
		]);
		expect(one.length).toBe(payload.length);
		expect(one.equals(payload)).toBe(true);
		expect(two.equals(payload.subarray(0, 3_000_001))).toBe(true);
		const sources = origin.headers.map((h) => h.source);
		expect(sources).toContain("127.0.0.5");
		expect(sources).toContain("127.0.0.6");
		const h = origin.headers.find((x) => x.source === "127.0.0.5");
		expect(h?.destination).toBe("127.0.0.1");
		expect(h?.destinationPort).toBe(port);
		await until(() => core?.services.activeConnections(backend.id) === 0, 3000, "connections closed");
	}, 60_000);

	test("a PROXY v2 header is believed from trusted upstreams only", async () => {
		core = await proxyCore((c) => {
			c.proxy.trusted_upstreams = ["127.0.0.77/32"];
		});
		const origin = await echo({ proxyProtocol: true });
		const { port } = await tcpBackend(
			core,
			[{ name: "o", address: "127.0.0.1", port: origin.port, settings: { proxyProtocol: 2 } }],
			{ healthCheck: { enabled: false } },
		);
		// Written out by hand: PROXY, TCP over IPv4, 198.51.100.9:40000 → 203.0.113.1:25565.
		const upstream = Buffer.concat([
			Buffer.from("0d0a0d0a000d0a515549540a", "hex"),
			Buffer.from([0x21, 0x11, 0x00, 0x0c, 198, 51, 100, 9, 203, 0, 113, 1, 0x9c, 0x40, 0x63, 0xdd]),
		]);
		const payload = Buffer.from("after the header");
		const trusted = await echoThrough(port, Buffer.concat([upstream, payload]), { localAddress: "127.0.0.77" });
		expect(trusted.equals(payload)).toBe(true);
		expect(origin.headers.at(-1)).toEqual({
			source: "198.51.100.9",
			sourcePort: 40000,
			destination: "203.0.113.1",
			destinationPort: 25565,
			transport: "TCP",
		});
		const untrusted = await echoThrough(port, Buffer.concat([upstream, payload]), { localAddress: "127.0.0.78" });
		expect(untrusted.equals(Buffer.concat([upstream, payload]))).toBe(true);
		expect(origin.headers.at(-1)?.source).toBe("127.0.0.78");
	});

	test("a listener without an address serves IPv4 and IPv6 clients, each reported in its own family", async () => {
		core = await proxyCore();
		const origin = await echo({ proxyProtocol: true });
		const port = await freePort();
		core.services.backends.create(core.owner, {
			name: "any",
			type: "TCP",
			listeners: [{ port, protocol: "TCP" }],
			healthCheck: { enabled: false },
			origins: [{ name: "o", address: "127.0.0.1", port: origin.port, settings: { proxyProtocol: 2 } }],
		});
		await until(() => core?.proxy.status().listeners.some((l) => l.port === port), 3000, "listener");
		expect((await echoThrough(port, Buffer.from("v4"), { localAddress: "127.0.0.3" })).toString()).toBe("v4");
		expect(origin.headers.at(-1)?.source).toBe("127.0.0.3");
		expect((await echoThrough(port, Buffer.from("v6"), { host: "::1" })).toString()).toBe("v6");
		expect(origin.headers.at(-1)?.source).toBe("0000:0000:0000:0000:0000:0000:0000:0001");
	});

	test("PROXY v1 is sent when the origin asks for version 1", async () => {
		core = await proxyCore();
		let first = "";
		const server = createServer((s) => {
			s.once("data", (d: Buffer) => {
				first ||= d.toString("latin1").split("\r\n")[0] ?? "";
				s.end();
			});
		});
		await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
		cleanups.push(() => new Promise((r) => server.close(r)));
		const { port } = await tcpBackend(
			core,
			[
				{
					name: "o",
					address: "127.0.0.1",
					port: (server.address() as { port: number }).port,
					settings: { proxyProtocol: 1 },
				},
			],
			{ healthCheck: { enabled: false } },
		);
		await echoThrough(port, Buffer.from("hello"), { localAddress: "127.0.0.9" });
		expect(first).toMatch(new RegExp(`^PROXY TCP4 127\\.0\\.0\\.9 127\\.0\\.0\\.1 \\d+ ${port}$`));
	});

	test("an origin's maxConnections and the per-address limit refuse further connections", async () => {
		core = await proxyCore((c) => {
			c.proxy.max_connections_per_ip = 3;
		});
		const origin = await echo();
		const { port, backend } = await tcpBackend(core, [
			{ name: "o", address: "127.0.0.1", port: origin.port, settings: { maxConnections: 2 } },
		]);
		const a = hold(port, "127.0.0.41");
		const b = hold(port, "127.0.0.42");
		await Promise.all([a.ready, b.ready]);
		await until(() => core?.services.activeConnections(backend.id) === 2, 3000, "two connections");
		const c = hold(port, "127.0.0.43");
		await c.closed;
		expect(origin.open()).toBe(2);
		a.socket.destroy();
		await until(() => core?.services.activeConnections(backend.id) === 1, 3000, "one left");
		expect((await echoThrough(port, Buffer.from("again"), { localAddress: "127.0.0.43" })).toString()).toBe("again");

		b.socket.destroy();
		await until(() => core?.services.activeConnections(backend.id) === 0, 3000, "none left");
		// Per address: 3 from one source are fine (origin has room for 2 → use a roomy origin).
		core.services.backends.update(core.owner, backend.id, {
			origins: [{ name: "o", address: "127.0.0.1", port: origin.port }],
		});
		await Bun.sleep(100);
		const same = [hold(port, "127.0.0.44"), hold(port, "127.0.0.44"), hold(port, "127.0.0.44")];
		await Promise.all(same.map((s) => s.ready));
		await until(() => core?.services.activeConnections(backend.id) === 3, 3000, "three connections");
		const fourth = hold(port, "127.0.0.44");
		await fourth.closed;
		expect((await echoThrough(port, Buffer.from("other"), { localAddress: "127.0.0.45" })).toString()).toBe("other");
	}, 30_000);

	test("readTimeoutMs ends a connection whose origin stays silent; a refused origin fails over to the next", async () => {
		core = await proxyCore();
		const silent = createServer(() => {});
		await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
		cleanups.push(() => new Promise((r) => silent.close(r)));
		const { port } = await tcpBackend(
			core,
			[
				{
					name: "silent",
					address: "127.0.0.1",
					port: (silent.address() as { port: number }).port,
					settings: { readTimeoutMs: 300 },
				},
			],
			{ healthCheck: { enabled: false } },
		);
		const c = hold(port);
		await c.ready;
		const t0 = Date.now();
		await c.closed;
		expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
		expect(Date.now() - t0).toBeLessThan(3000);

		const good = await echo();
		const refused = await freePort();
		const second = await tcpBackend(
			core,
			[
				{ name: "refused", address: "127.0.0.1", port: refused, weight: 100 },
				{ name: "good", address: "127.0.0.1", port: good.port, weight: 1 },
			],
			{ healthCheck: { enabled: false } },
		);
		for (let i = 0; i < 4; i++)
			expect((await echoThrough(second.port, Buffer.from(`try ${i}`))).toString()).toBe(`try ${i}`);
	}, 30_000);

	test("failover: new connections go to priority 2 while priority 1 is down, and return when it is back", async () => {
		core = await proxyCore();
		const primary = await echo();
		const secondary = await echo();
		const hc = { enabled: true, intervalSeconds: 1, timeoutSeconds: 1, healthyThreshold: 1, unhealthyThreshold: 2 };
		const { port, backend } = await tcpBackend(
			core,
			[
				{ name: "p1", address: "127.0.0.1", port: primary.port, priority: 1 },
				{ name: "p2", address: "127.0.0.1", port: secondary.port, priority: 2 },
			],
			{ healthCheck: hc },
		);
		const events: unknown[] = [];
		core.services.bus.on("backend.health_changed", (e) => events.push(e.data));
		const p1 = backend.origins.find((o) => o.name === "p1")?.id as string;
		await until(() => core?.services.originHealth(p1) === "HEALTHY", 3000, "p1 healthy");
		const before = secondary.served();
		await echoThrough(port, Buffer.from("x"));
		expect(secondary.served()).toBe(before);

		await primary.stop();
		const t0 = Date.now();
		await until(() => core?.services.originHealth(p1) === "UNHEALTHY", 8000, "p1 unhealthy");
		// Two failed probes one second apart, each allowed one second: well within five.
		expect(Date.now() - t0).toBeLessThan(5000);
		for (let i = 0; i < 3; i++) await echoThrough(port, Buffer.from("y"));
		expect(secondary.served()).toBe(before + 3);
		expect(events).toContainEqual({ originId: p1, from: "HEALTHY", to: "UNHEALTHY" });

		const back = await echo({ port: primary.port });
		await until(() => core?.services.originHealth(p1) === "HEALTHY", 5000, "p1 back");
		for (let i = 0; i < 3; i++) await echoThrough(port, Buffer.from("z"));
		expect(back.served()).toBe(3);
		expect(secondary.served()).toBe(before + 3);
		expect(events).toContainEqual({ originId: p1, from: "UNHEALTHY", to: "HEALTHY" });
	}, 30_000);

	test("creating, changing and deleting backend B leaves backend A's streaming connections untouched", async () => {
		core = await proxyCore();
		const originA = await echo();
		const originB = await echo();
		const a = await tcpBackend(core, [{ name: "a", address: "127.0.0.1", port: originA.port }]);
		const payload = randomBytes(12 * 1024 * 1024);
		// Four clients stream through A, each in slices, so the changes land mid-transfer.
		const streams = Array.from(
			{ length: 4 },
			() =>
				new Promise<Buffer>((resolve, reject) => {
					const chunks: Buffer[] = [];
					const s = connect({ host: "127.0.0.1", port: a.port, allowHalfOpen: true });
					s.on("data", (c: Buffer) => chunks.push(c));
					s.on("error", reject);
					s.on("end", () => resolve(Buffer.concat(chunks)));
					s.on("connect", async () => {
						for (let off = 0; off < payload.length; off += 256 * 1024) {
							s.write(payload.subarray(off, off + 256 * 1024));
							await Bun.sleep(15);
						}
						s.end();
					});
				}),
		);
		await until(() => core?.services.activeConnections(a.backend.id) === 4, 3000, "A streaming");
		const portB = await freePort();
		const b = core.services.backends.create(core.owner, {
			name: "b",
			type: "TCP",
			listeners: [{ address: "127.0.0.1", port: portB, protocol: "TCP" }],
			origins: [{ name: "b", address: "127.0.0.1", port: originB.port }],
		});
		await until(() => core?.proxy.status().listeners.some((l) => l.port === portB), 3000, "B listening");
		expect((await echoThrough(portB, Buffer.from("b1"))).toString()).toBe("b1");
		const portB2 = await freePort();
		core.services.backends.update(core.owner, b.id, {
			listeners: [{ address: "127.0.0.1", port: portB2, protocol: "TCP" }],
			loadBalancer: { algorithm: "LEAST_CONNECTIONS" },
		});
		await until(() => core?.proxy.status().listeners.some((l) => l.port === portB2), 3000, "B moved");
		expect((await echoThrough(portB2, Buffer.from("b2"))).toString()).toBe("b2");
		expect(core.services.activeConnections(a.backend.id)).toBe(4);
		core.services.backends.delete(core.owner, b.id);
		await until(() => !core?.proxy.status().listeners.some((l) => l.port === portB2), 3000, "B gone");
		expect(core.services.activeConnections(a.backend.id)).toBe(4);
		const results = await Promise.all(streams);
		for (const r of results) expect(r.equals(payload)).toBe(true);
	}, 60_000);
});

describe("UDP forwarding", () => {
	async function udpBackend(c: Core, origin: UdpEchoOrigin, proxyProtocol: 0 | 2, address = "127.0.0.1") {
		const port = await freePort();
		const backend = c.services.backends.create(c.owner, {
			name: `udp-${port}`,
			type: "MINECRAFT_BEDROCK",
			listeners: [{ address, port, protocol: "UDP" }],
			healthCheck: { enabled: false },
			origins: [{ name: "o", address: "127.0.0.1", port: origin.port, settings: { proxyProtocol } }],
		});
		await until(() => c.proxy.status().listeners.some((l) => l.port === port), 5000, "listener");
		return { port, backend };
	}

	test("echoes 400 Bedrock-sized random datagrams from two clients byte-exact, with a PROXY v2 header on each", async () => {
		core = await proxyCore();
		const origin = await udpEchoOrigin({ proxyProtocol: true });
		cleanups.push(() => origin.stop());
		const { port, backend } = await udpBackend(core, origin, 2);
		const run = async (source: string) => {
			const sock = createSocket("udp4");
			await new Promise<void>((r) => sock.bind(0, source, () => r()));
			const sent = Array.from({ length: 200 }, (_, i) => Buffer.concat([Buffer.from([i & 0xff]), randomBytes(1199)]));
			const got = new Map<number, Buffer>();
			sock.on("message", (m) => got.set(m[0] as number, m));
			for (const d of sent) {
				sock.send(d, port, "127.0.0.1");
				await Bun.sleep(1);
			}
			await until(() => got.size === sent.length, 5000, `echoes for ${source}`);
			sock.close();
			for (const d of sent) expect(got.get(d[0] as number)?.equals(d)).toBe(true);
		};
		await Promise.all([run("127.0.0.51"), run("127.0.0.52")]);
		expect(new Set(origin.headers.map((h) => h.source))).toEqual(new Set(["127.0.0.51", "127.0.0.52"]));
		expect(origin.headers.every((h) => h.transport === "UDP" && h.destinationPort === port)).toBe(true);
		expect(core.services.activeConnections(backend.id)).toBe(2);
	}, 30_000);

	test("a listener without an address answers IPv4 clients from the address they sent to", async () => {
		core = await proxyCore();
		const origin = await udpEchoOrigin({ proxyProtocol: true });
		cleanups.push(() => origin.stop());
		const { port } = await udpBackend(core, origin, 2, "");
		const sock = createSocket("udp4");
		cleanups.push(() => sock.close());
		await new Promise<void>((r) => sock.bind(0, "127.0.0.53", () => r()));
		const got = new Promise<{ msg: Buffer; from: string }>((r) =>
			sock.once("message", (msg, rinfo) => r({ msg, from: `${rinfo.address}:${rinfo.port}` })),
		);
		sock.send(Buffer.from("dual"), port, "127.0.0.1");
		const { msg, from } = await got;
		expect(msg.toString()).toBe("dual");
		expect(from).toBe(`127.0.0.1:${port}`);
		expect(origin.headers[0]?.source).toBe("127.0.0.53");
	});

	test("a source at its per-address limit gets no new UDP session until one idles out; its open sessions go on", async () => {
		core = await proxyCore((c) => {
			c.proxy.max_connections_per_ip = 2;
			c.proxy.udp_idle_timeout_seconds = 1;
		});
		const origin = await udpEchoOrigin();
		cleanups.push(() => origin.stop());
		const { port, backend } = await udpBackend(core, origin, 0);
		/** A client socket on a loopback source; ask() resolves with the echo, or null after waitMs. */
		const client = async (source: string) => {
			const sock = createSocket("udp4");
			cleanups.push(() => sock.close());
			await new Promise<void>((r) => sock.bind(0, source, () => r()));
			return {
				ask: (text: string, waitMs = 2000) =>
					new Promise<string | null>((resolve) => {
						const timer = setTimeout(() => {
							sock.off("message", onMessage);
							resolve(null);
						}, waitMs);
						const onMessage = (m: Buffer) => {
							if (m.toString() !== text) return;
							clearTimeout(timer);
							sock.off("message", onMessage);
							resolve(text);
						};
						sock.on("message", onMessage);
						sock.send(Buffer.from(text), port, "127.0.0.1");
					}),
			};
		};
		const [a, b, c, other] = await Promise.all(
			["127.0.0.61", "127.0.0.61", "127.0.0.61", "127.0.0.62"].map((s) => client(s)),
		);
		expect(await a?.ask("a1")).toBe("a1");
		expect(await b?.ask("b1")).toBe("b1");
		// The third session of 127.0.0.61 is refused: its datagrams are dropped and counted.
		expect(await c?.ask("c1", 400)).toBeNull();
		expect(await c?.ask("c2", 400)).toBeNull();
		expect(core.services.proxyCounters(backend.id)?.refusedLimit).toBe(2);
		// Another source has its own budget, and the open sessions are untouched.
		expect(await other?.ask("o1")).toBe("o1");
		expect(await a?.ask("a2")).toBe("a2");
		expect(core.services.activeConnections(backend.id)).toBe(3);
		// Keep a busy while b (and the other source) idle out: a's address has room again.
		for (let i = 0; i < 25 && core.services.activeConnections(backend.id) !== 1; i++) {
			expect(await a?.ask(`keep ${i}`)).toBe(`keep ${i}`);
			await Bun.sleep(200);
		}
		expect(core.services.activeConnections(backend.id)).toBe(1);
		expect(await c?.ask("c3")).toBe("c3");
		expect(core.services.activeConnections(backend.id)).toBe(2);
		expect(core.services.proxyCounters(backend.id)).toMatchObject({ opened: 4, closed: 2, refusedLimit: 2 });
	}, 30_000);

	test("a client session ends after the idle timeout", async () => {
		core = await proxyCore((c) => {
			c.proxy.udp_idle_timeout_seconds = 1;
		});
		const origin = await udpEchoOrigin();
		cleanups.push(() => origin.stop());
		const { port, backend } = await udpBackend(core, origin, 0);
		const sock = createSocket("udp4");
		cleanups.push(() => sock.close());
		const got = new Promise<Buffer>((r) => sock.once("message", r));
		sock.send(Buffer.from("ping"), port, "127.0.0.1");
		expect((await got).toString()).toBe("ping");
		expect(core.services.activeConnections(backend.id)).toBe(1);
		await until(() => core?.services.activeConnections(backend.id) === 0, 4000, "session idle");
	}, 15_000);
});
