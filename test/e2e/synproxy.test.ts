// SYN cookies from XDP completed by the kernel's SYNPROXY, end to end. At MEDIUM the nftables
// table `inet pistonprotection_synproxy` only keeps conntrack tracking the TCP backend's
// listeners; raised to HIGH it adds exactly those listeners as SYN-cookie targets, conntrack's
// loose pickup is switched off, and the data plane reports XDP_SYNCOOKIE. A connection opened at
// MEDIUM keeps moving data after the raise. A spoofed SYN flood (hping3 --flood --rand-source,
// bounded by `timeout` and a count) is answered by the program with SYN-ACKs on the veth (never
// reaching the listener, whose accept queue stays empty), while real clients in the namespace
// connect through the cookies and SYNPROXY, over IPv4 and IPv6, and move data. A connection
// SYNPROXY completed keeps moving data after the level is lowered (its sequence numbers and
// timestamps stay translated), the sysctl is restored, and stopping the daemon, or detaching
// after a killed one, removes the table.
//
// The program's SYN-ACKs go back out of the veth they came in on (XDP_TX; createRig gives the
// peer end the NAPI that needs). The flood's spoofed sources never answer.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess, TCPSocketListener } from "bun";
import { nftBinary, SYNPROXY_TABLE } from "../../src/dataplane/synproxy.ts";
import { ROOT } from "../helpers/daemon.ts";
import { createRig, delta, HPING3, type Rig, synFlood, tcpExt } from "../helpers/dataplane.ts";
import { canUseNetns } from "../helpers/netns.ts";

const INDEX = 120;
const FLOOD_S = 5;
const FLOOD_PACKETS = 2_000_000;
const BULK_BYTES = 8 * 1024 * 1024;
const TCP_LOOSE = "/proc/sys/net/netfilter/nf_conntrack_tcp_loose";
const CONNTRACK = "/proc/net/nf_conntrack";

const nft = nftBinary();
const skip =
	canUseNetns() ??
	(HPING3 === null
		? "hping3 not installed (apt-get install hping3)"
		: nft === null
			? "nft not installed"
			: !readable(TCP_LOOSE)
				? "no conntrack (nf_conntrack_tcp_loose missing)"
				: null);

function readable(path: string): boolean {
	try {
		readFileSync(path);
		return true;
	} catch {
		return false;
	}
}

let rig: Rig;
let svc: ReturnType<Rig["services"]>;
let backendId: string;
let looseBefore: string;
let server: TCPSocketListener<{ got: number }>;
let port: number;
/** A server that speaks first: greets each connection before reading anything. */
let greeter: TCPSocketListener<undefined>;

function table(): string | null {
	const p = Bun.spawnSync([nft as string, "list", "table", "inet", SYNPROXY_TABLE], { stdout: "pipe", stderr: "pipe" });
	return p.exitCode === 0 ? p.stdout.toString() : null;
}

const loose = () => readFileSync(TCP_LOOSE, "utf8").trim();

/** The elements of one of the table's sets (empty when the set or table is missing). */
function elements(set: string): string[] {
	const p = Bun.spawnSync([nft as string, "-j", "list", "set", "inet", SYNPROXY_TABLE, set], {
		stdout: "pipe",
		stderr: "pipe",
	});
	if (p.exitCode !== 0) return [];
	const out = JSON.parse(p.stdout.toString()) as { nftables: { set?: { elem?: unknown[] } }[] };
	return (out.nftables.find((o) => o.set)?.set?.elem ?? []).map((e) => JSON.stringify(e));
}

/** A connection the namespace keeps open (netclient hold) and exchanges lines over. */
interface Held {
	/** Sends `ping <tag>` and resolves with the echo, or "timeout" / what the client reported. */
	exchange(tag: string, waitMs?: number): Promise<string>;
	close(): void;
}

