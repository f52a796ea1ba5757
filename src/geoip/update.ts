// Refreshing the GeoIP databases from a configured URL or a MaxMind license key. A download is
// written beside the database, opened and checked, and only then renamed over it: a bad or
// partial download never replaces a good database.
import { mkdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { gunzipSync } from "node:zlib";
import { systemActor } from "../domain/actor.ts";
import type { AuditSubject } from "../domain/audit/service.ts";
import { bumpRevision } from "../domain/revisions.ts";
import type { Services } from "../services.ts";
import { type GeoKind, openGeoDatabase } from "./database.ts";
import { GEO_KINDS } from "./service.ts";

export interface UpdateResult {
	kind: GeoKind;
	status: "updated" | "skipped" | "failed";
	path: string;
	detail: string;
}

/** The databases are appliance-wide: a scheduled update belongs to no organization. */
const SCHEDULE: AuditSubject = {
	...systemActor(""),
	organizationId: null,
	userAgent: "pistonprotection-scheduler",
};

const MAX_DOWNLOAD_BYTES = 512 * 1024 * 1024;
const EDITIONS: Record<GeoKind, string> = { country: "GeoLite2-Country", asn: "GeoLite2-ASN" };

/** Where a kind is fetched from, or null when nothing is configured for it. */
export function updateSource(
	config: Services["config"],
	kind: GeoKind,
): { url: string; headers: Record<string, string> } | null {
	const url = kind === "country" ? config.geoip.country_update_url : config.geoip.asn_update_url;
	if (url) return { url, headers: {} };
	const key = config.geoip.maxmind_license_key;
	if (!key) return null;
	const edition = EDITIONS[kind];
	const account = config.geoip.maxmind_account_id;
	if (account)
		return {
			url: `https://download.maxmind.com/geoip/databases/${edition}/download?suffix=tar.gz`,
			headers: { authorization: `Basic ${Buffer.from(`${account}:${key}`).toString("base64")}` },
		};
	return {
		url: `https://download.maxmind.com/app/geoip_download?edition_id=${edition}&license_key=${encodeURIComponent(key)}&suffix=tar.gz`,
		headers: {},
	};
}

/** The database file inside a download: plain, gzip, or a (gzipped) tar holding one .mmdb. */
export function extractDatabase(bytes: Uint8Array, url: string): { data: Uint8Array; format: "mmdb" | "csv" } {
	let data = bytes;
	if (data[0] === 0x1f && data[1] === 0x8b) data = new Uint8Array(gunzipSync(data));
	// ustar magic at offset 257
	if (data.length > 512 && Buffer.from(data.subarray(257, 262)).toString() === "ustar") {
		for (let at = 0; at + 512 <= data.length; ) {
			const header = Buffer.from(data.subarray(at, at + 512));
			const name = header.subarray(0, 100).toString().replace(/\0.*$/s, "");
			if (!name) break;
			const size = Number.parseInt(header.subarray(124, 136).toString().replace(/\0.*$/s, "").trim() || "0", 8);
			if (name.endsWith(".mmdb")) return { data: data.subarray(at + 512, at + 512 + size), format: "mmdb" };
			at += 512 + Math.ceil(size / 512) * 512;
		}
		throw new Error("the archive holds no .mmdb file");
	}
	const path = new URL(url).pathname.replace(/\.gz$/, "");
	return { data, format: path.endsWith(".csv") ? "csv" : "mmdb" };
}

/** Fetches, checks and installs one kind's database. */
export async function updateKind(
	services: Services,
	kind: GeoKind,
	fetchImpl = fetch,
	subject: AuditSubject = SCHEDULE,
): Promise<UpdateResult> {
	const source = updateSource(services.config, kind);
	const current = services.geoip.path(kind);
	if (!source) return { kind, status: "skipped", path: current, detail: "no update URL or license key configured" };
	let tmp: string | null = null;
	try {
		const res = await fetchImpl(source.url, { headers: source.headers, signal: AbortSignal.timeout(300_000) });
		if (!res.ok) throw new Error(`download answered HTTP ${res.status}`);
		const declared = Number(res.headers.get("content-length") ?? "0");
		if (declared > MAX_DOWNLOAD_BYTES) throw new Error(`download is larger than ${MAX_DOWNLOAD_BYTES} bytes`);
		const bytes = new Uint8Array(await res.arrayBuffer());
		if (bytes.byteLength > MAX_DOWNLOAD_BYTES) throw new Error(`download is larger than ${MAX_DOWNLOAD_BYTES} bytes`);
		const { data, format } = extractDatabase(bytes, source.url);
		const configured = kind === "country" ? services.config.geoip.country_database : services.config.geoip.asn_database;
		const target = configured || join(services.config.storage.data_dir, "geoip", `${kind}.${format}`);
		if (configured && !configured.endsWith(`.${format}`))
			throw new Error(`the download is ${format} but ${configured} is not a .${format} file`);
		mkdirSync(dirname(target), { recursive: true, mode: 0o750 });
		tmp = `${target}.download-${process.pid}`;
		writeFileSync(tmp, data, { mode: 0o640 });
		const db = openGeoDatabase(kind, tmp);
		renameSync(tmp, target);
		tmp = null;
		services.db.transaction(() => {
			if (services.geoip.materialize(services.db)) bumpRevision(services.db, "rules");
			services.audit.recordEvent(subject, {
				action: "geoip.updated",
				resourceType: "geoip_database",
				resourceId: kind,
				description: `Installed a new ${kind} GeoIP database (${db.info.databaseType})`,
				metadata: { path: target, databaseType: db.info.databaseType, source: new URL(source.url).host },
			});
		})();
		return { kind, status: "updated", path: target, detail: `${db.info.databaseType}` };
	} catch (err) {
		return { kind, status: "failed", path: current, detail: (err as Error).message };
	} finally {
		if (tmp) rmSync(tmp, { force: true });
	}
}

/** Who updated the databases: a signed-in admin, the CLI's operator, or (by default) the schedule. */
export async function updateGeoIp(
	services: Services,
	fetchImpl = fetch,
	subject: AuditSubject = SCHEDULE,
): Promise<UpdateResult[]> {
	const out: UpdateResult[] = [];
	for (const kind of GEO_KINDS) out.push(await updateKind(services, kind, fetchImpl, subject));
	return out;
}
