// GeoIP: mmdb fixtures written by libmaxmind-db-writer-perl, the ip-location-db CSV format,
// prefix arithmetic, and updates that never replace a good database with a bad download.
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { openGeoDatabase } from "../../src/geoip/database.ts";
import { intersectAll, rangeToPrefixes } from "../../src/geoip/prefixes.ts";
import { updateGeoIp } from "../../src/geoip/update.ts";
import { type TestCore, testCore } from "../helpers/app.ts";
import { canWriteMmdb, writeMmdb } from "../helpers/geoip.ts";

test("ranges become the fewest prefixes, and intersections are exact", () => {
	expect(rangeToPrefixes({ family: 4, lo: 0x0a000001n, hi: 0x0a000006n })).toEqual([
		"10.0.0.1/32",
		"10.0.0.2/31",
		"10.0.0.4/31",
		"10.0.0.6/32",
	]);
	expect(
		intersectAll([
			["10.0.0.0/8", "2001:db8::/32"],
			["10.1.0.0/16", "192.0.2.0/24", "2001:db8:1::/48"],
		]),
	).toEqual(["10.1.0.0/16", "2001:db8:1::/48"]);
	expect(intersectAll([null, ["10.0.0.0/8"]])).toEqual(["10.0.0.0/8"]);
});

describe("ip-location-db CSV", () => {
	let core: TestCore;
	beforeEach(async () => {
		core = await testCore();
	});
	afterEach(() => core.close());

	test("an ASN range CSV answers lookups and lists an ASN's networks", () => {
		const path = join(core.config.storage.data_dir, "asn.csv");
		writeFileSync(
			path,
			'1.0.0.0,1.0.0.255,13335,"Cloudflare, Inc."\n1.0.4.0,1.0.7.255,38803,Gtelecom\n2001:4:112::,2001:4:112:ffff:ffff:ffff:ffff:ffff,112,DNS-OARC\n',
		);
		const db = openGeoDatabase("asn", path);
		expect(db.lookup("1.0.0.9")).toEqual({ asn: 13335, organization: "Cloudflare, Inc." });
		expect(db.lookup("1.0.1.1")).toBeNull();
		expect(db.networks(new Set(["38803", "112"]))).toEqual(
			new Map([
				["38803", ["1.0.4.0/22"]],
				["112", ["2001:4:112::/48"]],
			]),
		);
	});
});

describe.skipIf(canWriteMmdb() !== null)(
	`mmdb databases${canWriteMmdb() ? ` — skipped: ${canWriteMmdb()}` : ""}`,
	() => {
		let core: TestCore;
		beforeEach(async () => {
			core = await testCore();
		});
		afterEach(() => core.close());

		test("a country mmdb answers lookups and lists networks of v4 and v6 (IPv4 aliases not repeated)", () => {
			const path = writeMmdb(core.config.storage.data_dir, "c.mmdb", "country", {
				"192.0.2.0/24": "FR",
				"198.51.100.0/25": "DE",
				"2001:db8::/32": "FR",
			});
			const db = openGeoDatabase("country", path);
			expect(db.lookup("198.51.100.1")).toEqual({ country: "DE" });
			expect(db.lookup("198.51.100.200")).toBeNull();
			expect(db.networks(new Set(["FR", "DE"]))).toEqual(
				new Map([
					["FR", ["2001:db8::/32", "192.0.2.0/24"]],
					["DE", ["198.51.100.0/25"]],
				]),
			);
			expect(() => openGeoDatabase("asn", path)).toThrow("not a asn database");
		});

		test("update installs a good download (gzip or tar.gz), refuses a bad one and keeps the old database", async () => {
			const dir = join(core.config.storage.data_dir, "geoip");
			mkdirSync(dir, { recursive: true });
			const good = readFileSync(
				writeMmdb(core.config.storage.data_dir, "new.mmdb", "country", { "192.0.2.0/24": "NL" }),
			);
			writeMmdb(dir, "country.mmdb", "country", { "192.0.2.0/24": "FR" });
			core.config.geoip.country_update_url = "https://updates.invalid/country.mmdb.gz";
			let body = Buffer.from("<html>not a database</html>");
			const fakeFetch = (async () => new Response(new Uint8Array(body))) as unknown as typeof fetch;
			const [bad] = await updateGeoIp(core.services, fakeFetch);
			expect(bad).toMatchObject({ kind: "country", status: "failed" });
			expect(core.services.geoip.lookup("192.0.2.1").country).toBe("FR");
			const audits = () =>
				core.services.db
					.query<{ organization_id: string | null; user_agent: string | null; resource_id: string }, []>(
						"SELECT organization_id, user_agent, resource_id FROM audit_logs WHERE action = 'geoip.updated' ORDER BY rowid",
					)
					.all();
			expect(audits()).toEqual([]);
			body = gzipSync(good);
			const [ok, asn] = await updateGeoIp(core.services, fakeFetch);
			expect(ok).toMatchObject({ kind: "country", status: "updated" });
			expect(asn).toMatchObject({ kind: "asn", status: "skipped" });
			expect(core.services.geoip.lookup("192.0.2.1").country).toBe("NL");
			// The schedule's update belongs to no organization; an admin's is theirs.
			expect(audits()).toEqual([
				{ organization_id: null, user_agent: "pistonprotection-scheduler", resource_id: "country" },
			]);
			await updateGeoIp(core.services, fakeFetch, { ...core.owner, userAgent: "browser" });
			expect(audits()[1]).toEqual({
				organization_id: core.owner.organizationId,
				user_agent: "browser",
				resource_id: "country",
			});
		});

		test("a database change recomputes the referenced networks and bumps the rules revision", async () => {
			const dir = join(core.config.storage.data_dir, "geoip");
			mkdirSync(dir, { recursive: true });
			writeMmdb(dir, "country.mmdb", "country", { "192.0.2.0/24": "FR" });
			const key = core.key();
			const b = await (
				await core.json(
					"/v1/backends",
					"POST",
					{
						name: "b",
						type: "UDP",
						listeners: [{ port: 1, protocol: "UDP" }],
						protection: { geoIp: { mode: "BLOCK_LIST", countries: ["FR"] } },
					},
					key,
				)
			).json();
			expect(b.protection.geoIp).toEqual({ mode: "BLOCK_LIST", countries: ["FR"] });
			const networks = () =>
				core.services.db.query<{ networks: string }, []>("SELECT networks FROM geoip_sets WHERE code = 'FR'").get()
					?.networks;
			expect(networks()).toBe("192.0.2.0/24");
			const fresh = readFileSync(
				writeMmdb(core.config.storage.data_dir, "v2.mmdb", "country", { "203.0.113.0/24": "FR" }),
			);
			core.config.geoip.country_update_url = "https://updates.invalid/country.mmdb";
			const rev = () =>
				core.services.db
					.query<{ revision: number }, []>("SELECT revision FROM dataplane_revisions WHERE section = 'rules'")
					.get()?.revision ?? 0;
			const before = rev();
			await updateGeoIp(core.services, (async () => new Response(fresh)) as unknown as typeof fetch);
			expect(networks()).toBe("203.0.113.0/24");
			expect(rev()).toBeGreaterThan(before);
		});
	},
);
