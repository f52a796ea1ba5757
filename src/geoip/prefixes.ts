// Prefix arithmetic for source sets: prefixes as inclusive integer ranges (bigint, so IPv4 and
// IPv6 share one code path), merged, intersected and turned back into the fewest CIDRs.
import { formatAddress, type Prefix, parsePrefix } from "../net/cidr.ts";

export interface Range {
	family: 4 | 6;
	lo: bigint;
	hi: bigint;
}

const bitsOf = (family: 4 | 6) => (family === 4 ? 32 : 128);

export function bytesToBig(bytes: Uint8Array): bigint {
	let n = 0n;
	for (const b of bytes) n = (n << 8n) | BigInt(b);
	return n;
}

export function bigToBytes(n: bigint, family: 4 | 6): Uint8Array {
	const out = new Uint8Array(family === 4 ? 4 : 16);
	for (let i = out.length - 1; i >= 0; i--) {
		out[i] = Number(n & 0xffn);
		n >>= 8n;
	}
	return out;
}

export function prefixToRange(p: Prefix): Range {
	const host = BigInt(bitsOf(p.family) - p.prefixLength);
	const lo = bytesToBig(p.bytes);
	return { family: p.family, lo, hi: lo + (1n << host) - 1n };
}

/** Sorted, non-overlapping, adjacent ranges joined; one family per call. */
export function mergeRanges(ranges: Range[]): Range[] {
	const sorted = [...ranges].sort((a, b) => (a.lo < b.lo ? -1 : a.lo > b.lo ? 1 : 0));
	const out: Range[] = [];
	for (const r of sorted) {
		const last = out[out.length - 1];
		if (last && r.lo <= last.hi + 1n) {
			if (r.hi > last.hi) last.hi = r.hi;
		} else out.push({ ...r });
	}
	return out;
}

// Math.min/max do not take bigints.
const bigMax = (a: bigint, b: bigint) => (a > b ? a : b);
const bigMin = (a: bigint, b: bigint) => (a < b ? a : b);

/** Intersection of two merged range lists of the same family. */
export function intersectRanges(a: Range[], b: Range[]): Range[] {
	const out: Range[] = [];
	let i = 0;
	let j = 0;
	while (i < a.length && j < b.length) {
		const x = a[i] as Range;
		const y = b[j] as Range;
		const lo = bigMax(x.lo, y.lo);
		const hi = bigMin(x.hi, y.hi);
		if (lo <= hi) out.push({ family: x.family, lo, hi });
		if (x.hi < y.hi) i++;
		else j++;
	}
	return out;
}

/** The fewest CIDRs covering exactly lo..hi. */
export function rangeToPrefixes(r: Range): string[] {
	const bits = bitsOf(r.family);
	const out: string[] = [];
	let lo = r.lo;
	// Each step takes the largest aligned block starting at lo that fits; at most 2*bits steps.
	for (let step = 0; lo <= r.hi && step < 2 * bits + 2; step++) {
		let size = 0;
		while (size < bits) {
			const next = 1n << BigInt(size + 1);
			if (lo % next !== 0n || lo + next - 1n > r.hi) break;
			size++;
		}
		out.push(`${formatAddress(bigToBytes(lo, r.family))}/${bits - size}`);
		lo += 1n << BigInt(size);
	}
	return out;
}

/** Prefix texts → merged ranges per family. */
export function rangesOf(prefixes: Iterable<string>): { v4: Range[]; v6: Range[] } {
	const v4: Range[] = [];
	const v6: Range[] = [];
	for (const text of prefixes) {
		const r = prefixToRange(parsePrefix(text));
		(r.family === 4 ? v4 : v6).push(r);
	}
	return { v4: mergeRanges(v4), v6: mergeRanges(v6) };
}

/** Canonical, minimal prefix texts of a merged range list. */
export function prefixesOf(ranges: { v4: Range[]; v6: Range[] }): string[] {
	return [...ranges.v4, ...ranges.v6].flatMap(rangeToPrefixes);
}

/** The addresses in every one of the given prefix lists (null lists are "any address"). */
export function intersectAll(lists: Array<Iterable<string> | null>): string[] | null {
	let acc: { v4: Range[]; v6: Range[] } | null = null;
	for (const list of lists) {
		if (list === null) continue;
		const r = rangesOf(list);
		acc = acc ? { v4: intersectRanges(acc.v4, r.v4), v6: intersectRanges(acc.v6, r.v6) } : r;
	}
	return acc ? prefixesOf(acc) : null;
}
