// Protocol checks in the kernel with real peers on a veth: a jsp-raknet client in the namespace
// pings and connects to a jsp-raknet server behind the XDP program (Bedrock backend, MEDIUM);
// crafted RakNet and QUIC datagrams without the magic, without a session, with the wrong
// version or an oversized connection id are dropped, a well-formed QUIC Initial passes; with
// maxConnectionsPerIp 2 a source's third concurrent RakNet session is refused in the kernel.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Server } from "jsp-raknet";
import { createRig, delta, type EchoServers, echoServers, type Rig } from "../helpers/dataplane.ts";
import { canUseNetns } from "../helpers/netns.ts";
import { freePort } from "../helpers/proxy.ts";

const skip = canUseNetns();
let rig: Rig;
let echo: EchoServers;
let raknetPort: number;
let raknet: Server;
let svc: ReturnType<Rig["services"]>;

/** Runs a script with Bun inside the namespace; resolves with its stdout. */
async function inNamespace(code: string, timeoutMs = 15_000): Promise<string> {
	const r = await rig.topo.run(["bun", "-e", code], timeoutMs);
	if (r.exitCode !== 0) throw new Error(`namespace script failed (${r.exitCode}): ${r.stderr}`);
	return r.stdout.trim();
}

/** A real jsp-raknet client: "ping" resolves with the server name, "connect" with "connected". */
function raknetClient(mode: "ping" | "connect"): Promise<string> {
	return inNamespace(`
		const { Client } = require("jsp-raknet");
		const c = new Client(${JSON.stringify(rig.topo.hostV4)}, ${raknetPort});
		setTimeout(() => { console.log("timeout"); process.exit(0); }, 8000);
		if (${JSON.stringify(mode)} === "ping") c.ping((name) => { console.log("pong " + name); process.exit(0); });
		else { c.on("connected", () => { console.log("connected"); process.exit(0); }); c.connect(); }
	`);
}

/** Sends hex payloads from src to the port; prints how many datagrams came back within waitMs. */
function datagrams(src: string, port: number, payloads: string[], waitMs = 600): Promise<number> {
	return inNamespace(`
		const dgram = require("node:dgram");
		const s = dgram.createSocket("udp4");
		let got = 0;
		s.on("message", () => got++);
		s.bind(0, ${JSON.stringify(src)}, async () => {
			for (const hex of ${JSON.stringify(payloads)}) {
				await new Promise((r) => s.send(Buffer.from(hex, "hex"), ${port}, ${JSON.stringify(rig.topo.hostV4)}, r));
			}
			setTimeout(() => { console.log(got); process.exit(0); }, ${waitMs});
		});
	`).then(Number);
}

const MAGIC = "00ffff00fefefefefdfdfdfd12345678";
const hex = (...parts: string[]) => parts.join("");
const zeros = (n: number) => "00".repeat(n);
function quicLong(version: string, dcid: number, size: number, first = "c0"): string {
	const head = hex(first, version, dcid.toString(16).padStart(2, "0"), zeros(dcid), "08", zeros(8));
	return hex(head, zeros(Math.max(0, size - head.length / 2)));
}

