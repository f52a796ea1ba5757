// TCP listeners: accept a player, decide where the connection goes (by the Minecraft handshake's
// server address, HTTP Host or TLS SNI when the listener is shared or the backend challenges),
// connect to an origin with a PROXY header when it wants one, then relay both ways with
// backpressure (a side that cannot take more pauses the other's reads) and half-close.
// HTTP connections are read request by request (see forwardHttp): every request on a keep-alive
// connection is routed and checked, not only the first.
import type { Socket, TCPSocketListener } from "bun";
import type { GeoAnswer } from "../geoip/database.ts";
import {
	COOKIE_NAME,
	httpResponse,
	type ProofOfWork,
	type ReconnectChallenge,
	renderPowPage,
	VERIFY_PATH,
} from "./challenge.ts";
import { type Handshake, LocalStatusResponder, loginDisconnect, ProtocolError, parseHandshake } from "./minecraft.ts";
import { encodeHeader, parseV2, plainAddress } from "./proxy-protocol.ts";
import { connectionFacts, type ProxyRule, proxyAction } from "./rules.ts";
import {
	type BackendRuntime,
	type Closable,
	challengeByLevel,
	type ListenerContext,
	type OriginRuntime,
	redirectTarget,
	selectBackend,
	serveFromCache,
} from "./runtime.ts";
import { domainMatches, type HttpHead, parseHttpHead, parseSni, RequestFramer, SniffError } from "./sniff.ts";

/** A first request or handshake must arrive within this long. */
const SNIFF_TIMEOUT_MS = 5000;
const MAX_SNIFF_BYTES = 20 * 1024;
const MAX_CONNECT_ATTEMPTS = 3;

export interface TcpContext extends ListenerContext {
	reconnect: ReconnectChallenge;
	pow: ProofOfWork;
	onVerified(backend: BackendRuntime, ip: string): void;
	/** A refusal before any backend was chosen (a shared listener's limit, an unknown host). */
	refusedUnrouted(reason: "limit" | "routing"): void;
	open(conn: TcpConnection): void;
	closed(conn: TcpConnection): void;
}

/** switching: a later HTTP request goes elsewhere; the origin finishes the earlier responses first. */
type State = "sniff" | "connecting" | "piped" | "switching" | "local" | "closed";

/** HTTP routing of one request: where it goes, or that it must be challenged or refused. */
type HttpVerdict =
	| { kind: "unknown-host" }
	| { kind: "challenge"; backend: BackendRuntime }
	| { kind: "route"; backend: BackendRuntime; honeypot: boolean };

interface OriginLink {
	conn: TcpConnection;
}

export class TcpConnection implements Closable {
	state: State = "sniff";
	backend: BackendRuntime | null = null;
	origin: OriginRuntime | null = null;
	originSocket: Socket<OriginLink> | null = null;
	link: OriginLink | null = null;
	clientIp: string;
	clientPort: number;
	localIp: string;
	localPort: number;
	/** Client bytes read before the origin connection is up (handshake, request head …). */
	pending: Buffer[] = [];
	pendingBytes = 0;
	toOrigin: Buffer[] = [];
	toClient: Buffer[] = [];
	clientEnded = false;
	originEnded = false;
	openedAt = Date.now();
	connectStartedAt = 0;
	lastOriginRead = 0;
	originBlockedSince = 0;
	originAnswered = false;
	statusFallback = false;
	/** The client's country and ASN, looked up once per connection (when a rule first asks). */
	private geoAnswer: GeoAnswer | null = null;
	tried = new Set<string>();
	responder: LocalStatusResponder | null = null;
	/** The address counted against the per-address limit (the real one behind a trusted upstream). */
	countedAddress: string | null = null;
	clientPaused = false;
	tracked = false;
	sniffing: "minecraft" | "http" | "tls" | "proxy" | null = null;
	/** Set once an origin accepted the connection: it counts as opened (and later closed) for its backend. */
	originReached = false;
	/** Request boundaries of an HTTP connection (null for other protocols). */
	http: RequestFramer | null = null;
	switchStartedAt = 0;

