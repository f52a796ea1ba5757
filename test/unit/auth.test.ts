import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { statSync } from "node:fs";
import { join } from "node:path";
import { KeyRing } from "../../src/auth/keys.ts";
import { RateLimiter } from "../../src/auth/ratelimit.ts";
import { type TestCore, testCore } from "../helpers/app.ts";

let core: TestCore;
beforeEach(async () => {
	core = await testCore();
});
afterEach(() => core.close());

const bearer = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });

describe("login and refresh", () => {
	test("login returns an access token for 900 s that the API accepts", async () => {
		const tokens = await core.login();
		expect(tokens.expiresIn).toBe(900);
		const res = await core.request("/v1/organizations/current", bearer(tokens.accessToken));
		expect(res.status).toBe(200);
		expect((await res.json()).id).toBe(core.organization.id);
	});

	test("a wrong password and an unknown account fail alike and are audited", async () => {
		const a = await core.json("/v1/auth/login", "POST", { email: "owner@example.com", password: "wrong password!!" });
		const b = await core.json("/v1/auth/login", "POST", { email: "nobody@example.com", password: "wrong password!!" });
		expect(a.status).toBe(401);
		expect(b.status).toBe(401);
		expect((await a.json()).detail).toBe((await b.json()).detail);
		const n = core.services.db
			.query<{ n: number }, []>("SELECT COUNT(*) AS n FROM audit_logs WHERE action = 'auth.login_failed'")
			.get()?.n;
		expect(n).toBe(2);
	});

	test("a malformed login body is a 400 with the field named", async () => {
		const res = await core.json("/v1/auth/login", "POST", { email: 42 });
		expect(res.status).toBe(400);
		const body = await res.json();
		expect(body.errors.map((e: { field: string }) => e.field)).toContain("email");
	});

	test("refresh rotates, and presenting a spent refresh token revokes the whole family", async () => {
		const first = await core.login();
		const r1 = await core.json("/v1/auth/refresh", "POST", { refreshToken: first.refreshToken });
		expect(r1.status).toBe(200);
		const second = await r1.json();
		expect(second.refreshToken).not.toBe(first.refreshToken);
		const reuse = await core.json("/v1/auth/refresh", "POST", { refreshToken: first.refreshToken });
		expect(reuse.status).toBe(401);
		// The family is gone: the rotated token and its access token no longer work.
		expect((await core.json("/v1/auth/refresh", "POST", { refreshToken: second.refreshToken })).status).toBe(401);
		expect((await core.request("/v1/organizations/current", bearer(second.accessToken))).status).toBe(401);
	});

	test("logout revokes the access token and the refresh token", async () => {
		const tokens = await core.login();
		const out = await core.request("/v1/auth/logout", { method: "POST", ...bearer(tokens.accessToken) });
		expect(out.status).toBe(204);
		expect((await core.request("/v1/organizations/current", bearer(tokens.accessToken))).status).toBe(401);
		expect((await core.json("/v1/auth/refresh", "POST", { refreshToken: tokens.refreshToken })).status).toBe(401);
	});

	test("a forged or tampered access token is refused", async () => {
		const tokens = await core.login();
		const [h, p, s] = tokens.accessToken.split(".");
		const claims = JSON.parse(Buffer.from(p as string, "base64url").toString());
		const forged = `${h}.${Buffer.from(JSON.stringify({ ...claims, org: "org_other" })).toString("base64url")}.${s}`;
		expect((await core.request("/v1/organizations/current", bearer(forged))).status).toBe(401);
	});
});

describe("signing keys", () => {
	test("are generated with mode 0600 and rotation keeps earlier tokens valid", async () => {
		const path = join(core.config.storage.data_dir, "keys", "signing-keys.json");
		expect(statSync(path).mode & 0o777).toBe(0o600);
		const before = await core.login();
		KeyRing.open(core.config.storage.data_dir).rotate();
		core.services.auth.keys.rotate();
		expect((await core.request("/v1/organizations/current", bearer(before.accessToken))).status).toBe(200);
		const after = await core.login();
		expect(after.accessToken.split(".")[0]).not.toBe(before.accessToken.split(".")[0]);
		expect((await core.request("/v1/organizations/current", bearer(after.accessToken))).status).toBe(200);
	});
});

