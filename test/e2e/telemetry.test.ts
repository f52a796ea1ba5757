// Telemetry end to end: a daemon attached to a veth, real UDP traffic from a pp- namespace, and
// what the collector makes of it — traffic and time series over REST, Prometheus figures, and a
// bounded flood that starts an attack (type, underAttack, events delivered as webhooks,
// auto-mitigation raising and restoring the level) and ends when the flood stops; bounded hping3
// floods of bare ACKs and of ICMP echo requests are told apart by the per-backend traffic classes
// (ACK_FLOOD, ICMP_FLOOD).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createRig, type EchoServers, echoServers, HPING3, type Rig } from "../helpers/dataplane.ts";
import { canUseNetns } from "../helpers/netns.ts";

const skip = canUseNetns();
/** hping3 floods: 10,000 packets/s, at most FLOOD_PACKETS packets and FLOOD_S seconds. */
const FLOOD_S = 5;
const FLOOD_PACKETS = 40_000;

describe.skipIf(skip !== null)(`telemetry on a veth${skip ? ` — skipped: ${skip}` : ""}`, () => {
	let rig: Rig;
	let echo: EchoServers;
	let svc: ReturnType<Rig["services"]>;
	let key: string;
	let backendId: string;
	const hooks: Array<{ type: string; data: Record<string, unknown> }> = [];
	let hookServer: ReturnType<typeof Bun.serve>;

	const api = async (path: string) => {
		const res = await fetch(`${rig.daemon?.url}${path}`, { headers: { authorization: `Bearer ${key}` } });
		expect(res.status, path).toBe(200);
		// biome-ignore lint/suspicious/noExplicitAny: REST bodies, checked field by field below
		return (await res.json()) as Record<string, any>;
	};
	/** Polls until check passes (or the deadline), returning the last value. */
	async function until<T>(read: () => Promise<T> | T, check: (v: T) => boolean, timeoutMs = 15_000): Promise<T> {
		const deadline = Date.now() + timeoutMs;
		let v = await read();
		while (!check(v) && Date.now() < deadline) {
			await Bun.sleep(250);
			v = await read();
		}
		return v;
	}
	const prometheus = async (name: string) => {
		const text = await (await fetch(`${rig.daemon?.url}/metrics`)).text();
		const line = text.split("\n").find((l) => l.startsWith(`${name}{backend_id="${backendId}"`));
		return line ? Number(line.split(" ").at(-1)) : null;
	};

	beforeAll(async () => {
		hookServer = Bun.serve({
			hostname: "127.0.0.1",
			port: 0,
			async fetch(req) {
				hooks.push((await req.json()) as { type: string; data: Record<string, unknown> });
				return new Response("ok");
			},
		});
		rig = await createRig(100);
		Object.assign(rig.env, {
			PP_TELEMETRY_FLUSH_SECONDS: "1",
			PP_TELEMETRY_SOURCE_SCAN_SECONDS: "1",
			PP_TELEMETRY_ATTACK_MIN_PPS: "400",
			PP_TELEMETRY_ATTACK_DROPPED_PPS: "1000000",
			PP_TELEMETRY_ATTACK_START_SECONDS: "2",
			PP_TELEMETRY_ATTACK_QUIET_SECONDS: "3",
		});
		echo = await echoServers(rig.topo);
		await rig.start();
		svc = rig.services();
		// The test polls the API every 250 ms: an unlimited tier keeps the rate limiter out of it.
		svc.services.organizations.update(svc.actor, svc.actor.organizationId, { tier: "ENTERPRISE" });
		key = svc.services.apiKeys.create(svc.actor, { name: "e2e", permissions: ["read"], environment: "live" }).key;
		backendId = svc.services.backends.create(svc.actor, {
			name: "bedrock-ish",
			type: "UDP",
			listeners: [{ address: rig.topo.hostV4, port: echo.udpPort, protocol: "UDP" }],
			protection: {
				level: "LOW",
				perIpRateLimit: { requestsPerSecond: 100_000, burstSize: 100_000 },
				autoMitigate: { enabled: true, level: "HIGH" },
			},
		}).id;
		svc.services.webhooks.create(svc.actor, {
			url: `http://127.0.0.1:${hookServer.port}/hook`,
			events: ["attack.detected", "attack.escalated", "attack.mitigated", "backend.under_attack"],
		});
		await rig.settle();
		// Two collector readings with the backend in place: its counters have a baseline.
		await Bun.sleep(2200);
	}, 60_000);
	/**
	 * A bounded hping3 flood from the namespace (`timeout` and a packet count) while polling the
	 * backend's attacks: the type seen while the attack was open, then waits for it to end.
	 */
	async function flood(id: string, args: string[]): Promise<string | null> {
		const run = rig.topo.run(
			["timeout", String(FLOOD_S), HPING3 as string, "-q", "-i", "u100", "-c", String(FLOOD_PACKETS), ...args],
			(FLOOD_S + 5) * 1000,
		);
		let seen: string | null = null;
		let done = false;
		run.then(() => {
			done = true;
		});
		while (!done) {
			const a = await api(`/v1/metrics/attacks?backendId=${id}`);
			if (a.metrics.underAttack) seen = a.metrics.attackType;
			await Bun.sleep(250);
		}
		await run;
		const ended = await until(
			() => api(`/v1/metrics/attacks?backendId=${id}`),
			(a) => a.metrics.underAttack === false,
		);
		expect(ended.metrics.underAttack).toBe(false);
		return seen;
	}

	afterAll(async () => {
		svc?.close();
		echo?.close();
		await rig?.destroy();
		hookServer?.stop(true);
	});

	test("packets sent to a backend show up in traffic, time series and Prometheus with the right values", async () => {
		const [src] = rig.topo.peerV4 as [string];
		// Every datagram reaches the kernel's counters; a reply may still be lost on the way back.
		const replies = await rig.udp(src, rig.topo.hostV4, echo.udpPort, 200, 1500, { size: 100 });
		expect(replies).toBeGreaterThan(150);
		const traffic = await until(
			() => api(`/v1/metrics/traffic?backendId=${backendId}`),
			(t) => t.metrics.packetsIn >= 200,
		);
		// 100 bytes of payload: 142-byte frames (Ethernet, IPv4, UDP headers), as XDP counts them.
		expect(traffic.metrics).toMatchObject({
			packetsIn: 200,
			requestsTotal: 200,
			packetsDropped: 0,
			bytesIn: 200 * 142,
		});
		const series = await api(
			`/v1/metrics/timeseries?backendId=${backendId}&granularity=MINUTE&metrics=packets_per_second,requests_per_second`,
		);
		const [pps, rps] = series.series as Array<{ points: Array<{ value: number }> }>;
		expect(pps?.points.length).toBeGreaterThan(0);
		expect(Math.max(...(rps?.points ?? []).map((p) => p.value))).toBeGreaterThan(0);
		expect(await prometheus("pistonprotection_backend_received_packets_total")).toBe(200);
		expect(await prometheus("pistonprotection_backend_requests_total")).toBe(200);
		expect(await prometheus("pistonprotection_backend_received_bytes_total")).toBe(200 * 142);
		// The HTTPS listener never serves /metrics; here only the loopback listener exists, which does.
		expect((await fetch(`${rig.daemon?.url}/metrics`)).headers.get("content-type")).toContain("text/plain");
	}, 30_000);

	test("a bounded flood starts a UDP_FLOOD attack; stopping it ends the attack; level, status and events follow", async () => {
		const [, flooder] = rig.topo.peerV4 as [string, string];
		// At most 8 seconds and 150 batches of 3,000 datagrams.
		const stopAt = Date.now() + 8000;
		let raised = false;
		for (let batch = 0; batch < 150 && Date.now() < stopAt; batch++) {
			await rig.udp(flooder, rig.topo.hostV4, echo.udpPort, 3000, 0, { size: 200 });
			if ((await api(`/v1/backends/${backendId}/status`)).underAttack) raised = true;
		}
		expect(raised).toBe(true);
		const during = await api(`/v1/metrics/attacks?backendId=${backendId}`);
		expect(during.metrics).toMatchObject({ underAttack: true, attackType: "UDP_FLOOD" });
		expect(svc.services.backends.get(svc.actor, backendId).protection.level).toBe("HIGH");

		// The flood stopped: quiet for attack_quiet_seconds ends the attack and restores the level.
		const ended = await until(
			() => api(`/v1/metrics/attacks?backendId=${backendId}`),
			(a) => a.metrics.underAttack === false,
		);
		const record = ended.attacks[0];
		expect(record).toMatchObject({ active: false, attackType: "UDP_FLOOD" });
		expect(record.peakPps).toBeGreaterThan(400);
		expect(record.uniqueSources).toBeGreaterThanOrEqual(1);
		expect(record.topSources[0]).toMatchObject({ ip: flooder });
		expect(record.actions.map((a: { action: string }) => a.action)).toEqual([
			"DETECTED",
			"ESCALATED",
			"RESTORED",
			"ENDED",
		]);
		expect((await api(`/v1/backends/${backendId}/status`)).underAttack).toBe(false);
		expect(svc.services.backends.get(svc.actor, backendId).protection.level).toBe("LOW");
		expect(await prometheus("pistonprotection_backend_under_attack")).toBe(0);

		const types = (await until(
			() => hooks.map((h) => h.type),
			(t) => t.includes("attack.mitigated") && t.filter((x) => x === "backend.under_attack").length === 2,
		)) as string[];
		// Deliveries run concurrently, so their arrival order is not the events' order.
		expect([...types].sort()).toEqual([
			"attack.detected",
			"attack.escalated",
			"attack.mitigated",
			"backend.under_attack",
			"backend.under_attack",
		]);
		const hook = (type: string) => hooks.find((h) => h.type === type)?.data;
		expect(hook("attack.detected")).toMatchObject({ backendId, attackType: "UDP_FLOOD", mitigationStatus: "ACTIVE" });
		expect(hook("attack.escalated")).toMatchObject({ protectionLevel: "HIGH", previousLevel: "LOW" });
		expect(hook("attack.mitigated")).toMatchObject({ backendId, mitigationStatus: "MITIGATED" });
		expect(hooks.filter((h) => h.type === "backend.under_attack").map((h) => h.data.underAttack)).toEqual([
			true,
			false,
		]);
	}, 60_000);

	test.skipIf(HPING3 === null)(
		`an ICMP flood at the backend's address is ICMP_FLOOD${HPING3 ? "" : " — skipped: hping3 not installed"}`,
		async () => {
			// ICMP has no port: it counts for the lowest-numbered backend on the address, this one.
			expect(await flood(backendId, ["--icmp", rig.topo.hostV4])).toBe("ICMP_FLOOD");
			const attack = (await api(`/v1/metrics/attacks?backendId=${backendId}`)).attacks[0];
			expect(attack).toMatchObject({ active: false, attackType: "ICMP_FLOOD" });
			expect(await prometheus("pistonprotection_backend_class_received_packets_total")).not.toBeNull();
			const text = await (await fetch(`${rig.daemon?.url}/metrics`)).text();
			const icmp = text
				.split("\n")
				.find(
					(l) =>
						l.startsWith(`pistonprotection_backend_class_received_packets_total{backend_id="${backendId}"`) &&
						l.includes('class="icmp"'),
				);
			expect(Number(icmp?.split(" ").at(-1))).toBeGreaterThan(1000);
		},
		60_000,
	);

	test.skipIf(HPING3 === null)(
		`a flood of bare ACKs at a TCP backend is ACK_FLOOD${HPING3 ? "" : " — skipped: hping3 not installed"}`,
		async () => {
			const tcpId = svc.services.backends.create(svc.actor, {
				name: "tcp-ish",
				type: "TCP",
				listeners: [{ address: rig.topo.hostV4, port: echo.tcpPort, protocol: "TCP" }],
				protection: { level: "LOW", perIpRateLimit: { requestsPerSecond: 100_000, burstSize: 100_000 } },
			}).id;
			await rig.settle();
			// Two collector readings with the backend in place before the flood.
			await Bun.sleep(2200);
			expect(await flood(tcpId, ["--ack", "-p", String(echo.tcpPort), rig.topo.hostV4])).toBe("ACK_FLOOD");
			const series = await api(
				`/v1/metrics/timeseries?backendId=${tcpId}&granularity=MINUTE&metrics=tcp_ack_packets_per_second,tcp_syn_packets_per_second`,
			);
			const [ack, syn] = series.series as Array<{ points: Array<{ value: number }> }>;
			expect(Math.max(...(ack?.points ?? []).map((p) => p.value))).toBeGreaterThan(0);
			expect(Math.max(0, ...(syn?.points ?? []).map((p) => p.value))).toBe(0);
		},
		60_000,
	);
});
