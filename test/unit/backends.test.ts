// /v1/backends through real requests: the spec's example bodies, validation, 404, 409, permissions.
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { type TestCore, testCore } from "../helpers/app.ts";

const SPEC_CREATE = {
	name: "mc.example.com",
	type: "MINECRAFT_JAVA",
	origins: [
		{
			name: "primary",
			address: "192.168.1.100",
			port: 25565,
			weight: 100,
			priority: 1,
			settings: {
				connectTimeoutMs: 5000,
				readTimeoutMs: 30000,
				writeTimeoutMs: 30000,
				maxConnections: 1000,
				proxyProtocol: 2,
			},
		},
		{ name: "secondary", address: "192.168.1.101", port: 25565, weight: 100, priority: 2 },
	],
	loadBalancer: { algorithm: "ROUND_ROBIN", stickySessions: false },
	healthCheck: {
		enabled: true,
		intervalSeconds: 30,
		timeoutSeconds: 10,
		healthyThreshold: 2,
		unhealthyThreshold: 3,
		minecraft: { queryStatus: true },
	},
	protection: {
		enabled: true,
		level: "MEDIUM",
		perIpRateLimit: { requestsPerSecond: 1000, burstSize: 2000 },
		geoIp: { mode: "OFF", countries: ["CN", "RU"] },
		challenge: { enabled: true, type: "JAVASCRIPT", difficulty: 5 },
	},
	domains: ["mc.example.com"],
};

let core: TestCore;
let key: string;
beforeEach(async () => {
	core = await testCore();
	key = core.key();
});
afterEach(() => core.close());

const create = (body: unknown = SPEC_CREATE, k = key) => core.json("/v1/backends", "POST", body, k);

