// Minecraft Java Edition framing (wiki.vg "Protocol"): VarInt-length-prefixed packets. What the
// proxy needs: read the handshake (protocol version, server address, next state), answer a
// status request and ping itself, disconnect a login with a message, and query an origin's status.

export class ProtocolError extends Error {}

/** Reads a VarInt at offset; null when the bytes end first. Throws on a VarInt longer than 5 bytes. */
export function readVarInt(buf: Uint8Array, offset: number): { value: number; next: number } | null {
	let value = 0;
	for (let i = 0; i < 5; i++) {
		if (offset + i >= buf.length) return null;
		const b = buf[offset + i] as number;
		value |= (b & 0x7f) << (7 * i);
		if ((b & 0x80) === 0) return { value: value | 0, next: offset + i + 1 };
	}
	throw new ProtocolError("VarInt is longer than 5 bytes");
}

export function writeVarInt(value: number): Buffer {
	const out: number[] = [];
	let v = value >>> 0;
	do {
		let b = v & 0x7f;
		v >>>= 7;
		if (v !== 0) b |= 0x80;
		out.push(b);
	} while (v !== 0);
	return Buffer.from(out);
}

function writeString(text: string): Buffer {
	const bytes = Buffer.from(text, "utf8");
	return Buffer.concat([writeVarInt(bytes.length), bytes]);
}

/** A packet: VarInt length, VarInt id, body. */
export function packet(id: number, body: Uint8Array = new Uint8Array(0)): Buffer {
	const idBytes = writeVarInt(id);
	return Buffer.concat([writeVarInt(idBytes.length + body.length), idBytes, body]);
}

export interface Handshake {
	protocolVersion: number;
	/** As sent, Forge markers included. */
	rawAddress: string;
	/** Lower case, without Forge/FML markers (after the first NUL) and without a trailing dot. */
	host: string;
	port: number;
	/** 1 status, 2 login, 3 transfer. */
	nextState: number;
	/** Bytes the handshake packet took (what follows belongs to the next packet). */
	length: number;
}

const MAX_HANDSHAKE = 1 + 5 + 5 + 3 + 255 * 4 + 2 + 5;

/** Parses the first packet; null while incomplete; ProtocolError when it is not a handshake. */
export function parseHandshake(buf: Uint8Array): Handshake | null {
	const len = readVarInt(buf, 0);
	if (!len) return null;
	if (len.value <= 0 || len.value > MAX_HANDSHAKE) throw new ProtocolError("handshake length out of range");
	const end = len.next + len.value;
	if (buf.length < end) return null;
	const body = buf.subarray(0, end);
	const id = readVarInt(body, len.next);
	if (id?.value !== 0) throw new ProtocolError("first packet is not a handshake");
	const version = readVarInt(body, id.next);
	if (!version) throw new ProtocolError("truncated handshake");
	const strLen = readVarInt(body, version.next);
	if (!strLen || strLen.value < 0 || strLen.value > 255 * 4) throw new ProtocolError("bad server address length");
	const strEnd = strLen.next + strLen.value;
	if (strEnd + 2 > end) throw new ProtocolError("truncated handshake");
	const rawAddress = Buffer.from(body.subarray(strLen.next, strEnd)).toString("utf8");
	const port = ((body[strEnd] as number) << 8) | (body[strEnd + 1] as number);
	const next = readVarInt(body, strEnd + 2);
	if (!next || next.next !== end) throw new ProtocolError("truncated handshake");
	if (next.value < 1 || next.value > 3) throw new ProtocolError("unknown next state");
	return {
		protocolVersion: version.value,
		rawAddress,
		host: normalizeHost(rawAddress),
		port,
		nextState: next.value,
		length: end,
	};
}

/** Forge appends "\0FML\0" (FML2, FML3 …) and some clients a trailing dot: both are not the host. */
export function normalizeHost(raw: string): string {
	const nul = raw.indexOf("\0");
	return (nul === -1 ? raw : raw.slice(0, nul)).trim().replace(/\.$/, "").toLowerCase();
}

export function encodeHandshake(h: { protocolVersion: number; address: string; port: number; nextState: number }) {
	const port = Buffer.alloc(2);
	port.writeUInt16BE(h.port);
	return packet(
		0,
		Buffer.concat([writeVarInt(h.protocolVersion), writeString(h.address), port, writeVarInt(h.nextState)]),
	);
}

