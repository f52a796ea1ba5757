// Active health checks of a backend's origins, per its healthCheck settings: a TCP connect, a
// Minecraft status query (which also fills the status cache), a RakNet unconnected ping (fills
// the pong cache), or an HTTP GET. Thresholds turn probe results into HEALTHY/UNHEALTHY.
import type { Backend } from "../domain/backends/model.ts";
import type { Health } from "./balancer.ts";
import { queryStatus } from "./minecraft.ts";
import { encodeHeader } from "./proxy-protocol.ts";
import { type Pong, pingOrigin } from "./raknet.ts";

export interface ProbeTarget {
	id: string;
	address: string;
	port: number;
	proxyProtocol: 0 | 1 | 2;
}

export type Probe = "tcp" | "minecraft" | "raknet" | "http" | "none";

/** Which probe a backend's origins get. UDP and QUIC have no generic probe: their origins stay UNKNOWN. */
export function probeFor(backend: Pick<Backend, "type" | "healthCheck">): Probe {
	const hc = backend.healthCheck;
	if (!hc.enabled) return "none";
	switch (backend.type) {
		case "MINECRAFT_JAVA":
			return hc.minecraft?.queryStatus ? "minecraft" : "tcp";
		case "MINECRAFT_BEDROCK":
			return "raknet";
		case "HTTP":
			return "http";
		case "UDP":
		case "QUIC":
			return "none";
		default:
			return "tcp";
	}
}

export interface ProbeResult {
	ok: boolean;
	error?: string;
	status?: string;
	pong?: Pong;
}

/** One probe against one origin. The PROXY header (when the origin wants one) names us as the source. */
export async function runProbe(
	probe: Probe,
	target: ProbeTarget,
	opts: { timeoutMs: number; host: string; httpPath: string; expectedStatus: number | null },
): Promise<ProbeResult> {
	const local = {
		sourceAddress: "127.0.0.1",
		sourcePort: 0,
		destinationAddress: "127.0.0.1",
		destinationPort: target.port,
	};
	try {
		switch (probe) {
			case "minecraft": {
				const preamble = encodeHeader(target.proxyProtocol, local, "TCP");
				const status = await queryStatus({ ...target, host: opts.host, timeoutMs: opts.timeoutMs, preamble });
				return { ok: true, status };
			}
			case "raknet": {
				const preamble = target.proxyProtocol ? encodeHeader(2, local, "UDP") : null;
				const pong = await pingOrigin({ ...target, timeoutMs: opts.timeoutMs, preamble });
				return { ok: true, pong };
			}
			case "http": {
				const preamble = encodeHeader(target.proxyProtocol, local, "TCP");
				const request = `GET ${opts.httpPath} HTTP/1.1\r\nHost: ${opts.host}\r\nUser-Agent: PistonProtection-HealthCheck\r\nConnection: close\r\n\r\n`;
				const head = await exchange(
					target,
					Buffer.concat([preamble ?? Buffer.alloc(0), Buffer.from(request)]),
					opts.timeoutMs,
					(b) => b.includes("\r\n"),
				);
				const m = /^HTTP\/1\.[01] (\d{3})/.exec(head);
				if (!m) return { ok: false, error: "no HTTP status line" };
				const code = Number(m[1]);
				const ok = opts.expectedStatus !== null ? code === opts.expectedStatus : code >= 200 && code < 400;
				return ok ? { ok } : { ok, error: `HTTP status ${code}` };
			}
			case "tcp": {
				const preamble = encodeHeader(target.proxyProtocol, local, "TCP");
				await exchange(target, preamble, opts.timeoutMs, null);
				return { ok: true };
			}
			default:
				return { ok: true };
		}
	} catch (err) {
		return { ok: false, error: (err as Error).message };
	}
}

/** Connects, writes `send`, and resolves once `until(received)` holds (or at connect when until is null). */
function exchange(
	target: ProbeTarget,
	send: Uint8Array | null,
	timeoutMs: number,
	until: ((text: string) => boolean) | null,
): Promise<string> {
	return new Promise((resolve, reject) => {
		let text = "";
		let settled = false;
		let sock: import("bun").Socket<undefined> | null = null;
		const done = (err: Error | null) => {
			if (settled) return;
			settled = true;
			clearTimeout(timer);
			sock?.end();
			if (err) reject(err);
			else resolve(text);
		};
		const timer = setTimeout(() => done(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
		Bun.connect({
			hostname: target.address,
			port: target.port,
			socket: {
				open(s) {
					sock = s;
					if (send?.length) s.write(send);
					if (!until) done(null);
				},
				data(_s, chunk) {
					text += Buffer.from(chunk).toString("latin1");
					if (until?.(text)) done(null);
				},
				close() {
					done(until ? new Error("closed before answering") : null);
				},
				connectError(_s, err) {
					done(err);
				},
				error(_s, err) {
					done(err);
				},
			},
		}).catch((err) => done(err as Error));
	});
}

export interface HealthState {
	health: Health;
	okStreak: number;
	failStreak: number;
	lastError: string | null;
}

/** Applies one probe result to an origin's state; returns the new health. */
export function applyResult(state: HealthState, ok: boolean, hc: Backend["healthCheck"], error?: string): Health {
	if (ok) {
		state.okStreak++;
		state.failStreak = 0;
		state.lastError = null;
		// The first success of an unchecked origin counts: it was serving already.
		if (state.health === "UNKNOWN" || state.okStreak >= (hc.healthyThreshold ?? 2)) state.health = "HEALTHY";
	} else {
		state.failStreak++;
		state.okStreak = 0;
		state.lastError = error ?? "probe failed";
		if (state.failStreak >= (hc.unhealthyThreshold ?? 3)) state.health = "UNHEALTHY";
	}
	return state.health;
}
