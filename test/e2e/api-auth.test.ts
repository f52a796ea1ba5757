// Token flows end to end against a real daemon over HTTP on loopback, driven as a client would.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { request } from "node:http";
import { type Daemon, isolatedEnv, runCli, startDaemon, tempDir } from "../helpers/daemon.ts";

const PASSWORD = "correct horse battery staple";
let dir: ReturnType<typeof tempDir>;
let daemon: Daemon;

beforeAll(async () => {
	dir = tempDir();
	const env = isolatedEnv(dir.path, {
		PP_SERVER_HTTPS_ENABLED: "false",
		PP_API_ANONYMOUS_TIER: "ENTERPRISE",
		PP_AUTH_LOGIN_SLOW_AFTER: "2",
		PP_AUTH_LOGIN_MAX_FAILURES: "5",
	});
	const created = runCli(["admin", "create", "--email", "owner@example.com", "--password-stdin"], {
		env,
		stdin: PASSWORD,
	});
	expect(created.exitCode).toBe(0);
	daemon = await startDaemon(env);
});
afterAll(async () => {
	await daemon?.stop();
	dir?.cleanup();
});

const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
	fetch(`${daemon.url}${path}`, {
		method: "POST",
		headers: { "content-type": "application/json", ...headers },
		body: JSON.stringify(body),
	});

async function loginTokens() {
	const res = await post("/v1/auth/login", { email: "owner@example.com", password: PASSWORD });
	expect(res.status).toBe(200);
	return (await res.json()) as { accessToken: string; refreshToken: string };
}

describe("JWT sign-in over HTTP", () => {
	test("login, call, refresh, and reuse of the spent refresh token revokes the sign-in", async () => {
		const first = await loginTokens();
		const me = await fetch(`${daemon.url}/v1/organizations/current`, {
			headers: { authorization: `Bearer ${first.accessToken}` },
		});
		expect(me.status).toBe(200);
		expect(me.headers.get("x-ratelimit-limit")).toBeTruthy();
		const refreshed = await post("/v1/auth/refresh", { refreshToken: first.refreshToken });
		expect(refreshed.status).toBe(200);
		const second = await refreshed.json();
		const reuse = await post("/v1/auth/refresh", { refreshToken: first.refreshToken });
		expect(reuse.status).toBe(401);
		expect(reuse.headers.get("content-type")).toBe("application/problem+json");
		const after = await fetch(`${daemon.url}/v1/organizations/current`, {
			headers: { authorization: `Bearer ${second.accessToken}` },
		});
		expect(after.status).toBe(401);
	});
});