async function hold(src: string, dst: string): Promise<Held> {
	const client = join(ROOT, "test", "helpers", "netclient.ts");
	const p: Subprocess<"pipe", "pipe", "ignore"> = Bun.spawn(
		["timeout", "100", "ip", "netns", "exec", rig.topo.ns, "bun", client, "hold", src, dst, String(port), "95000"],
		{ stdin: "pipe", stdout: "pipe", stderr: "ignore" },
	);
	held.add(p);
	const reader = p.stdout.getReader();
	let buffered = "";
	const line = async (waitMs: number): Promise<string> => {
		const deadline = Date.now() + waitMs;
		for (;;) {
			const nl = buffered.indexOf("\n");
			if (nl >= 0) {
				const l = buffered.slice(0, nl);
				buffered = buffered.slice(nl + 1);
				return l;
			}
			const left = deadline - Date.now();
			if (left <= 0) return "timeout";
			const chunk = await Promise.race([reader.read(), Bun.sleep(left).then(() => null)]);
			if (chunk === null) return "timeout";
			if (chunk.done) return "exited";
			buffered += new TextDecoder().decode(chunk.value);
		}
	};
	const opened = await line(5000);
	if (opened !== "open") throw new Error(`held connection from ${src}: ${opened}`);
	return {
		async exchange(tag, waitMs = 3000) {
			p.stdin.write(`ping ${tag}\n`);
			p.stdin.flush();
			return line(waitMs);
		},
		close() {
			p.stdin.end();
			p.kill();
			held.delete(p);
		},
	};
}

/** Several round trips over a held connection: data in both directions, every one echoed. */
async function roundTrips(conn: Held, tag: string, n = 5): Promise<string[]> {
	const out: string[] = [];
	for (let i = 0; i < n; i++) out.push(await conn.exchange(`${tag}-${i}`));
	return out;
}

const echoed = (tag: string, n = 5) => Array.from({ length: n }, (_, i) => `ping ${tag}-${i}`);

const held = new Set<Subprocess>();

async function setLevel(level: "LOW" | "MEDIUM" | "HIGH"): Promise<void> {
	svc.services.backends.setProtectionLevel(svc.actor, backendId, level);
	await rig.settle();
}

async function readyz(): Promise<{ synDefense?: string }> {
	return ((await (await fetch(`${rig.daemon?.url}/readyz`)).json()) as { dataplane: { synDefense?: string } })
		.dataplane;
}

async function bulk(src: string, dst: string): Promise<string> {
	const client = join(ROOT, "test", "helpers", "netclient.ts");
	const r = await rig.topo.run(["bun", client, "bulk", src, dst, String(port), String(BULK_BYTES), "10000"], 15_000);
	return r.stdout.trim();
}

