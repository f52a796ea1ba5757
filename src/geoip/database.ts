// GeoIP databases: country or ASN data, either in MaxMind's mmdb format (GeoLite2, DB-IP,
// ip-location-db; read with the `maxmind` reader) or as ip-location-db range CSVs
// (start,end,value[,name]). Both answer lookups and list the networks of a country or ASN.
import { readFileSync, statSync } from "node:fs";
import { Reader } from "maxmind";
import { formatAddress, parseAddress } from "../net/cidr.ts";
import { bigToBytes, bytesToBig, mergeRanges, type Range, rangeToPrefixes } from "./prefixes.ts";

export type GeoKind = "country" | "asn";

export interface GeoAnswer {
	country?: string;
	asn?: number;
	organization?: string;
}

export interface GeoDatabaseInfo {
	kind: GeoKind;
	path: string;
	format: "mmdb" | "csv";
	databaseType: string;
	builtAt: string | null;
	/** Changes whenever the file does (size and modification time). */
	generation: string;
}

export interface GeoDatabase {
	info: GeoDatabaseInfo;
	lookup(ip: string): GeoAnswer | null;
	/** The networks (canonical CIDR texts) of each wanted code: "CN", or an ASN as "13335". */
	networks(codes: Set<string>): Map<string, string[]>;
}

export class GeoDatabaseError extends Error {}

/** The file's identity for change detection. */
export function generationOf(path: string): string {
	const s = statSync(path);
	return `${s.size}:${Math.floor(s.mtimeMs)}`;
}

type Record = { [k: string]: unknown };

function countryOf(r: Record): string | undefined {
	const nested = (k: string) => (r[k] as { iso_code?: string } | undefined)?.iso_code;
	const code = nested("country") ?? (r.country_code as string | undefined) ?? nested("registered_country");
	return typeof code === "string" ? code.toUpperCase() : undefined;
}

function asnOf(r: Record): number | undefined {
	const raw = r.autonomous_system_number ?? r.asn;
	const n = typeof raw === "string" ? Number(raw.replace(/^AS/i, "")) : raw;
	return typeof n === "number" && Number.isInteger(n) && n > 0 ? n : undefined;
}

function answerOf(kind: GeoKind, r: Record | null): GeoAnswer | null {
	if (!r) return null;
	if (kind === "country") {
		const country = countryOf(r);
		return country ? { country } : null;
	}
	const asn = asnOf(r);
	if (asn === undefined) return null;
	const organization = r.autonomous_system_organization ?? r.as_organization ?? r.organization;
	return typeof organization === "string" ? { asn, organization } : { asn };
}

const codeOf = (kind: GeoKind, a: GeoAnswer | null) =>
	a ? (kind === "country" ? a.country : a.asn !== undefined ? String(a.asn) : undefined) : undefined;

/** Opens and checks a database file; throws GeoDatabaseError when it is not a usable one. */
export function openGeoDatabase(kind: GeoKind, path: string): GeoDatabase {
	let bytes: Buffer;
	try {
		bytes = readFileSync(path);
	} catch (err) {
		throw new GeoDatabaseError(`cannot read ${path}: ${(err as Error).message}`);
	}
	const generation = generationOf(path);
	return path.endsWith(".csv")
		? new CsvDatabase(kind, path, bytes, generation)
		: new MmdbDatabase(kind, path, bytes, generation);
}

class MmdbDatabase implements GeoDatabase {
	readonly info: GeoDatabaseInfo;
	private readonly reader: Reader<Record>;

