// The protection API end to end: a daemon attached to a veth, configured only through REST,
// judged by real packets from a pp- namespace. Rules, list entries, expiry, protection levels,
// a country rule from a GeoIP fixture, and a timeMatch window toggled at a minute boundary.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { createRig, delta, type EchoServers, echoServers, type Rig } from "../helpers/dataplane.ts";
import { canWriteMmdb, writeMmdb } from "../helpers/geoip.ts";
import { canUseNetns } from "../helpers/netns.ts";

const skip = canUseNetns() ?? canWriteMmdb();
let rig: Rig;
let echo: EchoServers;
let key: string;
let backendId: string;

const api = async (path: string, method = "GET", body?: unknown) => {
	const res = await fetch(`${rig.daemon?.url}${path}`, {
		method,
		headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
		body: body === undefined ? undefined : JSON.stringify(body),
	});
	return { status: res.status, body: res.status === 204 ? null : await res.json() };
};

describe.skipIf(skip !== null)(`protection API on a veth${skip ? ` — skipped: ${skip}` : ""}`, () => {
	beforeAll(async () => {
		rig = await createRig(20);
		// The fixture maps the namespace's third address to FR; nothing else is known.
		const geo = join(rig.dataDir, "geoip");
		mkdirSync(geo, { recursive: true });
		writeMmdb(geo, "country.mmdb", "country", { [`${rig.topo.peerV4[2]}/32`]: "FR", "192.0.2.0/24": "DE" });
		rig.env.PP_STATS_RULE_SAMPLE_SECONDS = "1";
		echo = await echoServers(rig.topo);
		await rig.start();
		const out = rig.cli(["apikey", "create", "--name", "e2e", "--permissions", "read,write,delete,admin"]);
		expect(out.exitCode).toBe(0);
		key = out.stdout.trim().split("\n").pop() as string;
		const created = await api("/v1/backends", "POST", {
			name: "udp-game",
			type: "UDP",
			listeners: [{ address: rig.topo.hostV4, port: echo.udpPort, protocol: "UDP" }],
			protection: { level: "OFF" },
		});
		expect(created.status).toBe(201);
		backendId = created.body.id;
		await rig.settle();
	}, 60_000);
	afterAll(async () => {
		echo?.close();
		await rig?.destroy();
	});

	test("a DROP rule created through REST drops the namespace's packets; its stats count them; deleting it restores", async () => {
		const [src] = rig.topo.peerV4 as [string];
		expect(await rig.udp(src, rig.topo.hostV4, echo.udpPort, 10)).toBe(10);
		const rule = await api("/v1/filters", "POST", {
			backendId,
			name: "lab",
			match: { sourceIps: [{ address: src, prefixLength: 32 }], protocols: ["UDP"] },
			action: "DROP",
		});
		expect(rule.status).toBe(201);
		await rig.settle();
		expect(await rig.udp(src, rig.topo.hostV4, echo.udpPort, 10, 800)).toBe(0);
		const got = await api(`/v1/filters/${rule.body.id}`);
		expect(got.body.stats.packetsMatched).toBe(10);
		expect(got.body.stats.lastMatched).not.toBeNull();
		await Bun.sleep(1300);
		const stats = await api(
			`/v1/filters/${rule.body.id}/stats?granularity=MINUTE&from=${new Date(Date.now() - 600_000).toISOString()}`,
		);
		expect(stats.body.packetsMatched).toBe(10);
		expect((await api(`/v1/filters/${rule.body.id}`, "DELETE")).status).toBe(204);
		await rig.settle();
		expect(await rig.udp(src, rig.topo.hostV4, echo.udpPort, 10)).toBe(10);
	});

	test("a RATE_LIMIT rule passes the burst and drops the rest", async () => {
		const [, src] = rig.topo.peerV4 as [string, string];
		const rule = await api("/v1/filters", "POST", {
			backendId,
			name: "slow",
			match: { protocols: ["UDP"] },
			action: "RATE_LIMIT",
			rateLimit: { requestsPerSecond: 5, burstSize: 5 },
		});
		await rig.settle();
		const got = await rig.udp(src, rig.topo.hostV4, echo.udpPort, 40, 800);
		expect(got).toBeGreaterThanOrEqual(5);
		expect(got).toBeLessThan(15);
		await api(`/v1/filters/${rule.body.id}`, "DELETE");
		await rig.settle();
	});

	test("a block through REST drops within 100 ms of the answer; unblocking restores; an expiring block ends on time", async () => {
		const [, src] = rig.topo.peerV4 as [string, string];
		const res = await api("/v1/ips/block", "POST", { ip: src, reason: "e2e" });
		expect(res.status).toBe(201);
		await Bun.sleep(100);
		expect(await rig.udp(src, rig.topo.hostV4, echo.udpPort, 5, 600)).toBe(0);
		expect((await api(`/v1/ips/block/${src}`, "DELETE")).status).toBe(204);
		await rig.settle();
		expect(await rig.udp(src, rig.topo.hostV4, echo.udpPort, 5)).toBe(5);
		await api("/v1/ips/block", "POST", { ip: `${src}/32`, durationSeconds: 2 });
		await rig.settle();
		expect(await rig.udp(src, rig.topo.hostV4, echo.udpPort, 5, 500)).toBe(0);
		await Bun.sleep(2100);
		expect(await rig.udp(src, rig.topo.hostV4, echo.udpPort, 5)).toBe(5);
		expect((await api("/v1/ips/blocked")).body.pagination.totalCount).toBe(0);
	});

	test("the protection level set through REST changes what the kernel drops within a second", async () => {
		const [, , , src] = rig.topo.peerV4 as [string, string, string, string];
		await api(`/v1/backends/${backendId}`, "PUT", {
			protection: { perIpRateLimit: { requestsPerSecond: 10, burstSize: 10 } },
		});
		await rig.settle();
		expect(await rig.udp(src, rig.topo.hostV4, echo.udpPort, 40, 800)).toBe(40);
		expect((await api(`/v1/backends/${backendId}/protection/level`, "POST", { level: "LOW" })).status).toBe(200);
		await Bun.sleep(1000);
		const got = await rig.udp(src, rig.topo.hostV4, echo.udpPort, 40, 800);
		expect(got).toBeLessThan(25);
		await api(`/v1/backends/${backendId}/protection/level`, "POST", { level: "OFF" });
		await rig.settle();
		const status = await api(`/v1/backends/${backendId}/status`);
		expect(status.body.packetsPerSecond).not.toBeNull();
		expect(status.body.health).toBe("UNKNOWN");
	});

	test("a country rule drops the address the fixture maps to that country, and only that one", async () => {
		const [good, , fr] = rig.topo.peerV4 as [string, string, string];
		const rule = await api("/v1/filters", "POST", {
			backendId,
			name: "no FR",
			match: { sourceCountries: ["FR"] },
			action: "DROP",
		});
		expect(rule.status).toBe(201);
		await rig.settle();
		const before = rig.reasons();
		expect(await rig.udp(fr, rig.topo.hostV4, echo.udpPort, 10, 800)).toBe(0);
		expect(await rig.udp(good, rig.topo.hostV4, echo.udpPort, 10)).toBe(10);
		expect(delta(before, rig.reasons()).RULE_DROP ?? 0).toBe(10);
		await api(`/v1/filters/${rule.body.id}`, "DELETE");
		const geo = await api(`/v1/backends/${backendId}`, "PUT", {
			protection: { geoIp: { mode: "ALLOW_LIST", countries: ["FR"] } },
		});
		expect(geo.status).toBe(200);
		await rig.settle();
		expect(await rig.udp(fr, rig.topo.hostV4, echo.udpPort, 5)).toBe(5);
		expect(await rig.udp(good, rig.topo.hostV4, echo.udpPort, 5, 800)).toBe(0);
		await api(`/v1/backends/${backendId}`, "PUT", { protection: { geoIp: { mode: "OFF", countries: [] } } });
		await rig.settle();
		expect(await rig.udp(good, rig.topo.hostV4, echo.udpPort, 5)).toBe(5);
	});

	test("a timeMatch window opens at the next minute boundary", async () => {
		const [src] = rig.topo.peerV4 as [string];
		const now = new Date();
		const next = (now.getUTCHours() * 60 + now.getUTCMinutes() + 1) % 1440;
		const rule = await api("/v1/filters", "POST", {
			backendId,
			name: "nightly",
			match: { timeMatch: { timeRanges: [{ startMinutes: next, endMinutes: (next + 1) % 1440 || 1440 }] } },
			action: "DROP",
		});
		expect(rule.status).toBe(201);
		await rig.settle();
		expect(await rig.udp(src, rig.topo.hostV4, echo.udpPort, 5)).toBe(5);
		const boundary = Math.ceil(Date.now() / 60_000) * 60_000;
		await Bun.sleep(boundary - Date.now() + 700);
		expect(await rig.udp(src, rig.topo.hostV4, echo.udpPort, 5, 800)).toBe(0);
		await api(`/v1/filters/${rule.body.id}`, "DELETE");
	}, 90_000);

	test("deleting the backend removes its services from the kernel", async () => {
		expect((await api(`/v1/backends/${backendId}`, "DELETE")).status).toBe(204);
		await rig.settle();
		const services = rig.map("pp_services");
		expect([...services.keys()]).toHaveLength(0);
		services.close();
	});
});
