// SYN cookies from XDP completed by the kernel's SYNPROXY, end to end: a TCP backend at HIGH gets
// the nftables table `inet pistonprotection_synproxy` with exactly its listeners, conntrack's
// loose pickup is switched off, and the data plane reports XDP_SYNCOOKIE. A spoofed SYN flood
// (hping3 --flood --rand-source, bounded by `timeout` and a count) is answered by the program
// with SYN-ACKs on the veth (never reaching the listener, whose accept queue stays empty), while
// real clients in the namespace connect through the cookies and SYNPROXY, over IPv4 and IPv6,
// and move data. Lowering the level removes the table and restores the sysctl.
//
// The program's SYN-ACKs go back out of the veth they came in on (XDP_TX; createRig gives the
// peer end the NAPI that needs). The flood's spoofed sources never answer.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { TCPSocketListener } from "bun";
import { SYNPROXY_TABLE } from "../../src/dataplane/synproxy.ts";
import { ROOT } from "../helpers/daemon.ts";
import { createRig, delta, type Rig } from "../helpers/dataplane.ts";
import { canUseNetns } from "../helpers/netns.ts";

const INDEX = 120;
const FLOOD_S = 5;
const FLOOD_PACKETS = 2_000_000;
const BULK_BYTES = 8 * 1024 * 1024;
const TCP_LOOSE = "/proc/sys/net/netfilter/nf_conntrack_tcp_loose";

const hping3 = Bun.which("hping3") ?? (Bun.which("/usr/sbin/hping3") ? "/usr/sbin/hping3" : null);
const nft = Bun.which("nft") ?? (Bun.which("/usr/sbin/nft") ? "/usr/sbin/nft" : null);
const skip =
	canUseNetns() ??
	(hping3 === null
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

/** TcpExt counters of the root namespace, where the listener is. */
function tcpExt(): Record<string, number> {
	const lines = readFileSync("/proc/net/netstat", "utf8").split("\n");
	const i = lines.findIndex((l) => l.startsWith("TcpExt:"));
	const names = (lines[i] ?? "").split(" ").slice(1);
	const values = (lines[i + 1] ?? "").split(" ").slice(1).map(Number);
	return Object.fromEntries(names.map((n, j) => [n, values[j] ?? 0]));
}

function table(): string | null {
	const p = Bun.spawnSync([nft as string, "list", "table", "inet", SYNPROXY_TABLE], { stdout: "pipe", stderr: "pipe" });
	return p.exitCode === 0 ? p.stdout.toString() : null;
}

const loose = () => readFileSync(TCP_LOOSE, "utf8").trim();

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
		await rig.start();
		svc = rig.services();
		backendId = svc.services.backends.create(svc.actor, {
			name: "tcp-game",
			type: "TCP",
			listeners: [
				{ address: rig.topo.hostV4, port, protocol: "TCP" },
				{ address: rig.topo.hostV6, port, protocol: "TCP" },
			],
			// The backend bucket would drop part of the flood and, with it, the real clients'
			// SYNs, and HIGH's per-source numbers would hold the bulk transfer: raised, so every
			// spoofed SYN meets the cookies and the transfer shows what SYNPROXY lets through.
			protection: {
				level: "HIGH",
				globalRateLimit: { requestsPerSecond: 100_000_000, burstSize: 100_000_000 },
				perIpRateLimit: { requestsPerSecond: 1_000_000, burstSize: 1_000_000 },
			},
		}).id;
		await rig.settle();
	});
	afterAll(async () => {
		svc?.close();
		server?.stop(true);
		await rig?.destroy();
	});

	test("at HIGH the table holds exactly the backend's listeners, loose pickup is off, and the mode says so", async () => {
		const t = table();
		expect(t).not.toBeNull();
		expect(t).toContain(`${rig.topo.hostV4} . ${port}`);
		expect(t).toContain(`${rig.topo.hostV6} . ${port}`);
		expect(t).toContain("synproxy");
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

	test("a spoofed SYN flood is answered from XDP while a real client connects; the accept queue never overflows", async () => {
		const before = rig.reasons();
		const ext = tcpExt();
		const flood = rig.topo.run(
			[
				"timeout",
				String(FLOOD_S),
				hping3 as string,
				"-q",
				"-S",
				"--flood",
				"--rand-source",
				"-c",
				String(FLOOD_PACKETS),
				"-p",
				String(port),
				rig.topo.hostV4,
			],
			(FLOOD_S + 5) * 1000,
		);
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
			["timeout", "4", hping3 as string, "-q", "-A", "-i", "u1000", "-c", "200", "-p", String(port), rig.topo.hostV4],
			8000,
		);
		const d = delta(before, rig.reasons());
		expect(d.COOKIE_BAD ?? 0).toBeGreaterThanOrEqual(150);
	}, 15_000);

	test("at LOW the table is gone, the sysctl is back and the mode is OFF", async () => {
		svc.services.backends.setProtectionLevel(svc.actor, backendId, "LOW");
		await rig.settle();
		expect(table()).toBeNull();
		expect(loose()).toBe(looseBefore);
		expect((await readyz()).synDefense).toBe("OFF");
		// Back to the kernel: a client still connects.
		expect(await rig.tcp(rig.topo.peerV4[0] as string, rig.topo.hostV4, port)).toBe("ok");
	}, 15_000);
});