describe("login throttling", () => {
	test("repeated failures are slowed, then refused, while another address still gets in", async () => {
		core.config.auth.login_slow_after = 2;
		core.config.auth.login_max_failures = 5;
		const throttle = core.services.auth;
		const ctx = { ipAddress: "203.0.113.9", userAgent: "t" };
		const delays: number[] = [];
		for (let i = 0; i < 5; i++) {
			const t0 = performance.now();
			await expect(throttle.login("owner@example.com", "bad password!!", ctx)).rejects.toThrow();
			delays.push(performance.now() - t0);
		}
		expect(delays[4] as number).toBeGreaterThan((delays[0] as number) + 150);
		await expect(throttle.login("owner@example.com", core.password, ctx)).rejects.toMatchObject({ status: 429 });
		const other = await throttle.login("owner@example.com", core.password, {
			ipAddress: "198.51.100.7",
			userAgent: "t",
		});
		expect(other.accessToken).toBeString();
	});
});

describe("rate limits", () => {
	test("every API response carries the X-RateLimit headers of the organization's tier", async () => {
		const res = await core.request("/v1/organizations/current", { key: core.key(["read"]) });
		expect(res.headers.get("x-ratelimit-limit")).toBe("600");
		expect(Number(res.headers.get("x-ratelimit-remaining"))).toBeLessThan(600);
		expect(Number(res.headers.get("x-ratelimit-reset"))).toBeGreaterThan(Date.now() / 1000);
	});

	test("exceeding the Free tier's burst answers 429 problem+json with retryAfter", async () => {
		core.services.db.prepare("UPDATE organizations SET plan = 'FREE'").run();
		const key = core.key(["read"]);
		let last: Response | null = null;
		for (let i = 0; i < 11; i++) last = await core.request("/v1/organizations/current", { key });
		expect(last?.status).toBe(429);
		const body = await last?.json();
		expect(body.type).toBe("https://api.pistonprotection.io/errors/rate-limited");
		expect(body.retryAfter).toBeGreaterThan(0);
		expect(last?.headers.get("x-ratelimit-retryafter")).toBe(String(body.retryAfter));
	});

	test("tiers follow the spec's table and Enterprise is unlimited", () => {
		const limiter = new RateLimiter();
		const now = 1_700_000_000_000;
		for (let i = 0; i < 500; i++) expect(limiter.consume("b", "BUSINESS", now).allowed).toBe(true);
		expect(limiter.consume("b", "BUSINESS", now).allowed).toBe(false);
		for (let i = 0; i < 5000; i++) expect(limiter.consume("e", "ENTERPRISE", now).allowed).toBe(true);
		expect(limiter.consume("f", "FREE", now).headers["X-RateLimit-Limit"]).toBe("60");
	});
});

describe("API keys over the API", () => {
	test("a key is created once, listed without its secret and revoked", async () => {
		const admin = core.key();
		const res = await core.json("/v1/api-keys", "POST", { name: "ci", permissions: ["read"] }, admin);
		expect(res.status).toBe(201);
		const created = await res.json();
		expect(created.key).toMatch(/^pp_live_/);
		const list = await (await core.request("/v1/api-keys", { key: admin })).json();
		expect(JSON.stringify(list)).not.toContain(created.key);
		expect((await core.request(`/v1/api-keys/${created.id}`, { method: "DELETE", key: admin })).status).toBe(200);
		expect((await core.request("/v1/organizations/current", { key: created.key })).status).toBe(401);
	});

	test("a key cannot create a key beyond its permissions, and bad input is a 400", async () => {
		const writer = core.key(["read", "write"]);
		expect((await core.json("/v1/api-keys", "POST", { name: "x", permissions: ["admin"] }, writer)).status).toBe(403);
		const bad = await core.json("/v1/api-keys", "POST", { name: "x", permissions: ["root"] }, writer);
		expect(bad.status).toBe(400);
		expect((await bad.json()).errors[0]).toMatchObject({ field: "permissions[0]", code: "invalid_enum" });
		expect((await core.json("/v1/api-keys", "POST", { name: "x", permissions: ["read"] })).status).toBe(401);
		expect(
			(await core.json("/v1/api-keys", "POST", { name: "x", permissions: ["read"] }, core.key(["read"]))).status,
		).toBe(403);
	});

	test("another organization's key id answers 404", async () => {
		const other = await core.otherOrganization();
		const { apiKey } = core.services.apiKeys.create(other.owner, { name: "theirs", permissions: ["read"] });
		expect((await core.request(`/v1/api-keys/${apiKey.id}`, { method: "DELETE", key: core.key() })).status).toBe(404);
	});
});

