// The gRPC face over a real socket: an in-process server on an ephemeral loopback port and a
// grpc-js client built from the .proto files. Each test gets a fresh appliance core.
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import * as grpc from "@grpc/grpc-js";
import { DEFAULTS } from "../../src/config.ts";
import { REASON_NAMES, zeroBackendCtr } from "../../src/dataplane/abi.ts";
import { type GrpcListener, grpcCredentials, isLoopback, startGrpc } from "../../src/grpc/server.ts";
import { type TestCore, testCore } from "../helpers/app.ts";
import { client, failure, fieldViolations, type Msg, unary, watch } from "../helpers/grpc.ts";

let core: TestCore;
let server: GrpcListener;
let key: string;
let readKey: string;

const JAVA = {
	name: "mc.example.com",
	type: "BACKEND_TYPE_MINECRAFT_JAVA",
	origins: [{ name: "primary", address: "192.168.1.100", port: 25565, weight: { value: 100 }, priority: { value: 1 } }],
	domains: ["mc.example.com"],
};

beforeEach(async () => {
	core = await testCore();
	// Enterprise: no request limit in the way of tests that are not about it.
	core.services.organizations.update(core.owner, core.organization.id, { tier: "ENTERPRISE" });
	server = await startGrpc("127.0.0.1:0", core.services, core.services.log);
	key = core.key();
	readKey = core.key(["read"]);
});

afterEach(async () => {
	await server.stop();
	core.close();
});

const svc = (name: Parameters<typeof client>[0]) => client(name, server.port);

async function backend(overrides: Msg = {}): Promise<Msg> {
	return (await unary(svc("BackendService"), "CreateBackend", { ...JAVA, ...overrides }, key)).backend;
}

async function rule(backendId: string, overrides: Msg = {}): Promise<Msg> {
	const request = { backendId, name: "drop", action: "RULE_ACTION_DROP", ...overrides };
	return (await unary(svc("FilterService"), "CreateRule", request, key)).rule;
}

