// GeoIP for the protection API: which database files are in use, lookups, and the networks of
// the countries and ASNs that rules and backends reference, materialized into geoip_sets so the
// data-plane compiler reads them from the database like everything else.
import type { Database } from "bun:sqlite";
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { Config } from "../config.ts";
import { type GeoAnswer, type GeoDatabase, type GeoKind, generationOf, openGeoDatabase } from "./database.ts";

export const GEO_KINDS: GeoKind[] = ["country", "asn"];

/** What references GeoIP data: countries and ASNs named by rules and backends' geoIp settings. */
export function referencedCodes(db: Database): Record<GeoKind, Set<string>> {
	const out: Record<GeoKind, Set<string>> = { country: new Set(), asn: new Set() };
	for (const r of db.query<{ match: string }, []>("SELECT match FROM filter_rules").all()) {
		const m = JSON.parse(r.match) as {
			sourceCountries?: string[];
			sourceCountryBlacklist?: string[];
			sourceAsns?: number[];
		};
		for (const c of [...(m.sourceCountries ?? []), ...(m.sourceCountryBlacklist ?? [])]) out.country.add(c);
		for (const a of m.sourceAsns ?? []) out.asn.add(String(a));
	}
	for (const b of db.query<{ protection: string }, []>("SELECT protection FROM backends").all()) {
		const geo = (JSON.parse(b.protection) as { geoIp?: { mode: string; countries: string[] } }).geoIp;
		if (geo && geo.mode !== "OFF") for (const c of geo.countries) out.country.add(c);
	}
	return out;
}

/** The networks of a set of codes as stored in geoip_sets (missing codes have none). */
export function storedNetworks(db: Database, kind: GeoKind, codes: Iterable<string>): string[] {
	const get = db.query<{ networks: string }, [string, string]>(
		"SELECT networks FROM geoip_sets WHERE kind = ? AND code = ?",
	);
	const out: string[] = [];
	for (const code of codes) {
		const row = get.get(kind, code);
		if (row?.networks) out.push(...row.networks.split(","));
	}
	return out;
}

export class GeoIpService {
	private open = new Map<GeoKind, GeoDatabase>();
	/** kind:code → networks, for the generation of the database they were read from. */
	private cache = new Map<string, { generation: string; networks: string[] }>();

	constructor(private readonly config: () => Config) {}

	/** Where the database of a kind is: the configured file, else the default under data_dir/geoip. */
	path(kind: GeoKind): string {
		const cfg = this.config();
		const configured = kind === "country" ? cfg.geoip.country_database : cfg.geoip.asn_database;
		if (configured) return configured;
		const dir = join(cfg.storage.data_dir, "geoip");
		const mmdb = join(dir, `${kind}.mmdb`);
		const csv = join(dir, `${kind}.csv`);
		return !existsSync(mmdb) && existsSync(csv) ? csv : mmdb;
	}

	/** The database of a kind, reopened when its file changed; null when there is none. */
	database(kind: GeoKind): GeoDatabase | null {
		const path = this.path(kind);
		if (!existsSync(path)) {
			this.open.delete(kind);
			return null;
		}
		const current = this.open.get(kind);
		if (current && current.info.path === path && current.info.generation === generationOf(path)) return current;
		const db = openGeoDatabase(kind, path);
		this.open.set(kind, db);
		return db;
	}

	available(kind: GeoKind): boolean {
		return existsSync(this.path(kind));
	}

	lookup(ip: string): GeoAnswer {
		const out: GeoAnswer = {};
		for (const kind of GEO_KINDS) Object.assign(out, this.database(kind)?.lookup(ip) ?? {});
		return out;
	}

	/** Networks of the codes, read once per database generation. */
	networks(kind: GeoKind, codes: Iterable<string>): Map<string, string[]> {
		const db = this.database(kind);
		const out = new Map<string, string[]>();
		if (!db) return out;
		const missing = new Set<string>();
		for (const code of codes) {
			const hit = this.cache.get(`${kind}:${code}`);
			if (hit && hit.generation === db.info.generation) out.set(code, hit.networks);
			else missing.add(code);
		}
		for (const [code, networks] of db.networks(missing)) {
			this.cache.set(`${kind}:${code}`, { generation: db.info.generation, networks });
			out.set(code, networks);
		}
		return out;
	}

	/**
	 * Brings geoip_sets in line with what is referenced and the current databases. Call inside
	 * the writer's transaction; returns true when a row changed (the caller bumps 'rules').
	 */
	materialize(db: Database): boolean {
		const refs = referencedCodes(db);
		let changed = false;
		for (const kind of GEO_KINDS) {
			const database = this.database(kind);
			// Without a database the last networks stay: an ALLOW_LIST must not turn into "drop all".
			const generation = database?.info.generation;
			const stored = new Map(
				db
					.query<{ code: string; generation: string }, [string]>(
						"SELECT code, generation FROM geoip_sets WHERE kind = ?",
					)
					.all(kind)
					.map((r) => [r.code, r.generation]),
			);
			for (const code of stored.keys())
				if (!refs[kind].has(code)) {
					db.prepare("DELETE FROM geoip_sets WHERE kind = ? AND code = ?").run(kind, code);
					changed = true;
				}
			const stale = [...refs[kind]].filter((c) => stored.get(c) !== generation);
			if (!generation || !stale.length) continue;
			const networks = this.networks(kind, stale);
			const put = db.prepare(
				"INSERT OR REPLACE INTO geoip_sets (kind, code, generation, networks) VALUES (?, ?, ?, ?)",
			);
			for (const code of stale) put.run(kind, code, generation, (networks.get(code) ?? []).join(","));
			changed = true;
		}
		return changed;
	}
}
