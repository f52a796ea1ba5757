// Reading just enough of a connection's bytes to route it: the Host of an HTTP/1.x request
// (of every request on a keep-alive connection, found by RequestFramer) and the server_name of a
// TLS ClientHello (RFC 8446 §4.1.2, RFC 6066 §3). Parsers return null while more bytes are
// needed and throw SniffError when they never will.

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

/** Chunk-size and trailer lines longer than this are refused (no real client comes near it). */
const MAX_LINE = 4096;

/**
 * Finds where each request of an HTTP/1.x connection begins, so that every request head can be
 * checked before it is forwarded: a body is Content-Length bytes or chunked (RFC 9112 §6), a
 * request with neither has none. A body whose length cannot be told (both headers, a transfer
 * coding that does not end in chunked, a malformed length) is refused: an origin might read the
 * boundary differently and take smuggled bytes for a request nobody checked. After an Upgrade
 * (WebSocket) or CONNECT request the bytes are no longer HTTP and pass uninspected.
 */
export class RequestFramer {
	private state: "head" | "body" | "chunk-size" | "chunk-data" | "trailers" | "tunnel" = "head";
	/** Body bytes (chunk-data: chunk bytes and their CRLF) still to pass. */
	private remaining = 0;
	/** A chunk-size or trailer line split across reads. */
	private line = "";
	/** The next request's head, while it is incomplete. */
	private partialHead: Buffer | null = null;

	/**
	 * Reads chunk up to the next complete request head. `pass` belongs to requests already
	 * admitted; `next` is the head with its bytes and whatever followed it (not yet read).
	 * An incomplete head is kept until more arrives.
	 */
	feed(chunk: Buffer): { pass: Buffer; next: { head: HttpHead; bytes: Buffer; rest: Buffer } | null } {
		let i = 0;
		while (i < chunk.length) {
			switch (this.state) {
				case "tunnel":
					return { pass: chunk, next: null };
				case "body":
				case "chunk-data": {
					const n = Math.min(this.remaining, chunk.length - i);
					i += n;
					this.remaining -= n;
					if (this.remaining === 0) this.state = this.state === "body" ? "head" : "chunk-size";
					break;
				}
				case "chunk-size":
				case "trailers": {
					const nl = chunk.indexOf(0x0a, i);
					const end = nl === -1 ? chunk.length : nl + 1;
					this.line += chunk.toString("latin1", i, end);
					i = end;
					if (this.line.length > MAX_LINE) throw new SniffError("chunked body line too long");
					if (nl === -1) break;
					const line = this.line.replace(/\r?\n$/, "");
					this.line = "";
					if (this.state === "trailers") {
						if (line === "") this.state = "head";
						break;
					}
					const size = /^([0-9a-fA-F]{1,12})[ \t]*(;.*)?$/.exec(line);
					if (!size) throw new SniffError("malformed chunk size");
					const bytes = Number.parseInt(size[1] as string, 16);
					if (bytes === 0) this.state = "trailers";
					else {
						this.remaining = bytes + 2;
						this.state = "chunk-data";
					}
					break;
				}
				case "head": {
					// Empty lines between requests are ignored (RFC 9112 §2.2); they pass along.
					if (this.partialHead === null && (chunk[i] === 0x0d || chunk[i] === 0x0a)) {
						i++;
						break;
					}
					const pass = chunk.subarray(0, i);
					const rest = chunk.subarray(i);
					const buf = this.partialHead ? Buffer.concat([this.partialHead, rest]) : rest;
					const head = parseHttpHead(buf);
					if (!head) {
						this.partialHead = Buffer.from(buf);
						return { pass, next: null };
					}
					this.partialHead = null;
					return { pass, next: { head, bytes: buf.subarray(0, head.length), rest: buf.subarray(head.length) } };
				}
			}
		}
		return { pass: chunk, next: null };
	}

	/** The head was admitted and forwarded: its body comes next. */
	admit(head: HttpHead): void {
		const connection = head.headers.get("connection") ?? "";
		if (head.method === "CONNECT" || (head.headers.has("upgrade") && /(^|,)\s*upgrade\s*(,|$)/i.test(connection))) {
			this.state = "tunnel";
			return;
		}
		const te = head.headers.get("transfer-encoding");
		const cl = head.headers.get("content-length");
		if (te !== undefined) {
			if (cl !== undefined) throw new SniffError("request has both Transfer-Encoding and Content-Length");
			if (!/(^|,)\s*chunked\s*$/i.test(te)) throw new SniffError("request body length cannot be told");
			this.state = "chunk-size";
			return;
		}
		if (cl !== undefined) {
			if (!/^\d{1,15}$/.test(cl)) throw new SniffError("malformed Content-Length");
			this.remaining = Number(cl);
			this.state = this.remaining > 0 ? "body" : "head";
			return;
		}
		this.state = "head";
	}
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