	constructor(
		readonly client: Socket<TcpConnection>,
		readonly listener: TcpListener,
	) {
		this.clientIp = plainAddress(client.remoteAddress);
		this.clientPort = client.remotePort;
		this.localIp = plainAddress(client.localAddress);
		this.localPort = client.localPort;
	}

	close(reason: string): void {
		if (this.state === "closed") return;
		this.state = "closed";
		this.listener.ctx.log.debug("connection closed", { client: this.clientIp, reason });
		this.client.end();
		this.originSocket?.end();
		this.finish();
	}

	/** Bookkeeping once: counts, tracking. Safe to call from every close path. */
	finish(): void {
		this.state = "closed";
		if (this.countedAddress !== null) {
			this.listener.ctx.releaseAddress(this.countedAddress);
			this.countedAddress = null;
		}
		if (this.tracked) {
			this.tracked = false;
			if (this.origin) this.origin.active--;
			this.backend?.connections.delete(this);
			if (this.originReached && this.backend) this.backend.counters.closed++;
			this.listener.ctx.closed(this);
		}
	}

	/** Checked by the supervisor's sweep; ends connections past a deadline. */
	checkDeadlines(now: number) {
		switch (this.state) {
			case "sniff":
				if (now - this.openedAt > SNIFF_TIMEOUT_MS) this.close("no handshake in time");
				return;
			case "connecting":
				if (this.origin && now - this.connectStartedAt > this.origin.connectTimeoutMs)
					this.connectFailed("connect timeout");
				return;
			case "switching":
				if (now - Math.max(this.switchStartedAt, this.lastOriginRead) > SNIFF_TIMEOUT_MS)
					this.close("origin did not finish its response before the next request");
				return;
			case "piped": {
				const o = this.origin;
				if (!o) return;
				if (
					this.statusFallback &&
					!this.originAnswered &&
					this.backend?.status &&
					now - this.connectStartedAt > this.listener.ctx.config().status_timeout_ms
				) {
					this.answerStatusLocally(this.backend.status.json, true);
					return;
				}
				if (o.readTimeoutMs !== null && now - this.lastOriginRead > o.readTimeoutMs) this.close("read timeout");
				else if (
					o.writeTimeoutMs !== null &&
					this.originBlockedSince &&
					now - this.originBlockedSince > o.writeTimeoutMs
				)
					this.close("write timeout");
				return;
			}
			default:
		}
	}

	// ---- client side ----

	onClientData(chunk: Buffer): void {
		switch (this.state) {
			case "piped": {
				if (this.sentStatus) this.sentStatus = Buffer.concat([this.sentStatus, chunk]);
				// The origin closed while its last bytes still drain to the client: nothing to send them to.
				if (!this.originSocket) return;
				if (this.http) this.forwardHttp(chunk);
				else this.sendToOrigin(chunk);
				return;
			}
			case "local":
				this.feedResponder(chunk);
				return;
			case "closed":
				return;
			default:
				this.pending.push(Buffer.from(chunk));
				this.pendingBytes += chunk.length;
				if (this.state === "sniff") this.sniff();
				else if (this.pendingBytes > 4 * MAX_SNIFF_BYTES) {
					// Connecting: hold the client until the origin takes what it sent so far.
					this.clientPaused = true;
					this.client.pause();
				}
		}
	}

	onClientEnd(): void {
		this.clientEnded = true;
		// The held request is still answered; the half-close is passed on after it.
		if (this.state === "switching") return;
		if (this.state === "piped") {
			if (this.toOrigin.length === 0) this.originSocket?.shutdown();
			if (this.originEnded && this.toClient.length === 0) this.close("both sides done");
		} else if (this.state !== "connecting") this.close("client ended before routing");
	}

	onClientDrain(): void {
		if (this.closeReason !== null) {
			if (this.flush(this.client, this.toClient)) {
				this.client.shutdown();
				this.close(this.closeReason);
			}
			return;
		}
		if (this.flush(this.client, this.toClient)) {
			this.originSocket?.resume();
			if (this.state === "switching") {
				if (this.originEnded) this.finishSwitch();
				return;
			}
			if (this.originEnded) {
				if (this.clientEnded) this.close("both sides done");
				else this.client.shutdown();
			}
		}
	}

