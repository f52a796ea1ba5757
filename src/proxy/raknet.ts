// RakNet offline messages (wiki.vg "Raknet Protocol"): the unconnected ping a Bedrock client
// sends for the server list and the pong that answers it. Used for health checks and for
// answering the server list from the status cache.

export const OFFLINE_MAGIC = Buffer.from("00ffff00fefefefefdfdfdfd12345678", "hex");
export const UNCONNECTED_PING = 0x01;
export const UNCONNECTED_PING_OPEN = 0x02;
export const UNCONNECTED_PONG = 0x1c;

export function encodePing(time: bigint, clientGuid: bigint): Buffer {
	const out = Buffer.alloc(33);
	out[0] = UNCONNECTED_PING;
	out.writeBigUInt64BE(time, 1);
	OFFLINE_MAGIC.copy(out, 9);
	out.writeBigUInt64BE(clientGuid, 25);
	return out;
}

/** The ping's time field, or null when the datagram is not an unconnected ping. */
export function parsePing(buf: Uint8Array): { time: bigint } | null {
	if (buf.length < 33 || (buf[0] !== UNCONNECTED_PING && buf[0] !== UNCONNECTED_PING_OPEN)) return null;
	const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
	if (!b.subarray(9, 25).equals(OFFLINE_MAGIC)) return null;
	return { time: b.readBigUInt64BE(1) };
}

export interface Pong {
	time: bigint;
	serverGuid: bigint;
	/** "MCPE;motd;protocol;version;players;max;guid;sub-motd;mode;…" for Bedrock. */
	motd: string;
}

export function encodePong(p: Pong): Buffer {
	const motd = Buffer.from(p.motd, "utf8");
	const out = Buffer.alloc(35 + motd.length);
	out[0] = UNCONNECTED_PONG;
	out.writeBigUInt64BE(p.time, 1);
	out.writeBigUInt64BE(p.serverGuid, 9);
	OFFLINE_MAGIC.copy(out, 17);
	out.writeUInt16BE(motd.length, 33);
	motd.copy(out, 35);
	return out;
}

export function parsePong(buf: Uint8Array): Pong | null {
	if (buf.length < 35 || buf[0] !== UNCONNECTED_PONG) return null;
	const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
	if (!b.subarray(17, 33).equals(OFFLINE_MAGIC)) return null;
	const len = b.readUInt16BE(33);
	if (buf.length < 35 + len) return null;
	return {
		time: b.readBigUInt64BE(1),
		serverGuid: b.readBigUInt64BE(9),
		motd: b.subarray(35, 35 + len).toString("utf8"),
	};
}

/** Sends one unconnected ping and waits for the pong. */
export async function pingOrigin(q: {
	address: string;
	port: number;
	timeoutMs: number;
	preamble?: Uint8Array | null;
}): Promise<Pong> {
	const time = BigInt(Date.now());
	let done: (p: Pong | Error) => void = () => {};
	const result = new Promise<Pong | Error>((r) => {
		done = r;
	});
	const socket = await Bun.udpSocket({
		connect: { hostname: q.address, port: q.port },
		socket: {
			data(_s, buf) {
				const pong = parsePong(buf);
				if (pong && pong.time === time) done(pong);
			},
			error(_s, err) {
				// A connected socket reports the origin's ICMP port-unreachable here, sometimes without an Error.
				done(err instanceof Error ? err : new Error("origin port unreachable"));
			},
		},
	});
	const ping = encodePing(time, BigInt.asUintN(64, BigInt(Math.floor(Math.random() * 2 ** 48))));
	socket.send(q.preamble ? Buffer.concat([q.preamble, ping]) : ping);
	const timer = setTimeout(() => done(new Error(`no pong within ${q.timeoutMs} ms`)), q.timeoutMs);
	const out = await result;
	clearTimeout(timer);
	socket.close();
	if (out instanceof Error) throw out;
	if (!out) throw new Error("no pong");
	return out;
}