describe("backends", () => {
	test("the spec's create body is stored and returned with every field, listening on 25565/tcp", async () => {
		const res = await create();
		expect(res.status).toBe(201);
		const b = await res.json();
		expect(b.id).toMatch(/^bk_/);
		expect(b).toMatchObject({
			name: "mc.example.com",
			type: "MINECRAFT_JAVA",
			listeners: [{ address: "", port: 25565, protocol: "TCP" }],
			loadBalancer: SPEC_CREATE.loadBalancer,
			healthCheck: SPEC_CREATE.healthCheck,
			protection: SPEC_CREATE.protection,
			domains: ["mc.example.com"],
		});
		expect(b.origins[0]).toMatchObject({ ...SPEC_CREATE.origins[0], enabled: true, healthStatus: "UNKNOWN" });
		expect(b.status).toMatchObject({ health: "UNKNOWN", healthyOrigins: 0, totalOrigins: 2, underAttack: false });
		// No data plane in this process: rates are not invented.
		expect(b.status.packetsPerSecond).toBeNull();
		const got = await (await core.request(`/v1/backends/${b.id}`, { key })).json();
		expect(got.origins).toHaveLength(2);
	});

	test("the spec's geoIp BLOCK_LIST example needs a country database and says so", async () => {
		const res = await create({
			...SPEC_CREATE,
			protection: { ...SPEC_CREATE.protection, geoIp: { mode: "BLOCK_LIST", countries: ["CN", "RU"] } },
		});
		expect(res.status).toBe(400);
		expect((await res.json()).errors[0]).toMatchObject({ field: "protection.geoIp", code: "geoip_unavailable" });
	});

	test("Bedrock defaults to 19132/udp; TCP without listeners is refused naming the field", async () => {
		const bedrock = await (await create({ name: "be", type: "MINECRAFT_BEDROCK" })).json();
		expect(bedrock.listeners).toEqual([{ address: "", port: 19132, protocol: "UDP" }]);
		const tcp = await create({ name: "t", type: "TCP" });
		expect(tcp.status).toBe(400);
		expect((await tcp.json()).errors[0]).toMatchObject({ field: "listeners", code: "required" });
	});

	test("validation errors name the field and change nothing", async () => {
		const cases: Array<[unknown, string, string]> = [
			[{ ...SPEC_CREATE, type: "FTP" }, "type", "invalid_enum"],
			[
				{ ...SPEC_CREATE, origins: [{ name: "a", address: "1.2.3.4", port: 70000 }] },
				"origins[0].port",
				"invalid_port",
			],
			[
				{ name: "x", type: "UDP", listeners: [{ address: "1.2.3", port: 1, protocol: "UDP" }] },
				"listeners[0].address",
				"invalid_ip",
			],
			[{ ...SPEC_CREATE, bogus: 1 }, "bogus", "invalid_value"],
			[
				{ ...SPEC_CREATE, protection: { geoIp: { mode: "ALLOW_LIST", countries: [] } } },
				"protection.geoIp.countries",
				"invalid_value",
			],
		];
		for (const [body, field, code] of cases) {
			const res = await create(body);
			expect(res.status).toBe(400);
			expect(res.headers.get("content-type")).toBe("application/problem+json");
			const p = await res.json();
			expect(p.errors.map((e: { field: string }) => e.field)).toContain(field);
			expect(p.errors.find((e: { field: string }) => e.field === field).code).toBe(code);
		}
		expect((await (await core.request("/v1/backends", { key })).json()).pagination.totalCount).toBe(0);
	});

	test("a duplicate name and a taken port answer 409 with the spec's codes", async () => {
		await create();
		const dup = await create();
		expect(dup.status).toBe(409);
		expect((await dup.json()).code).toBe("duplicate_name");
		const port = await create({ name: "other", type: "TCP", listeners: [{ port: 25565, protocol: "TCP" }] });
		expect(port.status).toBe(409);
		expect((await port.json()).code).toBe("port_in_use");
	});

	test("list filters by type, status and search, paginates, and refuses unknown filters", async () => {
		await create();
		await create({ name: "be", type: "MINECRAFT_BEDROCK", domains: ["bedrock.example.org"] });
		const all = await (await core.request("/v1/backends?pageSize=1", { key })).json();
		expect(all.pagination).toEqual({ page: 1, pageSize: 1, totalCount: 2, hasNext: true });
		const java = await (await core.request("/v1/backends?type=MINECRAFT_JAVA", { key })).json();
		expect(java.data.map((b: { name: string }) => b.name)).toEqual(["mc.example.com"]);
		const search = await (await core.request("/v1/backends?search=bedrock.example", { key })).json();
		expect(search.data.map((b: { name: string }) => b.name)).toEqual(["be"]);
		expect((await (await core.request("/v1/backends?status=unknown", { key })).json()).pagination.totalCount).toBe(2);
		expect((await (await core.request("/v1/backends?status=healthy", { key })).json()).pagination.totalCount).toBe(0);
		expect((await core.request("/v1/backends?status=sick", { key })).status).toBe(400);
		expect((await core.request("/v1/backends?type=FTP", { key })).status).toBe(400);
		expect((await core.request("/v1/backends?pageSize=101", { key })).status).toBe(400);
	});

	test("update is partial; the spec's update body changes name and level only", async () => {
		const b = await (await create()).json();
		const res = await core.json(
			`/v1/backends/${b.id}`,
			"PUT",
			{ name: "mc.example.com", protection: { level: "HIGH" } },
			key,
		);
		expect(res.status).toBe(200);
		const u = await res.json();
		expect(u.protection).toMatchObject({ level: "HIGH", perIpRateLimit: { requestsPerSecond: 1000, burstSize: 2000 } });
		expect(u.origins).toHaveLength(2);
		expect((await core.json("/v1/backends/bk_nope", "PUT", { name: "x" }, key)).status).toBe(404);
	});

	test("origins are added, updated and removed with the spec's bodies; names are unique per backend", async () => {
		const b = await (await create()).json();
		const add = await core.json(
			`/v1/backends/${b.id}/origins`,
			"POST",
			{ name: "tertiary", address: "192.168.1.102", port: 25565, weight: 50, priority: 3 },
			key,
		);
		expect(add.status).toBe(201);
		const origin = await add.json();
		expect(origin).toMatchObject({ name: "tertiary", weight: 50, priority: 3, enabled: true });
		expect(
			(await core.json(`/v1/backends/${b.id}/origins`, "POST", { name: "tertiary", address: "10.0.0.1", port: 1 }, key))
				.status,
		).toBe(409);
		const upd = await core.json(
			`/v1/backends/${b.id}/origins/${origin.id}`,
			"PUT",
			{ weight: 100, enabled: false },
			key,
		);
		expect(await upd.json()).toMatchObject({ weight: 100, enabled: false, address: "192.168.1.102" });
		expect((await core.json(`/v1/backends/${b.id}/origins/${origin.id}`, "PUT", { port: 0 }, key)).status).toBe(400);
		expect((await core.request(`/v1/backends/${b.id}/origins/${origin.id}`, { method: "DELETE", key })).status).toBe(
			204,
		);
		expect((await core.request(`/v1/backends/${b.id}/origins/${origin.id}`, { method: "DELETE", key })).status).toBe(
			404,
		);
		const audit = core.services.db
			.query<{ action: string }, []>("SELECT action FROM audit_logs WHERE action LIKE 'backend.origin%' ORDER BY rowid")
			.all()
			.map((r) => r.action);
		expect(audit).toEqual(["backend.origin_added", "backend.origin_updated", "backend.origin_removed"]);
	});

	test("a level challenge is refused for backend types without one, on create and when the type changes", async () => {
		for (const [type, port, protocol] of [
			["HTTPS", 9443, "TCP"],
			["MINECRAFT_BEDROCK", 19132, "UDP"],
			["TCP", 9000, "TCP"],
		] as const) {
			const res = await create({
				name: `c-${type}`,
				type,
				listeners: [{ port, protocol }],
				protection: { challenge: { enabled: true, type: "PROOF_OF_WORK", difficulty: 4 } },
			});
			expect(res.status).toBe(400);
			expect((await res.json()).errors).toEqual([
				expect.objectContaining({ field: "protection.challenge.enabled", code: "unsupported" }),
			]);
		}
		const web = await (
			await create({
				name: "web",
				type: "HTTP",
				listeners: [{ port: 8081, protocol: "TCP" }],
				protection: { challenge: { enabled: true, type: "PROOF_OF_WORK", difficulty: 4 } },
			})
		).json();
		const captcha = await core.json(
			`/v1/backends/${web.id}`,
			"PUT",
			{ protection: { challenge: { enabled: true, type: "CAPTCHA" } } },
			key,
		);
		expect(captcha.status).toBe(400);
		expect((await captcha.json()).errors[0]).toMatchObject({ field: "protection.challenge.type", code: "unsupported" });
		const toTls = await core.json(`/v1/backends/${web.id}`, "PUT", { type: "HTTPS" }, key);
		expect(toTls.status).toBe(400);
		expect((await toTls.json()).errors[0]).toMatchObject({ field: "protection.challenge.enabled" });
		const off = await core.json(
			`/v1/backends/${web.id}`,
			"PUT",
			{ type: "HTTPS", protection: { challenge: { enabled: false } } },
			key,
		);
		expect(off.status).toBe(200);
		expect((await off.json()).type).toBe("HTTPS");
	});

	test("a backend with REDIRECT rules keeps its honeypot origin: removing, renaming or replacing it is refused naming the field", async () => {
		const game = {
			name: "game",
			type: "TCP",
			listeners: [{ port: 30000, protocol: "TCP" }],
			origins: [
				{ name: "main", address: "192.0.2.10", port: 30000 },
				{ name: "Honeypot", address: "192.0.2.99", port: 30000 },
			],
		};
		const twoHoneypots = await create({
			...game,
			origins: [...game.origins, { name: "honeypot", address: "192.0.2.98", port: 1 }],
		});
		expect(twoHoneypots.status).toBe(400);
		expect((await twoHoneypots.json()).errors[0]).toMatchObject({ field: "origins", code: "duplicate_name" });
		const b = await (await create(game)).json();
		const honeypot = b.origins.find((o: { name: string }) => o.name === "Honeypot");
		const another = await core.json(
			`/v1/backends/${b.id}/origins`,
			"POST",
			{ name: "HONEYPOT", address: "192.0.2.97", port: 1 },
			key,
		);
		expect(another.status).toBe(400);
		expect((await another.json()).errors[0]).toMatchObject({ field: "name", code: "duplicate_name" });
		const rule = await core.json("/v1/filters", "POST", { backendId: b.id, name: "trap", action: "REDIRECT" }, key);
		expect(rule.status).toBe(201);
		const auditBefore = core.services.db.query<{ n: number }, []>("SELECT COUNT(*) AS n FROM audit_logs").get()?.n;

		const refusals = [
			[await core.request(`/v1/backends/${b.id}/origins/${honeypot.id}`, { method: "DELETE", key }), "originId"],
			[await core.json(`/v1/backends/${b.id}/origins/${honeypot.id}`, "PUT", { name: "decoy" }, key), "name"],
			[await core.json(`/v1/backends/${b.id}`, "PUT", { origins: [game.origins[0]] }, key), "origins"],
		] as const;
		for (const [res, field] of refusals) {
			expect(res.status).toBe(400);
			expect(res.headers.get("content-type")).toContain("application/problem+json");
			const problem = await res.json();
			expect(problem.errors).toEqual([
				{ field, code: "honeypot_required", message: expect.stringContaining("REDIRECT") },
			]);
		}
		// Nothing changed, nothing audited.
		const after = await (await core.request(`/v1/backends/${b.id}`, { key })).json();
		expect(after.origins.map((o: { name: string }) => o.name).sort()).toEqual(["Honeypot", "main"]);
		expect(core.services.db.query<{ n: number }, []>("SELECT COUNT(*) AS n FROM audit_logs").get()?.n).toBe(
			auditBefore,
		);

		// Other changes to the honeypot are fine; without REDIRECT rules it may go.
		const moved = await core.json(
			`/v1/backends/${b.id}/origins/${honeypot.id}`,
			"PUT",
			{ name: "honeypot", port: 30001 },
			key,
		);
		expect(moved.status).toBe(200);
		const ruleId = (await rule.json()).id;
		expect((await core.request(`/v1/filters/${ruleId}`, { method: "DELETE", key })).status).toBe(204);
		expect((await core.request(`/v1/backends/${b.id}/origins/${honeypot.id}`, { method: "DELETE", key })).status).toBe(
			204,
		);
	});

	test("the protection level endpoint takes the spec's body and bumps the data plane's revision", async () => {
		const b = await (await create()).json();
		const before =
			core.services.db
				.query<{ revision: number }, []>("SELECT revision FROM dataplane_revisions WHERE section = 'services'")
				.get()?.revision ?? 0;
		const res = await core.json(`/v1/backends/${b.id}/protection/level`, "POST", { level: "UNDER_ATTACK" }, key);
		expect(res.status).toBe(200);
		expect((await res.json()).protection.level).toBe("UNDER_ATTACK");
		const after =
			core.services.db
				.query<{ revision: number }, []>("SELECT revision FROM dataplane_revisions WHERE section = 'services'")
				.get()?.revision ?? 0;
		expect(after).toBeGreaterThan(before);
		const bad = await core.json(`/v1/backends/${b.id}/protection/level`, "POST", { level: "MAX" }, key);
		expect((await bad.json()).errors[0]).toMatchObject({ field: "level", code: "invalid_enum" });
	});

	test("status reports the spec's fields; health stays UNKNOWN without the proxy", async () => {
		const b = await (await create()).json();
		const s = await (await core.request(`/v1/backends/${b.id}/status`, { key })).json();
		expect(Object.keys(s).sort()).toEqual(
			[
				"activeConnections",
				"bytesPerSecond",
				"health",
				"healthyOrigins",
				"lastUpdated",
				"packetsPerSecond",
				"requestsPerSecond",
				"totalOrigins",
				"underAttack",
			].sort(),
		);
		expect(s).toMatchObject({ health: "UNKNOWN", totalOrigins: 2, activeConnections: null });
		core.services.setProxyView({
			originHealth: () => "HEALTHY",
			activeConnections: () => 7,
			counters: () => null,
			refusedUnrouted: () => ({ limit: 0, routing: 0 }),
		});
		const live = await (await core.request(`/v1/backends/${b.id}/status`, { key })).json();
		expect(live).toMatchObject({ health: "HEALTHY", healthyOrigins: 2, activeConnections: 7 });
		expect((await core.request("/v1/backends/bk_missing/status", { key })).status).toBe(404);
	});

	test("delete removes the backend, its rules and its list entries", async () => {
		const b = await (await create()).json();
		await core.json(
			"/v1/filters",
			"POST",
			{ backendId: b.id, name: "r", action: "DROP", match: { protocols: ["UDP"] } },
			key,
		);
		await core.json("/v1/ips/block", "POST", { ip: "1.2.3.4", backendId: b.id }, key);
		expect((await core.request(`/v1/backends/${b.id}`, { method: "DELETE", key })).status).toBe(204);
		expect((await core.request(`/v1/backends/${b.id}`, { key })).status).toBe(404);
		const count = (t: string) => core.services.db.query<{ n: number }, []>(`SELECT COUNT(*) AS n FROM ${t}`).get()?.n;
		expect(count("filter_rules")).toBe(0);
		expect(count("ip_entries")).toBe(0);
	});

	test("permissions: read keys read, cannot write; no credentials is 401; other organizations see 404", async () => {
		const b = await (await create()).json();
		const reader = core.key(["read"]);
		expect((await core.request("/v1/backends", { key: reader })).status).toBe(200);
		expect((await create({ ...SPEC_CREATE, name: "n2" }, reader)).status).toBe(403);
		expect(
			(await core.request(`/v1/backends/${b.id}`, { method: "DELETE", key: core.key(["read", "write"]) })).status,
		).toBe(403);
		expect((await core.request("/v1/backends")).status).toBe(401);
		const other = await core.otherOrganization();
		const otherKey = core.keyFor(other.owner, ["read", "write", "delete"]);
		expect((await core.request(`/v1/backends/${b.id}`, { key: otherKey })).status).toBe(404);
	});
});