	onClientClose(): void {
		if (this.state === "closed") return;
		this.state = "closed";
		this.originSocket?.end();
		this.finish();
	}

	// ---- origin side ----

	onOriginOpen(s: Socket<OriginLink>): void {
		this.originSocket = s;
		this.state = "piped";
		this.lastOriginRead = Date.now();
		s.setNoDelay(true);
		if (!this.originReached) {
			this.originReached = true;
			(this.backend as BackendRuntime).counters.opened++;
		}
		const o = this.origin as OriginRuntime;
		const header = encodeHeader(
			o.proxyProtocol,
			{
				sourceAddress: this.clientIp,
				sourcePort: this.clientPort,
				destinationAddress: this.localIp,
				destinationPort: this.localPort,
			},
			"TCP",
		);
		const pending = this.pending;
		this.pending = [];
		this.pendingBytes = 0;
		if (this.http) {
			// Request by request from the first one on: a pipelined second request is checked too.
			if (header) this.sendToOrigin(header, 0);
			if (pending.length) this.forwardHttp(pending.length === 1 ? (pending[0] as Buffer) : Buffer.concat(pending));
			if (this.state !== "piped") return;
		} else {
			const first = header ? [header, ...pending] : pending;
			const data = first.length === 1 ? (first[0] as Buffer) : Buffer.concat(first);
			// The origin cannot take it all yet: the client stays (or becomes) paused until drain.
			if (data.length) this.sendToOrigin(data, data.length - (header?.length ?? 0));
		}
		if (this.toOrigin.length === 0 && this.clientPaused) this.client.resume();
		this.clientPaused = false;
		if (this.clientEnded && this.toOrigin.length === 0) s.shutdown();
	}

	/** Writes client bytes to the origin; what it cannot take yet is queued and the client paused. */
	private sendToOrigin(chunk: Buffer, payload = chunk.length): void {
		(this.backend as BackendRuntime).counters.bytesFromClients += payload;
		const o = this.originSocket as Socket<OriginLink>;
		if (this.toOrigin.length === 0) {
			const n = o.write(chunk);
			if (n === chunk.length) return;
			this.toOrigin.push(Buffer.from(chunk.subarray(Math.max(n, 0))));
			this.originBlockedSince = Date.now();
			this.client.pause();
		} else this.toOrigin.push(Buffer.from(chunk));
	}

	/**
	 * Forwards an HTTP connection's bytes request by request. Like HAProxy in `mode http`, each
	 * request is routed and checked on its own: one that routes to this connection's backend with
	 * the same verdict (and, where a challenge applies, carries valid clearance) rides the open
	 * origin connection; any other is held, and handled like a new connection's first request
	 * once the origin has finished what it was sent before (switchRequest). A client cannot open
	 * a connection with one good request and send anything it likes after it.
	 */
	private forwardHttp(data: Buffer): void {
		const framer = this.http as RequestFramer;
		let input = data;
		try {
			for (;;) {
				const { pass, next } = framer.feed(input);
				if (pass.length) this.sendToOrigin(pass);
				if (!next) return;
				const verdict = this.decideHttp(next.head);
				if (
					verdict.kind !== "route" ||
					verdict.backend !== this.backend ||
					verdict.honeypot !== (this.origin?.honeypot === true)
				) {
					this.switchRequest(Buffer.concat([next.bytes, next.rest]));
					return;
				}
				framer.admit(next.head);
				this.sendToOrigin(next.bytes);
				if (!next.rest.length) return;
				input = next.rest;
			}
		} catch (err) {
			if (err instanceof SniffError) this.close(err.message);
			else throw err;
		}
	}