describe.skipIf(skip !== null)(`protocol checks with real peers${skip ? ` — skipped: ${skip}` : ""}`, () => {
	beforeAll(async () => {
		rig = await createRig(61);
		echo = await echoServers(rig.topo);
		raknetPort = await freePort();
		raknet = new Server(rig.topo.hostV4, raknetPort, {
			toString: () => "MCPE;PP L7 test;712;1.21.20;0;10;1234;PP;Survival;1;",
		} as never);
		await raknet.listen();
		// jsp-raknet's server takes one client's disconnection notification for its own close
		// (Connection.disconnect calls the listener's close with a reason): keep serving the
		// other clients, as a Bedrock server does; afterAll's close (no reason) still closes.
		const closeServer = raknet.close.bind(raknet);
		raknet.close = ((reason?: string) => {
			if (reason === undefined) closeServer();
		}) as typeof raknet.close;
		await rig.start();
		svc = rig.services();
		for (const [name, type, port] of [
			["bedrock", "MINECRAFT_BEDROCK", raknetPort],
			["quic", "QUIC", echo.udpPort],
		] as const) {
			svc.services.backends.create(svc.actor, {
				name,
				type,
				listeners: [{ address: rig.topo.hostV4, port, protocol: "UDP" }],
				protection: { level: "MEDIUM", perIpRateLimit: { requestsPerSecond: 10000, burstSize: 10000 } },
			});
		}
		await rig.settle();
	});
	afterAll(async () => {
		svc?.close();
		raknet?.close();
		echo?.close();
		await rig?.destroy();
	});

	test("a real RakNet client's ping and connection pass, and no packet of theirs is dropped", async () => {
		const before = rig.reasons();
		expect(await raknetClient("ping")).toStartWith("pong MCPE;PP L7 test;");
		expect(await raknetClient("connect")).toBe("connected");
		const d = delta(before, rig.reasons());
		expect(d.RAKNET ?? 0).toBe(0);
		expect(d.PASS ?? 0).toBeGreaterThanOrEqual(4);
	});

	test("RakNet packets without the magic, and connected datagrams without a session, are dropped", async () => {
		const [, src] = rig.topo.peerV4 as [string, string];
		const before = rig.reasons();
		const noMagic = hex("01", zeros(8), zeros(16), zeros(8));
		const connected = hex("84", "000000", "40", "0008", zeros(11));
		expect(await datagrams(src, raknetPort, [noMagic, noMagic, connected, connected, connected])).toBe(0);
		expect(delta(before, rig.reasons()).RAKNET).toBe(5);
		// The same source with a valid ping is answered.
		expect(await datagrams(src, raknetPort, [hex("01", zeros(8), MAGIC, zeros(8))])).toBe(1);
	});

	test("maxConnectionsPerIp 2: a third concurrent RakNet session from one source is dropped until one disconnects; other sources connect", async () => {
		const bedrock = svc.services.backends.list(svc.actor).data.find((b) => b.type === "MINECRAFT_BEDROCK");
		const limit = svc.services.rules.create(svc.actor, {
			backendId: bedrock?.id,
			name: "two sessions per address",
			match: { l7Match: { minecraftBedrock: { maxConnectionsPerIp: 2 } } },
			action: "LOG",
		});
		await rig.settle();
		const [, src, other] = rig.topo.peerV4 as [string, string, string];
		const before = rig.reasons();
		// One script holds the sessions: A and B from src stay open while C (src) and D (other)
		// try; then A disconnects (RakNet's disconnection notification) and E (src) takes its place.
		const out = await inNamespace(
			`
			const { Client } = require("jsp-raknet");
			const open = (src, ms) => new Promise((resolve) => {
				const c = new Client(${JSON.stringify(rig.topo.hostV4)}, ${raknetPort});
				const t = setTimeout(() => {
					// Give up: no more open-connection requests from this client.
					c.sendConnectionRequest = () => {};
					resolve({ c, r: "timeout" });
				}, ms);
				c.on("connected", () => { clearTimeout(t); resolve({ c, r: "connected" }); });
				c.socket.bind(0, src, () => c.connect());
			});
			const src = ${JSON.stringify(src)};
			const a = await open(src, 5000);
			const b = await open(src, 5000);
			const c = await open(src, 4000);
			const d = await open(${JSON.stringify(other)}, 5000);
			a.c.close("bye");
			await new Promise((r) => setTimeout(r, 500));
			const e = await open(src, 5000);
			console.log(JSON.stringify([a.r, b.r, c.r, d.r, e.r]));
			process.exit(0);
		`,
			30_000,
		);
		expect(JSON.parse(out)).toEqual(["connected", "connected", "timeout", "connected", "connected"]);
		const d = delta(before, rig.reasons());
		// C's open-connection request 2, and its retries, each dropped under its own reason.
		expect(d.MAX_CONNS ?? 0).toBeGreaterThanOrEqual(1);
		expect(d.RAKNET ?? 0).toBe(0);
		svc.services.rules.delete(svc.actor, limit.id);
		await rig.settle();
	}, 45_000);

	test("QUIC: a well-formed Initial passes and opens a session; bad long headers and strangers' short headers drop", async () => {
		const [, , a, b] = rig.topo.peerV4 as [string, string, string, string];
		const v1 = "00000001";
		const short = hex("40", zeros(40));
		const before = rig.reasons();
		expect(await datagrams(b, echo.udpPort, [short])).toBe(0);
		expect(await datagrams(a, echo.udpPort, [quicLong(v1, 8, 1100)])).toBe(0);
		expect(await datagrams(a, echo.udpPort, [quicLong("ff00001d", 8, 1200)])).toBe(0);
		expect(await datagrams(a, echo.udpPort, [quicLong(v1, 21, 1200)])).toBe(0);
		expect(delta(before, rig.reasons()).QUIC).toBe(4);
		expect(await datagrams(a, echo.udpPort, [quicLong(v1, 8, 1200), short])).toBe(2);
		expect(await datagrams(a, echo.udpPort, [quicLong("6b3343cf", 20, 1252, "d0")])).toBe(1);
	});

	test("at LOW the checks are off: the same junk reaches the servers", async () => {
		for (const b of svc.services.backends.list(svc.actor).data)
			svc.services.backends.setProtectionLevel(svc.actor, b.id, "LOW");
		await rig.settle();
		const [, , , d] = rig.topo.peerV4 as [string, string, string, string];
		const before = rig.reasons();
		expect(await datagrams(d, echo.udpPort, [hex("40", zeros(40)), quicLong("ff00001d", 8, 1200)])).toBe(2);
		expect(delta(before, rig.reasons()).QUIC ?? 0).toBe(0);
	});
});