	constructor(
		private readonly kind: GeoKind,
		path: string,
		private readonly bytes: Buffer,
		generation: string,
	) {
		try {
			this.reader = new Reader<Record>(bytes);
		} catch (err) {
			throw new GeoDatabaseError(`${path} is not an mmdb database: ${(err as Error).message}`);
		}
		const m = this.reader.metadata;
		if (m.nodeCount < 1 || ![24, 28, 32].includes(m.recordSize))
			throw new GeoDatabaseError(`${path}: unsupported search tree (record size ${m.recordSize})`);
		const type = m.databaseType.toLowerCase();
		const fits = kind === "country" ? /country|city/.test(type) : /asn|\bas\b|isp/.test(type);
		if (!fits) throw new GeoDatabaseError(`${path} is a '${m.databaseType}' database, not a ${kind} database`);
		this.info = {
			kind,
			path,
			format: "mmdb",
			databaseType: m.databaseType,
			builtAt: m.buildEpoch ? m.buildEpoch.toISOString() : null,
			generation,
		};
	}

	lookup(ip: string): GeoAnswer | null {
		return answerOf(this.kind, this.reader.get(ip));
	}

	/** Walks the whole search tree once; decodes each distinct data record once (by looking up its network). */
	networks(codes: Set<string>): Map<string, string[]> {
		const out = new Map<string, string[]>([...codes].map((c) => [c, []]));
		if (codes.size === 0) return out;
		const m = this.reader.metadata;
		const { nodeCount, recordSize } = m;
		const db = this.bytes;
		const nodeBytes = (recordSize * 2) / 8;
		const read = (node: number, right: number): number => {
			const at = node * nodeBytes;
			if (recordSize === 24) {
				const o = at + right * 3;
				return ((db[o] as number) << 16) | ((db[o + 1] as number) << 8) | (db[o + 2] as number);
			}
			if (recordSize === 28) {
				if (right === 0)
					return (
						(((db[at + 3] as number) & 0xf0) << 20) |
						((db[at] as number) << 16) |
						((db[at + 1] as number) << 8) |
						(db[at + 2] as number)
					);
				return (
					(((db[at + 3] as number) & 0x0f) << 24) |
					((db[at + 4] as number) << 16) |
					((db[at + 5] as number) << 8) |
					(db[at + 6] as number)
				);
			}
			return db.readUInt32BE(at + right * 4);
		};
		const bits = m.ipVersion === 6 ? 128 : 32;
		// The IPv4 subtree of an IPv6 database is ::/96; other places pointing at it are aliases.
		let v4Start = 0;
		if (bits === 128) for (let i = 0; i < 96 && v4Start < nodeCount; i++) v4Start = read(v4Start, 0);
		const codeByPointer = new Map<number, string | undefined>();
		const stack: Array<{ node: number; depth: number; value: bigint }> = [{ node: 0, depth: 0, value: 0n }];
		// Every node is visited at most once (a tree, aliases skipped), so the loop is bounded.
		for (let guard = 0; stack.length && guard <= 2 * nodeCount + 2; guard++) {
			const { node, depth, value } = stack.pop() as { node: number; depth: number; value: bigint };
			for (const side of [0, 1]) {
				const child = read(node, side);
				const childDepth = depth + 1;
				const childValue = value | (BigInt(side) << BigInt(bits - childDepth));
				if (child === nodeCount) continue;
				if (child < nodeCount) {
					if (bits === 128 && child === v4Start && !(childDepth === 96 && childValue === 0n)) continue;
					if (childDepth < bits) stack.push({ node: child, depth: childDepth, value: childValue });
					continue;
				}
				const isV4 = bits === 32 || (childDepth >= 96 && childValue >> 32n === 0n && v4Start !== 0);
				const family: 4 | 6 = isV4 ? 4 : 6;
				const length = bits === 128 && isV4 ? childDepth - 96 : childDepth;
				const network = isV4 && bits === 128 ? childValue & 0xffffffffn : childValue;
				let code = codeByPointer.get(child);
				if (!codeByPointer.has(child)) {
					const address = formatAddress(bigToBytes(network, family));
					code = codeOf(this.kind, answerOf(this.kind, this.reader.get(address)));
					codeByPointer.set(child, code);
				}
				const list = code !== undefined ? out.get(code) : undefined;
				if (list) list.push(`${formatAddress(bigToBytes(network, family))}/${length}`);
			}
		}
		return out;
	}
}

