// The data plane end to end: a daemon attached to a veth in a namespace it does not share with
// the traffic source, configured through the CLI and the domain services, judged by real packets.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createRig, delta, type EchoServers, echoServers, type Rig } from "../helpers/dataplane.ts";
import { canUseNetns, createTopology, type Topology } from "../helpers/netns.ts";

const skip = canUseNetns();
let rig: Rig;
let echo: EchoServers;

describe.skipIf(skip !== null)(`the data plane on a veth (native XDP)${skip ? ` — skipped: ${skip}` : ""}`, () => {
	beforeAll(async () => {
		rig = await createRig(10);
		echo = await echoServers(rig.topo);
		await rig.start();
	});
	afterAll(async () => {
		echo?.close();
		await rig?.destroy();
	});

	test("readiness reports the program attached natively to the configured interface", async () => {
		const res = await fetch(`${rig.daemon?.url}/readyz`);
		expect(res.status).toBe(200);
		expect(await res.json()).toMatchObject({
			ready: true,
			dataplane: { state: "attached", interfaces: [{ name: rig.topo.hostIf, mode: "native" }] },
		});
		// A veth answers XDP_TX only while its peer runs XDP: the admin is told at attach.
		const warning = (rig.daemon?.logs() ?? "").split("\n").find((l) => l.includes("native XDP on a veth"));
		expect(JSON.parse(warning ?? "{}")).toMatchObject({ level: "warn", interface: rig.topo.hostIf });
	});

	test("traffic for no configured service passes untouched, and is counted", async () => {
		const before = rig.reasons();
		const [src] = rig.topo.peerV4 as [string];
		expect(await rig.udp(src, rig.topo.hostV4, echo.udpPort, 20)).toBe(20);
		const d = delta(before, rig.reasons());
		expect(d.NO_SERVICE ?? 0).toBeGreaterThanOrEqual(20);
		expect(d.BLOCK ?? 0).toBe(0);
	});

	test("a prefix blocked with the CLI is dropped in the kernel; other sources still pass", async () => {
		const [good, bad] = rig.topo.peerV4 as [string, string];
		expect(rig.cli(["ip", "block", `${bad}/32`, "--reason", "test"]).exitCode).toBe(0);
		await rig.settle();
		const before = rig.reasons();
		expect(await rig.udp(bad, rig.topo.hostV4, echo.udpPort, 25, 800)).toBe(0);
		expect(await rig.udp(good, rig.topo.hostV4, echo.udpPort, 25)).toBe(25);
		expect(await rig.tcp(bad, rig.topo.hostV4, echo.tcpPort, 800)).not.toBe("ok");
		expect(await rig.ping(bad, rig.topo.hostV4, 3)).toBe(0);
		expect(await rig.ping(good, rig.topo.hostV4, 3)).toBe(3);
		const d = delta(before, rig.reasons());
		expect(d.BLOCK ?? 0).toBeGreaterThanOrEqual(25 + 3);
	});

	test("status shows the attachment and the counters, read from the kernel", () => {
		const out = rig.cli(["status", "--json"]);
		expect(out.exitCode).toBe(0);
		const report = JSON.parse(out.stdout);
		expect(report.interfaces).toEqual([{ name: rig.topo.hostIf, attached: true, mode: "native", note: "" }]);
		expect(report.reasons.BLOCK.packets).toBeGreaterThanOrEqual(28);
		expect(rig.cli(["status"]).stdout).toContain(`interface ${rig.topo.hostIf}: attached (native)`);
	});

	test("allowing a blocked source lets it through; unblocking removes the block", async () => {
		const [, bad] = rig.topo.peerV4 as [string, string];
		expect(rig.cli(["ip", "allow", bad]).exitCode).toBe(0);
		await rig.settle();
		let before = rig.reasons();
		expect(await rig.udp(bad, rig.topo.hostV4, echo.udpPort, 10)).toBe(10);
		expect(delta(before, rig.reasons()).ALLOW ?? 0).toBeGreaterThanOrEqual(10);
		expect(rig.cli(["ip", "disallow", bad]).exitCode).toBe(0);
		expect(rig.cli(["ip", "unblock", `${bad}/32`]).exitCode).toBe(0);
		await rig.settle();
		before = rig.reasons();
		expect(await rig.udp(bad, rig.topo.hostV4, echo.udpPort, 10)).toBe(10);
		const d = delta(before, rig.reasons());
		expect(d.BLOCK ?? 0).toBe(0);
		expect(d.ALLOW ?? 0).toBe(0);
	});

	test("a block with a duration expires in the kernel on time and then leaves the list", async () => {
		const [, , src] = rig.topo.peerV4 as [string, string, string];
		expect(rig.cli(["ip", "block", src, "--duration", "2s"]).exitCode).toBe(0);
		await rig.settle();
		const placed = Date.now();
		expect(await rig.udp(src, rig.topo.hostV4, echo.udpPort, 5, 400)).toBe(0);
		// The kernel compares the expiry itself: traffic passes once it is reached, sweep or not.
		await Bun.sleep(Math.max(0, 2300 - (Date.now() - placed)));
		expect(await rig.udp(src, rig.topo.hostV4, echo.udpPort, 5)).toBe(5);
		const deadline = Date.now() + 8000;
		while (rig.cli(["ip", "list"]).stdout.includes(src) && Date.now() < deadline) await Bun.sleep(250);
		expect(rig.cli(["ip", "list"]).stdout).not.toContain(src);
	});

	test("IPv6 sources are blocked by IPv6 prefixes", async () => {
		const [good, bad] = rig.topo.peerV6 as [string, string];
		expect(rig.cli(["ip", "block", `${bad}/128`]).exitCode).toBe(0);
		await rig.settle();
		expect(await rig.udp(bad, rig.topo.hostV6, echo.udpPort, 10, 800)).toBe(0);
		expect(await rig.udp(good, rig.topo.hostV6, echo.udpPort, 10)).toBe(10);
		expect(rig.cli(["ip", "unblock", `${bad}/128`]).exitCode).toBe(0);
	});
});

