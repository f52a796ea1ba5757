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

describe("organizations, members and invitations", () => {
	test("each role may do what the role table says and no more", async () => {
		const org = core.organization.id;
		const roles = { ADMIN: "admin@example.com", MEMBER: "member@example.com", VIEWER: "viewer@example.com" } as const;
		const keys: Record<string, string> = {};
		for (const [role, email] of Object.entries(roles)) {
			const actor = await core.member(role as "ADMIN", email);
			keys[role] = core.keyFor(actor, [...actor.permissions]);
		}
		const target = await core.member("VIEWER", "target@example.com");
		const expectations: Array<[string, string, string, unknown, Record<string, number>]> = [
			["GET", `/v1/organizations/${org}/usage`, "", undefined, { ADMIN: 200, MEMBER: 200, VIEWER: 200 }],
			["GET", `/v1/organizations/${org}/members`, "", undefined, { ADMIN: 200, MEMBER: 200, VIEWER: 200 }],
			["PUT", `/v1/organizations/${org}`, "", { name: "Acme 2" }, { ADMIN: 200, MEMBER: 403, VIEWER: 403 }],
			["PUT", `/v1/organizations/${org}`, "", { tier: "BUSINESS" }, { ADMIN: 403, MEMBER: 403, VIEWER: 403 }],
			[
				"POST",
				`/v1/organizations/${org}/invitations`,
				"",
				{ email: "n@example.com", role: "VIEWER" },
				{ ADMIN: 201, MEMBER: 403, VIEWER: 403 },
			],
			["GET", "/v1/audit-logs", "", undefined, { ADMIN: 200, MEMBER: 403, VIEWER: 403 }],
			["GET", "/v1/api-keys", "", undefined, { ADMIN: 200, MEMBER: 200, VIEWER: 200 }],
			[
				"POST",
				"/v1/oauth/clients",
				"",
				{ name: "dash", redirectUris: ["https://app.example.com/cb"], scopes: ["read"] },
				{ ADMIN: 201, MEMBER: 403, VIEWER: 403 },
			],
			["GET", "/v1/oauth/clients", "", undefined, { ADMIN: 200, MEMBER: 403, VIEWER: 403 }],
			[
				"PUT",
				`/v1/organizations/${org}/members/${target.userId}`,
				"",
				{ role: "MEMBER" },
				{ MEMBER: 403, VIEWER: 403, ADMIN: 200 },
			],
			[
				"DELETE",
				`/v1/organizations/${org}/members/${target.userId}`,
				"",
				undefined,
				{ MEMBER: 403, VIEWER: 403, ADMIN: 204 },
			],
		];
		for (const [method, path, , body, byRole] of expectations) {
			for (const [role, status] of Object.entries(byRole)) {
				const res =
					body === undefined
						? await core.request(path, { method, key: keys[role] })
						: await core.json(path, method, body, keys[role]);
				expect(`${role} ${method} ${path} ${res.status}`).toBe(`${role} ${method} ${path} ${status}`);
			}
			const anonymous = body === undefined ? await core.request(path, { method }) : await core.json(path, method, body);
			expect(anonymous.status).toBe(401);
		}
		expect((await core.json(`/v1/organizations/${org}`, "PUT", { tier: "BUSINESS" }, core.key())).status).toBe(200);
		expect(core.services.organizations.get(org).tier).toBe("BUSINESS");
	});

	test("another organization's ids answer 404, never data", async () => {
		const other = await core.otherOrganization();
		const key = core.key();
		for (const path of [
			`/v1/organizations/${other.organization.id}/usage`,
			`/v1/organizations/${other.organization.id}/members`,
		]) {
			expect((await core.request(path, { key })).status).toBe(404);
		}
		expect((await core.json(`/v1/organizations/${other.organization.id}`, "PUT", { name: "x" }, key)).status).toBe(404);
		expect(
			(
				await core.request(`/v1/organizations/${core.organization.id}/members/${other.owner.userId}`, {
					method: "DELETE",
					key,
				})
			).status,
		).toBe(404);
	});

	test("the last OWNER can be neither demoted nor removed", async () => {
		const key = core.key();
		const path = `/v1/organizations/${core.organization.id}/members/${core.owner.userId}`;
		const demote = await core.json(path, "PUT", { role: "ADMIN" }, key);
		expect(demote.status).toBe(409);
		expect((await demote.json()).code).toBe("last_owner");
		expect((await core.request(path, { method: "DELETE", key })).status).toBe(409);
		expect((await core.json(path, "PUT", { role: "GOD" }, key)).status).toBe(400);
	});

	test("an invitation is accepted once and creates the user with the invited role", async () => {
		const res = await core.json(
			`/v1/organizations/${core.organization.id}/invitations`,
			"POST",
			{ email: "new@example.com", role: "MEMBER" },
			core.key(),
		);
		const { token } = await res.json();
		const accept = await core.json("/v1/invitations/accept", "POST", { token, password: "a new long password" });
		expect(accept.status).toBe(200);
		expect((await accept.json()).role).toBe("MEMBER");
		expect((await core.json("/v1/invitations/accept", "POST", { token, password: "a new long password" })).status).toBe(
			401,
		);
		const tokens = await core.json("/v1/auth/login", "POST", {
			email: "new@example.com",
			password: "a new long password",
		});
		expect(tokens.status).toBe(200);
	});

	test("mutations write audit entries with source and agent, listed with filters", async () => {
		const key = core.key();
		await core.app.handle(
			new Request(`http://localhost/v1/organizations/${core.organization.id}`, {
				method: "PUT",
				headers: { authorization: `Bearer ${key}`, "content-type": "application/json", "user-agent": "audit-test" },
				body: JSON.stringify({ name: "Audited" }),
			}),
		);
		const res = await core.request("/v1/audit-logs?resourceType=organization&pageSize=5", { key });
		const body = await res.json();
		expect(body.data[0]).toMatchObject({
			action: "organization.updated",
			userAgent: "audit-test",
			userId: core.owner.userId,
		});
		expect(body.pagination).toMatchObject({ page: 1, pageSize: 5 });
	});
});