interface CsvRow {
	family: 4 | 6;
	lo: bigint;
	hi: bigint;
	code: string;
	name: string | undefined;
}

class CsvDatabase implements GeoDatabase {
	readonly info: GeoDatabaseInfo;
	private sorted: { v4: CsvRow[]; v6: CsvRow[] } | null = null;

	constructor(
		private readonly kind: GeoKind,
		path: string,
		private readonly bytes: Buffer,
		generation: string,
	) {
		const first = this.bytes.subarray(0, 4096).toString("utf8").split("\n")[0] ?? "";
		if (!parseLine(first, kind)) throw new GeoDatabaseError(`${path} is not a ${kind} range CSV (start,end,value)`);
		this.info = { kind, path, format: "csv", databaseType: `${kind} ranges (csv)`, builtAt: null, generation };
	}

	private *rows(): Generator<CsvRow> {
		const text = this.bytes.toString("utf8");
		let at = 0;
		while (at < text.length) {
			let end = text.indexOf("\n", at);
			if (end === -1) end = text.length;
			const row = parseLine(text.slice(at, end), this.kind);
			if (row) yield row;
			at = end + 1;
		}
	}

	lookup(ip: string): GeoAnswer | null {
		if (!this.sorted) {
			const v4: CsvRow[] = [];
			const v6: CsvRow[] = [];
			for (const r of this.rows()) (r.family === 4 ? v4 : v6).push(r);
			const order = (a: CsvRow, b: CsvRow) => (a.lo < b.lo ? -1 : a.lo > b.lo ? 1 : 0);
			this.sorted = { v4: v4.sort(order), v6: v6.sort(order) };
		}
		const { family, bytes } = parseAddress(ip);
		const n = bytesToBig(bytes);
		const rows = family === 4 ? this.sorted.v4 : this.sorted.v6;
		let lo = 0;
		let hi = rows.length - 1;
		while (lo <= hi) {
			const mid = (lo + hi) >> 1;
			const r = rows[mid] as CsvRow;
			if (n < r.lo) hi = mid - 1;
			else if (n > r.hi) lo = mid + 1;
			else
				return this.kind === "country"
					? { country: r.code }
					: r.name
						? { asn: Number(r.code), organization: r.name }
						: { asn: Number(r.code) };
		}
		return null;
	}

	networks(codes: Set<string>): Map<string, string[]> {
		const ranges = new Map<string, Range[]>([...codes].map((c) => [c, []]));
		if (codes.size) for (const r of this.rows()) ranges.get(r.code)?.push({ family: r.family, lo: r.lo, hi: r.hi });
		const out = new Map<string, string[]>();
		for (const [code, list] of ranges) {
			const v4 = mergeRanges(list.filter((r) => r.family === 4));
			const v6 = mergeRanges(list.filter((r) => r.family === 6));
			out.set(code, [...v4, ...v6].flatMap(rangeToPrefixes));
		}
		return out;
	}
}

function parseLine(line: string, kind: GeoKind): CsvRow | null {
	const first = line.indexOf(",");
	const second = line.indexOf(",", first + 1);
	if (first < 0 || second < 0) return null;
	const third = line.indexOf(",", second + 1);
	const value = (third < 0 ? line.slice(second + 1) : line.slice(second + 1, third)).trim();
	const code = kind === "country" ? value.toUpperCase() : value.replace(/^AS/i, "");
	if (kind === "country" ? !/^[A-Z]{2}$/.test(code) : !/^\d{1,10}$/.test(code)) return null;
	try {
		const a = parseAddress(line.slice(0, first));
		const b = parseAddress(line.slice(first + 1, second));
		if (a.family !== b.family) return null;
		const name =
			third < 0
				? undefined
				: line
						.slice(third + 1)
						.replace(/^"|"\s*$/g, "")
						.trim() || undefined;
		return { family: a.family, lo: bytesToBig(a.bytes), hi: bytesToBig(b.bytes), code, name };
	} catch {
		return null;
	}
}
