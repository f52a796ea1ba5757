// Minecraft Java validation in the kernel with real peers on a veth: a PrismarineJS
// minecraft-protocol server (offline mode) behind the XDP program, a minecraft-protocol client
// in the namespace pinging and logging in at every protection level; crafted malformed
// handshakes (oversized VarInt, bad next state, protocol version out of range) are dropped and
// their source is banned, so its next connection attempt never gets an answer; with
// maxConnectionsPerIp 2, a source's third concurrent player is turned away in the kernel; a
// handshake lost after the program passed it is sent again by the client and passes again.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import mc from "minecraft-protocol";
import { McState } from "../../src/dataplane/abi.ts";
import { nftBinary } from "../../src/dataplane/synproxy.ts";
import { createRig, delta, type Rig } from "../helpers/dataplane.ts";
import { MC_VERSION } from "../helpers/minecraft.ts";
import { canUseNetns } from "../helpers/netns.ts";
import { freePort } from "../helpers/proxy.ts";

const skip = canUseNetns();
const nft = nftBinary();
const LOSS_TABLE = "pp_test_loss";
const LEVELS = ["OFF", "LOW", "MEDIUM", "HIGH", "UNDER_ATTACK"] as const;
let rig: Rig;
let svc: ReturnType<Rig["services"]>;
let server: ReturnType<typeof mc.createServer>;
let port: number;
let backendId: string;
const joins: string[] = [];
let validatedBefore = 0;

/** Runs a script with Bun inside the namespace; resolves with its last line of output. */
async function inNamespace(code: string): Promise<string> {
	const r = await rig.topo.run(["bun", "-e", code], 20_000);
	if (r.exitCode !== 0) throw new Error(`namespace script failed (${r.exitCode}): ${r.stderr}`);
	return r.stdout.trim().split("\n").at(-1) ?? "";
}

const target = () =>
	`{ host: ${JSON.stringify(rig.topo.hostV4)}, port: ${port}, version: ${JSON.stringify(MC_VERSION)} }`;

function ping(): Promise<string> {
	return inNamespace(`
		const mc = require("minecraft-protocol");
		setTimeout(() => { console.log("timeout"); process.exit(0); }, 8000);
		mc.ping(${target()}).then(
			(r) => { console.log("players " + r.players.max); process.exit(0); },
			(e) => { console.log("error " + e.message); process.exit(0); },
		);
	`);
}

function login(username: string): Promise<string> {
	return inNamespace(`
		const mc = require("minecraft-protocol");
		setTimeout(() => { console.log("timeout"); process.exit(0); }, 10000);
		const c = mc.createClient({ ...${target()}, username: ${JSON.stringify(username)}, auth: "offline" });
		c.on("end", () => { console.log("ended"); process.exit(0); });
		c.on("error", (e) => { console.log("error " + e.message); process.exit(0); });
	`);
}

/** Opens a TCP connection from src and writes the bytes: "sent", or "timeout" when no SYN-ACK came. */
function raw(src: string, hex: string): Promise<string> {
	return inNamespace(`
		const net = require("node:net");
		setTimeout(() => { console.log("timeout"); process.exit(0); }, 2500);
		const s = net.connect({ host: ${JSON.stringify(rig.topo.hostV4)}, port: ${port}, localAddress: ${JSON.stringify(src)} }, () => {
			s.write(Buffer.from(${JSON.stringify(hex)}, "hex"));
			setTimeout(() => { console.log("sent"); process.exit(0); }, 400);
		});
		s.on("error", (e) => { console.log("error " + e.code); process.exit(0); });
	`);
}