describe("OAuth 2.0 over HTTP", () => {
	async function registerClient() {
		const { accessToken } = await loginTokens();
		const res = await post(
			"/v1/oauth/clients",
			{ name: "Dashboard", redirectUris: ["http://127.0.0.1:9/callback"], scopes: ["read", "write"] },
			{ authorization: `Bearer ${accessToken}` },
		);
		expect(res.status).toBe(201);
		return (await res.json()) as { id: string; clientSecret: string };
	}

	test("authorization code with PKCE: sign in, consent, exchange, call the API; the code is single-use", async () => {
		const client = await registerClient();
		const verifier = Buffer.from(crypto.getRandomValues(new Uint8Array(48))).toString("base64url");
		const challenge = new Bun.CryptoHasher("sha256").update(verifier).digest("base64url");
		const authorize = `/oauth/authorize?${new URLSearchParams({
			response_type: "code",
			client_id: client.id,
			redirect_uri: "http://127.0.0.1:9/callback",
			scope: "read write",
			state: "xyz-123",
			code_challenge: challenge,
			code_challenge_method: "S256",
		})}`;
		// Not signed in: sent to the login form, which sends us back.
		const first = await fetch(daemon.url + authorize, { redirect: "manual" });
		expect(first.status).toBe(303);
		const loginUrl = new URL(first.headers.get("location") as string, daemon.url);
		const login = await fetch(`${daemon.url}/login`, {
			method: "POST",
			redirect: "manual",
			headers: { "content-type": "application/x-www-form-urlencoded" },
			body: new URLSearchParams({
				email: "owner@example.com",
				password: PASSWORD,
				next: loginUrl.searchParams.get("next") ?? "",
			}),
		});
		expect(login.status).toBe(303);
		const cookie = (login.headers.get("set-cookie") as string).split(";")[0] as string;
		const consent = await fetch(daemon.url + (login.headers.get("location") as string), {
			headers: { cookie },
			redirect: "manual",
		});
		expect(consent.status).toBe(200);
		const html = await consent.text();
		expect(html).toContain("Dashboard");
		const fields = new URLSearchParams();
		for (const m of html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"/g))
			fields.set(
				m[1] as string,
				(m[2] as string).replaceAll("&amp;", "&").replaceAll("&#39;", "'").replaceAll("&quot;", '"'),
			);
		fields.set("decision", "approve");
		const approved = await fetch(`${daemon.url}/oauth/authorize`, {
			method: "POST",
			redirect: "manual",
			headers: { cookie, "content-type": "application/x-www-form-urlencoded" },
			body: fields,
		});
		expect(approved.status).toBe(303);
		const callback = new URL(approved.headers.get("location") as string);
		expect(callback.origin + callback.pathname).toBe("http://127.0.0.1:9/callback");
		expect(callback.searchParams.get("state")).toBe("xyz-123");
		const code = callback.searchParams.get("code") as string;
		const exchange = () =>
			fetch(`${daemon.url}/oauth/token`, {
				method: "POST",
				headers: { "content-type": "application/x-www-form-urlencoded" },
				body: new URLSearchParams({
					grant_type: "authorization_code",
					code,
					redirect_uri: "http://127.0.0.1:9/callback",
					client_id: client.id,
					client_secret: client.clientSecret,
					code_verifier: verifier,
				}),
			});
		const token = await exchange();
		expect(token.status).toBe(200);
		const tokens = await token.json();
		expect(tokens).toMatchObject({ token_type: "Bearer", expires_in: 900, scope: "read write" });
		const me = await fetch(`${daemon.url}/v1/organizations/current`, {
			headers: { authorization: `Bearer ${tokens.access_token}` },
		});
		expect(me.status).toBe(200);
		const again = await exchange();
		expect(again.status).toBe(400);
		expect((await again.json()).error).toBe("invalid_grant");
		// The replay revoked what the code had issued.
		const revoked = await fetch(`${daemon.url}/v1/organizations/current`, {
			headers: { authorization: `Bearer ${tokens.access_token}` },
		});
		expect(revoked.status).toBe(401);
	});

	test("a redirect URI that does not match exactly is refused without redirecting", async () => {
		const client = await registerClient();
		const res = await fetch(
			`${daemon.url}/oauth/authorize?${new URLSearchParams({
				response_type: "code",
				client_id: client.id,
				redirect_uri: "http://127.0.0.1:9/callback/evil",
				code_challenge: "a".repeat(43),
				code_challenge_method: "S256",
			})}`,
			{ redirect: "manual" },
		);
		expect(res.status).toBe(400);
		expect(res.headers.get("location")).toBeNull();
	});

	test("client credentials issue a token the API accepts within the client's scopes", async () => {
		const client = await registerClient();
		const res = await fetch(`${daemon.url}/oauth/token`, {
			method: "POST",
			headers: {
				"content-type": "application/x-www-form-urlencoded",
				authorization: `Basic ${Buffer.from(`${client.id}:${client.clientSecret}`).toString("base64")}`,
			},
			body: new URLSearchParams({ grant_type: "client_credentials", scope: "read" }),
		});
		expect(res.status).toBe(200);
		const { access_token } = await res.json();
		const me = await fetch(`${daemon.url}/v1/organizations/current`, {
			headers: { authorization: `Bearer ${access_token}` },
		});
		expect(me.status).toBe(200);
		const audit = await fetch(`${daemon.url}/v1/audit-logs`, { headers: { authorization: `Bearer ${access_token}` } });
		expect(audit.status).toBe(403);
		const wrong = await fetch(`${daemon.url}/oauth/token`, {
			method: "POST",
			headers: { "content-type": "application/x-www-form-urlencoded" },
			body: new URLSearchParams({ grant_type: "client_credentials", client_id: client.id, client_secret: "nope" }),
		});
		expect(wrong.status).toBe(401);
	});
});

describe("brute force over HTTP", () => {
	test("repeated failed logins are slowed and then refused", async () => {
		const times: number[] = [];
		for (let i = 0; i < 5; i++) {
			const t0 = performance.now();
			const res = await post("/v1/auth/login", { email: "victim@example.com", password: "guess number one" });
			expect(res.status).toBe(401);
			times.push(performance.now() - t0);
		}
		expect(times[4] as number).toBeGreaterThan((times[0] as number) + 150);
		const refused = await post("/v1/auth/login", { email: "victim@example.com", password: "guess number one" });
		expect(refused.status).toBe(429);
		expect((await refused.json()).retryAfter).toBeGreaterThan(0);
	});

	test("the right user still gets in from another address after their account was attacked", async () => {
		const attempt = (password: string, localAddress: string) =>
			new Promise<number>((resolve, reject) => {
				const body = JSON.stringify({ email: "owner@example.com", password });
				const req = request(
					`${daemon.url}/v1/auth/login`,
					{ method: "POST", localAddress, headers: { "content-type": "application/json" } },
					(res) => {
						res.resume();
						res.on("end", () => resolve(res.statusCode ?? 0));
					},
				);
				req.on("error", reject);
				req.end(body);
			});
		let status = 0;
		for (let i = 0; i < 8 && status !== 429; i++) status = await attempt("wrong password guess", "127.0.0.3");
		expect(status).toBe(429);
		// The attacker's address stays refused even with the right password …
		expect(await attempt(PASSWORD, "127.0.0.3")).toBe(429);
		// … while the owner, from their own address, signs in.
		expect(await attempt(PASSWORD, "127.0.0.4")).toBe(200);
	});
});
