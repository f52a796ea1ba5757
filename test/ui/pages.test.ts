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
	"/alerts",
	"/alerts/new",
	"/webhooks",
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
		// Origins of one priority created in the same millisecond come back in id order (random).
		expect(backend.origins.map((o) => o.port).sort()).toEqual([25565, 25566]);
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

	test("a VIEWER reads alerts and webhooks without controls, and forged changes are refused", async () => {
		const alert = core.services.alerts.create(core.owner, {
			name: "flood",
			condition: { metric: "requests_per_second", operator: "GREATER_THAN", threshold: 10 },
			notifications: [],
		});
		const hook = core.services.webhooks.create(core.owner, { url: "https://example.com/h", events: ["alert.fired"] });
		const s = await as("VIEWER");
		const home = await (await get("/", s)).text();
		expect(home).toContain('href="/alerts"');
		expect(home).toContain('href="/webhooks"');
		for (const path of ["/alerts", "/webhooks", `/webhooks/${hook.id}`]) {
			const res = await get(path, s);
			expect(res.status, path).toBe(200);
			const body = await res.text();
			expect(body, path).not.toMatch(/<form method="post" action="\/(alerts|webhooks)/);
			expect(body, path).not.toMatch(/href="\/(alerts\/new|alerts\/[^"]+\/edit|webhooks\/[^"]+\/edit)"/);
		}
		expect(await (await get("/alerts", s)).text()).toContain("flood");
		expect((await get("/alerts/new", s)).status).toBe(403);
		expect((await get(`/webhooks/${hook.id}/edit`, s)).status).toBe(403);
		for (const [path, fields] of [
			[
				"/alerts/new",
				{
					name: "x",
					"condition.metric": "requests_per_second",
					"condition.operator": "EQUAL",
					"condition.threshold": "1",
				},
			],
			[`/alerts/${alert.id}/enabled`, { enabled: "false" }],
			[`/alerts/${alert.id}/delete`, {}],
			["/webhooks", { url: "https://example.com/x", "events:alert.fired": "true" }],
			[`/webhooks/${hook.id}/test`, {}],
			[`/webhooks/${hook.id}/delete`, {}],
		] as const) {
			const forged = await post(path, s, fields);
			expect(forged.status, path).toBe(403);
		}
		expect(core.services.alerts.get(core.owner, alert.id).enabled).toBe(true);
		expect(core.services.webhooks.list(core.owner).data).toHaveLength(1);
		expect(core.services.webhooks.deliveries(core.owner, hook.id).data).toEqual([]);
	});

	test("a MEMBER edits alerts and sends a test event, but may not change webhooks", async () => {
		const hook = core.services.webhooks.create(core.owner, { url: "https://example.com/h", events: ["alert.fired"] });
		const s = await as("MEMBER");
		expect(await (await get("/alerts", s)).text()).toContain('href="/alerts/new"');
		const list = await (await get("/webhooks", s)).text();
		expect(list).not.toContain('action="/webhooks"');
		expect(list).not.toContain(`/webhooks/${hook.id}/delete`);
		const detail = await (await get(`/webhooks/${hook.id}`, s)).text();
		expect(detail).toContain(`action="/webhooks/${hook.id}/test"`);
		expect(detail).not.toContain(`/webhooks/${hook.id}/edit`);
		expect((await post(`/webhooks/${hook.id}/test`, s, {})).status).toBe(303);
		expect(core.services.webhooks.deliveries(core.owner, hook.id).data).toHaveLength(1);
		const forged = await post(`/webhooks/${hook.id}/edit`, s, {
			url: "https://evil.example/",
			"events:alert.fired": "true",
		});
		expect(forged.status).toBe(403);
		expect(core.services.webhooks.get(core.owner, hook.id).url).toBe("https://example.com/h");
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

describe("alerts", () => {
	const fields = {
		name: "flood",
		backendId: "",
		"condition.metric": "packets_per_second",
		"condition.operator": "GREATER_THAN",
		"condition.threshold": "lots",
		"condition.durationSeconds": "60",
		"notifications[0].type": "SLACK",
		"notifications[0].destination": "not a url",
		"notifications[1].type": "PAGERDUTY",
		"notifications[1].destination": "abcdefghijklmnopqrstuvwxyz012345",
		enabled: "true",
	};

	test("an alert with errors is shown again with each message next to its field and nothing lost", async () => {
		const s = await as("OWNER");
		const bad = await post("/alerts/new", s, fields);
		expect(bad.status).toBe(400);
		const html = await bad.text();
		expect(html).toContain('class="field-error" id="f-condition-threshold-error"');
		expect(html).toContain('value="lots"');
		expect(html).toContain('value="not a url"');
		expect(html).toContain('value="abcdefghijklmnopqrstuvwxyz012345"');
		expect(html).toMatch(/<option value="PAGERDUTY" selected/);
		expect(html).toMatch(/<option value="packets_per_second" selected/);
		// The channels are checked once the schema holds.
		const channel = await post("/alerts/new", s, { ...fields, "condition.threshold": "1000" });
		expect(channel.status).toBe(400);
		const again = await channel.text();
		expect(again).toContain('class="field-error" id="f-notifications-0-destination-error"');
		expect(again).toContain('value="not a url"');
		expect(again).toContain('value="1000"');
		expect(core.services.alerts.list(core.owner).data).toEqual([]);
	});

	test("adding and removing a channel row keeps what was typed", async () => {
		const s = await as("OWNER");
		const added = await (await post("/alerts/new", s, { ...fields, _op: "add-notification" })).text();
		expect(added).toContain('id="f-notifications-2-destination"');
		expect(added).toContain('value="lots"');
		const removed = await (await post("/alerts/new", s, { ...fields, _op: "remove-notification:0" })).text();
		expect(removed).not.toContain("not a url");
		expect(removed).toContain('value="abcdefghijklmnopqrstuvwxyz012345"');
		expect(removed).not.toContain('id="f-notifications-1-destination"');
	});

	test("an alert is created, listed in words with its state, switched off, edited and deleted", async () => {
		const backend = core.services.backends.create(core.owner, { name: "mc", type: "MINECRAFT_JAVA" });
		const s = await as("OWNER");
		const ok = await post("/alerts/new", s, {
			...fields,
			backendId: backend.id,
			"condition.threshold": "5000.5",
			"notifications[0].destination": "https://hooks.slack.com/services/T/B/x",
			"notifications[2].type": "EMAIL",
			"notifications[2].destination": "",
		});
		expect(ok.status).toBe(303);
		expect(ok.headers.get("location")).toBe("/alerts?done=created");
		const [alert] = core.services.alerts.list(core.owner).data;
		expect(alert?.condition).toEqual({
			metric: "packets_per_second",
			operator: "GREATER_THAN",
			threshold: 5000.5,
			durationSeconds: 60,
		});
		expect(alert?.backendId).toBe(backend.id);
		expect(alert?.notifications.map((n) => n.type)).toEqual(["SLACK", "PAGERDUTY"]);
		const id = alert?.id as string;

		core.services.db
			.prepare("UPDATE alerts SET state = 'firing', last_value = 12345, last_fired_at = ? WHERE id = ?")
			.run("2030-01-02T03:04:05.000Z", id);
		const list = await (await get("/alerts", s)).text();
		expect(list).toContain("packets per second above 5000.5 for 1 min");
		expect(list).toContain('<span class="badge failed">FIRING</span>');
		expect(list).toContain("12.3k/s");
		expect(list).toContain("2030-01-02 03:04:05Z");
		expect(list).toContain(`<form method="post" action="/alerts/${id}/delete" class="inline" data-confirm=`);

		const off = await post(`/alerts/${id}/enabled`, s, { enabled: "false" }, { "hx-request": "true" });
		expect(off.status).toBe(200);
		expect(await off.text()).toContain('aria-checked="false"');
		expect(core.services.alerts.get(core.owner, id).enabled).toBe(false);

		const edit = await (await get(`/alerts/${id}/edit`, s)).text();
		expect(edit).toContain('value="https://hooks.slack.com/services/T/B/x"');
		const saved = await post(`/alerts/${id}/edit`, s, {
			name: "renamed",
			backendId: backend.id,
			"condition.metric": "packets_per_second",
			"condition.operator": "GREATER_THAN",
			"condition.threshold": "5000.5",
			"condition.durationSeconds": "60",
			"notifications[0].type": "SLACK",
			"notifications[0].destination": "https://hooks.slack.com/services/T/B/x",
			enabled: "true",
		});
		expect(saved.status).toBe(303);
		const after = core.services.alerts.get(core.owner, id);
		expect(after.name).toBe("renamed");
		expect(after.enabled).toBe(true);
		expect(after.notifications).toHaveLength(1);
		// Only the name and channels changed: evaluation goes on where it was.
		expect(after.state).toBe("firing");

		const del = await post(`/alerts/${id}/delete`, s, {});
		expect(del.status).toBe(303);
		expect(core.services.alerts.list(core.owner).data).toEqual([]);
	});
});

describe("webhooks", () => {
	test("a webhook with errors keeps what was typed and shows each message next to its field", async () => {
		const s = await as("OWNER");
		const bad = await post("/webhooks", s, { url: "ftp://example.com/hook", secret: "short" });
		expect(bad.status).toBe(400);
		const html = await bad.text();
		expect(html).toContain('class="field-error" id="f-url-error"');
		expect(html).toContain('class="field-error" id="f-events-error"');
		expect(html).toContain('class="field-error" id="f-secret-error"');
		expect(html).toContain('value="ftp://example.com/hook"');
		expect(html).toContain('value="short"');
		const partly = await (
			await post("/webhooks", s, { url: "ftp://example.com/hook", "events:alert.fired": "true" })
		).text();
		expect(partly).toMatch(/name="events:alert\.fired" value="true" checked/);
	});

	test("a webhook is created with its secret shown once, tested, disabled, enabled again and deleted", async () => {
		const s = await as("OWNER");
		const created = await post("/webhooks", s, {
			url: "https://example.com/hook",
			"events:alert.fired": "true",
			"events:alert.resolved": "true",
		});
		expect(created.status).toBe(200);
		const html = await created.text();
		const secret = /<code id="webhook-secret">([^<]+)<\/code>/.exec(html)?.[1] ?? "";
		expect(secret).toMatch(/^whsec_/);
		expect(html).toContain('data-copy="webhook-secret"');
		const [hook] = core.services.webhooks.list(core.owner).data;
		expect(hook?.events).toEqual(["alert.fired", "alert.resolved"]);
		const id = hook?.id as string;
		expect(await (await get("/webhooks", s)).text()).not.toContain(secret);

		const detail = await (await get(`/webhooks/${id}`, s)).text();
		expect(detail).toContain("Nothing delivered yet.");
		expect(detail).toContain(`<form method="post" action="/webhooks/${id}/test"`);
		const tested = await post(`/webhooks/${id}/test`, s, {});
		expect(tested.status).toBe(303);
		expect(tested.headers.get("location")).toBe(`/webhooks/${id}?done=tested`);
		const history = await (await get(`/webhooks/${id}?done=tested`, s)).text();
		expect(history).toContain("webhook.test");
		expect(history).toContain('<span class="badge idle">pending</span>');

		core.services.db
			.prepare("UPDATE webhooks SET enabled = 0, disabled_reason = ? WHERE id = ?")
			.run("7 failed attempts: <connection refused>", id);
		const list = await (await get("/webhooks", s)).text();
		expect(list).toContain('<span class="badge off">disabled</span>');
		expect(list).toContain("7 failed attempts: &lt;connection refused&gt;");
		expect(await (await get(`/webhooks/${id}`, s)).text()).toContain("Delivery is stopped.");

		const edit = await (await get(`/webhooks/${id}/edit`, s)).text();
		expect(edit).toMatch(/name="events:alert\.resolved" value="true" checked/);
		expect(edit).not.toMatch(/name="enabled" value="true" checked/);
		const saved = await post(`/webhooks/${id}/edit`, s, {
			url: "https://example.com/hook2",
			"events:backend.created": "true",
			enabled: "true",
		});
		expect(saved.status).toBe(303);
		const after = core.services.webhooks.get(core.owner, id);
		expect(after).toMatchObject({ url: "https://example.com/hook2", events: ["backend.created"], enabled: true });
		expect(after.disabledReason).toBeNull();
		expect(after.secretPrefix).toBe(secret.slice(0, 10));

		const del = await post(`/webhooks/${id}/delete`, s, {});
		expect(del.status).toBe(303);
		expect(core.services.webhooks.list(core.owner).data).toEqual([]);
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