	/**
	 * Holds a request that may not follow the earlier ones: the client is paused, the origin gets
	 * our FIN after what it was already sent (HTTP servers close once their last response is
	 * out), and when it has ended and its bytes reached the client the held request starts over.
	 */
	private switchRequest(held: Buffer): void {
		this.state = "switching";
		this.switchStartedAt = Date.now();
		this.pending = [held];
		this.pendingBytes = held.length;
		this.client.pause();
		if (!this.originSocket || this.originEnded) {
			if (this.toClient.length === 0) this.finishSwitch();
			return;
		}
		// With bytes still queued for the origin, onOriginDrain sends the FIN after them.
		if (this.toOrigin.length === 0) this.originSocket.shutdown();
	}

	/** The origin is done: the connection leaves its backend and sniffs the held request afresh. */
	private finishSwitch(): void {
		const stale = this.originSocket;
		this.link = null;
		this.originSocket = null;
		stale?.end();
		if (this.origin) this.origin.active--;
		this.origin = null;
		if (this.backend) {
			if (this.originReached) this.backend.counters.closed++;
			this.backend.connections.delete(this);
		}
		this.backend = null;
		this.originReached = false;
		this.originEnded = false;
		this.originAnswered = false;
		this.originBlockedSince = 0;
		this.toOrigin = [];
		this.tried.clear();
		this.http = null;
		this.state = "sniff";
		this.sniffing = "http";
		this.openedAt = Date.now();
		this.client.resume();
		this.sniff();
	}

	onOriginData(chunk: Buffer): void {
		if (this.state === "local") return;
		this.originAnswered = true;
		this.lastOriginRead = Date.now();
		(this.backend as BackendRuntime).counters.bytesToClients += chunk.length;
		if (this.toClient.length === 0) {
			const n = this.client.write(chunk);
			if (n === chunk.length) return;
			this.toClient.push(Buffer.from(chunk.subarray(Math.max(n, 0))));
			this.originSocket?.pause();
		} else this.toClient.push(Buffer.from(chunk));
	}

	onOriginDrain(): void {
		if (this.flush(this.originSocket as Socket<OriginLink>, this.toOrigin)) {
			this.originBlockedSince = 0;
			if (this.state === "switching") {
				this.originSocket?.shutdown();
				return;
			}
			this.client.resume();
			if (this.clientEnded) {
				if (this.originEnded) this.close("both sides done");
				else this.originSocket?.shutdown();
			}
		}
	}

	onOriginEnd(): void {
		this.originEnded = true;
		if (this.state === "switching") {
			if (this.toClient.length === 0) this.finishSwitch();
			return;
		}
		if (this.state !== "piped") return;
		if (this.toClient.length === 0) this.client.shutdown();
		if (this.clientEnded && this.toOrigin.length === 0) this.close("both sides done");
	}

	onOriginClose(): void {
		if (this.state === "piped") {
			this.originSocket = null;
			if (this.toClient.length === 0) this.close("origin closed");
			else this.originEnded = true;
		} else if (this.state === "switching") {
			this.originSocket = null;
			this.originEnded = true;
			if (this.toClient.length === 0) this.finishSwitch();
		}
	}

	/** Writes queued chunks; true when the queue is empty afterwards. */
	private flush(s: Socket<unknown>, queue: Buffer[]): boolean {
		while (queue.length) {
			const head = queue[0] as Buffer;
			const n = s.write(head);
			if (n < head.length) {
				queue[0] = head.subarray(Math.max(n, 0));
				return false;
			}
			queue.shift();
		}
		return true;
	}

	// ---- routing ----

	private buffered(): Buffer {
		if (this.pending.length > 1) this.pending = [Buffer.concat(this.pending)];
		return this.pending[0] ?? Buffer.alloc(0);
	}

