// The IPv4 summaries of the allow and block lists (pp_abi.h, "IPv4 summaries"): two bits per
// /24 saying whether the list's global entries match every source in it (MATCH), none (NONE),
// or the program must probe the hash maps (PROBE: an entry longer than /24 lies in it, or the
// longest match expires). With them a flood from blocked /24s costs one array read a packet.
//
// A summary follows its list entry by entry: follow() records what changed and recomputes the
// /24s it covers (a change to a short prefix repaints the whole space), and write() stores the
// u64 words that differ from the map's.
import { decodeListEntry, decodeLpmKey, SUM_WORDS, SumState } from "./abi.ts";
import type { BpfMap } from "./libbpf.ts";

/** /24s in the IPv4 space. */
const NETS = 1 << 24;
/** Above this many /24s to recompute, one repaint of the whole space is cheaper. */
const REPAINT_NETS = 1 << 16;
/** Every state NONE: 0b01 in each two-bit field of a u32 half word. */
const ALL_NONE = 0x55555555;

interface SummaryChange {
	/** Host-order address with the host bits cleared. */
	net: number;
	length: number;
	/** null: the entry is gone; else whether it never expires. */
	permanent: boolean | null;
}

export class V4Summary {
	/** length 0..32 → prefix (host order) → permanent */
	private readonly byLength = Array.from({ length: 33 }, () => new Map<number, boolean>());
	/** /24 → how many entries longer than /24 lie in it */
	private readonly longer = new Map<number, number>();
	/** The words as computed, each u64 as two u32 (low half first). */
	private readonly words = new Uint32Array(SUM_WORDS * 2).fill(ALL_NONE);
	/** The u32 halves changed since the last write; null: any of them. */
	private dirty: Set<number> | null = null;

	/**
	 * Follows a list's keys as they are now: each with its entry, or without one where it is gone
	 * (scoped and IPv6 keys are not summarised). whole: these are all of the list's entries.
	 */
	follow(entries: Iterable<[Uint8Array, Uint8Array | undefined]>, whole = false): void {
		const changes: SummaryChange[] = [];
		for (const [key, value] of entries) {
			const c = summaryChange(key, value);
			if (c) changes.push(c);
		}
		if (whole) this.reset(changes);
		else if (changes.length) this.apply(changes);
	}

	/** The next write compares every word with the map's (a forced sync repairs the map). */
	recheck(): void {
		this.dirty = null;
	}

	/** Records entry changes and recomputes the /24s they cover. */
	private apply(changes: SummaryChange[]): void {
		let nets = 0;
		for (const c of changes) {
			this.record(c);
			nets += c.length <= 24 ? 2 ** (24 - c.length) : 1;
		}
		if (nets > REPAINT_NETS || this.dirty === null) {
			this.repaint();
			return;
		}
		for (const c of changes) {
			const first = c.net >>> 8;
			const count = c.length <= 24 ? 2 ** (24 - c.length) : 1;
			for (let n = first; n < first + count; n++) this.setState(n, this.stateOf(n));
		}
	}

	/** Replaces every entry (a full compile). */
	private reset(changes: SummaryChange[]): void {
		for (const m of this.byLength) m.clear();
		this.longer.clear();
		for (const c of changes) this.record(c);
		this.repaint();
	}

	/** The state of the /24 holding addr (host order), as the program reads it. */
	stateAt(addr: number): number {
		const n = addr >>> 8;
		const half = (this.words[n >>> 4] as number) >>> ((n & 15) * 2);
		return half & 3;
	}

	/**
	 * Stores the words that differ from the map's, through its mapping (one u32 store per half:
	 * a /24's two bits never straddle halves, so the program sees its old state or its new one).
	 * Returns how many u64 words changed.
	 */
	write(map: BpfMap): number {
		const want = this.words;
		const dirty = this.dirty;
		if (dirty?.size === 0) return 0;
		this.dirty = new Set();
		return map.withMapped((buf) => {
			const have = new Uint32Array(buf);
			const store = (w: number): number => {
				const lo = 2 * w;
				const hi = lo + 1;
				if (have[lo] === want[lo] && have[hi] === want[hi]) return 0;
				have[lo] = want[lo] as number;
				have[hi] = want[hi] as number;
				return 1;
			};
			let changed = 0;
			if (dirty === null) for (let w = 0; w < SUM_WORDS; w++) changed += store(w);
			else for (const w of new Set([...dirty].map((i) => i >>> 1))) changed += store(w);
			return changed;
		});
	}

	private record(c: SummaryChange): void {
		const m = this.byLength[c.length] as Map<number, boolean>;
		const had = m.has(c.net);
		if (c.permanent === null) m.delete(c.net);
		else m.set(c.net, c.permanent);
		if (c.length <= 24 || had === m.has(c.net)) return;
		const n = c.net >>> 8;
		const count = (this.longer.get(n) ?? 0) + (had ? -1 : 1);
		if (count > 0) this.longer.set(n, count);
		else this.longer.delete(n);
	}

	/** The state of /24 n from the entries: longest prefix of length ≤ 24 that covers it. */
	private stateOf(n: number): number {
		if (this.longer.has(n)) return SumState.PROBE;
		const addr = (n << 8) >>> 0;
		for (let len = 24; len >= 0; len--) {
			const m = this.byLength[len] as Map<number, boolean>;
			if (!m.size) continue;
			const permanent = m.get(len === 0 ? 0 : (addr & (0xffffffff << (32 - len))) >>> 0);
			if (permanent !== undefined) return permanent ? SumState.MATCH : SumState.PROBE;
		}
		return SumState.NONE;
	}

	private setState(n: number, state: number): void {
		const i = n >>> 4;
		const shift = (n & 15) * 2;
		this.words[i] = (((this.words[i] as number) & ~(3 << shift)) | (state << shift)) >>> 0;
		this.dirty?.add(i);
	}

	/** Paints every /24, shortest prefixes first so longer ones overwrite them. */
	private repaint(): void {
		this.dirty = null;
		const states = new Uint8Array(NETS).fill(SumState.NONE);
		for (let len = 0; len <= 24; len++) {
			const span = 2 ** (24 - len);
			for (const [net, permanent] of this.byLength[len] as Map<number, boolean>) {
				const first = net >>> 8;
				states.fill(permanent ? SumState.MATCH : SumState.PROBE, first, first + span);
			}
		}
		for (const n of this.longer.keys()) states[n] = SumState.PROBE;
		const words = this.words;
		for (let i = 0; i < words.length; i++) {
			let half = 0;
			const base = i * 16;
			for (let j = 15; j >= 0; j--) half = (half << 2) | (states[base + j] as number);
			words[i] = half >>> 0;
		}
	}
}

/** The summary change an IPv4 list key and its entry (or its absence) make; null for scoped keys. */
function summaryChange(key: Uint8Array, value: Uint8Array | undefined): SummaryChange | null {
	const { cidr, scope } = decodeLpmKey(key);
	if (scope !== 0 || cidr.family !== 4) return null;
	const a = cidr.addr;
	const net = (((a[0] as number) << 24) | ((a[1] as number) << 16) | ((a[2] as number) << 8) | (a[3] as number)) >>> 0;
	return {
		net,
		length: cidr.prefix,
		permanent: value ? decodeListEntry(value).expiresNs === 0n : null,
	};
}
