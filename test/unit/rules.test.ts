// /v1/filters through real requests: the spec's bodies, every match condition compiled or refused
// by name, bulk all-or-nothing, reorder, stats from stored samples, permissions.
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { L7Flag, LAYOUT } from "../../src/dataplane/abi.ts";
import { compileL7, compileRules } from "../../src/dataplane/compile.ts";
import { refreshTimeWindows, windowOpen } from "../../src/domain/rules/timewindow.ts";
import { type TestCore, testCore } from "../helpers/app.ts";
import { canWriteMmdb, writeMmdb } from "../helpers/geoip.ts";

let core: TestCore;
let key: string;
let backendId: string;
beforeEach(async () => {
	core = await testCore();
	key = core.key();
	const res = await core.json(
		"/v1/backends",
		"POST",
		{ name: "mc", type: "MINECRAFT_JAVA", listeners: [{ address: "198.51.100.10", port: 25565, protocol: "TCP" }] },
		key,
	);
	backendId = (await res.json()).id;
});
afterEach(() => core.close());

const post = (body: unknown, k = key) => core.json("/v1/filters", "POST", body, k);
const errorsOf = async (res: Response) => (await res.json()).errors as Array<{ field: string; code: string }>;

describe("filter rules", () => {
	test("the spec's list example rule (source CIDRs) is created and listed with stats", async () => {
		const res = await post({
			backendId,
			name: "Block Known Botnets",
			description: "Blocks IPs from known botnet ranges",
			priority: 100,
			enabled: true,
			match: {
				sourceIps: [
					{ address: "185.220.101.0", prefixLength: 24 },
					{ address: "45.155.205.0", prefixLength: 24 },
				],
			},
			action: "DROP",
		});
		expect(res.status).toBe(201);
		const rule = await res.json();
		expect(rule).toMatchObject({ name: "Block Known Botnets", priority: 100, action: "DROP" });
		expect(rule.stats).toEqual({ packetsMatched: 0, bytesMatched: 0, packetsDropped: 0, lastMatched: null });
		const list = await (
			await core.request(`/v1/filters?backendId=${backendId}&enabled=true&action=DROP`, { key })
		).json();
		expect(list.data.map((r: { id: string }) => r.id)).toEqual([rule.id]);
		expect((await (await core.request("/v1/filters?action=ALLOW", { key })).json()).data).toEqual([]);
		expect((await core.request("/v1/filters?enabled=maybe", { key })).status).toBe(400);
		const { rulesets, srcsets } = compileRules(core.services.db);
		expect(rulesets.size).toBe(1);
		expect(srcsets.get("pp_srcset_v4")?.size).toBe(2);
	});

	test("the spec's create example, maxConnectionsPerIp included, is accepted and compiled", async () => {
		const res = await post({
			backendId,
			name: "Rate Limit Aggressive IPs",
			description: "Rate limits IPs sending too many packets",
			priority: 200,
			enabled: true,
			match: {
				protocols: ["TCP"],
				destinationPorts: [{ start: 25565, end: 25565 }],
				l7Protocols: ["MINECRAFT_JAVA"],
				l7Match: { minecraftJava: { validateHandshake: true, maxConnectionsPerIp: 5 } },
			},
			action: "RATE_LIMIT",
			rateLimit: { requestsPerSecond: 100, burstSize: 200, windowSeconds: 60 },
		});
		expect(res.status).toBe(201);
		const rule = await res.json();
		expect(rule.match.l7Match).toEqual({ minecraftJava: { validateHandshake: true, maxConnectionsPerIp: 5 } });
		const index = core.services.db
			.query<{ dp_index: number }, [string]>("SELECT dp_index FROM backends WHERE id = ?")
			.get(backendId)?.dp_index as number;
		const cfg = compileL7(core.services.db).get(index) as Uint8Array;
		const v = new DataView(cfg.buffer, cfg.byteOffset, cfg.byteLength);
		expect(v.getUint32(LAYOUT.pp_l7_cfg.members.max_conns[0], true)).toBe(5);
		expect(v.getUint32(LAYOUT.pp_l7_cfg.members.flags[0], true) & L7Flag.MC_JAVA).toBe(L7Flag.MC_JAVA);
		expect(compileRules(core.services.db).rulesets.size).toBe(1);
	});

	test("invalid match conditions are refused naming the field, with the spec's codes", async () => {
		const cases: Array<[object, string, string]> = [
			[{ sourceIps: [{ address: "1.2.3.4.5" }] }, "match.sourceIps[0]", "invalid_ip"],
			[
				{ sourceIpBlacklist: [{ address: "10.0.0.0", prefixLength: 33 }] },
				"match.sourceIpBlacklist[0]",
				"invalid_cidr",
			],
			[{ destinationIps: [{ address: "nope" }] }, "match.destinationIps[0]", "invalid_ip"],
			[{ destinationPorts: [{ start: 10, end: 5 }] }, "match.destinationPorts[0]", "invalid_port"],
			[{ destinationPorts: [{ start: 0, end: 5 }] }, "match.destinationPorts[0].start", "invalid_value"],
			[{ protocols: ["SCTP"] }, "match.protocols[0]", "invalid_enum"],
			[{ sourceCountries: ["CN"] }, "match.sourceCountries", "geoip_unavailable"],
			[{ sourceAsns: [13335] }, "match.sourceAsns", "geoip_unavailable"],
			[{ destinationIps: [{ address: "198.51.100.0", prefixLength: 31 }, { address: "203.0.113.1" }] }, "", ""],
		];
		for (const [match, field, code] of cases) {
			const res = await post({ backendId, name: "x", action: "DROP", match });
			if (!field) {
				expect(res.status).toBe(201);
				continue;
			}
			expect(res.status).toBe(400);
			expect(await errorsOf(res)).toContainEqual(expect.objectContaining({ field, code }));
		}
		const rate = await post({ backendId, name: "x", action: "RATE_LIMIT" });
		expect(await errorsOf(rate)).toContainEqual(expect.objectContaining({ field: "rateLimit", code: "required" }));
		const missing = await post({ backendId: "bk_nope", name: "x", action: "DROP" });
		expect(await errorsOf(missing)).toContainEqual(
			expect.objectContaining({ field: "backendId", code: "backend_not_found" }),
		);
	});

	test("destinationIps applies to listeners inside it, and is refused for wildcard listeners", async () => {
		const wild = await (
			await core.json(
				"/v1/backends",
				"POST",
				{ name: "w", type: "UDP", listeners: [{ port: 9000, protocol: "UDP" }] },
				key,
			)
		).json();
		const res = await post({
			backendId: wild.id,
			name: "d",
			action: "DROP",
			match: { destinationIps: [{ address: "10.0.0.0", prefixLength: 8 }] },
		});
		expect(await errorsOf(res)).toContainEqual(
			expect.objectContaining({ field: "match.destinationIps", code: "unsupported" }),
		);
		await post({
			backendId,
			name: "in",
			action: "DROP",
			match: { destinationIps: [{ address: "198.51.100.0", prefixLength: 24 }] },
		});
		await post({
			backendId,
			name: "out",
			action: "DROP",
			match: { destinationIps: [{ address: "203.0.113.0", prefixLength: 24 }] },
		});
		const { rulesets } = compileRules(core.services.db);
		// Only the rule whose destination covers the listener is compiled (count at offset 0).
		expect(new DataView((rulesets.values().next().value as Uint8Array).buffer).getUint32(0, true)).toBe(1);
	});

	test("CHALLENGE is refused for backend types the proxy cannot challenge", async () => {
		const udp = await (
			await core.json(
				"/v1/backends",
				"POST",
				{ name: "u", type: "UDP", listeners: [{ port: 9001, protocol: "UDP" }] },
				key,
			)
		).json();
		const res = await post({ backendId: udp.id, name: "c", action: "CHALLENGE" });
		expect(await errorsOf(res)).toContainEqual(expect.objectContaining({ field: "action", code: "unsupported" }));
		// HTTPS is routed by SNI (TLS is not terminated) and RakNet has no place to show a challenge.
		for (const [type, port, protocol] of [
			["HTTPS", 9443, "TCP"],
			["MINECRAFT_BEDROCK", 19199, "UDP"],
		] as const) {
			const b = await (
				await core.json("/v1/backends", "POST", { name: type, type, listeners: [{ port, protocol }] }, key)
			).json();
			const refused = await post({ backendId: b.id, name: "c", action: "CHALLENGE" });
			expect(refused.status).toBe(400);
			expect(await errorsOf(refused)).toContainEqual(expect.objectContaining({ field: "action", code: "unsupported" }));
		}
		expect((await post({ backendId, name: "c", action: "CHALLENGE" })).status).toBe(201);
	});

	test("REDIRECT needs the backend's honeypot origin, on create and on update", async () => {
		const before = core.services.db.query<{ n: number }, []>("SELECT COUNT(*) AS n FROM filter_rules").get()?.n;
		const res = await post({ backendId, name: "trap", action: "REDIRECT" });
		expect(res.status).toBe(400);
		expect(await errorsOf(res)).toEqual([
			expect.objectContaining({
				field: "action",
				code: "honeypot_required",
				message: expect.stringContaining("honeypot"),
			}),
		]);
		const drop = await (await post({ backendId, name: "d", action: "DROP" })).json();
		const upd = await core.json(`/v1/filters/${drop.id}`, "PUT", { action: "REDIRECT" }, key);
		expect(await errorsOf(upd)).toEqual([expect.objectContaining({ field: "action", code: "honeypot_required" })]);
		expect(core.services.db.query<{ n: number }, []>("SELECT COUNT(*) AS n FROM filter_rules").get()?.n).toBe(
			(before ?? 0) + 1,
		);
		await core.json(
			`/v1/backends/${backendId}/origins`,
			"POST",
			{ name: "honeypot", address: "192.0.2.99", port: 1 },
			key,
		);
		expect((await core.json(`/v1/filters/${drop.id}`, "PUT", { action: "REDIRECT" }, key)).status).toBe(200);
	});

	test("get, update, delete; 404 for unknown rules; update validates like create", async () => {
		const rule = await (await post({ backendId, name: "r", action: "DROP" })).json();
		expect((await core.request(`/v1/filters/${rule.id}`, { key })).status).toBe(200);
		const upd = await core.json(`/v1/filters/${rule.id}`, "PUT", { priority: 150, enabled: false }, key);
		expect(await upd.json()).toMatchObject({ priority: 150, enabled: false, name: "r" });
		const bad = await core.json(`/v1/filters/${rule.id}`, "PUT", { match: { sourceIps: [{ address: "x" }] } }, key);
		expect(bad.status).toBe(400);
		expect((await core.request(`/v1/filters/${rule.id}`, { method: "DELETE", key })).status).toBe(204);
		expect((await core.request(`/v1/filters/${rule.id}`, { key })).status).toBe(404);
		expect((await core.json("/v1/filters/fr_nope", "PUT", { priority: 1 }, key)).status).toBe(404);
	});

	test("reorder takes the spec's body and refuses an incomplete list", async () => {
		const a = await (await post({ backendId, name: "a", action: "DROP" })).json();
		const b = await (await post({ backendId, name: "b", action: "ALLOW" })).json();
		const res = await core.json("/v1/filters/reorder", "POST", { backendId, ruleIds: [b.id, a.id] }, key);
		expect(res.status).toBe(200);
		expect((await res.json()).data.map((r: { id: string }) => r.id)).toEqual([b.id, a.id]);
		const bad = await core.json("/v1/filters/reorder", "POST", { backendId, ruleIds: [a.id] }, key);
		expect(await errorsOf(bad)).toContainEqual(expect.objectContaining({ field: "ruleIds" }));
	});

	test("bulk create and delete are all or nothing", async () => {
		const good = {
			backendId,
			name: "ok",
			action: "DROP",
			match: { sourceIps: [{ address: "192.0.2.0", prefixLength: 24 }] },
		};
		const bad = await core.json(
			"/v1/filters/bulk",
			"POST",
			{ rules: [good, { ...good, match: { sourceIps: [{ address: "bad" }] } }] },
			key,
		);
		expect(bad.status).toBe(400);
		expect(await errorsOf(bad)).toContainEqual(
			expect.objectContaining({ field: "rules[1].match.sourceIps[0]", code: "invalid_ip" }),
		);
		expect((await (await core.request("/v1/filters", { key })).json()).pagination.totalCount).toBe(0);
		const ok = await core.json("/v1/filters/bulk", "POST", { rules: [good, { ...good, name: "ok2" }] }, key);
		expect(ok.status).toBe(201);
		const ids = (await ok.json()).data.map((r: { id: string }) => r.id);
		const missing = await core.json("/v1/filters/bulk-delete", "POST", { ruleIds: [...ids, "fr_nope"] }, key);
		expect(missing.status).toBe(404);
		expect((await (await core.request("/v1/filters", { key })).json()).pagination.totalCount).toBe(2);
		const del = await core.json("/v1/filters/bulk-delete", "POST", { ruleIds: ids }, key);
		expect(await del.json()).toEqual({ deleted: 2 });
	});

	test("stats come from stored samples, in buckets of the granularity", async () => {
		const rule = await (await post({ backendId, name: "r", action: "DROP" })).json();
		const put = core.services.db.prepare(
			"INSERT INTO rule_stats_samples (rule_id, sampled_at, packets, bytes, raw_packets, raw_bytes, last_matched) VALUES (?, ?, ?, ?, ?, ?, ?)",
		);
		put.run(rule.id, "2030-01-01T10:00:00.000Z", 0, 0, 5, 500, null);
		put.run(rule.id, "2030-01-01T10:30:00.000Z", 10, 1000, 15, 1500, "2030-01-01T10:29:00.000Z");
		put.run(rule.id, "2030-01-01T11:10:00.000Z", 25, 2500, 30, 3000, "2030-01-01T11:09:00.000Z");
		const res = await core.request(
			`/v1/filters/${rule.id}/stats?from=2030-01-01T10:00:00Z&to=2030-01-01T12:00:00Z&granularity=HOUR`,
			{ key },
		);
		const s = await res.json();
		expect(s).toMatchObject({
			packetsMatched: 25,
			bytesMatched: 2500,
			packetsDropped: 25,
			lastMatched: "2030-01-01T11:09:00.000Z",
		});
		expect(s.series.map((b: { packetsMatched: number }) => b.packetsMatched)).toEqual([10, 15]);
		expect((await (await core.request(`/v1/filters/${rule.id}`, { key })).json()).stats.packetsMatched).toBe(25);
		for (const q of ["granularity=WEEK", "from=yesterday", "from=2030-01-02T00:00:00Z&to=2030-01-01T00:00:00Z"]) {
			expect((await core.request(`/v1/filters/${rule.id}/stats?${q}`, { key })).status).toBe(400);
		}
		expect((await core.request("/v1/filters/fr_nope/stats", { key })).status).toBe(404);
	});

	test("permissions: read-only keys cannot create, delete needs the delete permission", async () => {
		const rule = await (await post({ backendId, name: "r", action: "DROP" })).json();
		expect((await post({ backendId, name: "x", action: "DROP" }, core.key(["read"]))).status).toBe(403);
		expect(
			(await core.request(`/v1/filters/${rule.id}`, { method: "DELETE", key: core.key(["read", "write"]) })).status,
		).toBe(403);
		expect((await core.request("/v1/filters")).status).toBe(401);
	});

	test("timeMatch windows are read in the configured timezone and toggled by the job", async () => {
		const match = { timeMatch: { daysOfWeek: [1], timeRanges: [{ startMinutes: 540, endMinutes: 600 }] } };
		// Monday 2030-01-07 08:30 UTC is 09:30 in Berlin.
		const at = new Date("2030-01-07T08:30:00Z");
		expect(windowOpen(match, at, "UTC")).toBe(false);
		expect(windowOpen(match, at, "Europe/Berlin")).toBe(true);
		expect(
			windowOpen(
				{ timeMatch: { timeRanges: [{ startMinutes: 1380, endMinutes: 60 }] } },
				new Date("2030-01-07T00:30:00Z"),
				"UTC",
			),
		).toBe(true);
		const rule = await (await post({ backendId, name: "t", action: "DROP", match })).json();
		const active = () =>
			core.services.db
				.query<{ time_active: number }, [string]>("SELECT time_active FROM filter_rules WHERE id = ?")
				.get(rule.id)?.time_active;
		refreshTimeWindows(core.services.db, at, "Europe/Berlin");
		expect(active()).toBe(1);
		expect(compileRules(core.services.db).rulesets.size).toBe(1);
		expect(refreshTimeWindows(core.services.db, new Date("2030-01-07T09:00:00Z"), "Europe/Berlin")).toBe(1);
		expect(active()).toBe(0);
		expect(compileRules(core.services.db).rulesets.size).toBe(0);
	});
});