	/** Called on open and on every chunk while sniffing. */
	sniff() {
		const ctx = this.listener.ctx;
		try {
			if (this.sniffing === "proxy") {
				const parsed = parseV2(this.buffered());
				if (parsed.kind === "incomplete") return;
				if (parsed.kind === "invalid") return this.close(`bad PROXY header: ${parsed.reason}`);
				if (parsed.kind === "header") {
					if (parsed.endpoints) {
						this.clientIp = parsed.endpoints.sourceAddress;
						this.clientPort = parsed.endpoints.sourcePort;
						this.localIp = parsed.endpoints.destinationAddress;
						this.localPort = parsed.endpoints.destinationPort;
					}
					if (!ctx.acquireAddress(this.clientIp)) {
						this.listener.refusedByLimit();
						return this.close("per-address connection limit");
					}
					this.countedAddress = this.clientIp;
					const rest = this.buffered().subarray(parsed.length);
					this.pending = rest.length ? [Buffer.from(rest)] : [];
					this.pendingBytes = rest.length;
				}
				this.sniffing = this.listener.sniffKind();
				if (!this.sniffing) return this.routeDirect();
				if (!this.pendingBytes) return;
			}
			if (this.sniffing === "minecraft") this.sniffMinecraft();
			else if (this.sniffing === "http") this.sniffHttp();
			else if (this.sniffing === "tls") this.sniffTls();
			// Still undecided after this much: a body that follows a complete request head does not count.
			if (this.state === "sniff" && this.pendingBytes > MAX_SNIFF_BYTES) this.close("routing data too large");
		} catch (err) {
			if (err instanceof ProtocolError || err instanceof SniffError) this.close(err.message);
			else throw err;
		}
	}

	private sniffMinecraft() {
		const buf = this.buffered();
		const backends = this.listener.backends;
		if (buf[0] === 0xfe) {
			// Pre-1.7 server list ping: no host to route by.
			return this.routeTo(backends.length === 1 ? (backends[0] as BackendRuntime) : null);
		}
		const hs = parseHandshake(buf);
		if (!hs) return;
		const backend = selectBackend(backends, hs.host, domainMatches);
		const cfg = this.listener.ctx.config();
		if (!backend) {
			if (hs.nextState === 1)
				return this.answerStatusLocally(unknownHostStatus(cfg.unknown_host_message, hs), false, hs);
			this.listener.ctx.refusedUnrouted("routing");
			return this.refuse(loginDisconnect(cfg.unknown_host_message), `unknown host '${hs.host}'`);
		}
		if (hs.nextState === 1) {
			const cached =
				backend.status && Date.now() - backend.status.at <= cfg.status_cache_max_age_seconds * 1000
					? backend.status
					: null;
			if (cached && serveFromCache(backend)) return this.answerStatusLocally(cached.json, false, hs);
			this.statusFallback = cached !== null;
			return this.routeTo(backend);
		}
		const action = this.actionFor(backend);
		if (action === "REDIRECT") return this.routeTo(backend, true);
		if (action === "CHALLENGE" || challengeByLevel(backend)) {
			const verdict = this.listener.ctx.reconnect.check(backend.id, this.clientIp);
			if (verdict === "challenge") {
				backend.counters.refusedChallenge++;
				return this.refuse(loginDisconnect(cfg.challenge_message), "challenged (first join)");
			}
			if (verdict === "verified") this.listener.ctx.onVerified(backend, this.clientIp);
		}
		this.routeTo(backend);
	}

	/** The first matching CHALLENGE/REDIRECT rule's action for this connection on a backend. */
	private actionFor(backend: BackendRuntime): ProxyRule["action"] | null {
		if (!backend.rules.length) return null;
		return proxyAction(
			backend.rules,
			connectionFacts(
				{ ip: this.clientIp, port: this.localPort, transport: "TCP", backendType: backend.type },
				(ip) => {
					this.geoAnswer ??= this.listener.ctx.geo(ip);
					return this.geoAnswer;
				},
			),
		);
	}

	/** Where one HTTP request goes: the same decision for a connection's first request and every later one. */
	private decideHttp(head: HttpHead): HttpVerdict {
		const backend = selectBackend(this.listener.backends, head.host, domainMatches);
		if (!backend) return { kind: "unknown-host" };
		const action = this.actionFor(backend);
		if (action === "REDIRECT") return { kind: "route", backend, honeypot: true };
		if (
			(action === "CHALLENGE" || challengeByLevel(backend)) &&
			!this.listener.ctx.pow.cleared(head.headers.get("cookie"), backend.id, this.clientIp)
		)
			return { kind: "challenge", backend };
		return { kind: "route", backend, honeypot: false };
	}

