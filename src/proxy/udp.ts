// UDP listeners (UDP, MINECRAFT_BEDROCK, QUIC): one session per client address and port, each
// with its own connected socket to the chosen origin, ended after udp_idle_timeout_seconds
// without packets. With proxyProtocol set, every datagram to the origin carries a PROXY v2
// header (DGRAM), which Geyser's and HAProxy's decoders strip per packet. A session counts
// against the per-address limit like a TCP connection: a source at its limit gets no new
// session (its datagrams are dropped and counted) until one of its sessions idles out.
import type { udp } from "bun";
import { encodeV2, parseV2, plainAddress } from "./proxy-protocol.ts";
import { encodePong, parsePing } from "./raknet.ts";
import { connectionFacts, proxyAction } from "./rules.ts";
import {
	type BackendRuntime,
	type Closable,
	type ListenerContext,
	type OriginRuntime,
	redirectTarget,
	serveFromCache,
} from "./runtime.ts";

/** Datagrams held while a session's origin socket opens. */
const MAX_QUEUED = 64;

export type UdpContext = ListenerContext;

class UdpSession implements Closable {
	socket: udp.ConnectedSocket<"buffer"> | null = null;
	queue: Buffer[] = [];
	lastSeen = Date.now();
	closed = false;
	private readonly header: Buffer | null;

	constructor(
		readonly key: string,
		readonly listener: UdpListener,
		readonly backend: BackendRuntime,
		readonly origin: OriginRuntime,
		/** Where replies go (the client, or the trusted upstream that sent the packet). */
		readonly replyPort: number,
		readonly replyAddress: string,
		/** The source counted against the per-address limit (released when the session ends). */
		readonly clientIp: string,
		clientPort: number,
		localPort: number,
	) {
		this.header =
			origin.proxyProtocol === 0
				? null
				: encodeV2(
						{
							sourceAddress: clientIp,
							sourcePort: clientPort,
							destinationAddress: listener.localAddress(clientIp),
							destinationPort: localPort,
						},
						"UDP",
					);
		origin.active++;
		backend.connections.add(this);
		backend.counters.opened++;
		Bun.udpSocket({
			binaryType: "buffer",
			connect: { hostname: origin.address, port: origin.port },
			socket: {
				data: (_s, buf) => {
					if (this.closed) return;
					this.lastSeen = Date.now();
					this.backend.counters.bytesToClients += buf.length;
					listener.reply(buf, this.replyPort, this.replyAddress);
				},
				error: (_s, err) => {
					// ICMP errors from the origin (port unreachable): the session idles out.
					listener.ctx.log.debug("udp origin error", {
						key: this.key,
						error: err instanceof Error ? err.message : String(err),
					});
				},
			},
		}).then(
			(s) => {
				if (this.closed) {
					s.close();
					return;
				}
				this.socket = s;
				for (const d of this.queue) this.send(d);
				this.queue = [];
			},
			(err) => this.close(`origin socket: ${(err as Error).message}`),
		);
	}

	forward(datagram: Buffer): void {
		this.lastSeen = Date.now();
		this.backend.counters.bytesFromClients += datagram.length;
		if (this.socket) this.send(datagram);
		else if (this.queue.length < MAX_QUEUED) this.queue.push(Buffer.from(datagram));
	}

	private send(datagram: Buffer): void {
		try {
			(this.socket as udp.ConnectedSocket<"buffer">).send(
				this.header ? Buffer.concat([this.header, datagram]) : datagram,
			);
		} catch (err) {
			// The origin's port is closed (an ICMP error surfaced on this send); the session idles out.
			this.listener.ctx.log.debug("udp send to origin failed", { key: this.key, error: (err as Error).message });
		}
	}

	close(reason: string): void {
		if (this.closed) return;
		this.closed = true;
		this.socket?.close();
		this.origin.active--;
		this.backend.connections.delete(this);
		this.backend.counters.closed++;
		this.listener.ctx.releaseAddress(this.clientIp);
		this.listener.forget(this.key);
		this.listener.ctx.log.debug("udp session ended", { key: this.key, reason });
	}
}

export class UdpListener {
	backends: BackendRuntime[] = [];
	private socket: udp.Socket<"buffer"> | null = null;
	private readonly sessions = new Map<string, UdpSession>();