describe.skipIf(canWriteMmdb() !== null)("country and ASN conditions", () => {
	test("countries and ASNs compile into source sets from the database; the set is the intersection with sourceIps", async () => {
		const dir = join(core.config.storage.data_dir, "geoip");
		mkdirSync(dir, { recursive: true });
		writeMmdb(dir, "country.mmdb", "country", { "192.0.2.0/24": "FR", "198.51.100.0/24": "DE", "2001:db8::/32": "FR" });
		writeMmdb(dir, "asn.mmdb", "asn", { "192.0.2.0/25": "64500:Test" });
		const res = await post({
			backendId,
			name: "fr",
			action: "DROP",
			match: {
				sourceCountryBlacklist: ["DE"],
				sourceCountries: ["FR"],
				sourceIps: [{ address: "192.0.2.0", prefixLength: 23 }],
			},
		});
		expect(res.status).toBe(201);
		expect((await post({ backendId, name: "asn", action: "DROP", match: { sourceAsns: [64500] } })).status).toBe(201);
		const sets = core.services.db
			.query<{ kind: string; code: string; networks: string }, []>(
				"SELECT kind, code, networks FROM geoip_sets ORDER BY kind, code",
			)
			.all();
		expect(sets).toEqual([
			{ kind: "asn", code: "64500", networks: "192.0.2.0/25" },
			{ kind: "country", code: "DE", networks: "198.51.100.0/24" },
			{ kind: "country", code: "FR", networks: "2001:db8::/32,192.0.2.0/24" },
		]);
		const v4 = [...(compileRules(core.services.db).srcsets.get("pp_srcset_v4")?.values() ?? [])].map((e) =>
			e.key.join(","),
		);
		// FR ∩ 192.0.2.0/23 = 192.0.2.0/24; DE blacklist 198.51.100.0/24; ASN 192.0.2.0/25.
		expect(v4).toHaveLength(3);
		const lookup = core.services.geoip.lookup("192.0.2.7");
		expect(lookup).toMatchObject({ country: "FR", asn: 64500, organization: "Test" });
	});
});