describe.skipIf(skip !== null)(`SYN cookies from XDP with SYNPROXY${skip ? ` — skipped: ${skip}` : ""}`, () => {
	beforeAll(async () => {
		looseBefore = loose();
		rig = await createRig(INDEX);
		// Echoes a line; answers "done" once a connection has sent BULK_BYTES.
		server = Bun.listen<{ got: number }>({
			hostname: "::",
			port: 0,
			socket: {
				open(s) {
					s.data = { got: 0 };
				},
				data(s, data) {
					if (data.toString().startsWith("ping")) {
						s.write(data);
						return;
					}
					s.data.got += data.length;
					if (s.data.got >= BULK_BYTES) s.write("done\n");
				},
			},
		});
		port = server.port;
		greeter = Bun.listen({
			hostname: "::",
			port: 0,
			socket: {
				open(s) {
					s.write("hello\n");
				},
				data() {},
			},
		});
		await rig.start();
		svc = rig.services();
		backendId = svc.services.backends.create(svc.actor, {
			name: "tcp-game",
			type: "TCP",
			listeners: [
				{ address: rig.topo.hostV4, port, protocol: "TCP" },
				{ address: rig.topo.hostV6, port, protocol: "TCP" },
				{ address: rig.topo.hostV4, port: greeter.port, protocol: "TCP" },
				{ address: rig.topo.hostV6, port: greeter.port, protocol: "TCP" },
			],
			// The backend bucket would drop part of the flood and, with it, the real clients'
			// SYNs, and HIGH's per-source numbers would hold the bulk transfer: raised, so every
			// spoofed SYN meets the cookies and the transfer shows what SYNPROXY lets through.
			// It starts at MEDIUM, where players connect before an attack raises the level.
			protection: {
				level: "MEDIUM",
				globalRateLimit: { requestsPerSecond: 100_000_000, burstSize: 100_000_000 },
				perIpRateLimit: { requestsPerSecond: 1_000_000, burstSize: 1_000_000 },
			},
		}).id;
		await rig.settle();
	});
	afterAll(async () => {
		for (const p of held) p.kill();
		svc?.close();
		server?.stop(true);
		greeter?.stop(true);
		await rig?.destroy();
	});

	test("at MEDIUM the table only tracks the backend's listeners: no SYN-cookie targets, loose pickup unchanged, mode OFF", async () => {
		expect(table()).not.toBeNull();
		expect(elements("tcp_v4")).toHaveLength(2);
		expect(elements("tcp_v6")).toHaveLength(2);
		expect(elements("cookie_v4")).toEqual([]);
		expect(elements("cookie_v6")).toEqual([]);
		expect(loose()).toBe(looseBefore);
		expect((await readyz()).synDefense).toBe("OFF");
		expect(JSON.parse(rig.cli(["status", "--json"]).stdout).synDefense).toBe("OFF");
	});

	test("connections opened at MEDIUM keep moving data both ways after the backend is raised to HIGH", async () => {
		const v4 = await hold(rig.topo.peerV4[0] as string, rig.topo.hostV4);
		const v6 = await hold(rig.topo.peerV6[0] as string, rig.topo.hostV6);
		try {
			expect(await roundTrips(v4, "medium4")).toEqual(echoed("medium4"));
			expect(await roundTrips(v6, "medium6")).toEqual(echoed("medium6"));
			const before = rig.reasons();
			await setLevel("HIGH");
			expect(loose()).toBe("0");
			expect(await roundTrips(v4, "raised4")).toEqual(echoed("raised4"));
			expect(await roundTrips(v6, "raised6")).toEqual(echoed("raised6"));
			// The program found them in conntrack: none of their packets was taken for a bad cookie.
			expect(delta(before, rig.reasons()).COOKIE_BAD ?? 0).toBe(0);
		} finally {
			v4.close();
			v6.close();
		}
		// New connections at HIGH go through the cookies.
		expect(await rig.tcp(rig.topo.peerV4[1] as string, rig.topo.hostV4, port)).toBe("ok");
	}, 30_000);

	test("at HIGH the table holds exactly the backend's listeners as SYN-cookie targets, loose pickup is off, and the mode says so", async () => {
		const t = table();
		expect(t).not.toBeNull();
		expect(t).toContain(`${rig.topo.hostV4} . ${port}`);
		expect(t).toContain(`${rig.topo.hostV6} . ${port}`);
		expect(t).toContain("synproxy");
		expect(elements("cookie_v4")).toHaveLength(2);
		expect(elements("cookie_v6")).toHaveLength(2);
		expect(elements("cookie_any")).toEqual([]);
		expect(loose()).toBe("0");
		expect((await readyz()).synDefense).toBe("XDP_SYNCOOKIE");
		const status = rig.cli(["status", "--json"]);
		expect(status.exitCode).toBe(0);
		expect(JSON.parse(status.stdout).synDefense).toBe("XDP_SYNCOOKIE");
	});

	test("real clients connect through the cookies over IPv4 and IPv6 and move data at full speed", async () => {
		const before = rig.reasons();
		expect(await rig.tcp(rig.topo.peerV4[0] as string, rig.topo.hostV4, port)).toBe("ok");
		expect(await rig.tcp(rig.topo.peerV6[0] as string, rig.topo.hostV6, port)).toBe("ok");
		const up = await bulk(rig.topo.peerV4[1] as string, rig.topo.hostV4);
		const d = delta(before, rig.reasons());
		console.log(`8 MiB through SYNPROXY: ${up}`, d);
		expect(up).toStartWith("ok");
		// Every connection's SYN was answered from XDP and its handshake completed by a cookie ACK.
		expect(d.SYN_COOKIE ?? 0).toBeGreaterThanOrEqual(3);
		expect(d.COOKIE_ACK ?? 0).toBeGreaterThanOrEqual(3);
		expect(d.COOKIE_BAD ?? 0).toBe(0);
	}, 30_000);

	test("a server that speaks first greets clients at once: the listener takes SYNPROXY's ACK, and conntrack sees it", async () => {
		const client = join(ROOT, "test", "helpers", "netclient.ts");
		const greeted = async (src: string, dst: string) =>
			(
				await rig.topo.run(["bun", client, "banner", src, dst, String(greeter.port), "10", "3000"], 40_000)
			).stdout.trim();
		const before = rig.reasons();
		const ext = tcpExt();
		expect(await greeted(rig.topo.peerV4[0] as string, rig.topo.hostV4)).toBe("10");
		expect(await greeted(rig.topo.peerV6[0] as string, rig.topo.hostV6)).toBe("10");
		const after = tcpExt();
		expect(delta(before, rig.reasons()).COOKIE_ACK ?? 0).toBeGreaterThanOrEqual(20);
		// The clients sent nothing: only SYNPROXY's ACK could complete these handshakes. A listener
		// that refused it (Linux 6.16 checks its TSecr) would have resent its SYN-ACK a second later.
		expect((after.TCPSynRetrans ?? 0) - (ext.TCPSynRetrans ?? 0)).toBe(0);
		expect((after.TSEcrRejected ?? 0) - (ext.TSEcrRejected ?? 0)).toBe(0);
		// A client that connects and says nothing: conntrack saw that ACK too, so the flow is
		// ESTABLISHED (not left in SYN_RECV, which conntrack forgets after a minute).
		if (readable(CONNTRACK)) {
			const idle = await hold(rig.topo.peerV4[1] as string, rig.topo.hostV4);
			try {
				const states = readFileSync(CONNTRACK, "utf8")
					.split("\n")
					.filter((l) => l.includes(`src=${rig.topo.peerV4[1]} `) && l.includes(` dport=${port} `))
					.map((l) => l.split(/\s+/)[5])
					.filter((state) => state !== "TIME_WAIT" && state !== "CLOSE");
				expect(states).toEqual(["ESTABLISHED"]);
			} finally {
				idle.close();
			}
		}
	}, 60_000);

	test("connections over a source's connection rate are refused with a RST at their cookie ACK, none left hanging", async () => {
		const client = join(ROOT, "test", "helpers", "netclient.ts");
		const before = rig.reasons();
		// HIGH allows a source 40 new connections at once, then 20 a second.
		const r = await rig.topo.run(
			["bun", client, "burst", rig.topo.peerV6[3] as string, rig.topo.hostV6, String(greeter.port), "70", "3000"],
			20_000,
		);
		const ends = JSON.parse(r.stdout.trim()) as Record<string, number>;
		const d = delta(before, rig.reasons());
		expect(ends.timeout).toBe(0);
		expect(ends.error).toBe(0);
		expect(ends.greeted).toBeGreaterThanOrEqual(40);
		expect(ends.reset).toBeGreaterThanOrEqual(10);
		expect(ends.reset).toBe(d.CONN_RATELIMIT ?? 0);
	}, 30_000);

	test("a spoofed SYN flood is answered from XDP while a real client connects; the accept queue never overflows", async () => {
		const before = rig.reasons();
		const ext = tcpExt();
		const flood = synFlood(rig.topo, rig.topo.hostV4, port, FLOOD_S, FLOOD_PACKETS);
		await Bun.sleep(1500);
		const during = await rig.tcp(rig.topo.peerV4[2] as string, rig.topo.hostV4, port, 4000);
		const duringBulk = await bulk(rig.topo.peerV4[3] as string, rig.topo.hostV4);
		await flood;
		const d = delta(before, rig.reasons());
		const after = tcpExt();
		const answered = d.SYN_COOKIE ?? 0;
		console.log(
			`spoofed SYN flood: ${answered} SYN-ACKs from XDP in ${FLOOD_S} s (${Math.round(answered / FLOOD_S)}/s), ` +
				`${d.INVALID ?? 0} impossible sources dropped, ${d.CONN_RATELIMIT ?? 0} over the per-source rate; ` +
				`kernel cookies sent ${(after.SyncookiesSent ?? 0) - (ext.SyncookiesSent ?? 0)}`,
		);
		expect(during).toBe("ok");
		expect(duringBulk).toStartWith("ok");
		expect(answered).toBeGreaterThan(10_000);
		// The listener never saw the flood: no SYN reached it, so neither queue filled.
		expect((after.ListenOverflows ?? 0) - (ext.ListenOverflows ?? 0)).toBe(0);
		expect((after.ListenDrops ?? 0) - (ext.ListenDrops ?? 0)).toBe(0);
	}, 40_000);

	test("ACKs of no flow without a valid cookie are dropped and counted", async () => {
		const before = rig.reasons();
		await rig.topo.run(
			["timeout", "4", HPING3 as string, "-q", "-A", "-i", "u1000", "-c", "200", "-p", String(port), rig.topo.hostV4],
			8000,
		);
		const d = delta(before, rig.reasons());
		expect(d.COOKIE_BAD ?? 0).toBeGreaterThanOrEqual(150);
	}, 15_000);

	test("connections SYNPROXY completed keep moving data both ways at LOW and at MEDIUM; new ones connect", async () => {
		const before = rig.reasons();
		const v4 = await hold(rig.topo.peerV4[2] as string, rig.topo.hostV4);
		const v6 = await hold(rig.topo.peerV6[2] as string, rig.topo.hostV6);
		try {
			// Both handshakes were completed by a cookie ACK, so SYNPROXY translates these flows.
			expect(delta(before, rig.reasons()).COOKIE_ACK ?? 0).toBeGreaterThanOrEqual(2);
			expect(await roundTrips(v4, "high4")).toEqual(echoed("high4"));
			expect(await roundTrips(v6, "high6")).toEqual(echoed("high6"));
			await setLevel("LOW");
			expect(loose()).toBe(looseBefore);
			expect(await roundTrips(v4, "low4")).toEqual(echoed("low4"));
			expect(await roundTrips(v6, "low6")).toEqual(echoed("low6"));
			expect(await rig.tcp(rig.topo.peerV4[0] as string, rig.topo.hostV4, port)).toBe("ok");
			await setLevel("MEDIUM");
			expect(await roundTrips(v4, "medium4")).toEqual(echoed("medium4"));
			expect(await roundTrips(v6, "medium6")).toEqual(echoed("medium6"));
			expect(await rig.tcp(rig.topo.peerV6[0] as string, rig.topo.hostV6, port)).toBe("ok");
		} finally {
			v4.close();
			v6.close();
		}
	}, 40_000);

	test("at LOW the table has no SYN-cookie targets, the sysctl is back and the mode is OFF", async () => {
		await setLevel("LOW");
		expect(table()).not.toBeNull();
		expect(elements("tcp_v4")).toHaveLength(2);
		expect(elements("cookie_v4")).toEqual([]);
		expect(elements("cookie_v6")).toEqual([]);
		expect(loose()).toBe(looseBefore);
		expect((await readyz()).synDefense).toBe("OFF");
		expect(JSON.parse(rig.cli(["status", "--json"]).stdout).synDefense).toBe("OFF");
		// Back to the kernel: a client still connects.
		expect(await rig.tcp(rig.topo.peerV4[0] as string, rig.topo.hostV4, port)).toBe("ok");
	}, 15_000);

	test("a stopped daemon leaves the SYN defence in place (fail-static) and the next one adopts it; detach removes it, also after a killed daemon", async () => {
		await setLevel("HIGH");
		expect(loose()).toBe("0");
		const held = await hold(rig.topo.peerV4[1] as string, rig.topo.hostV4);
		let adopter: Awaited<ReturnType<typeof rig.start>> | null = null;
		try {
			expect(await roundTrips(held, "up")).toEqual(echoed("up"));
			await rig.daemon?.stop();
			rig.daemon = null;
			// Program, maps, table and sysctl stay: XDP still answers SYNs and SYNPROXY completes them.
			expect(elements("cookie_v4")).toHaveLength(2);
			expect(loose()).toBe("0");
			const before = rig.reasons();
			expect(await roundTrips(held, "stopped")).toEqual(echoed("stopped"));
			expect(await rig.tcp(rig.topo.peerV4[0] as string, rig.topo.hostV4, port)).toBe("ok");
			const seen = delta(before, rig.reasons());
			expect(seen.SYN_COOKIE ?? 0).toBeGreaterThanOrEqual(1);
			expect(seen.COOKIE_ACK ?? 0).toBeGreaterThanOrEqual(1);

			adopter = await rig.start();
			await rig.settle();
			expect(elements("cookie_v4")).toHaveLength(2);
			expect((await readyz()).synDefense).toBe("XDP_SYNCOOKIE");
			expect(await roundTrips(held, "adopted")).toEqual(echoed("adopted"));
		} finally {
			held.close();
		}

		await adopter?.stop("SIGKILL");
		rig.daemon = null;
		expect(table()).not.toBeNull();
		const detach = rig.cli(["dataplane", "detach"]);
		expect(detach.exitCode).toBe(0);
		expect(table()).toBeNull();
		expect(loose()).toBe(looseBefore);
	}, 40_000);
});