	constructor(
		readonly address: string,
		readonly port: number,
		readonly ctx: UdpContext,
	) {}

	/** "" (every address) binds "::", which takes IPv4 too; hosts without IPv6 get "0.0.0.0". */
	async start(): Promise<void> {
		if (this.address !== "") this.socket = await this.bind(this.address);
		else this.socket = await this.bind("::").catch(() => this.bind("0.0.0.0"));
	}

	private bind(hostname: string): Promise<udp.Socket<"buffer">> {
		return Bun.udpSocket({
			hostname,
			port: this.port,
			binaryType: "buffer",
			socket: {
				data: (_s, buf, port, address) => this.onPacket(buf, port, address),
				// ICMP errors for clients that went away arrive here; they must not end the listener.
				error: (_s, err) =>
					this.ctx.log.debug("udp listener error", { error: err instanceof Error ? err.message : String(err) }),
			},
		});
	}

	localAddress(clientIp: string): string {
		if (this.address !== "") return this.address;
		return clientIp.includes(":") ? "::" : "0.0.0.0";
	}

	reply(buf: Buffer, port: number, address: string): void {
		try {
			this.socket?.send(buf, port, address);
		} catch {
			// An earlier datagram to this client bounced (ICMP unreachable, reported on this send): it is gone.
		}
	}

	forget(key: string): void {
		this.sessions.delete(key);
	}

	private onPacket(buf: Buffer, port: number, address: string): void {
		let clientIp = plainAddress(address);
		let clientPort = port;
		let localPort = this.port;
		let datagram = buf;
		if (this.ctx.trustedUpstream(clientIp)) {
			const parsed = parseV2(buf);
			if (parsed.kind === "incomplete" || parsed.kind === "invalid") return;
			if (parsed.kind === "header") {
				datagram = buf.subarray(parsed.length);
				if (parsed.endpoints) {
					clientIp = parsed.endpoints.sourceAddress;
					clientPort = parsed.endpoints.sourcePort;
					localPort = parsed.endpoints.destinationPort;
				}
			}
		}
		const key = `${clientIp}|${clientPort}|${address}|${port}`;
		const existing = this.sessions.get(key);
		if (existing) {
			existing.forward(datagram);
			return;
		}
		const backend = this.backends[0];
		if (!backend || backend.deleted) return;
		if (backend.type === "MINECRAFT_BEDROCK" && this.answerPing(backend, datagram, port, address)) return;
		const action = proxyAction(
			backend.rules,
			connectionFacts({ ip: clientIp, port: localPort, transport: "UDP", backendType: backend.type }, this.ctx.geo),
		);
		if (!this.ctx.acquireAddress(clientIp)) {
			backend.counters.refusedLimit++;
			return;
		}
		const origin = action === "REDIRECT" ? redirectTarget(backend) : backend.balancer.pick(backend.origins, clientIp);
		if (!origin) {
			this.ctx.releaseAddress(clientIp);
			backend.counters.refusedRouting++;
			return;
		}
		const session = new UdpSession(key, this, backend, origin, port, address, clientIp, clientPort, localPort);
		this.sessions.set(key, session);
		session.forward(datagram);
	}

	/** Answers an unconnected ping from the pong cache when the backend is under attack or has no usable origin. */
	private answerPing(backend: BackendRuntime, datagram: Buffer, port: number, address: string): boolean {
		const cached = backend.pong;
		if (!cached || Date.now() - cached.at > this.ctx.config().status_cache_max_age_seconds * 1000) return false;
		if (!serveFromCache(backend)) return false;
		const ping = parsePing(datagram);
		if (!ping) return false;
		this.reply(encodePong({ ...cached.pong, time: ping.time }), port, address);
		return true;
	}

	/** Ends sessions idle past the timeout, and those of backends no longer served here. */
	sweep(now: number): void {
		const idleMs = this.ctx.config().udp_idle_timeout_seconds * 1000;
		for (const s of this.sessions.values()) {
			if (now - s.lastSeen > idleMs) s.close("idle");
			else if (s.backend.deleted || !this.backends.includes(s.backend)) s.close("backend removed");
		}
	}

	get sessionCount(): number {
		return this.sessions.size;
	}

	stop(): void {
		for (const s of [...this.sessions.values()]) s.close("listener stopped");
		this.socket?.close();
		this.socket = null;
	}
}
