// /v1/ips through real requests: the spec's bodies, v4 and v6, invalid_ip / invalid_cidr,
// expiry, bulk all-or-nothing, 404, permissions.
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { type TestCore, testCore } from "../helpers/app.ts";

let core: TestCore;
let key: string;
beforeEach(async () => {
	core = await testCore();
	key = core.key();
});
afterEach(() => core.close());

describe("IP management", () => {
	test("the spec's block body (with a backend) answers with ip, reason, blockedAt and expiresAt", async () => {
		const b = await (await core.json("/v1/backends", "POST", { name: "mc", type: "MINECRAFT_JAVA" }, key)).json();
		const res = await core.json(
			"/v1/ips/block",
			"POST",
			{ ip: "1.2.3.4", reason: "Manual block - suspicious activity", durationSeconds: 3600, backendId: b.id },
			key,
		);
		expect(res.status).toBe(201);
		const e = await res.json();
		expect(e).toMatchObject({ ip: "1.2.3.4", reason: "Manual block - suspicious activity", backendId: b.id });
		expect(Date.parse(e.expiresAt) - Date.parse(e.blockedAt)).toBeGreaterThanOrEqual(3_599_000);
		const list = await (await core.request(`/v1/ips/blocked?backendId=${b.id}`, { key })).json();
		expect(list.data.map((x: { ip: string }) => x.ip)).toEqual(["1.2.3.4"]);
	});

	test("the spec's allow body, v6 prefixes, listing and removal with an encoded slash", async () => {
		expect(
			(await core.json("/v1/ips/allow", "POST", { ip: "10.0.0.0/8", reason: "Internal network" }, key)).status,
		).toBe(201);
		expect((await core.json("/v1/ips/block", "POST", { ip: "2001:db8::/32" }, key)).status).toBe(201);
		const allowed = await (await core.request("/v1/ips/allowed", { key })).json();
		expect(allowed.data[0]).toMatchObject({ ip: "10.0.0.0/8", reason: "Internal network" });
		expect((await core.request("/v1/ips/allow/10.0.0.0%2F8", { method: "DELETE", key })).status).toBe(204);
		expect((await core.request("/v1/ips/block/2001:db8::%2F32", { method: "DELETE", key })).status).toBe(204);
		expect((await core.request("/v1/ips/block/2001:db8::%2F32", { method: "DELETE", key })).status).toBe(404);
	});

	test("bad addresses answer invalid_ip or invalid_cidr and change nothing", async () => {
		const cases: Array<[object, string, string]> = [
			[{ ip: "1.2.3.4.5" }, "ip", "invalid_ip"],
			[{ ip: "10.0.0.0/33" }, "ip", "invalid_cidr"],
			[{ ip: "1.2.3.4", durationSeconds: 0 }, "durationSeconds", "invalid_value"],
			[{ ip: "1.2.3.4", backendId: "bk_nope" }, "backendId", "backend_not_found"],
			[{ ip: "1.2.3.4", extra: 1 }, "extra", "invalid_value"],
		];
		for (const [body, field, code] of cases) {
			const res = await core.json("/v1/ips/block", "POST", body, key);
			expect(res.status).toBe(400);
			expect((await res.json()).errors[0]).toMatchObject({ field, code });
		}
		expect((await core.request("/v1/ips/block/not-an-ip", { method: "DELETE", key })).status).toBe(400);
		expect((await (await core.request("/v1/ips/blocked", { key })).json()).pagination.totalCount).toBe(0);
	});

	test("an expired entry disappears from the list", async () => {
		await core.json("/v1/ips/block", "POST", { ip: "192.0.2.1", durationSeconds: 1 }, key);
		expect((await (await core.request("/v1/ips/blocked", { key })).json()).pagination.totalCount).toBe(1);
		await Bun.sleep(1100);
		expect((await (await core.request("/v1/ips/blocked", { key })).json()).pagination.totalCount).toBe(0);
	});

	test("bulk block is all or nothing and one audit entry", async () => {
		const bad = await core.json("/v1/ips/block/bulk", "POST", { entries: [{ ip: "192.0.2.1" }, { ip: "nope" }] }, key);
		expect(bad.status).toBe(400);
		expect((await bad.json()).errors[0]).toMatchObject({ field: "entries[1].ip", code: "invalid_ip" });
		expect((await (await core.request("/v1/ips/blocked", { key })).json()).pagination.totalCount).toBe(0);
		const entries = Array.from({ length: 500 }, (_, i) => ({ ip: `198.51.${i >> 8}.${i & 255}`, reason: "bulk" }));
		const ok = await core.json("/v1/ips/block/bulk", "POST", { entries }, key);
		expect(ok.status).toBe(201);
		expect(await ok.json()).toEqual({ added: 500, updated: 0 });
		const page = await (await core.request("/v1/ips/blocked?page=2&pageSize=100", { key })).json();
		expect(page.pagination).toEqual({ page: 2, pageSize: 100, totalCount: 500, hasNext: true });
		const audits = core.services.db
			.query<{ n: number }, []>("SELECT COUNT(*) AS n FROM audit_logs WHERE action = 'ip.bulk_blocked'")
			.get()?.n;
		expect(audits).toBe(1);
	});

	test("the block list refuses entries beyond its map size", async () => {
		core.config.dataplane.map_sizes.blocklist = 16;
		const entries = Array.from({ length: 17 }, (_, i) => ({ ip: `203.0.113.${i}` }));
		const res = await core.json("/v1/ips/block/bulk", "POST", { entries }, key);
		expect((await res.json()).errors[0]).toMatchObject({ field: "entries[16].ip", code: "limit_exceeded" });
	});

	test("permissions: read keys list, cannot block; unblock needs delete", async () => {
		await core.json("/v1/ips/block", "POST", { ip: "192.0.2.9" }, key);
		const reader = core.key(["read"]);
		expect((await core.request("/v1/ips/blocked", { key: reader })).status).toBe(200);
		expect((await core.json("/v1/ips/block", "POST", { ip: "192.0.2.8" }, reader)).status).toBe(403);
		expect(
			(await core.request("/v1/ips/block/192.0.2.9", { method: "DELETE", key: core.key(["read", "write"]) })).status,
		).toBe(403);
		expect((await core.request("/v1/ips/blocked")).status).toBe(401);
	});
});
