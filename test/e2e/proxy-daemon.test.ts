// The proxy inside the real daemon process, on loopback: verified Minecraft players survive a
// restart (challenge_verified in SQLite), and bytes and connections through the proxy reach the
// stored telemetry — traffic, time series — and the Prometheus exposition, with the data plane off.
import { afterEach, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { type Daemon, isolatedEnv, runCli, startDaemon, tempDir } from "../helpers/daemon.ts";
import { join, type MinecraftOrigin, minecraftOrigin } from "../helpers/minecraft.ts";
import { echoThrough, freePort, tcpEchoOrigin } from "../helpers/proxy.ts";

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
	for (const c of cleanups.splice(0).reverse()) await c();
});

/** A data directory with an owner and an API key, and the environment of a daemon that runs the proxy. */
function setup(extra: Record<string, string> = {}) {
	const dir = tempDir();
	cleanups.push(() => dir.cleanup());
	const env = isolatedEnv(dir.path, { PP_PROXY_ENABLED: "true", ...extra });
	runCli(["admin", "create", "--email", "root@example.com", "--organization", "Proxied"], { env });
	const key = runCli(["apikey", "create", "--name", "k", "--permissions", "read,write"], { env }).stdout.trim();
	return { env, key };
}

async function start(env: Record<string, string>): Promise<Daemon> {
	const daemon = await startDaemon(env);
	cleanups.push(() => daemon.stop());
	return daemon;
}

function api(daemon: Daemon, key: string) {
	return async (method: string, path: string, body?: unknown) => {
		const res = await fetch(`${daemon.url}${path}`, {
			method,
			headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
			body: body === undefined ? undefined : JSON.stringify(body),
		});
		// biome-ignore lint/suspicious/noExplicitAny: REST bodies, checked field by field below
		return { status: res.status, body: (await res.json()) as Record<string, any> };
	};
}

/** Polls (about once a second: the default API tier allows a request per second) until check holds. */
async function poll<T>(read: () => Promise<T>, check: (v: T) => boolean, timeoutMs = 15_000): Promise<T> {
	const deadline = Date.now() + timeoutMs;
	let v = await read();
	while (!check(v) && Date.now() < deadline) {
		await Bun.sleep(1100);
		v = await read();
	}
	return v;
}

