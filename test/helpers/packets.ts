// Packet builder for data-plane tests: Ethernet with 0–2 VLAN tags (802.1Q / 802.1ad),
// IPv4 (options, fragments) or IPv6 (extension headers, fragment header), and TCP, UDP,
// ICMP or ICMPv6 with correct checksums. Produces the bytes a NIC would hand to XDP.

export const ETH_P_IP = 0x0800;
export const ETH_P_IPV6 = 0x86dd;
export const ETH_P_ARP = 0x0806;
export const ETH_P_8021Q = 0x8100;
export const ETH_P_8021AD = 0x88a8;

export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_PSH = 0x08;
export const TCP_ACK = 0x10;
export const TCP_URG = 0x20;

export type L4 =
	| { proto: "tcp"; sport: number; dport: number; flags?: number; seq?: number; options?: Uint8Array }
	| {
			proto: "udp";
			sport: number;
			dport: number /** the UDP length field, when it must differ (first fragments) */;
			length?: number;
	  }
	| { proto: "icmp"; type: number; code?: number }
	| { proto: "icmpv6"; type: number; code?: number }
	| { proto: "raw"; number: number };

export type Ipv6Ext =
	| { type: "hop" | "dst" | "routing"; len8?: number }
	| { type: "frag"; offset: number; more: boolean; id?: number };

export interface PacketSpec {
	src: string;
	dst: string;
	l4: L4;
	/** Payload bytes after the L4 header, or a length to fill with a pattern. */
	payload?: Uint8Array | number;
	/** VLAN ids, outermost first; with two tags the outer uses 802.1ad unless tpids says otherwise. */
	vlans?: number[];
	tpids?: number[];
	ipv4?: { options?: Uint8Array; fragOffset8?: number; more?: boolean; id?: number; ttl?: number };
	ipv6Ext?: Ipv6Ext[];
}

const NEXT_HDR: Record<Ipv6Ext["type"], number> = { hop: 0, routing: 43, dst: 60, frag: 44 };
const PROTO = { tcp: 6, udp: 17, icmp: 1, icmpv6: 58 } as const;

function parseV4(s: string): Uint8Array {
	const parts = s.split(".").map(Number);
	if (parts.length !== 4 || parts.some((n) => !Number.isInteger(n) || n < 0 || n > 255)) {
		throw new RangeError(`bad IPv4 ${s}`);
	}
	return new Uint8Array(parts);
}

function parseV6(s: string): Uint8Array {
	const [head = "", tail] = s.split("::");
	const h = head === "" ? [] : head.split(":");
	const t = tail === undefined || tail === "" ? [] : tail.split(":");
	const fill = tail === undefined ? 0 : 8 - h.length - t.length;
	const groups = [...h, ...Array<string>(fill).fill("0"), ...t];
	if (groups.length !== 8) throw new RangeError(`bad IPv6 ${s}`);
	const out = new Uint8Array(16);
	groups.forEach((g, i) => {
		const n = Number.parseInt(g, 16);
		out[i * 2] = n >> 8;
		out[i * 2 + 1] = n & 0xff;
	});
	return out;
}

export function isV6(addr: string): boolean {
	return addr.includes(":");
}

function sum16(bytes: Uint8Array, initial = 0): number {
	let sum = initial;
	for (let i = 0; i + 1 < bytes.length; i += 2) sum += ((bytes[i] as number) << 8) | (bytes[i + 1] as number);
	if (bytes.length % 2) sum += (bytes[bytes.length - 1] as number) << 8;
	return sum;
}

function fold(sum: number): number {
	let s = sum;
	while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
	return ~s & 0xffff;
}

/** The Internet checksum of bytes (with an optional running sum, e.g. a pseudo-header). */
export function inetChecksum(bytes: Uint8Array, initial = 0): number {
	return fold(sum16(bytes, initial));
}

function pseudoSum(src: Uint8Array, dst: Uint8Array, proto: number, len: number): number {
	// IPv4 and IPv6 pseudo-headers sum the same way while len < 65536.
	return sum16(src) + sum16(dst) + proto + len;
}

function concat(...parts: Uint8Array[]): Uint8Array {
	const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
	let o = 0;
	for (const p of parts) {
		out.set(p, o);
		o += p.length;
	}
	return out;
}

