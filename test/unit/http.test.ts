import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { hashKey } from "../../src/domain/apikeys/service.ts";
import { type TestCore, testCore } from "../helpers/app.ts";

let core: TestCore;
beforeEach(async () => {
	core = await testCore();
});
afterEach(() => core.close());

describe("service endpoints", () => {
	test("/healthz answers while the process is up", async () => {
		const res = await core.request("/healthz");
		expect(res.status).toBe(200);
		expect(await res.json()).toEqual({ status: "ok" });
	});

	test("/readyz is ready with the database open and the data plane deliberately disabled", async () => {
		const res = await core.request("/readyz");
		expect(res.status).toBe(200);
		expect(await res.json()).toMatchObject({ ready: true, database: "ok", dataplane: { state: "disabled" } });
	});

	test("/readyz is 503 while the data plane has failed", async () => {
		core.services.setDataPlaneReadiness(() => ({ state: "failed", interfaces: [], error: "attach failed" }));
		const res = await core.request("/readyz");
		expect(res.status).toBe(503);
		expect(await res.json()).toMatchObject({ ready: false, dataplane: { state: "failed" } });
	});

	test("an unknown route is a problem+json 404", async () => {
		const res = await core.request("/v1/nothing-here");
		expect(res.status).toBe(404);
		expect(res.headers.get("content-type")).toBe("application/problem+json");
		expect(await res.json()).toMatchObject({ status: 404, instance: "/v1/nothing-here" });
	});
});

describe("API keys", () => {
	test("a key authenticates for its organization", async () => {
		const res = await core.request("/v1/organizations/current", { key: core.key(["read"]) });
		expect(res.status).toBe(200);
		expect(await res.json()).toMatchObject({ id: core.organization.id, name: "Acme" });
	});

	test("a missing, malformed or unknown key is a 401 problem", async () => {
		for (const key of [undefined, "nonsense", `pp_live_${"A".repeat(40)}`]) {
			const res = await core.request("/v1/organizations/current", { key });
			expect(res.status).toBe(401);
			expect(res.headers.get("content-type")).toBe("application/problem+json");
			expect((await res.json()).type).toBe("https://api.pistonprotection.io/errors/authentication");
		}
	});

	test("keys have the pp_live_/pp_test_ prefix and only their hash is stored", () => {
		const live = core.key(["read"]);
		const sandbox = core.key(["read"], "test");
		expect(live).toMatch(/^pp_live_[0-9A-Za-z]{40}$/);
		expect(sandbox).toMatch(/^pp_test_[0-9A-Za-z]{40}$/);
		const rows = core.services.db.query<Record<string, unknown>, []>("SELECT * FROM api_keys").all();
		const stored = JSON.stringify(rows);
		expect(stored).not.toContain(live);
		expect(stored).not.toContain(sandbox);
		expect(rows.map((r) => r.key_hash)).toContain(hashKey(live));
	});

	test("a revoked or expired key no longer authenticates", async () => {
		const key = core.key(["read"]);
		core.services.db
			.prepare("UPDATE api_keys SET revoked_at = ? WHERE key_hash = ?")
			.run(new Date().toISOString(), hashKey(key));
		expect((await core.request("/v1/organizations/current", { key })).status).toBe(401);
		const key2 = core.key(["read"]);
		core.services.db
			.prepare("UPDATE api_keys SET expires_at = ? WHERE key_hash = ?")
			.run("2000-01-01T00:00:00Z", hashKey(key2));
		expect((await core.request("/v1/organizations/current", { key: key2 })).status).toBe(401);
	});

	test("a key without the read permission is refused with 403", async () => {
		const res = await core.request("/v1/organizations/current", { key: core.key(["write"]) });
		expect(res.status).toBe(403);
	});

	test("a key never carries permissions beyond its creator's role", async () => {
		const key = core.key(["read", "admin"]);
		core.services.db.prepare("UPDATE memberships SET role = 'VIEWER'").run();
		const actor = core.services.apiKeys.authenticate(key, { ipAddress: null, userAgent: null });
		expect(actor?.permissions).toEqual(["read"]);
	});

	test("creating a key is audited", () => {
		core.key(["read"]);
		const row = core.services.db
			.query<{ action: string }, []>("SELECT action FROM audit_logs WHERE action = 'apikey.created'")
			.get();
		expect(row?.action).toBe("apikey.created");
	});
});