const varint = (n: number) => {
	const out: number[] = [];
	let v = n >>> 0;
	do {
		out.push((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
		v >>>= 7;
	} while (v);
	return out;
};
/** A login start (name, then a 16-byte UUID), length-prefixed, as hex. */
function loginStart(name: string): string {
	const body = [0, name.length, ...Buffer.from(name), ...new Array(16).fill(7)];
	return Buffer.from([...varint(body.length), ...body]).toString("hex");
}
function handshake(proto: number, next: number): string {
	const host = [...Buffer.from("play.example.com")];
	const body = [0, ...varint(proto), host.length, ...host, 0x63, 0xdd, next];
	return Buffer.from([...varint(body.length), ...body]).toString("hex");
}

describe.skipIf(skip !== null)(`Minecraft Java validation with real peers${skip ? ` — skipped: ${skip}` : ""}`, () => {
	beforeAll(async () => {
		rig = await createRig(62);
		port = await freePort();
		server = mc.createServer({
			"online-mode": false,
			host: rig.topo.hostV4,
			port,
			version: MC_VERSION,
			motd: "PP L7",
			maxPlayers: 42,
		});
		await new Promise<void>((r) => server.on("listening", () => r()));
		server.on("playerJoin", (client) => {
			joins.push(client.username);
			// Players named H… stay connected (the connection-limit test holds them).
			if (!client.username.startsWith("H")) client.end("welcome");
		});
		await rig.start();
		svc = rig.services();
		backendId = svc.services.backends.create(svc.actor, {
			name: "java",
			type: "MINECRAFT_JAVA",
			listeners: [{ address: rig.topo.hostV4, port, protocol: "TCP" }],
			protection: { level: "MEDIUM" },
		}).id;
		// Options from a LOG rule: it matches and logs, the next rule (none) decides.
		svc.services.rules.create(svc.actor, {
			backendId,
			name: "java versions",
			match: { l7Match: { minecraftJava: { minProtocolVersion: 47, maxProtocolVersion: 769, banSeconds: 300 } } },
			action: "LOG",
		});
		await rig.settle();
	});
	afterAll(async () => {
		if (nft) Bun.spawnSync([nft, "delete", "table", "inet", LOSS_TABLE], { stderr: "ignore" });
		svc?.close();
		server?.close();
		await rig?.destroy();
	});

	for (const level of LEVELS) {
		test(`${level}: a real client's status ping and login succeed`, async () => {
			svc.services.backends.setProtectionLevel(svc.actor, backendId, level);
			await rig.settle();
			const before = rig.reasons();
			expect(await ping()).toBe("players 42");
			expect(await login(`P${level.slice(0, 10)}`)).toBe("ended");
			expect(joins).toContain(`P${level.slice(0, 10)}`);
			const d = delta(before, rig.reasons());
			expect([d.MC_HANDSHAKE ?? 0, d.INVALID ?? 0, d.BAN ?? 0]).toEqual([0, 0, 0]);
			// From MEDIUM on, both connections went through the kernel's handshake check.
			const flows = rig.map("pp_mc_flows");
			const validated = [...flows.keys()].filter((k) => flows.lookup(k)?.[0] === McState.VALID).length;
			flows.close();
			expect(validated).toBe(level === "OFF" || level === "LOW" ? 0 : validatedBefore + 2);
			validatedBefore = validated;
		}, 20_000);
	}

	test("maxConnectionsPerIp 2: a third concurrent player from one source is dropped in the kernel until one leaves; other sources join", async () => {
		svc.services.backends.setProtectionLevel(svc.actor, backendId, "MEDIUM");
		const limit = svc.services.rules.create(svc.actor, {
			backendId,
			name: "two players per address",
			match: { l7Match: { minecraftJava: { maxConnectionsPerIp: 2 } } },
			action: "LOG",
		});
		await rig.settle();
		const [primary, src] = rig.topo.peerV4 as [string, string];
		const before = rig.reasons();
		// One script holds the players: A and B from src stay connected while C (src) and D
		// (primary) try; then A leaves and E (src) joins in its place.
		const out = await inNamespace(`
			const mc = require("minecraft-protocol");
			const net = require("node:net");
			const join = (localAddress, username, ms) => new Promise((resolve) => {
				const c = mc.createClient({
					...${target()}, username, auth: "offline",
					connect: (client) => client.setSocket(net.connect({ host: ${JSON.stringify(rig.topo.hostV4)}, port: ${port}, localAddress })),
				});
				const done = (r) => { clearTimeout(t); resolve({ c, r }); };
				const t = setTimeout(() => { c.socket?.destroy(); done("timeout"); }, ms);
				// The test server sends no Join Game: reaching the play state is joining.
				c.on("state", (state) => state === "play" && done("joined"));
				c.once("error", (e) => done("error " + e.message));
				c.once("end", (reason) => done("ended " + reason));
			});
			const src = ${JSON.stringify(src)};
			const a = await join(src, "HA", 6000);
			const b = await join(src, "HB", 6000);
			const c = await join(src, "HC", 4000);
			const d = await join(${JSON.stringify(primary)}, "HD", 6000);
			a.c.end("bye");
			await new Promise((r) => setTimeout(r, 500));
			const e = await join(src, "HE", 6000);
			console.log(JSON.stringify([a.r, b.r, c.r, d.r, e.r]));
			for (const p of [b, d, e]) p.c.end("bye");
			setTimeout(() => process.exit(0), 300);
		`);
		expect(JSON.parse(out)).toEqual(["joined", "joined", "timeout", "joined", "joined"]);
		expect(joins).toEqual(expect.arrayContaining(["HA", "HB", "HD", "HE"]));
		expect(joins).not.toContain("HC");
		const d = delta(before, rig.reasons());
		// C's SYN and its retransmissions, each counted under its own reason.
		expect(d.MAX_CONNS ?? 0).toBeGreaterThanOrEqual(1);
		expect([d.MC_HANDSHAKE ?? 0, d.INVALID ?? 0, d.BAN ?? 0]).toEqual([0, 0, 0]);
		svc.services.rules.delete(svc.actor, limit.id);
		await rig.settle();
	}, 40_000);

	test.skipIf(nft === null)(
		"a handshake lost after XDP passed it is sent again by the client and passes: the login is answered, nobody is banned",
		async () => {
			svc.services.backends.setProtectionLevel(svc.actor, backendId, "MEDIUM");
			await rig.settle();
			// Loss further on: the host's input drops the first segment carrying data to the server.
			const loss = `table inet ${LOSS_TABLE} {\n\tchain input {\n\t\ttype filter hook input priority filter; policy accept;\n\t\ttcp dport ${port} tcp flags & psh == psh numgen inc mod 1000000 0 counter drop\n\t}\n}\n`;
			const add = Bun.spawnSync([nft as string, "-f", "-"], { stdin: Buffer.from(loss), stderr: "pipe" });
			expect(add.stderr.toString()).toBe("");
			try {
				const before = rig.reasons();
				// The handshake alone, then (once the kernel has sent it again) the login start.
				const out = await inNamespace(`
					const net = require("node:net");
					setTimeout(() => { console.log("timeout"); process.exit(0); }, 6000);
					const s = net.connect({ host: ${JSON.stringify(rig.topo.hostV4)}, port: ${port} }, () => {
						s.write(Buffer.from(${JSON.stringify(handshake(767, 2))}, "hex"));
						setTimeout(() => s.write(Buffer.from(${JSON.stringify(loginStart("Lost"))}, "hex")), 1500);
					});
					s.once("data", () => { console.log("answered"); process.exit(0); });
					s.on("error", (e) => { console.log("error " + e.code); process.exit(0); });
				`);
				expect(out).toBe("answered");
				const listed = Bun.spawnSync([nft as string, "list", "table", "inet", LOSS_TABLE], { stdout: "pipe" });
				expect(listed.stdout.toString()).toMatch(/counter packets 1 /);
				const d = delta(before, rig.reasons());
				expect([d.MC_HANDSHAKE ?? 0, d.INVALID ?? 0, d.BAN ?? 0]).toEqual([0, 0, 0]);
			} finally {
				Bun.spawnSync([nft as string, "delete", "table", "inet", LOSS_TABLE]);
			}
		},
		30_000,
	);

	test("malformed handshakes are dropped and their sources banned", async () => {
		svc.services.backends.setProtectionLevel(svc.actor, backendId, "MEDIUM");
		await rig.settle();
		const [, a, b, c] = rig.topo.peerV4 as [string, string, string, string];
		const cases: [string, string][] = [
			[a, `90808000${handshake(767, 2).slice(2)}`],
			[b, handshake(767, 7)],
			[c, handshake(770, 2)],
		];
		const before = rig.reasons();
		for (const [src, hex] of cases) expect(await raw(src, hex)).toBe("sent");
		expect(delta(before, rig.reasons()).MC_HANDSHAKE).toBe(3);
		for (const [src] of cases) expect(await raw(src, handshake(767, 1))).toBe("timeout");
		expect(delta(before, rig.reasons()).BAN ?? 0).toBeGreaterThanOrEqual(3);
		// The well-behaved source is not affected.
		expect(await ping()).toBe("players 42");
	}, 30_000);
});