	private sniffHttp() {
		const head = parseHttpHead(this.buffered());
		if (!head) return;
		const verdict = this.decideHttp(head);
		if (verdict.kind === "unknown-host") {
			this.listener.ctx.refusedUnrouted("routing");
			return this.refuse(
				httpResponse(
					421,
					"Misdirected Request",
					{ "Content-Type": "text/plain; charset=utf-8" },
					`${this.listener.ctx.config().unknown_host_message}\n`,
				),
				`unknown host '${head.host}'`,
			);
		}
		if (verdict.kind === "challenge") {
			verdict.backend.counters.refusedChallenge++;
			return this.powChallenge(verdict.backend, head, this.buffered().subarray(head.length));
		}
		this.http = new RequestFramer();
		this.routeTo(verdict.backend, verdict.honeypot);
	}

	private powChallenge(backend: BackendRuntime, head: HttpHead, body: Buffer) {
		const pow = this.listener.ctx.pow;
		const difficulty = backend.protection.challenge?.difficulty ?? 5;
		const path = head.target.split("?")[0];
		if (head.method === "POST" && path === VERIFY_PATH) {
			const length = Number(head.headers.get("content-length") ?? "0");
			if (!Number.isInteger(length) || length < 0 || length > 8192) return this.close("bad challenge answer");
			if (body.length < length) return;
			const form = new URLSearchParams(body.subarray(0, length).toString("latin1"));
			const returnTo = safeReturn(form.get("return"));
			const cookie = pow.solve(form.get("token") ?? "", form.get("nonce") ?? "", backend.id, this.clientIp);
			if (cookie) {
				return this.refuse(
					httpResponse(
						303,
						"See Other",
						{
							Location: returnTo,
							"Set-Cookie": `${COOKIE_NAME}=${cookie}; Path=/; Max-Age=${pow.clearanceSeconds}; HttpOnly; SameSite=Lax`,
							"Cache-Control": "no-store",
						},
						"",
					),
					"challenge solved",
				);
			}
			const page = renderPowPage(pow.issue(backend.id, this.clientIp, difficulty), difficulty, returnTo);
			return this.refuse(httpResponse(403, "Forbidden", htmlHeaders, page), "challenge answer refused");
		}
		const page = renderPowPage(pow.issue(backend.id, this.clientIp, difficulty), difficulty, safeReturn(head.target));
		this.refuse(httpResponse(403, "Forbidden", htmlHeaders, page), "challenge page served");
	}

	private sniffTls() {
		const host = parseSni(this.buffered());
		if (host === null) return;
		const backend = selectBackend(this.listener.backends, host, domainMatches);
		if (!backend) {
			this.listener.ctx.refusedUnrouted("routing");
			return this.close(`unknown TLS server name '${host}'`);
		}
		// TLS is not terminated: only the ClientHello is seen, so the first decision holds for the connection.
		this.routeTo(backend, this.actionFor(backend) === "REDIRECT");
	}

	private refuse(reply: Buffer, reason: string) {
		this.state = "local";
		this.listener.ctx.log.debug("connection answered locally", { client: this.clientIp, reason });
		this.answerAndClose([reply], reason);
	}

	/** Writes the last bytes of a locally answered connection; closes once the client took them all. */
	private answerAndClose(replies: Buffer[], reason: string): void {
		for (const r of replies) {
			if (this.toClient.length) this.toClient.push(r);
			else {
				const n = this.client.write(r);
				if (n < r.length) this.toClient.push(r.subarray(Math.max(n, 0)));
			}
		}
		if (this.toClient.length) {
			this.closeReason = reason;
			return;
		}
		this.client.shutdown();
		this.close(reason);
	}

	/** Set while a local answer still drains: the connection closes after it. */
	closeReason: string | null = null;