describe.skipIf(skip !== null)("backends, protection levels and rules on a veth", () => {
	let r: Rig;
	let servers: EchoServers;
	let svc: ReturnType<Rig["services"]>;
	let backendId: string;

	beforeAll(async () => {
		r = await createRig(12);
		servers = await echoServers(r.topo);
		await r.start();
		svc = r.services();
		backendId = svc.services.backends.create(svc.actor, {
			name: "bedrock-ish",
			type: "UDP",
			listeners: [{ address: r.topo.hostV4, port: servers.udpPort, protocol: "UDP" }],
			protection: { level: "LOW", perIpRateLimit: { requestsPerSecond: 10, burstSize: 10 } },
		}).id;
		await r.settle();
	});
	afterAll(async () => {
		svc?.close();
		servers?.close();
		await r?.destroy();
	});

	test("a backend's per-source rate limit drops what exceeds its burst, per source", async () => {
		const [a, b] = r.topo.peerV4 as [string, string];
		const before = r.reasons();
		const gotA = await r.udp(a, r.topo.hostV4, servers.udpPort, 60, 800);
		const gotB = await r.udp(b, r.topo.hostV4, servers.udpPort, 5, 800);
		expect(gotA).toBeGreaterThanOrEqual(8);
		expect(gotA).toBeLessThanOrEqual(20);
		expect(gotB).toBe(5);
		const d = delta(before, r.reasons());
		expect(d.RATELIMIT ?? 0).toBe(60 - gotA);
		// status reads the same sources back from the kernel's source table.
		const index = svc.services.db
			.query<{ dp_index: number }, [string]>("SELECT dp_index FROM backends WHERE id = ?")
			.get(backendId)?.dp_index;
		const { topSources } = JSON.parse(r.cli(["status", "--json"]).stdout) as {
			topSources: { address: string; backend: number; packets: number; bytes: number; drops: number }[];
		};
		expect(topSources[0]).toEqual({
			address: a,
			backend: index as number,
			packets: 60,
			bytes: expect.any(Number),
			drops: 60 - gotA,
		});
		expect(topSources.find((s) => s.address === b)).toMatchObject({ backend: index, packets: 5, drops: 0 });
	});

	test("the backend's counters match the packets sent to it", async () => {
		const map = r.map("pp_backend_ctrs");
		const { backendCounters } = await import("../../src/dataplane/stats.ts");
		const index = svc.services.db
			.query<{ dp_index: number }, [string]>("SELECT dp_index FROM backends WHERE id = ?")
			.get(backendId)?.dp_index as number;
		const before = backendCounters(map, index);
		await Bun.sleep(1100);
		const got = await r.udp(r.topo.peerV4[2] as string, r.topo.hostV4, servers.udpPort, 30, 800);
		const after = backendCounters(map, index);
		map.close();
		expect(Number(after.rxPackets - before.rxPackets)).toBe(30);
		expect(Number(after.passPackets - before.passPackets)).toBe(got);
		expect(Number(after.dropPackets - before.dropPackets)).toBe(30 - got);
	});

	test("switching the level to OFF lifts the rate limit within one second", async () => {
		svc.services.backends.setProtectionLevel(svc.actor, backendId, "OFF");
		await Bun.sleep(1000);
		expect(await r.udp(r.topo.peerV4[0] as string, r.topo.hostV4, servers.udpPort, 60, 1000)).toBe(60);
	});

	test("MEDIUM drops fragments and reflection-port sources; LOW lets them through", async () => {
		const [src] = r.topo.peerV4 as [string];
		svc.services.backends.update(svc.actor, backendId, {
			protection: { level: "LOW", perIpRateLimit: { requestsPerSecond: 10000, burstSize: 10000 } },
		});
		await r.settle();
		expect(await r.udp(src, r.topo.hostV4, servers.udpPort, 3, 800, { size: 3000 })).toBe(3);
		expect(await r.udp(src, r.topo.hostV4, servers.udpPort, 3, 800, { srcPort: 123 })).toBe(3);
		svc.services.backends.setProtectionLevel(svc.actor, backendId, "MEDIUM");
		await r.settle();
		const before = r.reasons();
		expect(await r.udp(src, r.topo.hostV4, servers.udpPort, 3, 800, { size: 3000 })).toBe(0);
		expect(await r.udp(src, r.topo.hostV4, servers.udpPort, 3, 800, { srcPort: 123 })).toBe(0);
		const d = delta(before, r.reasons());
		expect(d.FRAGMENT ?? 0).toBeGreaterThanOrEqual(6);
		expect(d.REFLECTION ?? 0).toBe(3);
	});

	test("rules apply in priority order, and reordering them changes the outcome", async () => {
		const [, b, c] = r.topo.peerV4 as [string, string, string];
		const allow = svc.services.rules.create(svc.actor, {
			backendId,
			name: "trusted",
			priority: 10,
			match: { sourceIps: [{ address: b, prefixLength: 32 }] },
			action: "ALLOW",
		});
		const drop = svc.services.rules.create(svc.actor, {
			backendId,
			name: "lab range",
			priority: 20,
			match: { sourceIps: [{ address: "198.18.12.0", prefixLength: 24 }], protocols: ["UDP"] },
			action: "DROP",
		});
		await r.settle();
		let before = r.reasons();
		expect(await r.udp(b, r.topo.hostV4, servers.udpPort, 5, 800)).toBe(5);
		expect(await r.udp(c, r.topo.hostV4, servers.udpPort, 5, 800)).toBe(0);
		let d = delta(before, r.reasons());
		expect(d.RULE_ALLOW ?? 0).toBe(5);
		expect(d.RULE_DROP ?? 0).toBe(5);

		svc.services.rules.reorder(svc.actor, backendId, [drop.id, allow.id]);
		await r.settle();
		before = r.reasons();
		expect(await r.udp(b, r.topo.hostV4, servers.udpPort, 5, 800)).toBe(0);
		d = delta(before, r.reasons());
		expect(d.RULE_DROP ?? 0).toBe(5);

		svc.services.rules.delete(svc.actor, drop.id);
		svc.services.rules.delete(svc.actor, allow.id);
		await r.settle();
		expect(await r.udp(c, r.topo.hostV4, servers.udpPort, 5, 800)).toBe(5);
	});

	test("deleting the backend removes its service from the kernel", async () => {
		const services = r.map("pp_services");
		const before = [...services.keys()].length;
		svc.services.backends.delete(svc.actor, backendId);
		await r.settle();
		const after = [...services.keys()].length;
		services.close();
		expect(before).toBeGreaterThan(0);
		expect(after).toBe(0);
	});
});

