// The service index (pp_abi.h, "Service index"): one u32 per (TCP or UDP, destination port)
// that names the port's only service by its slot in pp_svc_slots, says no service uses the
// port, or sends the program to pp_services when several addresses share it. Two array reads
// instead of two hash lookups for every packet to a protected port.
//
// A slot is never rewritten while the index points at it: a new or changed service is written
// to a free slot first, then the index entries change (one u32 store each, through the map's
// mapping), and only then are the slots nobody points at any more freed, to the back of the
// queue, so a program still reading one finishes long before it is reused.
import { decodeServiceKey, IPPROTO, LAYOUT, PORT_KEYS, PORT_NONE, PORT_UDP, u32 } from "./abi.ts";
import { type Contents, hex, sameBytes } from "./compile.ts";
import type { BpfMap } from "./libbpf.ts";

interface Slot {
	slot: number;
	bytes: Uint8Array;
}

function portKey(serviceKey: Uint8Array): number | null {
	const { port, proto } = decodeServiceKey(serviceKey);
	if (proto === IPPROTO.TCP) return port;
	if (proto === IPPROTO.UDP) return PORT_UDP + port;
	return null;
}

export class ServiceIndex {
	/** Service key (hex) → the slot it is in and what was written there. */
	private slots = new Map<string, Slot>();
	/** Free slots, oldest first; null until the slot map's size is known. */
	private free: number[] | null = null;

	/** Takes over the index a running program already uses (re-adopted maps). */
	adopt(slotMap: BpfMap, portMap: BpfMap): void {
		const used = new Set<number>();
		const refs = portMap.withMapped((buf) =>
			new Uint32Array(buf).filter((v, i) => i % 2 === 0 && v !== 0 && v !== PORT_NONE),
		);
		this.slots.clear();
		for (const ref of refs) {
			const bytes = ref <= slotMap.info.maxEntries ? slotMap.lookup(u32(ref - 1)) : null;
			if (!bytes) continue;
			this.slots.set(hex(bytes.subarray(0, LAYOUT.pp_service_key.size)), { slot: ref - 1, bytes });
			used.add(ref - 1);
		}
		this.free = [...Array(slotMap.info.maxEntries).keys()].filter((s) => !used.has(s));
	}

	/**
	 * Brings slots and index to `services` (pp_services' contents, values final). Returns the
	 * number of slots and index entries written.
	 */
	apply(services: Contents, slotMap: BpfMap, portMap: BpfMap): number {
		this.free ??= [...Array(slotMap.info.maxEntries).keys()];
		const byPort = new Map<number, string[]>();
		for (const [k, e] of services) {
			const pk = portKey(e.key);
			if (pk === null) continue;
			const keys = byPort.get(pk);
			if (keys) keys.push(k);
			else byPort.set(pk, [k]);
		}
		const want = new Uint32Array(PORT_KEYS).fill(PORT_NONE);
		const keep = new Map<string, Slot>();
		let writes = 0;
		for (const [pk, keys] of byPort) {
			const k = keys[0] as string;
			const e = services.get(k);
			if (keys.length > 1 || !e) {
				want[pk] = 0;
				continue;
			}
			const bytes = new Uint8Array(e.key.length + e.value.length);
			bytes.set(e.key);
			bytes.set(e.value, e.key.length);
			let s = keep.get(k) ?? this.slots.get(k);
			if (!s || !sameBytes(s.bytes, bytes)) {
				const slot = this.free.shift();
				if (slot === undefined) throw new Error(`pp_svc_slots has no free slot (${slotMap.info.maxEntries})`);
				slotMap.update(u32(slot), bytes);
				writes++;
				s = { slot, bytes };
			}
			keep.set(k, s);
			want[pk] = s.slot + 1;
		}
		writes += portMap.withMapped((buf) => {
			// One u32 value in each 8-byte element.
			const have = new Uint32Array(buf);
			let n = 0;
			for (let i = 0; i < PORT_KEYS; i++) {
				if (have[2 * i] === want[i]) continue;
				have[2 * i] = want[i] as number;
				n++;
			}
			return n;
		});
		for (const [k, s] of this.slots) if (keep.get(k)?.slot !== s.slot) this.free.push(s.slot);
		this.slots = keep;
		return writes;
	}
}