describe("BackendService", () => {
	test("CreateBackend mirrors the REST resource: enums, timestamps, origins, defaults", async () => {
		const b = await backend();
		expect(b.id).toStartWith("bk_");
		expect(b.type).toBe("BACKEND_TYPE_MINECRAFT_JAVA");
		expect(b.origins[0]).toMatchObject({
			name: "primary",
			port: 25565,
			weight: 100,
			healthStatus: "HEALTH_STATUS_UNKNOWN",
		});
		expect(b.protection).toMatchObject({ enabled: { value: true }, level: "PROTECTION_LEVEL_MEDIUM" });
		expect(b.listeners).toEqual([{ address: "", port: 25565, protocol: "TRANSPORT_PROTOCOL_TCP" }]);
		expect(Number(b.createdAt.seconds)).toBeGreaterThan(1_700_000_000);
		const rest = (await (await core.request(`/v1/audit-logs?resourceType=backend`, { key })).json()) as Msg;
		expect(rest.data[0]).toMatchObject({ action: "backend.created", resourceId: b.id });
	});

	test("the same backend over REST and gRPC has the same fields", async () => {
		const b = await backend();
		const viaRest = (await core.services.backends.get(core.owner, b.id)) as unknown as Msg;
		expect(b.name).toBe(viaRest.name);
		expect(b.domains).toEqual(viaRest.domains);
		expect(new Date(Number(b.updatedAt.seconds) * 1000 + b.updatedAt.nanos / 1e6).toISOString()).toBe(
			viaRest.updatedAt,
		);
	});

	test("every unary RPC succeeds for an owner key", async () => {
		const c = svc("BackendService");
		const b = await backend();
		expect((await unary(c, "GetBackend", { backendId: b.id }, key)).backend.id).toBe(b.id);
		const updated = await unary(c, "UpdateBackend", { backendId: b.id, name: { value: "renamed" } }, key);
		expect(updated.backend).toMatchObject({ name: "renamed", domains: ["mc.example.com"] });
		const listed = await unary(c, "ListBackends", { pageSize: 10 }, key);
		expect(listed.pagination).toMatchObject({ page: 1, pageSize: 10, totalCount: 1, hasNext: false });
		const added = await unary(
			c,
			"AddOrigin",
			{ backendId: b.id, origin: { name: "second", address: "10.0.0.2", port: 25566 } },
			key,
		);
		expect(added.origin).toMatchObject({ name: "second", port: 25566, enabled: true });
		const changed = await unary(
			c,
			"UpdateOrigin",
			{ backendId: b.id, originId: added.origin.id, origin: { enabled: { value: false }, weight: { value: 0 } } },
			key,
		);
		expect(changed.origin).toMatchObject({ enabled: false, weight: 0, name: "second" });
		await unary(c, "RemoveOrigin", { backendId: b.id, originId: added.origin.id }, key);
		const prot = await unary(
			c,
			"UpdateProtection",
			{ backendId: b.id, protection: { perIpRateLimit: { requestsPerSecond: 50 } } },
			key,
		);
		expect(prot.backend.protection).toMatchObject({
			level: "PROTECTION_LEVEL_MEDIUM",
			perIpRateLimit: { requestsPerSecond: 50 },
		});
		const level = await unary(
			c,
			"SetProtectionLevel",
			{ backendId: b.id, level: "PROTECTION_LEVEL_UNDER_ATTACK" },
			key,
		);
		expect(level.backend.protection.level).toBe("PROTECTION_LEVEL_UNDER_ATTACK");
		const st = await unary(c, "GetBackendStatus", { backendId: b.id }, key);
		expect(st.status).toMatchObject({
			backendId: b.id,
			totalOrigins: 1,
			health: "HEALTH_STATUS_UNKNOWN",
			underAttack: false,
		});
		await unary(c, "DeleteBackend", { backendId: b.id }, key);
		expect((await failure(unary(c, "GetBackend", { backendId: b.id }, key))).code).toBe(grpc.status.NOT_FOUND);
	});

	test("update_mask names a repeated field to clear it; unset fields otherwise stay", async () => {
		const b = await backend();
		const c = svc("BackendService");
		const kept = await unary(c, "UpdateBackend", { backendId: b.id, name: { value: "n2" } }, key);
		expect(kept.backend.domains).toEqual(["mc.example.com"]);
		const cleared = await unary(c, "UpdateBackend", { backendId: b.id, updateMask: { paths: ["domains"] } }, key);
		expect(cleared.backend.domains).toEqual([]);
		const bad = await failure(unary(c, "UpdateBackend", { backendId: b.id, updateMask: { paths: ["nope"] } }, key));
		expect(bad.code).toBe(grpc.status.INVALID_ARGUMENT);
	});

	test("invalid arguments carry BadRequest field violations with the spec's codes", async () => {
		const c = svc("BackendService");
		const err = await failure(
			unary(c, "CreateBackend", { ...JAVA, origins: [{ name: "p", address: "10.0.0.1", port: 70000 }] }, key),
		);
		expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
		expect(fieldViolations(err)).toContainEqual(
			expect.objectContaining({ field: "origins[0].port", reason: "invalid_port" }),
		);
		const level = await failure(unary(c, "SetProtectionLevel", { backendId: (await backend()).id }, key));
		expect(fieldViolations(level)[0]).toMatchObject({ field: "level", reason: "invalid_enum" });
		const noId = await failure(unary(c, "GetBackend", {}, key));
		expect(fieldViolations(noId)[0]).toMatchObject({ field: "backend_id", reason: "required" });
		const page = await failure(unary(c, "ListBackends", { pageSize: 101 }, key));
		expect(fieldViolations(page)[0]).toMatchObject({ field: "page_size" });
		const origin = await failure(
			unary(
				c,
				"AddOrigin",
				{
					backendId: (await unary(c, "ListBackends", {}, key)).backends[0].id,
					origin: { name: "x", address: "1.1.1.1", port: 0 },
				},
				key,
			),
		);
		expect(fieldViolations(origin)[0]?.field).toBe("origin.port");
	});

	test("a duplicate name is ALREADY_EXISTS", async () => {
		await backend();
		const err = await failure(unary(svc("BackendService"), "CreateBackend", JAVA, key));
		expect(err.code).toBe(grpc.status.ALREADY_EXISTS);
	});

	test("ListBackends with another organization's id is NOT_FOUND", async () => {
		const err = await failure(unary(svc("BackendService"), "ListBackends", { organizationId: "org_other" }, key));
		expect(err.code).toBe(grpc.status.NOT_FOUND);
	});
});

