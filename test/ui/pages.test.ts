// The admin UI in process: pages and fragments, forms that keep input and show field errors,
// and what each role sees and may do (app.handle with a real session cookie and CSRF token).
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import type { Role } from "../../src/domain/actor.ts";
import { testCore } from "../helpers/app.ts";

type Core = Awaited<ReturnType<typeof testCore>>;
let core: Core;

beforeEach(async () => {
	core = await testCore();
});
afterEach(() => {
	core.services.db.close();
});

async function signIn(email = "owner@example.com") {
	const res = await core.app.handle(
		new Request("http://localhost/login", {
			method: "POST",
			headers: { "content-type": "application/x-www-form-urlencoded" },
			body: new URLSearchParams({ email, password: core.password, next: "/" }),
		}),
	);
	expect(res.status).toBe(303);
	const cookie = (res.headers.get("set-cookie") ?? "").split(";")[0] as string;
	const session = decodeURIComponent(cookie.split("=")[1] ?? "");
	return { cookie, csrf: core.services.auth.csrfToken(session) };
}

async function as(role: Role) {
	const email = `${role.toLowerCase()}@example.com`;
	if (role !== "OWNER") await core.member(role, email);
	return signIn(role === "OWNER" ? "owner@example.com" : email);
}

function get(path: string, s: { cookie: string }, headers: Record<string, string> = {}) {
	return core.app.handle(new Request(`http://localhost${path}`, { headers: { cookie: s.cookie, ...headers } }));
}

function post(
	path: string,
	s: { cookie: string; csrf: string },
	fields: Record<string, string>,
	headers: Record<string, string> = {},
) {
	return core.app.handle(
		new Request(`http://localhost${path}`, {
			method: "POST",
			headers: { cookie: s.cookie, "content-type": "application/x-www-form-urlencoded", ...headers },
			body: new URLSearchParams({ _csrf: s.csrf, ...fields }),
		}),
	);
}

const PAGES = [
	"/",
	"/backends",
	"/backends/new",
	"/rules",
	"/ips",
	"/members",
	"/api-keys",
	"/oauth-clients",
	"/audit",
	"/settings",
];

describe("pages", () => {
	test("a visitor without a session is sent to sign in, with the page to come back to", async () => {
		const res = await core.app.handle(new Request("http://localhost/backends?search=x"));
		expect(res.status).toBe(303);
		expect(res.headers.get("location")).toBe(`/login?next=${encodeURIComponent("/backends?search=x")}`);
	});

	test("every page renders for the owner, as a full page or as the htmx fragment", async () => {
		const s = await as("OWNER");
		for (const path of PAGES) {
			const full = await get(path, s);
			expect(full.status, path).toBe(200);
			expect(full.headers.get("vary")).toContain("HX-Request");
			const body = await full.text();
			expect(body.startsWith("<!DOCTYPE html>"), path).toBe(true);
			const fragment = await (await get(path, s, { "hx-request": "true" })).text();
			expect(fragment.includes("<html"), path).toBe(false);
			expect(body).toContain(fragment);
		}
	});

	test("a backend is created with two origins, and a validation error keeps the typed input", async () => {
		const s = await as("OWNER");
		const fields = {
			name: "mc",
			type: "MINECRAFT_JAVA",
			"origins[0].name": "a",
			"origins[0].address": "10.0.0.1",
			"origins[0].port": "25565",
			"origins[0].enabled": "true",
			"origins[1].name": "b",
			"origins[1].address": "10.0.0.2",
			"origins[1].port": "70000",
			"origins[1].enabled": "true",
			"loadBalancer.algorithm": "ROUND_ROBIN",
			"protection.level": "MEDIUM",
			"protection.enabled": "true",
			domains: "play.example.com",
		};
		const bad = await post("/backends/new", s, fields);
		expect(bad.status).toBe(400);
		const html = await bad.text();
		expect(html).toContain('class="field-error" id="f-origins-1-port-error"');
		expect(html).toContain('value="70000"');
		expect(html).toContain("play.example.com");
		const ok = await post("/backends/new", s, { ...fields, "origins[1].port": "25566" });
		expect(ok.status).toBe(303);
		const id = (ok.headers.get("location") ?? "").split("/")[2]?.split("?")[0] as string;
		const backend = core.services.backends.get(core.owner, id);
		expect(backend.origins.map((o) => o.port)).toEqual([25565, 25566]);
		expect(backend.domains).toEqual(["play.example.com"]);
	});

	test("user input is escaped wherever it is shown", async () => {
		const s = await as("OWNER");
		core.services.backends.create(core.owner, {
			name: "<script>alert(1)</script>",
			type: "TCP",
			listeners: [{ port: 4000, protocol: "TCP" }],
		});
		const body = await (await get("/backends", s)).text();
		expect(body).not.toContain("<script>alert(1)</script>");
		expect(body).toContain("&lt;script&gt;alert(1)&lt;/script&gt;");
	});
});