	/** Answers the status exchange from `json`; `switching` when an origin attempt is abandoned. */
	private answerStatusLocally(json: string, switching: boolean, hs?: Handshake) {
		if (switching) {
			const stale = this.originSocket;
			this.link = null;
			this.originSocket = null;
			stale?.end();
		}
		this.state = "local";
		this.responder = new LocalStatusResponder(json);
		const rest = hs ? this.buffered().subarray(hs.length) : this.statusBytes();
		this.pending = [];
		if (rest.length) this.feedResponder(rest);
	}

	/** Client bytes after the handshake that were already sent to the origin (kept for fallback). */
	private statusBytes(): Buffer {
		return this.sentStatus ?? Buffer.alloc(0);
	}

	sentStatus: Buffer | null = null;

	private feedResponder(chunk: Uint8Array): void {
		if (this.closeReason !== null) return;
		try {
			const { reply, done } = (this.responder as LocalStatusResponder).feed(chunk);
			if (done) this.answerAndClose(reply, "status answered locally");
			else for (const r of reply) this.client.write(r);
		} catch {
			this.close("bad status request");
		}
	}

	/** Routes without reading anything: the listener's one backend, or its honeypot for a REDIRECT rule. */
	routeDirect() {
		const backend = this.listener.backends[0] ?? null;
		this.routeTo(backend, backend !== null && this.actionFor(backend) === "REDIRECT");
	}

	/** Binds the connection to a backend and connects to an origin (or the honeypot). */
	routeTo(backend: BackendRuntime | null, honeypot = false) {
		if (!backend || backend.deleted) {
			this.listener.ctx.refusedUnrouted("routing");
			return this.close("no backend for this connection");
		}
		this.backend = backend;
		backend.connections.add(this);
		if (this.statusFallback) {
			const hs = parseHandshake(this.buffered());
			if (hs) this.sentStatus = Buffer.from(this.buffered().subarray(hs.length));
		}
		if (honeypot) {
			const target = redirectTarget(backend);
			if (!target)
				return this.refuseRouting("REDIRECT rule matched but the backend's honeypot origin is missing or disabled");
			return this.connect(target);
		}
		this.connectNext();
	}

	private connectNext() {
		const backend = this.backend as BackendRuntime;
		const origin = backend.balancer.pick(backend.origins, this.clientIp, this.tried);
		if (!origin) return this.refuseRouting("no usable origin");
		this.connect(origin);
	}

	/** Ends a connection its backend could not place with an origin. */
	private refuseRouting(reason: string): void {
		(this.backend as BackendRuntime).counters.refusedRouting++;
		this.close(reason);
	}

	private connect(origin: OriginRuntime): void {
		if (this.origin) this.origin.active--;
		this.origin = origin;
		origin.active++;
		this.tried.add(origin.id);
		this.state = "connecting";
		this.connectStartedAt = Date.now();
		const link: OriginLink = { conn: this };
		this.link = link;
		Bun.connect<OriginLink>({
			hostname: origin.address,
			port: origin.port,
			data: link,
			allowHalfOpen: true,
			socket: originHandlers,
		}).catch(() => {
			// connectError has handled it.
		});
	}

	connectFailed(reason: string) {
		if (this.state !== "connecting") return;
		this.link = null;
		this.listener.ctx.log.debug("origin connect failed", { origin: this.origin?.id, reason });
		if (this.tried.size >= MAX_CONNECT_ATTEMPTS || this.origin?.honeypot)
			return this.refuseRouting(`origin unreachable: ${reason}`);
		this.connectNext();
	}

	/** Deletes the saved status copy once the origin answers. */
	statusAnswered(): void {
		this.sentStatus = null;
	}
}

const htmlHeaders = { "Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store" };

function safeReturn(target: string | null): string {
	return target?.startsWith("/") && !target.startsWith("//") && !target.startsWith(VERIFY_PATH) ? target : "/";
}

function unknownHostStatus(message: string, hs: Handshake): string {
	return JSON.stringify({
		version: { name: "PistonProtection", protocol: hs.protocolVersion },
		players: { max: 0, online: 0 },
		description: { text: message },
	});
}

