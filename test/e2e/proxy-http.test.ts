// HTTP and HTTPS routing (Host, TLS SNI without terminating TLS), every request of a keep-alive
// connection routed and checked on its own, the proof-of-work challenge solved by headless
// Chromium, and REDIRECT to a honeypot origin.
import { afterEach, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { connect, createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect as tlsConnect } from "node:tls";
import { chromium } from "playwright-core";
import { leadingZeroBits } from "../../src/proxy/challenge.ts";
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

/** An origin that answers "<name> <path>" and records the paths it was asked for. */
function recordingOrigin(name: string) {
	const paths: string[] = [];
	const server = Bun.serve({
		hostname: "127.0.0.1",
		port: 0,
		fetch: (req) => {
			const path = new URL(req.url).pathname;
			paths.push(path);
			return new Response(`${name} ${path}`);
		},
	});
	cleanups.push(() => server.stop(true));
	return { port: server.port as number, paths };
}

const get = (host: string, path: string, cookie?: string) =>
	`GET ${path} HTTP/1.1\r\nHost: ${host}\r\n${cookie ? `Cookie: ${cookie}\r\n` : ""}\r\n`;

interface RawResponse {
	status: number;
	headers: Record<string, string>;
	body: string;
}

/** One client connection speaking HTTP/1.1 keep-alive: requests are written as given, responses read by Content-Length. */
async function keepAlive(port: number) {
	const s = connect({ host: "127.0.0.1", port });
	let buf = Buffer.alloc(0);
	let ended = false;
	let wake: (() => void) | null = null;
	s.on("data", (d: Buffer) => {
		buf = Buffer.concat([buf, d]);
		wake?.();
	});
	s.on("close", () => {
		ended = true;
		wake?.();
	});
	s.on("error", () => {});
	cleanups.push(() => s.destroy());
	await new Promise<void>((r) => s.on("connect", () => r()));
	return {
		send: (text: string) => s.write(text),
		/** The next whole response, or null when the connection closed first. */
		async response(): Promise<RawResponse | null> {
			for (;;) {
				const end = buf.indexOf("\r\n\r\n");
				if (end !== -1) {
					const lines = buf.subarray(0, end).toString("latin1").split("\r\n");
					const headers: Record<string, string> = {};
					for (const line of lines.slice(1)) {
						const colon = line.indexOf(":");
						headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
					}
					const length = Number(headers["content-length"] ?? 0);
					if (buf.length >= end + 4 + length) {
						const body = buf.subarray(end + 4, end + 4 + length).toString();
						buf = buf.subarray(end + 4 + length);
						return { status: Number(lines[0]?.split(" ")[1]), headers, body };
					}
				}
				if (ended) return null;
				await new Promise<void>((r) => {
					wake = r;
				});
				wake = null;
			}
		},
	};
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

	test("every request on a keep-alive connection goes to the backend of its own Host, pipelined or not", async () => {
		core = await proxyCore();
		const port = await freePort();
		const listeners = [{ address: "127.0.0.1", port, protocol: "TCP" as const }];
		const one = recordingOrigin("one");
		const two = recordingOrigin("two");
		for (const [name, origin] of [
			["one", one],
			["two", two],
		] as const)
			core.services.backends.create(core.owner, {
				name,
				type: "HTTP",
				listeners,
				domains: [`${name}.web.test`],
				healthCheck: { enabled: false },
				origins: [{ name: "o", address: "127.0.0.1", port: origin.port }],
			});
		await until(
			() => core?.proxy.status().listeners.some((l) => l.port === port && l.backends.length === 2),
			3000,
			"listener",
		);
		const c = await keepAlive(port);
		for (const [host, path, want] of [
			["one.web.test", "/1", "one /1"],
			["one.web.test", "/2", "one /2"],
			["two.web.test", "/3", "two /3"],
			["one.web.test", "/4", "one /4"],
		] as const) {
			c.send(get(host, path));
			expect((await c.response())?.body).toBe(want);
		}
		// Pipelined in one write: answered in order, each by its own backend.
		c.send(
			get("one.web.test", "/5") + get("two.web.test", "/6") + get("two.web.test", "/7") + get("one.web.test", "/8"),
		);
		for (const want of ["one /5", "two /6", "two /7", "one /8"]) expect((await c.response())?.body).toBe(want);
		// A request with a large body for the other backend follows it there whole.
		const body = "x".repeat(200_000);
		c.send(`POST /big HTTP/1.1\r\nHost: two.web.test\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
		expect((await c.response())?.body).toBe("two /big");
		// A Host no backend serves is refused on the connection that carried good requests before.
		c.send(get("three.web.test", "/9"));
		expect((await c.response())?.status).toBe(421);
		expect(await c.response()).toBeNull();
		expect(one.paths).toEqual(["/1", "/2", "/4", "/5", "/8"]);
		expect(two.paths).toEqual(["/3", "/6", "/7", "/big"]);
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

	test("on a keep-alive connection each request needs its own clearance: one without it gets the challenge, not the origin", async () => {
		core = await proxyCore();
		const port = await freePort();
		const listeners = [{ address: "127.0.0.1", port, protocol: "TCP" as const }];
		const site = recordingOrigin("site");
		const other = recordingOrigin("other");
		const backends = (
			[
				["site", site],
				["other", other],
			] as const
		).map(([name, origin]) =>
			core?.services.backends.create(core.owner, {
				name,
				type: "HTTP",
				listeners,
				domains: [`${name}.web.test`],
				healthCheck: { enabled: false },
				protection: { challenge: { enabled: true, type: "PROOF_OF_WORK", difficulty: 4 } },
				origins: [{ name: "o", address: "127.0.0.1", port: origin.port }],
			}),
		);
		for (const b of backends)
			core.services.rules.create(core.owner, { backendId: b?.id as string, name: "pow", action: "CHALLENGE" });
		await until(
			() => core?.proxy.status().listeners.some((l) => l.port === port && l.backends.length === 2),
			3000,
			"listener",
		);
		// Solve site.web.test's challenge the way the page's script does.
		const page = await keepAlive(port);
		page.send(get("site.web.test", "/start"));
		const challenge = (await page.response()) as RawResponse;
		expect(challenge.status).toBe(403);
		const token = /name="token" value="([^"]+)"/.exec(challenge.body)?.[1] as string;
		let nonce = 0;
		while (leadingZeroBits(createHash("sha256").update(`${token}:${nonce}`).digest()) < 4) nonce++;
		const form = `token=${encodeURIComponent(token)}&nonce=${nonce}&return=%2F`;
		const verify = await keepAlive(port);
		verify.send(
			`POST /.pp-challenge/verify HTTP/1.1\r\nHost: site.web.test\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${form.length}\r\n\r\n${form}`,
		);
		const solved = (await verify.response()) as RawResponse;
		expect(solved.status).toBe(303);
		const cookie = (solved.headers["set-cookie"] as string).split(";")[0] as string;

		// With the cookie, requests ride one connection to the origin …
		const c = await keepAlive(port);
		c.send(get("site.web.test", "/a", cookie));
		expect((await c.response())?.body).toBe("site /a");
		c.send(get("site.web.test", "/b", cookie));
		expect((await c.response())?.body).toBe("site /b");
		// … but one without it is challenged on the same connection, which then closes.
		c.send(get("site.web.test", "/c"));
		const refused = (await c.response()) as RawResponse;
		expect(refused.status).toBe(403);
		expect(refused.body).toContain("Checking your connection");
		expect(await c.response()).toBeNull();

		// Pipelined behind a cleared request: the clearance of one backend does not carry to another.
		const d = await keepAlive(port);
		d.send(get("site.web.test", "/d", cookie) + get("other.web.test", "/e", cookie));
		expect((await d.response())?.body).toBe("site /d");
		expect((await d.response())?.status).toBe(403);
		expect(await d.response()).toBeNull();
		expect(site.paths).toEqual(["/a", "/b", "/d"]);
		expect(other.paths).toEqual([]);
	});

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
		// A disabled honeypot takes nothing, and the matched source is not balanced to the real origin instead.
		const honeypotId = backend.origins.find((o) => o.name === "honeypot")?.id as string;
		core.services.backends.updateOrigin(core.owner, backend.id, honeypotId, { enabled: false });
		expect((await echoThrough(port, Buffer.from("again"), { localAddress: "127.0.0.66" })).length).toBe(0);
		expect(real.headers).toHaveLength(3);
		expect(honeypot.headers).toHaveLength(1);
		expect(core.services.proxyCounters(backend.id)).toMatchObject({ opened: 4, closed: 4, refusedRouting: 1 });
	});
});
