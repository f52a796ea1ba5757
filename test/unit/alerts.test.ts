// Alerts: CRUD through the REST API; evaluation against a metric the test controls; one
// alert.fired and one alert.resolved per transition; notifications delivered to a real SMTP
// server (smtp-server) and to HTTP receivers on loopback in Slack, Discord, PagerDuty and webhook
// formats.
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { SMTPServer } from "smtp-server";
import type { AlertMetric } from "../../src/domain/alerts/model.ts";
import type { DomainEvent } from "../../src/events.ts";
import { Logger } from "../../src/log.ts";
import { AlertEvaluator } from "../../src/notify/alerts.ts";
import { type TestCore, testCore } from "../helpers/app.ts";

let core: TestCore;
let http: ReturnType<typeof Bun.serve>;
let smtp: SMTPServer;
let smtpPort: number;
const posts: Array<{ path: string; body: Record<string, unknown> }> = [];
const mails: string[] = [];
let value: number | null;
let clock: number;
const log = Logger.create("error", () => {});

beforeEach(async () => {
	core = await testCore();
	posts.length = 0;
	mails.length = 0;
	value = null;
	clock = Date.parse("2026-03-01T12:00:00Z");
	http = Bun.serve({
		hostname: "127.0.0.1",
		port: 0,
		async fetch(req) {
			posts.push({ path: new URL(req.url).pathname, body: await req.json() });
			return new Response(new URL(req.url).pathname === "/pagerduty" ? '{"status":"success"}' : "ok", {
				status: new URL(req.url).pathname === "/pagerduty" ? 202 : 200,
			});
		},
	});
	smtp = new SMTPServer({
		authOptional: true,
		disabledCommands: ["STARTTLS"],
		onData(stream, _session, done) {
			let text = "";
			stream.on("data", (c: Buffer) => {
				text += c.toString();
			});
			stream.on("end", () => {
				mails.push(text);
				done();
			});
		},
	});
	await new Promise<void>((resolve) => smtp.listen(0, "127.0.0.1", () => resolve()));
	smtpPort = (smtp.server.address() as { port: number }).port;
	Object.assign(core.services.config.notify, {
		smtp_host: "127.0.0.1",
		smtp_port: smtpPort,
		smtp_secure: false,
		pagerduty_events_url: `http://127.0.0.1:${http.port}/pagerduty`,
	});
});
afterEach(async () => {
	http.stop(true);
	await new Promise<void>((resolve) => smtp.close(() => resolve()));
	core.close();
});

function evaluator() {
	const source = (_metric: AlertMetric) => value;
	return new AlertEvaluator(
		core.services.db,
		core.services.bus,
		source,
		() => core.services.config,
		log,
		() => clock,
	);
}

async function createAlert(durationSeconds = 0) {
	const base = `http://127.0.0.1:${http.port}`;
	const res = await core.json(
		"/v1/alerts",
		"POST",
		{
			name: "High Traffic Alert",
			condition: { metric: "requests_per_second", operator: "GREATER_THAN", threshold: 10000, durationSeconds },
			notifications: [
				{ type: "EMAIL", destination: "ops@example.com" },
				{ type: "SLACK", destination: `${base}/slack` },
				{ type: "DISCORD", destination: `${base}/discord` },
				{ type: "WEBHOOK", destination: `${base}/hook` },
				{ type: "PAGERDUTY", destination: "R0UT1NGKEY0123456789ABCDEF" },
			],
			enabled: true,
		},
		core.key(),
	);
	expect(res.status).toBe(201);
	return (await res.json()) as { id: string };
}