describe("the proxy in the daemon", () => {
	test("a verified Minecraft player joins straight away after a daemon restart; others are still challenged", async () => {
		const { env, key } = setup({ PP_PROXY_CHALLENGE_MESSAGE: "Reconnect to verify" });
		const origin: MinecraftOrigin = await minecraftOrigin({ motd: "Kept", proxyProtocol: true });
		cleanups.push(() => origin.stop());
		const port = await freePort();
		let daemon = await start(env);
		let call = api(daemon, key);
		const backend = await call("POST", "/v1/backends", {
			name: "mc",
			type: "MINECRAFT_JAVA",
			listeners: [{ address: "127.0.0.1", port, protocol: "TCP" }],
			domains: ["kept.mc.test"],
			healthCheck: { enabled: false },
			origins: [{ name: "o", address: "127.0.0.1", port: origin.port, settings: { proxyProtocol: 2 } }],
		});
		expect(backend.status).toBe(201);
		const rule = await call("POST", "/v1/filters", {
			backendId: backend.body.id,
			name: "verify",
			action: "CHALLENGE",
		});
		expect(rule.status).toBe(201);
		const joinKept = (name: string, source: string) => join(port, "kept.mc.test", name, source);
		// The supervisor follows the database: wait until the listener answers.
		await poll(
			() => joinKept("Probe", "127.0.0.70").catch((err: Error) => err.message),
			(text) => text.includes("Reconnect to verify"),
			10_000,
		);
		expect(await joinKept("Steve", "127.0.0.71")).toContain("Reconnect to verify");
		expect(await joinKept("Steve", "127.0.0.71")).toContain("welcome Steve");

		expect(await daemon.stop()).toBe(0);
		daemon = await start(env);
		call = api(daemon, key);
		// Listening again once a new address is challenged (it is retried only while refused, so Steve's join is one attempt).
		await poll(
			() => joinKept("Probe", "127.0.0.73").catch((err: Error) => err.message),
			(text) => text.includes("Reconnect to verify"),
			10_000,
		);
		expect(await joinKept("Steve", "127.0.0.71")).toContain("welcome Steve");
		expect(await joinKept("Alex", "127.0.0.72")).toContain("Reconnect to verify");
		expect(origin.joins.map((j) => j.username)).toEqual(["Steve", "Steve"]);
	}, 60_000);

	test("bytes and connections through the proxy show up in traffic, time series and Prometheus", async () => {
		const { env, key } = setup({ PP_TELEMETRY_FLUSH_SECONDS: "1" });
		const origin = await tcpEchoOrigin();
		cleanups.push(() => origin.stop());
		const port = await freePort();
		const daemon = await start(env);
		const call = api(daemon, key);
		const created = await call("POST", "/v1/backends", {
			name: "echo",
			type: "TCP",
			listeners: [{ address: "127.0.0.1", port, protocol: "TCP" }],
			healthCheck: { enabled: false },
			origins: [{ name: "o", address: "127.0.0.1", port: origin.port }],
		});
		expect(created.status).toBe(201);
		const backendId = created.body.id as string;
		const payload = randomBytes(300_000);
		const echoed = await poll(
			() => echoThrough(port, payload).catch(() => Buffer.alloc(0)),
			(b) => b.length > 0,
			10_000,
		);
		expect(echoed.equals(payload)).toBe(true);
		expect((await echoThrough(port, payload.subarray(0, 1000))).equals(payload.subarray(0, 1000))).toBe(true);

		const traffic = await poll(
			() => call("GET", `/v1/metrics/traffic?backendId=${backendId}`),
			(r) => r.body.metrics?.closedConnections === 2,
		);
		expect(traffic.status).toBe(200);
		expect(traffic.body.metrics).toMatchObject({
			bytesOut: 301_000,
			bytesProxiedIn: 301_000,
			newConnections: 2,
			closedConnections: 2,
			connectionsRefusedLimit: 0,
			connectionsRefusedChallenge: 0,
			connectionsRefusedRouting: 0,
			packetsOut: null,
			// The data plane is disabled here: its figures are not measured, not zero.
			packetsIn: null,
			packetsPerSecond: null,
			requestsTotal: null,
			packetsDropped: null,
			peakPacketsPerSecond: null,
		});
		expect(traffic.body.metrics.bytesPerSecondOut).toBeGreaterThan(0);
		expect(traffic.body.metrics.secondsMeasured).toBeGreaterThan(0);

		const series = await call(
			"GET",
			`/v1/metrics/timeseries?backendId=${backendId}&granularity=MINUTE&metrics=bytes_out_per_second,new_connections_per_second,packets_per_second`,
		);
		expect(series.status).toBe(200);
		const [bytesOut, opened, packets] = series.body.series as Array<{ points: Array<{ value: number }> }>;
		const total = (points: Array<{ value: number }> | undefined) => (points ?? []).reduce((n, p) => n + p.value, 0);
		expect(total(bytesOut?.points)).toBeGreaterThan(0);
		expect(total(opened?.points)).toBeGreaterThan(0);
		expect(packets?.points).toEqual([]);

		const text = await (await fetch(`${daemon.url}/metrics`)).text();
		const sample = (name: string, label = "") =>
			text
				.split("\n")
				.find((l) => l.startsWith(`${name}{backend_id="${backendId}"`) && l.includes(label))
				?.split(" ")
				.at(-1);
		expect(sample("pistonprotection_backend_proxy_bytes_total", 'direction="origin_to_client"')).toBe("301000");
		expect(sample("pistonprotection_backend_proxy_bytes_total", 'direction="client_to_origin"')).toBe("301000");
		expect(sample("pistonprotection_backend_proxy_connections_opened_total")).toBe("2");
		expect(sample("pistonprotection_backend_proxy_connections_closed_total")).toBe("2");
		expect(sample("pistonprotection_backend_proxy_connections_refused_total", 'reason="limit"')).toBe("0");
	}, 60_000);
});