const originHandlers = {
	open(s: Socket<OriginLink>) {
		const conn = s.data.conn;
		if (conn.link !== s.data || conn.state !== "connecting") {
			s.terminate();
			return;
		}
		conn.onOriginOpen(s);
	},
	data(s: Socket<OriginLink>, chunk: Buffer) {
		const conn = s.data.conn;
		if (conn.link !== s.data) return;
		if (conn.sentStatus) conn.statusAnswered();
		conn.onOriginData(chunk);
	},
	drain(s: Socket<OriginLink>) {
		if (s.data.conn.link === s.data) s.data.conn.onOriginDrain();
	},
	end(s: Socket<OriginLink>) {
		if (s.data.conn.link === s.data) s.data.conn.onOriginEnd();
	},
	close(s: Socket<OriginLink>) {
		if (s.data.conn.link === s.data) s.data.conn.onOriginClose();
	},
	connectError(s: Socket<OriginLink>, err: Error) {
		if (s.data.conn.link === s.data) s.data.conn.connectFailed(err.message);
	},
	error(s: Socket<OriginLink>, err: Error) {
		const conn = s.data.conn;
		if (conn.link !== s.data) return;
		if (conn.state === "connecting") conn.connectFailed(err.message);
		else conn.close(`origin error: ${err.message}`);
	},
};

/** Client-side handlers; open() is per listener (it knows which listener accepted). */
function clientHandlers(listener: TcpListener): import("bun").SocketHandler<TcpConnection> {
	return {
		open(s) {
			listener.accept(s);
		},
		data(s, chunk) {
			s.data?.onClientData(chunk);
		},
		drain(s) {
			s.data?.onClientDrain();
		},
		end(s) {
			s.data?.onClientEnd();
		},
		close(s) {
			s.data?.onClientClose();
		},
		error(s, err) {
			s.data?.close(`client error: ${err.message}`);
		},
	};
}

/** One bound (address, port): the backends it serves are swapped in place on every change. */
export class TcpListener {
	backends: BackendRuntime[] = [];
	private server: TCPSocketListener<TcpConnection> | null = null;

	constructor(
		readonly address: string,
		readonly port: number,
		readonly ctx: TcpContext,
	) {}

	/** "" (every address) binds "::", which takes IPv4 too; hosts without IPv6 get "0.0.0.0". */
	start(): void {
		const bind = (hostname: string) =>
			Bun.listen<TcpConnection>({ hostname, port: this.port, allowHalfOpen: true, socket: clientHandlers(this) });
		if (this.address !== "") this.server = bind(this.address);
		else {
			try {
				this.server = bind("::");
			} catch {
				this.server = bind("0.0.0.0");
			}
		}
	}

	/** What the listener must read before it can route: null when the single backend needs nothing. */
	sniffKind(): TcpConnection["sniffing"] {
		const first = this.backends[0];
		if (!first) return null;
		switch (first.type) {
			case "MINECRAFT_JAVA":
				return "minecraft";
			case "HTTP":
				return "http";
			case "HTTPS":
				return this.backends.length > 1 || first.domains.length > 0 || first.rules.length > 0 ? "tls" : null;
			default:
				return null;
		}
	}

	/** Counts a per-address refusal on the listener's backend, when it serves only one. */
	refusedByLimit(): void {
		if (this.backends.length === 1) (this.backends[0] as BackendRuntime).counters.refusedLimit++;
		else this.ctx.refusedUnrouted("limit");
	}

	accept(s: Socket<TcpConnection>): void {
		const conn = new TcpConnection(s, this);
		s.data = conn;
		const trusted = this.ctx.trustedUpstream(conn.clientIp);
		if (!trusted) {
			if (!this.ctx.acquireAddress(conn.clientIp)) {
				this.refusedByLimit();
				conn.state = "closed";
				s.terminate();
				return;
			}
			conn.countedAddress = conn.clientIp;
		}
		conn.tracked = true;
		this.ctx.open(conn);
		s.setNoDelay(true);
		conn.sniffing = trusted ? "proxy" : this.sniffKind();
		if (!conn.sniffing) conn.routeDirect();
	}

	stop(): void {
		this.server?.stop(false);
		this.server = null;
	}
}
