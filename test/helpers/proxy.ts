// Real peers for proxy tests: an in-process appliance core with the proxy supervisor, TCP and
// UDP echo origins (optionally reading PROXY v2 with the production parser's independent twin
// below), clients that stream random payloads, and free loopback ports.
import { createSocket, type Socket as DgramSocket } from "node:dgram";
import { createServer, type Server, type Socket, connect as tcpConnect } from "node:net";
import { Logger } from "../../src/log.ts";
import { ProxySupervisor } from "../../src/proxy/index.ts";
import { testCore } from "./app.ts";

export interface SeenHeader {
	source: string;
	sourcePort: number;
	destination: string;
	destinationPort: number;
	transport: "TCP" | "UDP";
}

const SIG = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);

/**
 * A PROXY v2 reader written from the specification, independent of src/proxy: returns the
 * header's length and addresses, null while incomplete; throws on anything malformed.
 */
export function readProxyV2(buf: Buffer): { length: number; header: SeenHeader } | null {
	if (buf.length < 16) return null;
	if (!buf.subarray(0, 12).equals(SIG)) throw new Error("no PROXY v2 signature");
	if (buf[12] !== 0x21) throw new Error(`unexpected version/command 0x${buf[12]?.toString(16)}`);
	const len = buf.readUInt16BE(14);
	if (buf.length < 16 + len) return null;
	const fam = (buf[13] as number) >> 4;
	const transport = ((buf[13] as number) & 0x0f) === 1 ? "TCP" : "UDP";
	if (fam === 1) {
		return {
			length: 16 + len,
			header: {
				source: [...buf.subarray(16, 20)].join("."),
				destination: [...buf.subarray(20, 24)].join("."),
				sourcePort: buf.readUInt16BE(24),
				destinationPort: buf.readUInt16BE(26),
				transport,
			},
		};
	}
	if (fam === 2) {
		const hex = (b: Buffer) => (b.toString("hex").match(/.{4}/g) as string[]).join(":");
		return {
			length: 16 + len,
			header: {
				source: hex(buf.subarray(16, 32)),
				destination: hex(buf.subarray(32, 48)),
				sourcePort: buf.readUInt16BE(48),
				destinationPort: buf.readUInt16BE(50),
				transport,
			},
		};
	}
	throw new Error(`unexpected address family ${fam}`);
}

/** Waits for a PROXY v2 header on a fresh socket, then hands the socket (rest unshifted) on. */
export function acceptProxyV2(socket: Socket, onReady: (header: SeenHeader) => void): void {
	let buf = Buffer.alloc(0);
	const onData = (chunk: Buffer) => {
		buf = Buffer.concat([buf, chunk]);
		let parsed: ReturnType<typeof readProxyV2>;
		try {
			parsed = readProxyV2(buf);
		} catch {
			socket.destroy();
			return;
		}
		if (!parsed) return;
		socket.off("data", onData);
		socket.pause();
		const rest = buf.subarray(parsed.length);
		if (rest.length) socket.unshift(rest);
		onReady(parsed.header);
		socket.resume();
	};
	socket.on("data", onData);
}

export async function freePort(host = "127.0.0.1"): Promise<number> {
	const l = Bun.listen({ hostname: host, port: 0, socket: { data() {} } });
	const port = l.port;
	l.stop(true);
	// The UDP side of the port must be free too (UDP backends use the same helper).
	const u = await Bun.udpSocket({ hostname: host, port });
	u.close();
	return port;
}

export interface EchoOrigin {
	port: number;
	headers: SeenHeader[];
	/** Connections currently open at the origin. */
	open(): number;
	accepted(): number;
	/** Connections that carried at least one byte of payload (health probes carry none). */
	served(): number;
	stop(): Promise<void>;
}

