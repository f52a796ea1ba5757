// HTTP and HTTPS routing (Host, TLS SNI without terminating TLS), the proof-of-work challenge
// solved by headless Chromium, and REDIRECT to a honeypot origin.
import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { connect, createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect as tlsConnect } from "node:tls";
import { chromium } from "playwright-core";
import { echoThrough, freePort, proxyCore, tcpEchoOrigin, until } from "../helpers/proxy.ts";

type Core = Awaited<ReturnType<typeof proxyCore>>;
let core: Core | null = null;
const cleanups: Array<() => unknown> = [];

afterEach(async () => {
	for (const c of cleanups.splice(0).reverse()) await c();
	core?.close();
	core = null;
});

function httpOrigin(body: string) {
	const server = Bun.serve({
		hostname: "127.0.0.1",
		port: 0,
		fetch: (req) => new Response(`${body} ${new URL(req.url).pathname}`),
	});
	cleanups.push(() => server.stop(true));
	return server.port as number;
}

/** Sends one raw HTTP/1.1 request; resolves with the whole response text. */
function rawRequest(port: number, host: string, path = "/"): Promise<string> {
	return new Promise((resolve, reject) => {
		let text = "";
		const s = connect({ host: "127.0.0.1", port }, () =>
			s.write(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`),
		);
		s.on("data", (d: Buffer) => {
			text += d.toString();
		});
		s.on("end", () => resolve(text));
		s.on("error", reject);
	});
}

describe("HTTP and HTTPS routing", () => {
	test("HTTP requests go to the backend whose domains hold the Host; other hosts get 421", async () => {
		core = await proxyCore((c) => {
			c.proxy.unknown_host_message = "unknown site";
		});
		const port = await freePort();
		const listeners = [{ address: "127.0.0.1", port, protocol: "TCP" as const }];
		for (const [name, body] of [
			["one", "first"],
			["two", "second"],
		] as const)
			core.services.backends.create(core.owner, {
				name,
				type: "HTTP",
				listeners,
				domains: [`${name}.web.test`],
				origins: [{ name: "o", address: "127.0.0.1", port: httpOrigin(body) }],
			});
		await until(
			() => core?.proxy.status().listeners.some((l) => l.port === port && l.backends.length === 2),
			3000,
			"listener",
		);
		expect(await rawRequest(port, "one.web.test", "/a")).toContain("first /a");
		expect(await rawRequest(port, "TWO.web.test:8080", "/b")).toContain("second /b");
		const other = await rawRequest(port, "three.web.test");
		expect(other).toStartWith("HTTP/1.1 421");
		expect(other).toContain("unknown site");
	});

	test("the HTTP health check GETs the configured path and expects its status", async () => {
		core = await proxyCore();
		let healthy = true;
		const server = Bun.serve({
			hostname: "127.0.0.1",
			port: 0,
			fetch: (req) =>
				new URL(req.url).pathname === "/healthz"
					? new Response("", { status: healthy ? 204 : 503 })
					: new Response("page"),
		});
		cleanups.push(() => server.stop(true));
		const backend = core.services.backends.create(core.owner, {
			name: "web",
			type: "HTTP",
			listeners: [{ address: "127.0.0.1", port: await freePort(), protocol: "TCP" }],
			healthCheck: {
				enabled: true,
				intervalSeconds: 1,
				timeoutSeconds: 1,
				healthyThreshold: 1,
				unhealthyThreshold: 1,
				http: { path: "/healthz", expectedStatus: 204 },
			},
			origins: [{ name: "o", address: "127.0.0.1", port: server.port as number }],
		});
		const id = backend.origins[0]?.id as string;
		await until(() => core?.services.originHealth(id) === "HEALTHY", 5000, "healthy");
		healthy = false;
		await until(() => core?.services.originHealth(id) === "UNHEALTHY", 5000, "unhealthy on 503");
	});

	test("HTTPS connections are routed by SNI and reach the origin untouched", async () => {
		core = await proxyCore();
		const port = await freePort();
		const seen: Record<string, Buffer[]> = { one: [], two: [] };
		const servers: Server[] = [];
		const originPort = async (name: "one" | "two") => {
			const server = createServer((s) => {
				s.once("data", (d: Buffer) => {
					seen[name]?.push(d);
					s.destroy();
				});
				s.on("error", () => {});
			});
			servers.push(server);
			await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
			return (server.address() as { port: number }).port;
		};
		cleanups.push(() => Promise.all(servers.map((s) => new Promise((r) => s.close(r)))));
		for (const name of ["one", "two"] as const)
			core.services.backends.create(core.owner, {
				name,
				type: "HTTPS",
				listeners: [{ address: "127.0.0.1", port, protocol: "TCP" }],
				domains: [`${name}.tls.test`],
				healthCheck: { enabled: false },
				origins: [{ name: "o", address: "127.0.0.1", port: await originPort(name) }],
			});
		await until(
			() => core?.proxy.status().listeners.some((l) => l.port === port && l.backends.length === 2),
			3000,
			"listener",
		);
		const hello = (servername: string) =>
			new Promise<void>((resolve) => {
				const s = tlsConnect({ host: "127.0.0.1", port, servername, rejectUnauthorized: false });
				s.on("error", () => resolve());
				s.on("close", () => resolve());
			});
		await hello("two.tls.test");
		await hello("one.tls.test");
		await hello("two.tls.test");
		expect(seen.one?.length).toBe(1);
		expect(seen.two?.length).toBe(2);
		// The origin got the ClientHello itself: a TLS handshake record naming its host.
		expect(seen.one?.[0]?.[0]).toBe(0x16);
		expect(seen.one?.[0]?.toString("latin1")).toContain("one.tls.test");
	});
});

describe("challenge and redirect", () => {
	test.skipIf(!existsSync("/usr/bin/chromium"))(
		"headless Chromium solves the proof-of-work page, gets the clearance cookie and the origin's page",
		async () => {
			core = await proxyCore();
			const port = await freePort();
			const backend = core.services.backends.create(core.owner, {
				name: "site",
				type: "HTTP",
				listeners: [{ address: "127.0.0.1", port, protocol: "TCP" }],
				protection: { challenge: { enabled: true, type: "PROOF_OF_WORK", difficulty: 10 } },
				origins: [{ name: "o", address: "127.0.0.1", port: httpOrigin("origin page") }],
			});
			core.services.rules.create(core.owner, { backendId: backend.id, name: "pow", action: "CHALLENGE" });
			await until(() => core?.proxy.status().listeners.some((l) => l.port === port), 3000, "listener");
			// Without a browser: the interstitial, not the origin.
			const first = await rawRequest(port, `127.0.0.1:${port}`, "/home");
			expect(first).toStartWith("HTTP/1.1 403");
			expect(first).toContain("Checking your connection");
			expect(first).not.toContain("origin page");

			const profile = mkdtempSync(join(tmpdir(), "pp-chromium-"));
			cleanups.push(() => rmSync(profile, { recursive: true, force: true }));
			const context = await chromium.launchPersistentContext(profile, {
				executablePath: "/usr/bin/chromium",
				headless: true,
				args: [
					"--headless",
					"--no-sandbox",
					"--disable-gpu",
					"--disable-quic",
					"--no-first-run",
					"--disable-background-networking",
					"--disable-component-update",
					"--disable-sync",
				],
			});
			cleanups.push(() => context.close());
			const page = await context.newPage();
			await page.goto(`http://127.0.0.1:${port}/home`);
			await page.waitForFunction(() => document.body?.textContent.includes("origin page"), undefined, {
				timeout: 20_000,
			});
			expect(await page.textContent("body")).toContain("origin page /home");
			const cookies = await context.cookies();
			const clearance = cookies.find((c) => c.name === "pp_clearance");
			expect(clearance?.httpOnly).toBe(true);
			// A forged cookie is not accepted.
			const forged = await new Promise<string>((resolve) => {
				let text = "";
				const s = connect({ host: "127.0.0.1", port }, () =>
					s.write(
						`GET / HTTP/1.1\r\nHost: x\r\nCookie: pp_clearance=${clearance?.value}x\r\nConnection: close\r\n\r\n`,
					),
				);
				s.on("data", (d: Buffer) => {
					text += d.toString();
				});
				s.on("end", () => resolve(text));
			});
			expect(forged).toStartWith("HTTP/1.1 403");
		},
		60_000,
	);

	test("a REDIRECT rule sends matching sources to the honeypot origin, which never gets other traffic", async () => {
		core = await proxyCore();
		const real = await tcpEchoOrigin({ proxyProtocol: true });
		const honeypot = await tcpEchoOrigin({ proxyProtocol: true });
		cleanups.push(
			() => real.stop(),
			() => honeypot.stop(),
		);
		const port = await freePort();
		const backend = core.services.backends.create(core.owner, {
			name: "game",
			type: "TCP",
			listeners: [{ address: "127.0.0.1", port, protocol: "TCP" }],
			healthCheck: { enabled: false },
			origins: [
				{ name: "main", address: "127.0.0.1", port: real.port, settings: { proxyProtocol: 2 } },
				{ name: "honeypot", address: "127.0.0.1", port: honeypot.port, settings: { proxyProtocol: 2 } },
			],
		});
		core.services.rules.create(core.owner, {
			backendId: backend.id,
			name: "to the honeypot",
			action: "REDIRECT",
			match: { sourceIps: [{ address: "127.0.0.66", prefixLength: 32 }] },
		});
		await until(() => core?.proxy.status().listeners.some((l) => l.port === port), 3000, "listener");
		await Bun.sleep(50);
		for (let i = 0; i < 3; i++) await echoThrough(port, Buffer.from("hi"), { localAddress: "127.0.0.65" });
		await echoThrough(port, Buffer.from("attack"), { localAddress: "127.0.0.66" });
		expect(real.headers.map((h) => h.source)).toEqual(["127.0.0.65", "127.0.0.65", "127.0.0.65"]);
		expect(honeypot.headers.map((h) => h.source)).toEqual(["127.0.0.66"]);
	});
});
