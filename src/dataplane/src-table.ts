// pp_src_table (pp_abi.h, "Source table"): the program's per-(backend, source) state, one array
// element per set of SRC_WAYS ways, placed by a keyed hash whose seeds and set count user space
// publishes in pp_config. Here: sizing the table, making and keeping the seeds, the same hash in
// TypeScript, and reading the ways back (top sources, status, tests) through one mmap.
import { randomBytes } from "node:crypto";
import {
	addr16,
	decodeSrcWay,
	encodeSrcKey,
	LAYOUT,
	SRC_SEEDS,
	SRC_WAYS,
	type SrcHash,
	type SrcState,
	u32,
} from "./abi.ts";
import type { BpfMap } from "./libbpf.ts";

const MASK64 = (1n << 64n) - 1n;
const WAY_BYTES = LAYOUT.pp_src_way.size;
const SET_BYTES = LAYOUT.pp_src_set.size;

/** Sets for a table of at least `sources` ways: a power of two, as the hash masks the set index. */
export function srcTableSets(sources: number): number {
	let sets = 1;
	while (sets * SRC_WAYS < sources) sets *= 2;
	return sets;
}

/** New random seeds for a table of `sets` sets (a power of two). */
export function newSrcHash(sets: number): SrcHash {
	if (!Number.isInteger(sets) || sets < 1 || (sets & (sets - 1)) !== 0)
		throw new RangeError(`pp_src_table needs a power-of-two number of sets, not ${sets}`);
	const bytes = randomBytes(SRC_SEEDS * 8);
	return {
		seeds: Array.from({ length: SRC_SEEDS }, (_, i) => bytes.readBigUInt64LE(i * 8)),
		setMask: sets - 1,
	};
}

/** The seeds to publish: the ones in place when they fit a table of `sets` sets, else new ones. */
export function keepSrcHash(current: SrcHash | null | undefined, sets: number): SrcHash {
	if (current && current.setMask === sets - 1 && current.seeds.some((s) => s !== 0n)) return current;
	return newSrcHash(sets);
}

/** Where the program keeps (scope, address): its set and tag. */
export function srcSlot(hash: SrcHash, scope: number, ip: string | Uint8Array): { set: number; tag: number } {
	const a = addr16(ip);
	const words = new DataView(a.buffer, a.byteOffset, 16);
	const seed = (i: number) => hash.seeds[i] ?? 0n;
	let h = seed(0) + BigInt(scope >>> 0) * seed(1);
	for (let i = 0; i < 4; i++) h += BigInt(words.getUint32(i * 4, true)) * seed(2 + i);
	h &= MASK64;
	return { set: Number((h >> 32n) & BigInt(hash.setMask)), tag: (Number(h & 0xffffffffn) | 1) >>> 0 };
}

/** The state the program keeps for (backend, address), or null when it has none. */
export function findSrc(map: BpfMap, hash: SrcHash, backend: number, ip: string): SrcState | null {
	const { set, tag } = srcSlot(hash, backend, ip);
	const bytes = map.lookup(u32(set));
	if (!bytes) return null;
	const key = encodeSrcKey(backend, ip);
	const at = LAYOUT.pp_src_way.members.key[0];
	for (let w = 0; w < SRC_WAYS; w++) {
		const way = bytes.subarray(w * WAY_BYTES, (w + 1) * WAY_BYTES);
		if (!Buffer.from(way.buffer, way.byteOffset + at, key.length).equals(key)) continue;
		const found = decodeSrcWay(way);
		if (found.tag === tag) return found.state;
	}
	return null;
}

export interface SrcEntry {
	backend: number;
	addr: string;
	state: SrcState;
}

/** Every source the table holds, in one pass over its mapping. */
export function readSrcTable(map: BpfMap): SrcEntry[] {
	return map.withMapped((buf) => {
		const bytes = new Uint8Array(buf);
		const tags = new DataView(buf);
		const out: SrcEntry[] = [];
		for (let at = 0; at + SET_BYTES <= bytes.length; at += SET_BYTES) {
			for (let w = 0; w < SRC_WAYS; w++) {
				if (tags.getUint32(at + w * WAY_BYTES, true) === 0) continue;
				const way = decodeSrcWay(bytes, at + w * WAY_BYTES);
				out.push({ backend: way.scope, addr: way.addr, state: way.state });
			}
		}
		return out;
	});
}

/** Frees every way (the program starts over with each source). */
export function clearSrcTable(map: BpfMap): void {
	map.withMapped((buf) => new Uint8Array(buf).fill(0));
}