describe("web session", () => {
	test("the login form sets an httpOnly SameSite=Lax cookie and mutations need the CSRF token", async () => {
		const res = await core.app.handle(
			new Request("http://localhost/login", {
				method: "POST",
				headers: { "content-type": "application/x-www-form-urlencoded" },
				body: new URLSearchParams({ email: "owner@example.com", password: core.password, next: "/" }),
			}),
		);
		expect(res.status).toBe(303);
		const setCookie = res.headers.get("set-cookie") ?? "";
		expect(setCookie).toContain("HttpOnly");
		expect(setCookie).toContain("SameSite=Lax");
		expect(setCookie).not.toContain("Secure");
		const session = /pp_session=([^;]+)/.exec(setCookie)?.[1] as string;
		const cookie = `pp_session=${session}`;
		const get = await core.request("/v1/organizations/current", { headers: { cookie } });
		expect(get.status).toBe(200);
		const put = () =>
			core.request(`/v1/organizations/${core.organization.id}`, {
				method: "PUT",
				headers: { cookie, "content-type": "application/json", ...(csrf ? { "x-csrf-token": csrf } : {}) },
				body: JSON.stringify({ name: "Renamed" }),
			});
		let csrf = "";
		expect((await put()).status).toBe(403);
		csrf = core.services.auth.csrfToken(session);
		expect((await put()).status).toBe(200);
	});

	test("over TLS the session cookie is Secure", async () => {
		const res = await core.app.handle(
			new Request("https://localhost/login", {
				method: "POST",
				headers: { "content-type": "application/x-www-form-urlencoded" },
				body: new URLSearchParams({ email: "owner@example.com", password: core.password }),
			}),
		);
		expect(res.headers.get("set-cookie")).toContain("Secure");
	});
});

describe("request hygiene", () => {
	test("malformed JSON, oversized bodies and bad pagination answer 400 and change nothing", async () => {
		const key = core.key();
		const url = `/v1/organizations/${core.organization.id}`;
		const malformed = await core.request(url, {
			method: "PUT",
			key,
			body: "{nope",
			headers: { "content-type": "application/json" },
		});
		expect(malformed.status).toBe(400);
		expect((await malformed.json()).errors[0].code).toBe("invalid_json");
		core.config.api.body_limit_bytes = 1024;
		const big = await core.json(url, "PUT", { name: "x".repeat(2000) }, key);
		expect(big.status).toBe(400);
		expect((await big.json()).errors[0].code).toBe("body_too_large");
		expect((await core.request(`/v1/organizations/${core.organization.id}/members?pageSize=500`, { key })).status).toBe(
			400,
		);
		expect((await core.request("/v1/audit-logs?page=0", { key })).status).toBe(400);
		expect((await core.json(url, "PUT", { tier: "PLATINUM" }, key)).status).toBe(400);
		expect(core.services.organizations.get(core.organization.id).name).toBe("Acme");
	});

	test("the OpenAPI document and its offline docs page are served without a CDN", async () => {
		const docs = await core.request("/v1/docs");
		expect(docs.status).toBe(200);
		const page = await docs.text();
		expect(page).toContain("/v1/docs/assets/swagger-ui-bundle.js");
		expect(page).not.toMatch(/unpkg|jsdelivr|cdn\./);
		expect((await core.request("/v1/docs/assets/swagger-ui-bundle.js")).status).toBe(200);
		const spec = await (await core.request("/v1/docs/json")).json();
		expect(Object.keys(spec.paths)).toContain("/v1/organizations/current");
		expect(Object.keys(spec.paths)).toContain("/oauth/token");
	});
});