/** TCP echo with half-close: the origin ends its side after the client's FIN and all echoes. */
export async function tcpEchoOrigin(
	opts: { host?: string; port?: number; proxyProtocol?: boolean; pauseMs?: number } = {},
) {
	const headers: SeenHeader[] = [];
	let open = 0;
	let accepted = 0;
	let served = 0;
	const sockets = new Set<Socket>();
	const server: Server = createServer({ allowHalfOpen: true }, (socket) => {
		open++;
		accepted++;
		sockets.add(socket);
		socket.on("close", () => {
			open--;
			sockets.delete(socket);
		});
		socket.on("error", () => {});
		const echo = () => {
			socket.once("data", () => served++);
			socket.pipe(socket);
		};
		if (opts.proxyProtocol)
			acceptProxyV2(socket, (h) => {
				headers.push(h);
				echo();
			});
		else echo();
	});
	await new Promise<void>((r) => server.listen(opts.port ?? 0, opts.host ?? "127.0.0.1", r));
	const port = (server.address() as { port: number }).port;
	return {
		port,
		headers,
		open: () => open,
		accepted: () => accepted,
		served: () => served,
		stop: () =>
			new Promise<void>((r) => {
				for (const s of sockets) s.destroy();
				server.close(() => r());
			}),
	} satisfies EchoOrigin;
}

export interface UdpEchoOrigin {
	port: number;
	headers: SeenHeader[];
	stop(): void;
}

/** UDP echo; with proxyProtocol every datagram must start with a PROXY v2 header, stripped before echoing. */
export async function udpEchoOrigin(opts: { host?: string; proxyProtocol?: boolean } = {}): Promise<UdpEchoOrigin> {
	const headers: SeenHeader[] = [];
	const sock: DgramSocket = createSocket("udp4");
	sock.on("message", (msg, rinfo) => {
		let payload = msg;
		if (opts.proxyProtocol) {
			const parsed = readProxyV2(msg);
			if (!parsed) return;
			headers.push(parsed.header);
			payload = msg.subarray(parsed.length);
		}
		sock.send(payload, rinfo.port, rinfo.address);
	});
	await new Promise<void>((r) => sock.bind(0, opts.host ?? "127.0.0.1", () => r()));
	return { port: sock.address().port, headers, stop: () => sock.close() };
}

/** Connects (optionally from a given loopback source), writes payload, half-closes, and collects the echo. */
export function echoThrough(
	port: number,
	payload: Buffer,
	opts: { host?: string; localAddress?: string; timeoutMs?: number } = {},
): Promise<Buffer> {
	return new Promise((resolve, reject) => {
		const chunks: Buffer[] = [];
		const s = tcpConnect({
			host: opts.host ?? "127.0.0.1",
			port,
			localAddress: opts.localAddress,
			allowHalfOpen: true,
		});
		const timer = setTimeout(() => {
			s.destroy();
			reject(new Error(`echo timed out after ${Buffer.concat(chunks).length} of ${payload.length} bytes`));
		}, opts.timeoutMs ?? 20_000);
		s.on("connect", () => s.end(payload));
		s.on("data", (c: Buffer) => chunks.push(c));
		s.on("end", () => {
			clearTimeout(timer);
			s.end();
			resolve(Buffer.concat(chunks));
		});
		s.on("error", (e) => {
			clearTimeout(timer);
			reject(e);
		});
	});
}

/** A test core (fresh database, owner) with a running proxy supervisor. */
export async function proxyCore(configure: (c: Awaited<ReturnType<typeof testCore>>["config"]) => void = () => {}) {
	const core = await testCore();
	configure(core.config);
	const proxy = new ProxySupervisor(
		core.services,
		core.config,
		process.env.PP_TEST_PROXY_LOG ? Logger.create("debug") : Logger.create("error", () => {}),
	);
	proxy.start();
	return {
		...core,
		proxy,
		close() {
			proxy.stop();
			core.close();
		},
	};
}

/** Polls until fn returns a truthy value, or throws after timeoutMs. */
export async function until<T>(
	fn: () => T | Promise<T>,
	timeoutMs = 5000,
	what = "condition",
): Promise<NonNullable<T>> {
	const deadline = Date.now() + timeoutMs;
	for (;;) {
		const v = await fn();
		if (v) return v as NonNullable<T>;
		if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
		await Bun.sleep(20);
	}
}