describe("alerts", () => {
	test("fires once after durationSeconds, notifies every channel in its format, and resolves once", async () => {
		const alert = await createAlert(60);
		const events: DomainEvent[] = [];
		core.services.bus.on("alert.*", (e) => events.push(e));
		const ev = evaluator();
		value = 20000;
		await ev.evaluate();
		expect(events).toHaveLength(0);
		clock += 30_000;
		await ev.evaluate();
		expect(events).toHaveLength(0);
		clock += 30_000;
		await ev.evaluate();
		expect(events.map((e) => e.type)).toEqual(["alert.fired"]);
		clock += 5000;
		await ev.evaluate();
		expect(events).toHaveLength(1);

		const by = (p: string) => posts.filter((x) => x.path === p).map((x) => x.body);
		expect(by("/slack")[0]?.text).toContain("[FIRING] High Traffic Alert: requests_per_second is 20,000");
		const discord = by("/discord")[0] as { embeds: Array<{ title: string }> };
		expect(discord.embeds[0]?.title).toBe("High Traffic Alert");
		expect(by("/hook")[0]).toMatchObject({ type: "alert.fired", data: { alertId: alert.id, value: 20000 } });
		expect(by("/pagerduty")[0]).toMatchObject({
			routing_key: "R0UT1NGKEY0123456789ABCDEF",
			event_action: "trigger",
			dedup_key: alert.id,
			payload: { severity: "critical" },
		});
		expect(mails).toHaveLength(1);
		expect(mails[0]).toContain("To: ops@example.com");
		expect(mails[0]).toContain("High Traffic Alert");

		value = 500;
		await ev.evaluate();
		await ev.evaluate();
		expect(events.map((e) => e.type)).toEqual(["alert.fired", "alert.resolved"]);
		expect(by("/pagerduty")[1]).toMatchObject({ event_action: "resolve", dedup_key: alert.id });
		expect(by("/slack")[1]?.text).toContain("[RESOLVED]");
		expect(mails).toHaveLength(2);
		const got = await (await core.request(`/v1/alerts/${alert.id}`, { key: core.key() })).json();
		expect(got).toMatchObject({ state: "ok", lastValue: 500 });
		expect(got.lastFiredAt).not.toBeNull();
		expect(got.lastResolvedAt).not.toBeNull();
	});

	test("a condition that stops holding before its duration never fires", async () => {
		await createAlert(60);
		const events: DomainEvent[] = [];
		core.services.bus.on("alert.*", (e) => events.push(e));
		const ev = evaluator();
		value = 20000;
		await ev.evaluate();
		clock += 30_000;
		value = 10;
		await ev.evaluate();
		clock += 60_000;
		value = 20000;
		await ev.evaluate();
		expect(events).toHaveLength(0);
	});

	test("no measurement is no value: an alert without data neither fires nor resolves", async () => {
		await createAlert(0);
		const events: DomainEvent[] = [];
		core.services.bus.on("alert.*", (e) => events.push(e));
		const ev = evaluator();
		value = null;
		await ev.evaluate();
		expect(events).toHaveLength(0);
		expect(posts).toHaveLength(0);
	});

	test("bad input is refused with the field; EMAIL needs an SMTP server; VIEWERs cannot create", async () => {
		const bad = await core.json(
			"/v1/alerts",
			"POST",
			{
				name: "x",
				condition: { metric: "coffee_per_second", operator: "GREATER_THAN", threshold: 1 },
				notifications: [{ type: "SLACK", destination: "not a url" }],
			},
			core.key(),
		);
		expect(bad.status).toBe(400);
		expect((await bad.json()).errors.map((e: { field: string }) => e.field)).toContain("condition.metric");
		const badUrl = await core.json(
			"/v1/alerts",
			"POST",
			{
				name: "x",
				condition: { metric: "packets_per_second", operator: "LESS_THAN", threshold: 1 },
				notifications: [{ type: "SLACK", destination: "not a url" }],
			},
			core.key(),
		);
		expect((await badUrl.json()).errors[0].field).toBe("notifications[0].destination");
		core.services.config.notify.smtp_host = "";
		const noSmtp = await core.json(
			"/v1/alerts",
			"POST",
			{
				name: "x",
				condition: { metric: "packets_per_second", operator: "LESS_THAN", threshold: 1 },
				notifications: [{ type: "EMAIL", destination: "ops@example.com" }],
			},
			core.key(),
		);
		expect((await noSmtp.json()).errors[0].code).toBe("smtp_not_configured");
		const viewer = await core.member("VIEWER", "viewer@example.com");
		const res = await core.json(
			"/v1/alerts",
			"POST",
			{
				name: "x",
				condition: { metric: "packets_per_second", operator: "LESS_THAN", threshold: 1 },
				notifications: [],
			},
			core.keyFor(viewer, ["read"]),
		);
		expect(res.status).toBe(403);
		expect((await core.request("/v1/alerts", { key: core.keyFor(viewer, ["read"]) })).status).toBe(200);
	});
});
