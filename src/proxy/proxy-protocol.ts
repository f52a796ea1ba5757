// PROXY protocol (haproxy.org/download/2.9/doc/proxy-protocol.txt): the header we prepend on the
// way to an origin so it sees the player's address, and the v2 parser for trusted upstreams.
// v1 is TCP only (text); v2 is binary and covers TCP and UDP (DGRAM), as Geyser and HAProxy read it.
import { isIP } from "node:net";
import { formatAddress, parseAddress } from "../net/cidr.ts";

export const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);

export interface Endpoints {
	sourceAddress: string;
	sourcePort: number;
	destinationAddress: string;
	destinationPort: number;
}

/** "::ffff:1.2.3.4" (a v4 client on a dual-stack socket) as "1.2.3.4"; anything else unchanged. */
export function plainAddress(address: string): string {
	return address.startsWith("::ffff:") && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
}

/** The v1 text line; mixed families are sent as TCP6 with the v4 side mapped. */
export function encodeV1(e: Endpoints): Buffer {
	const src = plainAddress(e.sourceAddress);
	const dst = plainAddress(e.destinationAddress);
	const v4 = isIP(src) === 4 && isIP(dst) === 4;
	const map = (a: string) => (isIP(a) === 4 ? `::ffff:${a}` : a);
	const line = v4
		? `PROXY TCP4 ${src} ${dst} ${e.sourcePort} ${e.destinationPort}\r\n`
		: `PROXY TCP6 ${map(src)} ${map(dst)} ${e.sourcePort} ${e.destinationPort}\r\n`;
	return Buffer.from(line, "latin1");
}

/** The v2 binary header, command PROXY, transport STREAM (TCP) or DGRAM (UDP). */
export function encodeV2(e: Endpoints, transport: "TCP" | "UDP"): Buffer {
	const src = parseAddress(plainAddress(e.sourceAddress));
	const dst = parseAddress(plainAddress(e.destinationAddress));
	const v4 = src.family === 4 && dst.family === 4;
	const srcBytes = v4 ? src.bytes : to16(src.bytes);
	const dstBytes = v4 ? dst.bytes : to16(dst.bytes);
	const addrLen = v4 ? 12 : 36;
	const out = Buffer.alloc(16 + addrLen);
	V2_SIGNATURE.copy(out, 0);
	out[12] = 0x21; // version 2, command PROXY
	out[13] = (v4 ? 0x10 : 0x20) | (transport === "TCP" ? 0x01 : 0x02);
	out.writeUInt16BE(addrLen, 14);
	out.set(srcBytes, 16);
	out.set(dstBytes, 16 + srcBytes.length);
	out.writeUInt16BE(e.sourcePort, 16 + 2 * srcBytes.length);
	out.writeUInt16BE(e.destinationPort, 18 + 2 * srcBytes.length);
	return out;
}

export function encodeHeader(version: 0 | 1 | 2, e: Endpoints, transport: "TCP" | "UDP"): Buffer | null {
	if (version === 0) return null;
	if (version === 1 && transport === "TCP") return encodeV1(e);
	return encodeV2(e, transport);
}

function to16(bytes: Uint8Array): Uint8Array {
	if (bytes.length === 16) return bytes;
	const out = new Uint8Array(16);
	out[10] = 0xff;
	out[11] = 0xff;
	out.set(bytes, 12);
	return out;
}

export type V2Parse =
	/** Not a v2 header at all (no signature). */
	| { kind: "absent" }
	/** A prefix of a header: wait for more bytes. */
	| { kind: "incomplete" }
	| { kind: "invalid"; reason: string }
	/** LOCAL (health checks of the upstream) carries no addresses: endpoints are null. */
	| { kind: "header"; length: number; endpoints: Endpoints | null; transport: "TCP" | "UDP" | null };

/** Parses a v2 header at the start of buf; TLVs are skipped. */
export function parseV2(buf: Uint8Array): V2Parse {
	const n = Math.min(buf.length, 12);
	for (let i = 0; i < n; i++) if (buf[i] !== V2_SIGNATURE[i]) return { kind: "absent" };
	if (buf.length < 16) return { kind: "incomplete" };
	const verCmd = buf[12] as number;
	const famProto = buf[13] as number;
	const len = ((buf[14] as number) << 8) | (buf[15] as number);
	if (verCmd >> 4 !== 2) return { kind: "invalid", reason: "version is not 2" };
	if (buf.length < 16 + len) return { kind: "incomplete" };
	const command = verCmd & 0x0f;
	const length = 16 + len;
	if (command === 0) return { kind: "header", length, endpoints: null, transport: null };
	if (command !== 1) return { kind: "invalid", reason: "unknown command" };
	const family = famProto >> 4;
	const proto = famProto & 0x0f;
	const transport = proto === 1 ? "TCP" : proto === 2 ? "UDP" : null;
	const view = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
	if (family === 1 && len >= 12) {
		return {
			kind: "header",
			length,
			transport,
			endpoints: {
				sourceAddress: Array.from(buf.subarray(16, 20)).join("."),
				destinationAddress: Array.from(buf.subarray(20, 24)).join("."),
				sourcePort: view.readUInt16BE(24),
				destinationPort: view.readUInt16BE(26),
			},
		};
	}
	if (family === 2 && len >= 36) {
		return {
			kind: "header",
			length,
			transport,
			endpoints: {
				sourceAddress: v6Text(buf.subarray(16, 32)),
				destinationAddress: v6Text(buf.subarray(32, 48)),
				sourcePort: view.readUInt16BE(48),
				destinationPort: view.readUInt16BE(50),
			},
		};
	}
	if (family === 0) return { kind: "header", length, endpoints: null, transport };
	return { kind: "invalid", reason: "unsupported address family" };
}

function v6Text(bytes: Uint8Array): string {
	const mapped = bytes.subarray(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff;
	return mapped ? Array.from(bytes.subarray(12)).join(".") : formatAddress(bytes);
}