/** Login-state Disconnect (0x00): a JSON text component in every protocol version. */
export function loginDisconnect(message: string): Buffer {
	return packet(0, writeString(JSON.stringify({ text: message })));
}

export function statusResponse(json: string): Buffer {
	return packet(0, writeString(json));
}

/** Packets in order as they complete in buf; returns them and the bytes consumed. */
export function splitPackets(buf: Uint8Array): { packets: Array<{ id: number; body: Uint8Array }>; used: number } {
	const packets: Array<{ id: number; body: Uint8Array }> = [];
	let off = 0;
	for (;;) {
		const len = readVarInt(buf, off);
		if (!len) break;
		if (len.value <= 0 || len.value > 2 * 1024 * 1024) throw new ProtocolError("packet length out of range");
		if (buf.length < len.next + len.value) break;
		const id = readVarInt(buf, len.next);
		if (!id) throw new ProtocolError("packet without id");
		packets.push({ id: id.value, body: buf.subarray(id.next, len.next + len.value) });
		off = len.next + len.value;
	}
	return { packets, used: off };
}

/**
 * Answers one status exchange on a client connection by itself: Status Request (0x00) gets
 * the JSON, Ping (0x01) gets its payload back, then the connection is closed by the caller.
 * Feed every chunk after the handshake; returns what to write and whether the exchange is done.
 */
export class LocalStatusResponder {
	private pending: Uint8Array = new Uint8Array(0);

	constructor(private readonly json: string) {}

	feed(chunk: Uint8Array): { reply: Buffer[]; done: boolean } {
		const merged = new Uint8Array(this.pending.length + chunk.length);
		merged.set(this.pending);
		merged.set(chunk, this.pending.length);
		const { packets, used } = splitPackets(merged);
		this.pending = merged.subarray(used);
		const reply: Buffer[] = [];
		for (const p of packets) {
			if (p.id === 0) reply.push(statusResponse(this.json));
			else if (p.id === 1) {
				reply.push(packet(1, p.body));
				return { reply, done: true };
			}
		}
		return { reply, done: false };
	}
}

export interface StatusQuery {
	address: string;
	port: number;
	/** What the handshake names (the backend's first domain, or the origin's address). */
	host: string;
	timeoutMs: number;
	/** Bytes to send before the handshake (a PROXY header the origin requires). */
	preamble?: Uint8Array | null;
	protocolVersion?: number;
}

/** Runs handshake → status request → response against an origin; resolves to the raw JSON. */
export function queryStatus(q: StatusQuery): Promise<string> {
	return new Promise((resolve, reject) => {
		let buf: Uint8Array = new Uint8Array(0);
		let settled = false;
		let socket: import("bun").Socket<undefined> | null = null;
		const finish = (err: Error | null, json?: string) => {
			if (settled) return;
			settled = true;
			clearTimeout(timer);
			socket?.end();
			if (err) reject(err);
			else resolve(json as string);
		};
		const timer = setTimeout(() => finish(new Error(`no status answer within ${q.timeoutMs} ms`)), q.timeoutMs);
		Bun.connect({
			hostname: q.address,
			port: q.port,
			socket: {
				open(s) {
					socket = s;
					const hello = Buffer.concat([
						q.preamble ?? new Uint8Array(0),
						encodeHandshake({ protocolVersion: q.protocolVersion ?? -1, address: q.host, port: q.port, nextState: 1 }),
						packet(0),
					]);
					s.write(hello);
				},
				data(_s, chunk) {
					const merged = new Uint8Array(buf.length + chunk.length);
					merged.set(buf);
					merged.set(chunk, buf.length);
					buf = merged;
					try {
						const { packets } = splitPackets(buf);
						const first = packets[0];
						if (!first) return;
						if (first.id !== 0) return finish(new Error("status answer is not a status response"));
						const len = readVarInt(first.body, 0);
						if (!len) return finish(new Error("truncated status response"));
						const json = Buffer.from(first.body.subarray(len.next, len.next + len.value)).toString("utf8");
						JSON.parse(json);
						finish(null, json);
					} catch (err) {
						finish(err as Error);
					}
				},
				close() {
					finish(new Error("origin closed before answering the status request"));
				},
				connectError(_s, err) {
					finish(err);
				},
				error(_s, err) {
					finish(err);
				},
			},
		}).catch((err) => finish(err as Error));
	});
}
