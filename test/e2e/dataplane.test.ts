// The data plane end to end: a daemon attached to a veth in a namespace it does not share with
// the traffic source, configured through the CLI and the domain services, judged by real packets.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createRig, delta, type EchoServers, echoServers, type Rig } from "../helpers/dataplane.ts";
import { canUseNetns, sweepStale } from "../helpers/netns.ts";

const skip = canUseNetns();
let rig: Rig;
let echo: EchoServers;

describe.skipIf(skip !== null)(`the data plane on a veth (native XDP)${skip ? ` — skipped: ${skip}` : ""}`, () => {
	beforeAll(async () => {
		sweepStale();
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
		await Bun.sleep(600);
		const before = rig.reasons();
		expect(await rig.udp(bad, rig.topo.hostV4, echo.udpPort, 25, 800)).toBe(0);
		expect(await rig.udp(good, rig.topo.hostV4, echo.udpPort, 25)).toBe(25);
		expect(await rig.tcp(bad, rig.topo.hostV4, echo.tcpPort, 800)).not.toBe("ok");
		expect(await rig.ping(bad, rig.topo.hostV4, 3)).toBe(0);
		expect(await rig.ping(good, rig.topo.hostV4, 3)).toBe(3);
		const d = delta(before, rig.reasons());
		expect(d.BLOCK ?? 0).toBeGreaterThanOrEqual(25 + 3);
	});

	test("allowing a blocked source lets it through; unblocking removes the block", async () => {
		const [, bad] = rig.topo.peerV4 as [string, string];
		expect(rig.cli(["ip", "allow", bad]).exitCode).toBe(0);
		await Bun.sleep(600);
		let before = rig.reasons();
		expect(await rig.udp(bad, rig.topo.hostV4, echo.udpPort, 10)).toBe(10);
		expect(delta(before, rig.reasons()).ALLOW ?? 0).toBeGreaterThanOrEqual(10);
		expect(rig.cli(["ip", "disallow", bad]).exitCode).toBe(0);
		expect(rig.cli(["ip", "unblock", `${bad}/32`]).exitCode).toBe(0);
		await Bun.sleep(600);
		before = rig.reasons();
		expect(await rig.udp(bad, rig.topo.hostV4, echo.udpPort, 10)).toBe(10);
		const d = delta(before, rig.reasons());
		expect(d.BLOCK ?? 0).toBe(0);
		expect(d.ALLOW ?? 0).toBe(0);
	});

	test("IPv6 sources are blocked by IPv6 prefixes", async () => {
		const [good, bad] = rig.topo.peerV6 as [string, string];
		expect(rig.cli(["ip", "block", `${bad}/128`]).exitCode).toBe(0);
		await Bun.sleep(600);
		expect(await rig.udp(bad, rig.topo.hostV6, echo.udpPort, 10, 800)).toBe(0);
		expect(await rig.udp(good, rig.topo.hostV6, echo.udpPort, 10)).toBe(10);
		expect(rig.cli(["ip", "unblock", `${bad}/128`]).exitCode).toBe(0);
	});
});
