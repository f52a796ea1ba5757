// Reading just enough of a connection's first bytes to route it: the Host of an HTTP/1.x
// request and the server_name of a TLS ClientHello (RFC 8446 §4.1.2, RFC 6066 §3).
// Each returns null while more bytes are needed and throws SniffError when they never will.

export class SniffError extends Error {}

export const MAX_HTTP_HEAD = 16 * 1024;

export interface HttpHead {
	method: string;
	target: string;
	/** Lower-case names; repeated headers joined with ", ". */
	headers: Map<string, string>;
	/** Host without port, lower case, trailing dot removed ("" when absent). */
	host: string;
	/** Bytes up to and including the blank line. */
	length: number;
}

export function parseHttpHead(buf: Uint8Array): HttpHead | null {
	const text = Buffer.from(buf.buffer, buf.byteOffset, Math.min(buf.byteLength, MAX_HTTP_HEAD)).toString("latin1");
	const end = text.indexOf("\r\n\r\n");
	if (end === -1) {
		if (buf.length >= MAX_HTTP_HEAD) throw new SniffError("request head is too large");
		const space = text.indexOf(" ");
		const method = space === -1 ? text : text.slice(0, space);
		if (method.length > 16 || !/^[A-Z]*$/.test(method)) throw new SniffError("not an HTTP request");
		return null;
	}
	const lines = text.slice(0, end).split("\r\n");
	const match = /^([A-Z]{1,16}) (\S+) HTTP\/1\.[01]$/.exec(lines[0] ?? "");
	if (!match) throw new SniffError("not an HTTP/1.x request line");
	const headers = new Map<string, string>();
	for (const line of lines.slice(1)) {
		const colon = line.indexOf(":");
		if (colon <= 0) throw new SniffError("malformed header line");
		const name = line.slice(0, colon).trim().toLowerCase();
		const value = line.slice(colon + 1).trim();
		headers.set(name, headers.has(name) ? `${headers.get(name)}, ${value}` : value);
	}
	return {
		method: match[1] as string,
		target: match[2] as string,
		headers,
		host: hostOnly(headers.get("host") ?? ""),
		length: end + 4,
	};
}

function hostOnly(value: string): string {
	const v = value.trim().toLowerCase();
	const host = v.startsWith("[") ? v.slice(0, v.indexOf("]") + 1) : v.replace(/:\d+$/, "");
	return host.replace(/\.$/, "");
}

/** The SNI host name of a ClientHello in the first TLS record; "" when it carries none. */
export function parseSni(buf: Uint8Array): string | null {
	if (buf.length < 5) return null;
	if (buf[0] !== 0x16) throw new SniffError("not a TLS handshake record");
	const recordLen = ((buf[3] as number) << 8) | (buf[4] as number);
	if (recordLen > 16384 + 2048) throw new SniffError("TLS record too large");
	if (buf.length < 5 + recordLen) return null;
	const r = buf.subarray(5, 5 + recordLen);
	let p = 0;
	const need = (n: number) => {
		if (p + n > r.length) throw new SniffError("truncated ClientHello");
	};
	const u8 = () => {
		need(1);
		return r[p++] as number;
	};
	const u16 = () => {
		need(2);
		const v = ((r[p] as number) << 8) | (r[p + 1] as number);
		p += 2;
		return v;
	};
	if (u8() !== 0x01) throw new SniffError("first handshake message is not a ClientHello");
	need(3);
	p += 3; // handshake length
	need(2 + 32);
	p += 2 + 32; // legacy_version, random
	const sessionLen = u8();
	need(sessionLen);
	p += sessionLen;
	const suitesLen = u16();
	need(suitesLen);
	p += suitesLen;
	const compLen = u8();
	need(compLen);
	p += compLen;
	if (p === r.length) return "";
	const extEnd = p + 2 + (((r[p] as number) << 8) | (r[p + 1] as number));
	p += 2;
	while (p + 4 <= Math.min(extEnd, r.length)) {
		const type = u16();
		const len = u16();
		need(len);
		if (type === 0) {
			const end = p + len;
			p += 2; // server_name_list length
			while (p + 3 <= end) {
				const nameType = u8();
				const nameLen = u16();
				need(nameLen);
				if (nameType === 0)
					return Buffer.from(r.subarray(p, p + nameLen))
						.toString("latin1")
						.toLowerCase()
						.replace(/\.$/, "");
				p += nameLen;
			}
			return "";
		}
		p += len;
	}
	return "";
}

/** Whether a backend's domain list covers host: exact names and "*.example.com" wildcards. */
export function domainMatches(domains: readonly string[], host: string): boolean {
	for (const d of domains) {
		if (d === host) return true;
		if (d.startsWith("*.") && host.endsWith(d.slice(1)) && host.length > d.length - 1) return true;
	}
	return false;
}