function payloadBytes(p: Uint8Array | number | undefined): Uint8Array {
	if (p instanceof Uint8Array) return p;
	const out = new Uint8Array(p ?? 0);
	for (let i = 0; i < out.length; i++) out[i] = (i * 7 + 3) & 0xff;
	return out;
}

function protoNumber(l4: L4): number {
	return l4.proto === "raw" ? l4.number : PROTO[l4.proto];
}

function buildL4(l4: L4, payload: Uint8Array, src: Uint8Array, dst: Uint8Array): Uint8Array {
	switch (l4.proto) {
		case "tcp": {
			const opts = l4.options ?? new Uint8Array(0);
			if (opts.length % 4) throw new RangeError("TCP options must be a multiple of 4 bytes");
			const h = new Uint8Array(20 + opts.length);
			const v = new DataView(h.buffer);
			v.setUint16(0, l4.sport);
			v.setUint16(2, l4.dport);
			v.setUint32(4, l4.seq ?? 1000);
			v.setUint8(12, (h.length / 4) << 4);
			v.setUint8(13, l4.flags ?? TCP_SYN);
			v.setUint16(14, 65535);
			h.set(opts, 20);
			const seg = concat(h, payload);
			new DataView(seg.buffer).setUint16(16, inetChecksum(seg, pseudoSum(src, dst, 6, seg.length)));
			return seg;
		}
		case "udp": {
			const h = new Uint8Array(8);
			const v = new DataView(h.buffer);
			v.setUint16(0, l4.sport);
			v.setUint16(2, l4.dport);
			v.setUint16(4, l4.length ?? 8 + payload.length);
			const seg = concat(h, payload);
			const c = inetChecksum(seg, pseudoSum(src, dst, 17, seg.length));
			new DataView(seg.buffer).setUint16(6, c === 0 ? 0xffff : c);
			return seg;
		}
		case "icmp":
		case "icmpv6": {
			const h = new Uint8Array(8);
			h[0] = l4.type;
			h[1] = l4.code ?? 0;
			const seg = concat(h, payload);
			const initial = l4.proto === "icmpv6" ? pseudoSum(src, dst, 58, seg.length) : 0;
			new DataView(seg.buffer).setUint16(2, inetChecksum(seg, initial));
			return seg;
		}
		case "raw":
			return payload;
	}
}

function ethernet(spec: PacketSpec, etherType: number): Uint8Array {
	const vlans = spec.vlans ?? [];
	if (vlans.length > 2) throw new RangeError("at most two VLAN tags");
	const h = new Uint8Array(14 + 4 * vlans.length);
	const v = new DataView(h.buffer);
	h.set([0x02, 0, 0, 0, 0, 0x02], 0);
	h.set([0x02, 0, 0, 0, 0, 0x01], 6);
	let o = 12;
	vlans.forEach((id, i) => {
		const dflt = vlans.length === 2 && i === 0 ? ETH_P_8021AD : ETH_P_8021Q;
		v.setUint16(o, spec.tpids?.[i] ?? dflt);
		v.setUint16(o + 2, id & 0x0fff);
		o += 4;
	});
	v.setUint16(o, etherType);
	return h;
}

function ipv4(spec: PacketSpec, l4bytes: Uint8Array): Uint8Array {
	const opts = spec.ipv4?.options ?? new Uint8Array(0);
	if (opts.length % 4 || opts.length > 40) throw new RangeError("IPv4 options: multiple of 4, at most 40 bytes");
	const h = new Uint8Array(20 + opts.length);
	const v = new DataView(h.buffer);
	v.setUint8(0, 0x40 | (h.length / 4));
	v.setUint16(2, h.length + l4bytes.length);
	v.setUint16(4, spec.ipv4?.id ?? 0x1234);
	v.setUint16(6, ((spec.ipv4?.more ? 1 : 0) << 13) | (spec.ipv4?.fragOffset8 ?? 0));
	v.setUint8(8, spec.ipv4?.ttl ?? 64);
	v.setUint8(9, protoNumber(spec.l4));
	h.set(parseV4(spec.src), 12);
	h.set(parseV4(spec.dst), 16);
	h.set(opts, 20);
	v.setUint16(10, inetChecksum(h));
	return concat(h, l4bytes);
}