describe.skipIf(skip !== null)("generic mode, fail-static and interface ownership", () => {
	let r: Rig;
	let servers: EchoServers;
	let bystander: Topology;

	beforeAll(async () => {
		r = await createRig(14, { xdpMode: "generic" });
		bystander = createTopology(15, 0);
		servers = await echoServers(r.topo);
		await r.start();
	});
	afterAll(async () => {
		servers?.close();
		bystander?.destroy();
		await r?.destroy();
	});

	test("generic (skb) mode attaches and filters the same way", async () => {
		const ready = await (await fetch(`${r.daemon?.url}/readyz`)).json();
		expect(ready.dataplane.interfaces).toEqual([{ name: r.topo.hostIf, mode: "generic" }]);
		const [good, bad] = r.topo.peerV4 as [string, string];
		expect(r.cli(["ip", "block", "198.18.14.3"]).exitCode).toBe(0);
		await r.settle();
		expect(await r.udp(bad, r.topo.hostV4, servers.udpPort, 10, 800)).toBe(0);
		expect(await r.udp(good, r.topo.hostV4, servers.udpPort, 10)).toBe(10);
	});

	test("an interface not named in the config is never touched", () => {
		const link = Bun.spawnSync(["ip", "-j", "link", "show", bystander.hostIf], { stdout: "pipe" });
		const [info] = JSON.parse(link.stdout.toString()) as Array<{ xdp?: unknown }>;
		expect(info?.xdp).toBeUndefined();
	});

	test("after SIGKILL the program keeps dropping; a restart re-adopts it and applies an unblock", async () => {
		const [good, bad] = r.topo.peerV4 as [string, string];
		expect(await r.daemon?.stop("SIGKILL")).not.toBe(0);
		r.daemon = null;
		expect(await r.udp(bad, r.topo.hostV4, servers.udpPort, 10, 800)).toBe(0);
		expect(await r.udp(good, r.topo.hostV4, servers.udpPort, 10)).toBe(10);
		const link = Bun.spawnSync(["ip", "-j", "link", "show", r.topo.hostIf], { stdout: "pipe" });
		const [info] = JSON.parse(link.stdout.toString()) as Array<{ xdp?: { prog?: { name?: string } } }>;
		expect(info?.xdp?.prog?.name).toBe("pp_xdp");

		expect(r.cli(["ip", "unblock", "198.18.14.3"]).exitCode).toBe(0);
		// Nothing applies the unblock while the daemon is down: fail-static keeps the last state.
		expect(await r.udp(bad, r.topo.hostV4, servers.udpPort, 5, 600)).toBe(0);
		const restarted = await r.start();
		await r.settle();
		expect(await r.udp(bad, r.topo.hostV4, servers.udpPort, 10)).toBe(10);
		expect(restarted.logs()).toContain("replaced the attached program");
	});
});