describe("authentication and permissions", () => {
	const calls: Array<[Parameters<typeof client>[0], string, (ids: Msg) => Msg]> = [
		["BackendService", "CreateBackend", () => JAVA],
		["BackendService", "DeleteBackend", (i) => ({ backendId: i.backendId })],
		["BackendService", "UpdateBackend", (i) => ({ backendId: i.backendId, name: { value: "x" } })],
		[
			"BackendService",
			"AddOrigin",
			(i) => ({ backendId: i.backendId, origin: { name: "o", address: "10.0.0.9", port: 1 } }),
		],
		["BackendService", "RemoveOrigin", (i) => ({ backendId: i.backendId, originId: i.originId })],
		[
			"BackendService",
			"UpdateOrigin",
			(i) => ({ backendId: i.backendId, originId: i.originId, origin: { weight: { value: 1 } } }),
		],
		[
			"BackendService",
			"UpdateProtection",
			(i) => ({ backendId: i.backendId, protection: { enabled: { value: false } } }),
		],
		["BackendService", "SetProtectionLevel", (i) => ({ backendId: i.backendId, level: "PROTECTION_LEVEL_HIGH" })],
		["FilterService", "CreateRule", (i) => ({ backendId: i.backendId, name: "r", action: "RULE_ACTION_DROP" })],
		["FilterService", "UpdateRule", (i) => ({ ruleId: i.ruleId, name: { value: "r2" } })],
		["FilterService", "DeleteRule", (i) => ({ ruleId: i.ruleId })],
		[
			"FilterService",
			"BulkCreateRules",
			(i) => ({ rules: [{ backendId: i.backendId, name: "b", action: "RULE_ACTION_DROP" }] }),
		],
		["FilterService", "BulkDeleteRules", (i) => ({ ruleIds: [i.ruleId] })],
		["FilterService", "ReorderRules", (i) => ({ backendId: i.backendId, ruleIds: [i.ruleId] })],
		["IpService", "BlockIp", () => ({ ip: "1.2.3.4" })],
		["IpService", "UnblockIp", () => ({ ip: "5.6.7.8" })],
		["IpService", "BulkBlockIps", () => ({ entries: [{ ip: "1.2.3.5" }] })],
		["IpService", "AllowIp", () => ({ ip: "10.0.0.0/8" })],
		["IpService", "RemoveAllowedIp", () => ({ ip: "10.1.0.0/16" })],
		["IpService", "BulkAllowIps", () => ({ entries: [{ ip: "10.2.0.0/16" }] })],
		["IpService", "BanIp", () => ({ ip: "9.9.9.9" })],
		["IpService", "UnbanIp", () => ({ ip: "9.9.9.8" })],
		["OrganizationService", "UpdateOrganization", () => ({ name: { value: "New" } })],
		["OrganizationService", "InviteMember", () => ({ email: "new@example.com", role: "ROLE_MEMBER" })],
		["OrganizationService", "ListInvitations", () => ({})],
		["OrganizationService", "ListAuditLogs", () => ({})],
	];

	test.each(calls)(
		"%s.%s is PERMISSION_DENIED for a read-only key and UNAUTHENTICATED without one",
		async (service, method, body) => {
			const b = await backend();
			const r = await rule(b.id);
			const request = body({ backendId: b.id, originId: b.origins[0].id, ruleId: r.id });
			const denied = await failure(unary(svc(service), method, request, readKey));
			expect(denied.code).toBe(grpc.status.PERMISSION_DENIED);
			const anonymous = await failure(unary(svc(service), method, request));
			expect(anonymous.code).toBe(grpc.status.UNAUTHENTICATED);
			const bogus = await failure(unary(svc(service), method, request, "pp_live_notakey"));
			expect(bogus.code).toBe(grpc.status.UNAUTHENTICATED);
		},
	);

	test("read RPCs work with a read-only key and need a credential", async () => {
		const b = await backend();
		const r = await rule(b.id);
		const reads: Array<[Parameters<typeof client>[0], string, Msg]> = [
			["BackendService", "GetBackend", { backendId: b.id }],
			["BackendService", "ListBackends", {}],
			["BackendService", "GetBackendStatus", { backendId: b.id }],
			["FilterService", "GetRule", { ruleId: r.id }],
			["FilterService", "ListRules", { backendId: b.id }],
			["FilterService", "GetRuleStats", { ruleId: r.id, granularity: "STATS_GRANULARITY_HOUR" }],
			["IpService", "ListBlockedIps", {}],
			["IpService", "ListAllowedIps", {}],
			["IpService", "ListBannedIps", {}],
			["OrganizationService", "GetCurrentOrganization", {}],
			["OrganizationService", "GetOrganizationUsage", {}],
			["OrganizationService", "ListMembers", {}],
		];
		for (const [service, method, request] of reads) {
			await unary(svc(service), method, request, readKey);
			expect((await failure(unary(svc(service), method, request))).code).toBe(grpc.status.UNAUTHENTICATED);
		}
	});

	test("a JWT access token from login authenticates like an API key", async () => {
		const { accessToken } = await core.login();
		const res = await unary(svc("OrganizationService"), "GetCurrentOrganization", {}, accessToken);
		expect(res.organization).toMatchObject({ id: core.organization.id, tier: "TIER_ENTERPRISE" });
	});

	test("request rate limits apply per organization: RESOURCE_EXHAUSTED with RetryInfo", async () => {
		core.services.organizations.update(core.owner, core.organization.id, { tier: "FREE" });
		await Bun.sleep(1100); // the tier cache
		const c = svc("OrganizationService");
		let err: Awaited<ReturnType<typeof failure>> | null = null;
		for (let i = 0; i < 20 && !err; i++)
			err = await unary(c, "GetCurrentOrganization", {}, key).then(
				() => null,
				(e) => e,
			);
		expect(err?.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
		expect(Number(err?.metadata.get("retry-after")[0])).toBeGreaterThan(0);
	});
});

describe("FilterService", () => {
	test("every RPC works and mirrors the REST rule", async () => {
		const b = await backend();
		const f = svc("FilterService");
		const r = await rule(b.id, {
			priority: { value: 0 },
			match: {
				sourceIps: [{ address: "185.220.101.0", prefixLength: { value: 24 } }],
				protocols: ["PROTOCOL_TCP"],
				destinationPorts: [{ start: 25565, end: 25565 }],
			},
		});
		expect(r).toMatchObject({ priority: 0, enabled: true, action: "RULE_ACTION_DROP" });
		expect(r.match.sourceIps).toEqual([{ address: "185.220.101.0", prefixLength: { value: 24 } }]);
		expect(r.stats).toMatchObject({ packetsMatched: 0, packetsDropped: { value: 0 } });
		expect((await unary(f, "GetRule", { ruleId: r.id }, key)).rule.id).toBe(r.id);
		expect((await unary(f, "UpdateRule", { ruleId: r.id, enabled: { value: false } }, key)).rule.enabled).toBe(false);
		const bulk = await unary(
			f,
			"BulkCreateRules",
			{ rules: [1, 2].map((n) => ({ backendId: b.id, name: `r${n}`, action: "RULE_ACTION_LOG" })) },
			key,
		);
		expect(bulk.rules).toHaveLength(2);
		const order = [bulk.rules[1].id, r.id, bulk.rules[0].id];
		expect(
			(await unary(f, "ReorderRules", { backendId: b.id, ruleIds: order }, key)).rules.map((x: Msg) => x.id),
		).toEqual(order);
		const list = await unary(f, "ListRules", { backendId: b.id }, key);
		expect(list.rules.map((x: Msg) => x.id)).toEqual(order);
		expect(list.pagination.totalCount).toBe(3);
		const stats = await unary(f, "GetRuleStats", { ruleId: r.id, granularity: "STATS_GRANULARITY_DAY" }, key);
		expect(stats).toMatchObject({ ruleId: r.id, granularity: "STATS_GRANULARITY_DAY", packetsMatched: 0 });
		expect((await unary(f, "BulkDeleteRules", { ruleIds: [bulk.rules[0].id, bulk.rules[1].id] }, key)).deleted).toBe(2);
		await unary(f, "DeleteRule", { ruleId: r.id }, key);
		expect((await failure(unary(f, "GetRule", { ruleId: r.id }, key))).code).toBe(grpc.status.NOT_FOUND);
	});

	test("invalid rules are INVALID_ARGUMENT with the field path of the proto", async () => {
		const b = await backend();
		const err = await failure(rule(b.id, { match: { sourceIps: [{ address: "1.2.3.4.5" }] } }));
		expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
		expect(fieldViolations(err)[0]).toMatchObject({ field: "match.source_ips[0]", reason: "invalid_ip" });
		const rate = await failure(rule(b.id, { action: "RULE_ACTION_RATE_LIMIT" }));
		expect(fieldViolations(rate)[0]).toMatchObject({ field: "rate_limit", reason: "required" });
		const unknown = await failure(rule("bk_missing"));
		expect(fieldViolations(unknown)[0]).toMatchObject({ field: "backend_id", reason: "backend_not_found" });
		const f = svc("FilterService");
		expect((await failure(unary(f, "UpdateRule", { ruleId: "fr_missing", name: { value: "x" } }, key))).code).toBe(
			grpc.status.NOT_FOUND,
		);
		expect((await failure(unary(f, "DeleteRule", { ruleId: "fr_missing" }, key))).code).toBe(grpc.status.NOT_FOUND);
		expect((await failure(unary(f, "GetRuleStats", { ruleId: "fr_missing" }, key))).code).toBe(grpc.status.NOT_FOUND);
	});
});

describe("IpService and OrganizationService", () => {
	test("block, list, unblock, allow, ban and bulk adds", async () => {
		const ip = svc("IpService");
		const blocked = await unary(
			ip,
			"BlockIp",
			{ ip: "1.2.3.4", reason: "manual", durationSeconds: { value: 3600 } },
			key,
		);
		expect(blocked.entry).toMatchObject({ ip: "1.2.3.4/32", reason: "manual" });
		expect(Number(blocked.entry.expiresAt.seconds)).toBeGreaterThan(Date.now() / 1000 + 3500);
		expect((await unary(ip, "ListBlockedIps", {}, key)).entries).toHaveLength(1);
		expect(await unary(ip, "BulkBlockIps", { entries: [{ ip: "5.5.5.0/24" }, { ip: "1.2.3.4" }] }, key)).toEqual({
			added: 1,
			updated: 1,
		});
		await unary(ip, "UnblockIp", { ip: "1.2.3.4" }, key);
		expect((await failure(unary(ip, "UnblockIp", { ip: "1.2.3.4" }, key))).code).toBe(grpc.status.NOT_FOUND);
		await unary(ip, "AllowIp", { ip: "10.0.0.0/8", reason: "internal" }, key);
		expect((await unary(ip, "ListAllowedIps", {}, key)).entries[0].ip).toBe("10.0.0.0/8");
		await unary(ip, "RemoveAllowedIp", { ip: "10.0.0.0/8" }, key);
		await unary(ip, "BanIp", { ip: "9.9.9.9" }, key);
		expect((await unary(ip, "ListBannedIps", {}, key)).entries).toHaveLength(1);
		await unary(ip, "UnbanIp", { ip: "9.9.9.9" }, key);
		expect(await unary(ip, "BulkAllowIps", { entries: [{ ip: "192.168.0.0/16" }] }, key)).toEqual({
			added: 1,
			updated: 0,
		});
		const bad = await failure(unary(ip, "BulkBlockIps", { entries: [{ ip: "1.1.1.1" }, { ip: "nope" }] }, key));
		expect(fieldViolations(bad)[0]).toMatchObject({ field: "entries[1].ip", reason: "invalid_ip" });
		const badOne = await failure(unary(ip, "BlockIp", { ip: "300.1.1.1" }, key));
		expect(fieldViolations(badOne)[0]).toMatchObject({ field: "ip", reason: "invalid_ip" });
	});

	test("organization, members, invitations and audit logs", async () => {
		const o = svc("OrganizationService");
		const org = (await unary(o, "GetCurrentOrganization", {}, key)).organization;
		expect(org).toMatchObject({ id: core.organization.id, name: "Acme", tier: "TIER_ENTERPRISE" });
		expect(
			(
				await unary(
					o,
					"UpdateOrganization",
					{ name: { value: "Acme 2" }, logoUrl: { value: "https://example.com/l.png" } },
					key,
				)
			).organization.logoUrl,
		).toEqual({ value: "https://example.com/l.png" });
		const cleared = await unary(o, "UpdateOrganization", { updateMask: { paths: ["logo_url"] } }, key);
		expect(cleared.organization.logoUrl).toBeNull();
		const usage = (await unary(o, "GetOrganizationUsage", { organizationId: org.id }, key)).usage;
		expect(usage.limits.maxBackends).toBeGreaterThan(0);
		const invite = await unary(o, "InviteMember", { email: "new@example.com", role: "ROLE_VIEWER" }, key);
		expect(invite.token.length).toBeGreaterThan(10);
		expect(invite.invitation).toMatchObject({ email: "new@example.com", role: "ROLE_VIEWER" });
		expect((await unary(o, "ListInvitations", {}, key)).invitations).toHaveLength(1);
		await unary(o, "RevokeInvitation", { invitationId: invite.invitation.id }, key);
		const viewer = await core.member("VIEWER", "viewer@example.com");
		const members = await unary(o, "ListMembers", {}, key);
		expect(members.members.map((m: Msg) => m.role).sort()).toEqual(["ROLE_OWNER", "ROLE_VIEWER"]);
		const role = await unary(o, "UpdateMemberRole", { userId: viewer.userId, role: "ROLE_MEMBER" }, key);
		expect(role.member.role).toBe("ROLE_MEMBER");
		await unary(o, "RemoveMember", { userId: viewer.userId }, key);
		const audit = await unary(o, "ListAuditLogs", { resourceType: "organization" }, key);
		expect(audit.entries[0]).toMatchObject({ action: "organization.updated" });
		expect(audit.entries[0].metadata.fields.changes).toBeDefined();
		expect((await failure(unary(o, "GetOrganizationUsage", { organizationId: "org_other" }, key))).code).toBe(
			grpc.status.NOT_FOUND,
		);
		expect((await failure(unary(o, "RemoveMember", { userId: "usr_missing" }, key))).code).toBe(grpc.status.NOT_FOUND);
		const badRole = await failure(unary(o, "InviteMember", { email: "x@example.com" }, key));
		expect(badRole.code).toBe(grpc.status.INVALID_ARGUMENT);
	});
});

describe("AlertService and WebhookService", () => {
	test("alerts: create, get, update, list (also through MetricsService), delete; errors map to codes", async () => {
		const a = svc("AlertService");
		const created = await unary(
			a,
			"CreateAlert",
			{
				name: "High Traffic Alert",
				condition: { metric: "requests_per_second", operator: "ALERT_OPERATOR_GREATER_THAN", threshold: 10000 },
				notifications: [{ type: "NOTIFICATION_TYPE_SLACK", destination: "https://hooks.example.com/services/x" }],
			},
			key,
		);
		expect(created.alert).toMatchObject({ name: "High Traffic Alert", state: "ALERT_STATE_OK", enabled: true });
		const id = created.alert.id;
		expect((await unary(a, "GetAlert", { alertId: id }, readKey)).alert.id).toBe(id);
		const updated = await unary(a, "UpdateAlert", { alertId: id, name: { value: "Renamed" } }, key);
		expect(updated.alert.name).toBe("Renamed");
		expect((await unary(svc("MetricsService"), "ListAlerts", {}, readKey)).alerts).toHaveLength(1);
		const bad = await failure(
			unary(
				a,
				"CreateAlert",
				{
					name: "x",
					condition: { metric: "requests_per_second", operator: "ALERT_OPERATOR_LESS_THAN", threshold: 1 },
					notifications: [{ type: "NOTIFICATION_TYPE_SLACK", destination: "not a url" }],
				},
				key,
			),
		);
		expect(bad.code).toBe(grpc.status.INVALID_ARGUMENT);
		expect(fieldViolations(bad).map((v) => v.field)).toContain("notifications[0].destination");
		expect((await failure(unary(a, "CreateAlert", { name: "x" }, readKey))).code).toBe(grpc.status.PERMISSION_DENIED);
		expect((await failure(unary(a, "GetAlert", { alertId: "alr_missing" }, key))).code).toBe(grpc.status.NOT_FOUND);
		expect((await failure(unary(a, "ListAlerts", {}))).code).toBe(grpc.status.UNAUTHENTICATED);
		await unary(a, "DeleteAlert", { alertId: id }, key);
		expect((await unary(a, "ListAlerts", {}, key)).alerts ?? []).toHaveLength(0);
	});

	test("webhooks: create returns the secret once, deliveries and a test event are listed", async () => {
		const w = svc("WebhookService");
		const created = await unary(
			w,
			"CreateWebhook",
			{ url: "http://127.0.0.1:9/hook", events: ["backend.created"], secret: "whsec_grpc_secret_0123456789" },
			key,
		);
		expect(created.secret).toBe("whsec_grpc_secret_0123456789");
		expect(created.webhook.secretPrefix).toBe("whsec_grpc");
		const id = created.webhook.id;
		const listed = await unary(w, "ListWebhooks", {}, readKey);
		expect(JSON.stringify(listed)).not.toContain("whsec_grpc_secret_0123456789");
		const test = await unary(w, "SendTestEvent", { webhookId: id }, key);
		expect(test.delivery).toMatchObject({ eventType: "webhook.test", status: "DELIVERY_STATUS_PENDING" });
		expect((await unary(w, "ListWebhookDeliveries", { webhookId: id }, readKey)).deliveries).toHaveLength(1);
		const off = await unary(w, "UpdateWebhook", { webhookId: id, enabled: { value: false } }, key);
		expect(off.webhook.enabled).toBe(false);
		expect((await failure(unary(w, "CreateWebhook", { url: "ftp://x", events: [] }, key))).code).toBe(
			grpc.status.INVALID_ARGUMENT,
		);
		expect((await failure(unary(w, "DeleteWebhook", { webhookId: id }, readKey))).code).toBe(
			grpc.status.PERMISSION_DENIED,
		);
		expect((await failure(unary(w, "GetWebhook", { webhookId: "wh_missing" }, key))).code).toBe(grpc.status.NOT_FOUND);
		await unary(w, "DeleteWebhook", { webhookId: id }, key);
	});
});

describe("MetricsService", () => {
	/** A UDP backend whose counters the test moves, sampled by the collector on the test's clock. */
	function measured() {
		const b = core.services.backends.create(core.owner, {
			name: "bedrock",
			type: "UDP",
			listeners: [{ port: 19132, protocol: "UDP" }],
		});
		const index = core.services.db
			.query<{ dp_index: number }, [string]>("SELECT dp_index FROM backends WHERE id = ?")
			.get(b.id)?.dp_index as number;
		const c = zeroBackendCtr();
		const zero = { packets: 0n, bytes: 0n };
		core.services.telemetry.attach({
			reasons: () => Object.fromEntries(REASON_NAMES.map((r) => [r, zero])) as never,
			backend: (i) => (i === index ? { ...c } : { ...c, rxPackets: 0n, rxBytes: 0n, passPackets: 0n, passBytes: 0n }),
			rule: () => ({ packets: 0n, bytes: 0n, lastMatchNs: 0n }),
			sources: () => [],
		});
		const second = (at: number, received: number) => {
			c.rxPackets += BigInt(received);
			c.rxBytes += BigInt(received * 100);
			c.passPackets += BigInt(received);
			c.passBytes += BigInt(received * 100);
			core.services.telemetry.tick(at);
		};
		return { backend: b, second };
	}

	test("traffic, time series, attacks and countries answer what REST answers", async () => {
		const m = svc("MetricsService");
		const { backend: b, second } = measured();
		const t0 = Date.now() - 30_000;
		for (let i = 0; i <= 10; i++) second(t0 + i * 1000, i === 0 ? 0 : 40);
		core.services.telemetry.flush(t0 + 10_000);
		const traffic = await unary(m, "GetTrafficMetrics", { backendId: b.id }, readKey);
		const rest = (await (await core.request(`/v1/metrics/traffic?backendId=${b.id}`, { key: readKey })).json()) as Msg;
		expect(traffic.metrics.packetsIn).toBe(400);
		expect(traffic.metrics.requestsTotal).toBe(rest.metrics.requestsTotal);
		const series = await unary(
			m,
			"GetTrafficTimeSeries",
			{ backendId: b.id, metrics: ["packets_per_second"], granularity: "GRANULARITY_HOUR" },
			readKey,
		);
		expect(series.series[0].metricName).toBe("packets_per_second");
		expect(series.series[0].points[0].value).toBe(40);
		const attacks = await unary(m, "GetAttackMetrics", { backendId: b.id }, readKey);
		expect(attacks.metrics.underAttack).toBe(false);
		expect(attacks.attacks).toEqual([]);
		expect((await unary(m, "GetGeoMetrics", {}, readKey)).countries).toEqual([]);
		expect((await failure(unary(m, "GetTrafficMetrics", {}))).code).toBe(grpc.status.UNAUTHENTICATED);
		// A range that ends before it starts is the same field error as over REST.
		const bad = await failure(unary(m, "GetTrafficMetrics", { from: { seconds: 4_000_000_000 } }, readKey));
		expect(bad.code).toBe(grpc.status.INVALID_ARGUMENT);
		expect(fieldViolations(bad).map((v) => v.field)).toEqual(["from"]);
	});

	test("StreamTrafficMetrics and StreamAttackMetrics push from the collector's ticks", async () => {
		const m = svc("MetricsService");
		const { backend: b, second } = measured();
		const t0 = Date.now();
		second(t0, 0);
		const traffic = watch(m, "StreamTrafficMetrics", { backendId: b.id }, readKey);
		const attacks = watch(m, "StreamAttackMetrics", { backendId: b.id }, readKey);
		expect((await attacks.next()).underAttack).toBe(false);
		await Bun.sleep(50);
		second(t0 + 1000, 25);
		const pushed = await traffic.next();
		expect(pushed).toMatchObject({ backendId: b.id, packetsPerSecond: 25, requestsPerSecond: 25 });
		traffic.call.cancel();
		attacks.call.cancel();
	});
});

describe("streams", () => {
	test("WatchBackendStatus sends the current status, then one per change, and NOT_FOUND when deleted", async () => {
		const b = await backend();
		const s = watch(svc("BackendService"), "WatchBackendStatus", { backendId: b.id }, key);
		expect(await s.next()).toMatchObject({ backendId: b.id, totalOrigins: 1 });
		core.services.backends.addOrigin(core.owner, b.id, { name: "two", address: "10.0.0.3", port: 25565 });
		expect(await s.next()).toMatchObject({ backendId: b.id, totalOrigins: 2 });
		core.services.backends.delete(core.owner, b.id);
		const end = await s.status();
		expect(end !== "ok" && end.code).toBe(grpc.status.NOT_FOUND);
	});

	test("WatchBackendStatus without an id watches every backend of the organization only", async () => {
		const a = await backend();
		const s = watch(svc("BackendService"), "WatchBackendStatus", {}, key);
		expect((await s.next()).backendId).toBe(a.id);
		const other = await core.otherOrganization();
		core.services.backends.create(other.owner, {
			name: "theirs",
			type: "TCP",
			listeners: [{ port: 7000, protocol: "TCP" }],
		});
		const b = await backend({ name: "second", domains: ["two.example.com"] });
		expect((await s.next()).backendId).toBe(b.id);
		s.call.cancel();
	});

	test("WatchRules reports creates, updates, reorders and deletes made through the domain (any face)", async () => {
		const b = await backend();
		const s = watch(svc("FilterService"), "WatchRules", { backendId: b.id }, key);
		await Bun.sleep(100);
		const r = core.services.rules.create(core.owner, { backendId: b.id, name: "one", action: "DROP" });
		expect(await s.next()).toMatchObject({
			type: "RULE_UPDATE_TYPE_CREATED",
			ruleId: r.id,
			backendId: b.id,
			rule: { name: "one" },
		});
		core.services.rules.update(core.owner, r.id, { name: "uno" });
		expect(await s.next()).toMatchObject({ type: "RULE_UPDATE_TYPE_UPDATED", rule: { name: "uno" } });
		core.services.rules.reorder(core.owner, b.id, [r.id]);
		expect(await s.next()).toMatchObject({ type: "RULE_UPDATE_TYPE_REORDERED", backendId: b.id });
		core.services.rules.delete(core.owner, r.id);
		expect(await s.next()).toMatchObject({ type: "RULE_UPDATE_TYPE_DELETED", ruleId: r.id, rule: null });
		s.call.cancel();
	});

	test("concurrent streams are limited by the organization's tier and freed on cancel", async () => {
		core.services.organizations.update(core.owner, core.organization.id, { tier: "FREE" });
		await Bun.sleep(1100);
		const c = svc("BackendService");
		const first = watch(c, "WatchBackendStatus", {}, key);
		await Bun.sleep(200);
		const second = watch(svc("FilterService"), "WatchRules", {}, readKey);
		const end = await second.status();
		expect(end !== "ok" && end.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
		expect(end !== "ok" && end.details).toContain("FREE tier allows 1 concurrent stream");
		first.call.cancel();
		await Bun.sleep(200);
		const third = watch(svc("FilterService"), "WatchRules", {}, key);
		await Bun.sleep(200);
		expect(third.messages).toHaveLength(0);
		third.call.cancel();
	});

	test("a stream's deadline ends it with DEADLINE_EXCEEDED and frees its slot", async () => {
		core.services.organizations.update(core.owner, core.organization.id, { tier: "FREE" });
		await Bun.sleep(1100);
		const s = watch(svc("FilterService"), "WatchRules", {}, key, { deadline: Date.now() + 300 });
		const end = await s.status();
		expect(end !== "ok" && end.code).toBe(grpc.status.DEADLINE_EXCEEDED);
		await Bun.sleep(100);
		const again = watch(svc("FilterService"), "WatchRules", {}, key, { deadline: Date.now() + 300 });
		const next = await again.status();
		expect(next !== "ok" && next.code).toBe(grpc.status.DEADLINE_EXCEEDED);
	});
});

describe("listener", () => {
	test("health reports SERVING for the server and each API service", async () => {
		const { HealthClient } = await healthClient();
		const h = new HealthClient(`127.0.0.1:${server.port}`, grpc.credentials.createInsecure());
		for (const service of ["", "pistonprotection.v1.BackendService"]) {
			const res = await new Promise<Msg>((resolve, reject) =>
				h.Check({ service }, (err: Error | null, r: Msg) => (err ? reject(err) : resolve(r))),
			);
			expect(res.status).toBe("SERVING");
		}
		h.close();
	});

	test("reflection lists every service", async () => {
		const { PROTO_DIR } = await import("../helpers/grpc.ts");
		const pkgDef = (await import("@grpc/proto-loader")).loadSync("grpc/reflection/v1/reflection.proto", {
			includeDirs: [PROTO_DIR],
			keepCase: true,
			oneofs: true,
		});
		const pkg = grpc.loadPackageDefinition(pkgDef) as Msg;
		const R = pkg.grpc.reflection.v1.ServerReflection;
		const c = new R(`127.0.0.1:${server.port}`, grpc.credentials.createInsecure());
		const call = c.ServerReflectionInfo();
		const ask = (request: Msg) =>
			new Promise<Msg>((resolve) => {
				call.once("data", resolve);
				call.write(request);
			});
		const res = await ask({ list_services: "" });
		const names = res.list_services_response.service.map((s: Msg) => s.name);
		expect(names).toEqual(
			expect.arrayContaining(["pistonprotection.v1.BackendService", "pistonprotection.v1.WebhookService"]),
		);
		// all_extension_numbers_of_type is served, not UNIMPLEMENTED (12): the API declares no extensions,
		// so the answer is NOT_FOUND (5).
		const ext = await ask({ all_extension_numbers_of_type: "pistonprotection.v1.Backend" });
		expect(ext.error_response).toMatchObject({
			error_code: 5,
			error_message: expect.stringContaining("Extensions not found"),
		});
		call.end();
		c.close();
	});

	test("loopback listens in plaintext; any other address gets TLS with the appliance certificate", async () => {
		expect(isLoopback("127.0.0.1")).toBe(true);
		expect(isLoopback("::1")).toBe(true);
		expect(isLoopback("0.0.0.0")).toBe(false);
		const config = structuredClone(DEFAULTS);
		config.storage.data_dir = core.config.storage.data_dir;
		expect(grpcCredentials(config).tls).toBe(false);
		config.server.grpc_listen = "0.0.0.0:9090";
		const exposed = grpcCredentials(config);
		expect(exposed.tls).toBe(true);
		// The TLS credentials on a loopback port: a client trusting the certificate connects.
		const tlsServer = await startGrpc("127.0.0.1:0", core.services, core.services.log, exposed);
		const ca = await Bun.file(`${config.storage.data_dir}/tls/selfsigned.crt`).bytes();
		const secure = client(
			"OrganizationService",
			tlsServer.port,
			grpc.credentials.createSsl(Buffer.from(ca)),
			"localhost",
		);
		const res = await unary(secure, "GetCurrentOrganization", {}, key, {});
		expect(res.organization.id).toBe(core.organization.id);
		const plain = await failure(
			unary(client("OrganizationService", tlsServer.port), "GetCurrentOrganization", {}, key, {
				deadline: Date.now() + 2000,
			}),
		);
		expect(plain.code).toBe(grpc.status.UNAVAILABLE);
		await tlsServer.stop();
	});
});

async function healthClient() {
	const { PROTO_DIR } = await import("../helpers/grpc.ts");
	const def = (await import("@grpc/proto-loader")).loadSync("grpc/health/v1/health.proto", {
		includeDirs: [PROTO_DIR],
		enums: String,
	});
	const pkg = grpc.loadPackageDefinition(def) as Msg;
	return { HealthClient: pkg.grpc.health.v1.Health };
}