function ipv6(spec: PacketSpec, l4bytes: Uint8Array): Uint8Array {
	const exts = spec.ipv6Ext ?? [];
	const chain: Uint8Array[] = exts.map((e, i) => {
		const next = i + 1 < exts.length ? NEXT_HDR[(exts[i + 1] as Ipv6Ext).type] : protoNumber(spec.l4);
		if (e.type === "frag") {
			const f = new Uint8Array(8);
			const v = new DataView(f.buffer);
			f[0] = next;
			v.setUint16(2, (e.offset << 3) | (e.more ? 1 : 0));
			v.setUint32(4, e.id ?? 0xabcd);
			return f;
		}
		const len8 = e.len8 ?? 0;
		const o = new Uint8Array((len8 + 1) * 8);
		o[0] = next;
		o[1] = len8;
		if (e.type === "routing") o[2] = 0;
		else {
			// PadN filling the option area keeps the header well formed.
			o[2] = 1;
			o[3] = o.length - 4;
		}
		return o;
	});
	const payload = concat(...chain, l4bytes);
	const h = new Uint8Array(40);
	const v = new DataView(h.buffer);
	v.setUint32(0, 0x60000000);
	v.setUint16(4, payload.length);
	v.setUint8(6, exts.length > 0 ? NEXT_HDR[(exts[0] as Ipv6Ext).type] : protoNumber(spec.l4));
	v.setUint8(7, 64);
	h.set(parseV6(spec.src), 8);
	h.set(parseV6(spec.dst), 24);
	return concat(h, payload);
}

export function buildPacket(spec: PacketSpec): Uint8Array {
	const v6 = isV6(spec.src);
	if (v6 !== isV6(spec.dst)) throw new RangeError("src and dst must be the same family");
	const src = v6 ? parseV6(spec.src) : parseV4(spec.src);
	const dst = v6 ? parseV6(spec.dst) : parseV4(spec.dst);
	const l4bytes = buildL4(spec.l4, payloadBytes(spec.payload), src, dst);
	const l3 = v6 ? ipv6(spec, l4bytes) : ipv4(spec, l4bytes);
	return concat(ethernet(spec, v6 ? ETH_P_IPV6 : ETH_P_IP), l3);
}

/** A non-IP frame (e.g. ARP) with the given EtherType. */
export function buildEthernet(etherType: number, payloadLen = 28, vlans: number[] = []): Uint8Array {
	return concat(
		ethernet({ src: "0.0.0.0", dst: "0.0.0.0", l4: { proto: "raw", number: 0 }, vlans }, etherType),
		payloadBytes(payloadLen),
	);
}

/** Verifies the IPv4 header checksum and the L4 checksum of an untagged or tagged frame. */
export function checksumsValid(frame: Uint8Array): boolean {
	const v = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
	let o = 12;
	let type = v.getUint16(o);
	while (type === ETH_P_8021Q || type === ETH_P_8021AD) {
		o += 4;
		type = v.getUint16(o);
	}
	o += 2;
	if (type === ETH_P_IP) {
		const ihl = (v.getUint8(o) & 0x0f) * 4;
		if (inetChecksum(frame.subarray(o, o + ihl)) !== 0) return false;
		const tot = v.getUint16(o + 2);
		const proto = v.getUint8(o + 9);
		const seg = frame.subarray(o + ihl, o + tot);
		if (proto === 1) return inetChecksum(seg) === 0;
		if (proto === 6 || proto === 17) {
			return (
				inetChecksum(
					seg,
					pseudoSum(frame.subarray(o + 12, o + 16), frame.subarray(o + 16, o + 20), proto, seg.length),
				) === 0
			);
		}
		return true;
	}
	if (type === ETH_P_IPV6) {
		const plen = v.getUint16(o + 4);
		const proto = v.getUint8(o + 6);
		const seg = frame.subarray(o + 40, o + 40 + plen);
		if (proto === 6 || proto === 17 || proto === 58) {
			return (
				inetChecksum(
					seg,
					pseudoSum(frame.subarray(o + 8, o + 24), frame.subarray(o + 24, o + 40), proto, seg.length),
				) === 0
			);
		}
		return true;
	}
	return true;
}

/** What Linux puts in a SYN: MSS 1460, SACK permitted, timestamps (tsval, echo 0), NOP, window scale 7. */
export function linuxSynOptions(tsval: number): Uint8Array {
	const o = new Uint8Array(20);
	const v = new DataView(o.buffer);
	o.set([2, 4, 0x05, 0xb4, 4, 2, 8, 10], 0);
	v.setUint32(8, tsval);
	v.setUint32(12, 0);
	o.set([1, 3, 3, 7], 16);
	return o;
}