describe("roles", () => {
	test("a VIEWER sees no controls and a forged change is refused", async () => {
		const backend = core.services.backends.create(core.owner, { name: "mc", type: "MINECRAFT_JAVA" });
		const rule = core.services.rules.create(core.owner, { backendId: backend.id, name: "r", action: "DROP" });
		const s = await as("VIEWER");
		for (const path of [
			"/backends",
			`/backends/${backend.id}`,
			`/rules?backendId=${backend.id}`,
			"/ips",
			"/api-keys",
			"/members",
			"/settings",
		]) {
			const body = await (await get(path, s)).text();
			expect(body, path).not.toMatch(
				/<form method="post" action="\/(backends|rules|ips|api-keys|members|invitations|settings)/,
			);
			expect(body, path).not.toContain('href="/backends/new"');
		}
		const forged = await post(`/backends/${backend.id}/level`, s, { level: "UNDER_ATTACK" });
		expect(forged.status).toBe(403);
		const del = await post(`/rules/${rule.id}/delete`, s, {});
		expect(del.status).toBe(403);
		expect(core.services.backends.get(core.owner, backend.id).protection.level).toBe("MEDIUM");
		expect(core.services.rules.get(core.owner, rule.id).id).toBe(rule.id);
		const noCsrf = await post(`/backends/${backend.id}/level`, { ...s, csrf: "forged" }, { level: "OFF" });
		expect(noCsrf.status).toBe(403);
	});

	test("a MEMBER changes backends but sees neither the audit log nor OAuth clients", async () => {
		const backend = core.services.backends.create(core.owner, { name: "mc", type: "MINECRAFT_JAVA" });
		const s = await as("MEMBER");
		const home = await (await get("/", s)).text();
		expect(home).not.toContain('href="/audit"');
		expect(home).not.toContain('href="/oauth-clients"');
		expect((await get("/audit", s)).status).toBe(403);
		const res = await post(`/backends/${backend.id}/level`, s, { level: "HIGH" }, { "hx-request": "true" });
		expect(res.status).toBe(200);
		expect(await res.text()).toContain('value="HIGH" class="secondary small" aria-pressed="true"');
	});
});

describe("first run", () => {
	test("without an owner the UI offers setup, which creates the owner once", async () => {
		const fresh = await testCore();
		fresh.services.db.exec("DELETE FROM memberships");
		const res = await fresh.app.handle(new Request("http://localhost/"));
		expect(res.headers.get("location")).toBe("/setup");
		const form = (fields: Record<string, string>) =>
			fresh.app.handle(
				new Request("http://localhost/setup", {
					method: "POST",
					headers: { "content-type": "application/x-www-form-urlencoded" },
					body: new URLSearchParams(fields),
				}),
			);
		const short = await form({
			organizationName: "Acme",
			email: "new@example.com",
			password: "short",
			confirm: "short",
		});
		expect(short.status).toBe(400);
		expect(await short.text()).toContain('value="new@example.com"');
		const ok = await form({
			organizationName: "Acme",
			email: "new@example.com",
			password: "a long enough password",
			confirm: "a long enough password",
		});
		expect(ok.status).toBe(303);
		expect(fresh.services.users.ownerExists()).toBe(true);
		fresh.services.db.close();
	});
});
