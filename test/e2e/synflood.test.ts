// A spoofed SYN flood against a protected TCP port at HIGH, with a real client connecting
// during it, in the fallback SYN defence (dataplane.syn_proxy = false here; on hosts whose
// kernel lacks what XDP SYN cookies need it is what runs, see synproxy.test.ts for the other):
// the program drops impossible sources and limits new connections per source, and the kernel's
// SYN cookies (net.ipv4.tcp_syncookies) answer the rest, so spoofed SYNs never hold listener
// state and a real client still connects and exchanges data. hping3 runs from the namespace,
// bounded by `timeout` and a packet count.
//
// The kernel answers spoofed SYNs with SYN-ACKs to random addresses; a policy rule for the
// topology's own host address sends everything from it back into the veth, so none of those
// answers leaves the pair. The rule and its table go away with the topology.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import {
	createRig,
	delta,
	type EchoServers,
	echoServers,
	HPING3,
	type Rig,
	synFlood,
	tcpExt,
} from "../helpers/dataplane.ts";
import { canUseNetns } from "../helpers/netns.ts";

const INDEX = 63;
const TABLE = String(4000 + INDEX);
const FLOOD_S = 5;
const FLOOD_PACKETS = 2_000_000;

const syncookies = (() => {
	try {
		return readFileSync("/proc/sys/net/ipv4/tcp_syncookies", "utf8").trim();
	} catch {
		return "0";
	}
})();
const skip =
	canUseNetns() ??
	(HPING3 === null
		? "hping3 not installed (apt-get install hping3)"
		: syncookies === "0"
			? "net.ipv4.tcp_syncookies is 0"
			: null);

let rig: Rig;
let echo: EchoServers;
let svc: ReturnType<Rig["services"]>;

function sh(args: string[]): void {
	const p = Bun.spawnSync(args, { stdout: "pipe", stderr: "pipe" });
	if (p.exitCode !== 0) throw new Error(`${args.join(" ")}: ${p.stderr.toString().trim()}`);
}

describe.skipIf(skip !== null)(`SYN flood defence${skip ? ` — skipped: ${skip}` : ""}`, () => {
	beforeAll(async () => {
		rig = await createRig(INDEX, { env: { PP_DATAPLANE_SYN_PROXY: "false" } });
		// Answers from the host address go back into the veth, never out of another interface.
		sh(["ip", "route", "add", "default", "dev", rig.topo.hostIf, "table", TABLE]);
		sh(["ip", "rule", "add", "from", rig.topo.hostV4, "lookup", TABLE, "priority", TABLE]);
		echo = await echoServers(rig.topo);
		await rig.start();
		svc = rig.services();
		svc.services.backends.create(svc.actor, {
			name: "tcp-game",
			type: "TCP",
			listeners: [{ address: rig.topo.hostV4, port: echo.tcpPort, protocol: "TCP" }],
			// The backend bucket would drop part of the flood and, with it, the real client's
			// SYNs: raised here so every spoofed SYN reaches the kernel's SYN cookies.
			protection: { level: "HIGH", globalRateLimit: { requestsPerSecond: 100_000_000, burstSize: 100_000_000 } },
		});
		await rig.settle();
	});
	afterAll(async () => {
		svc?.close();
		echo?.close();
		Bun.spawnSync(["ip", "rule", "del", "priority", TABLE]);
		Bun.spawnSync(["ip", "route", "flush", "table", TABLE]);
		await rig?.destroy();
	});

	test("the data plane reports the kernel's SYN cookies as the defence in place", async () => {
		const ready = (await (await fetch(`${rig.daemon?.url}/readyz`)).json()) as { dataplane: { synDefense?: string } };
		expect(ready.dataplane.synDefense).toBe("KERNEL_SYNCOOKIE");
		expect(JSON.parse(rig.cli(["status", "--json"]).stdout).synDefense).toBe("KERNEL_SYNCOOKIE");
	});

	test("a real client connects and exchanges data during a spoofed SYN flood; the accept queue never overflows", async () => {
		const [client] = rig.topo.peerV4 as [string];
		expect(await rig.tcp(client, rig.topo.hostV4, echo.tcpPort)).toBe("ok");
		const before = rig.reasons();
		const ext = tcpExt();
		const flood = synFlood(rig.topo, rig.topo.hostV4, echo.tcpPort, FLOOD_S, FLOOD_PACKETS);
		await Bun.sleep(1500);
		const during = await rig.tcp(client, rig.topo.hostV4, echo.tcpPort, 4000);
		await flood;
		const d = delta(before, rig.reasons());
		const after = tcpExt();
		const spoofed = (d.PASS ?? 0) + (d.INVALID ?? 0) + (d.CONN_RATELIMIT ?? 0);
		console.log(
			`SYN flood: ${spoofed} SYNs in ${FLOOD_S} s, ${d.PASS ?? 0} to the kernel's SYN cookies, ` +
				`${d.INVALID ?? 0} impossible sources dropped, ${d.CONN_RATELIMIT ?? 0} over the per-source rate; ` +
				`cookies sent ${(after.SyncookiesSent ?? 0) - (ext.SyncookiesSent ?? 0)}`,
		);
		expect(during).toBe("ok");
		expect(spoofed).toBeGreaterThan(10_000);
		expect((after.ListenOverflows ?? 0) - (ext.ListenOverflows ?? 0)).toBe(0);
		expect((after.SyncookiesSent ?? 0) - (ext.SyncookiesSent ?? 0)).toBeGreaterThan(0);
	}, 30_000);

	test("one source repeating SYNs is held to the level's connection rate", async () => {
		const [, , src] = rig.topo.peerV4 as [string, string, string];
		const before = rig.reasons();
		// hping3's exit code says whether it saw answers; the counters are what is judged.
		await rig.topo.run(
			[
				"timeout",
				"4",
				HPING3 as string,
				"-q",
				"-S",
				"-i",
				"u1000",
				"-c",
				"500",
				"-a",
				src,
				"-p",
				String(echo.tcpPort),
				rig.topo.hostV4,
			],
			8000,
		);
		const d = delta(before, rig.reasons());
		expect(d.CONN_RATELIMIT ?? 0).toBeGreaterThan(300);
	}, 15_000);
});
