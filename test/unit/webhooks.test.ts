// Webhooks: subscriptions through the REST API, events queued in SQLite, deliveries to a real
// HTTP receiver on loopback, signatures checked with node:crypto (an implementation independent
// of ours, written from the spec), the retry schedule driven by a controllable clock.
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { createHmac } from "node:crypto";
import { Logger } from "../../src/log.ts";
import { MAX_ATTEMPTS, RETRY_DELAYS_MS, WebhookDeliverer } from "../../src/notify/webhooks.ts";
import { type TestCore, testCore } from "../helpers/app.ts";

interface Received {
	headers: Headers;
	body: string;
}

/** The spec's verification, written independently: HMAC-SHA256 over "{timestamp}.{body}". */
function verify(r: Received, secret: string): boolean {
	const ts = r.headers.get("x-pistonprotection-timestamp") ?? "";
	const expected = `sha256=${createHmac("sha256", secret).update(`${ts}.${r.body}`).digest("hex")}`;
	return r.headers.get("x-pistonprotection-signature") === expected;
}

let core: TestCore;
let receiver: ReturnType<typeof Bun.serve>;
let received: Received[];
let answer: number;
let clock: number;
const log = Logger.create("error", () => {});

beforeEach(async () => {
	core = await testCore();
	received = [];
	answer = 200;
	// Ahead of the wall clock the service stamps new deliveries with, so they are due at once.
	clock = Date.now() + 5000;
	receiver = Bun.serve({
		hostname: "127.0.0.1",
		port: 0,
		async fetch(req) {
			received.push({ headers: req.headers, body: await req.text() });
			return new Response(null, { status: answer });
		},
	});
});
afterEach(() => {
	receiver.stop(true);
	core.close();
});

const deliverer = () => new WebhookDeliverer(core.services.db, log, { now: () => clock, timeoutMs: 2000 });

async function subscribe(events = ["backend.created"], key = core.key()) {
	const res = await core.json(
		"/v1/webhooks",
		"POST",
		{ url: `http://127.0.0.1:${receiver.port}/hook`, events, secret: "whsec_test_secret_0123456789" },
		key,
	);
	expect(res.status).toBe(201);
	return (await res.json()) as { id: string; secret: string };
}

function publishBackendCreated() {
	const backend = core.services.backends.create(core.owner, { name: "mc", type: "MINECRAFT_JAVA" });
	core.services.webhooks.enqueue({
		type: "backend.created",
		organizationId: core.organization.id,
		resourceId: backend.id,
		data: { backendName: "mc" },
	});
	return backend;
}

describe("webhooks", () => {
	test("an event is delivered once, signed as the spec says, with the spec's payload", async () => {
		const hook = await subscribe();
		const backend = publishBackendCreated();
		await deliverer().kick();
		expect(received.length).toBe(1);
		const r = received[0] as Received;
		expect(verify(r, hook.secret)).toBe(true);
		expect(verify(r, "whsec_some_other_secret_xxxxxx")).toBe(false);
		const payload = JSON.parse(r.body);
		expect(payload).toMatchObject({
			type: "backend.created",
			organizationId: core.organization.id,
			data: { resourceId: backend.id, backendName: "mc" },
		});
		expect(payload.id).toMatch(/^evt_/);
		expect(Number(r.headers.get("x-pistonprotection-timestamp"))).toBe(Math.floor(clock / 1000));
		await deliverer().kick();
		expect(received.length).toBe(1);
		const history = await (await core.request(`/v1/webhooks/${hook.id}/deliveries`, { key: core.key() })).json();
		expect(history.data[0]).toMatchObject({ status: "succeeded", attempts: 1, lastStatusCode: 200 });
	});

	test("only subscribed event types of the webhook's own organization are queued", async () => {
		await subscribe(["rule.created"]);
		publishBackendCreated();
		const other = await core.otherOrganization();
		core.services.webhooks.enqueue({ type: "rule.created", organizationId: other.organization.id });
		await deliverer().kick();
		expect(received.length).toBe(0);
	});

	test("failures are retried at 1 min, 5 min, 30 min, 2 h, 8 h, 24 h, then the webhook is disabled", async () => {
		answer = 500;
		const hook = await subscribe();
		publishBackendCreated();
		const start = clock;
		const d = deliverer();
		await d.kick();
		expect(received.length).toBe(1);
		let elapsed = 0;
		for (const [i, delay] of RETRY_DELAYS_MS.entries()) {
			clock = start + elapsed + delay - 1000;
			await d.kick();
			expect(received.length).toBe(i + 1);
			elapsed += delay;
			clock = start + elapsed;
			await d.kick();
			expect(received.length).toBe(i + 2);
		}
		expect(received.length).toBe(MAX_ATTEMPTS);
		const got = await (await core.request(`/v1/webhooks/${hook.id}`, { key: core.key() })).json();
		expect(got.enabled).toBe(false);
		expect(got.disabledReason).toContain("7 failed attempts");
		expect(got.disabledReason).toContain("HTTP 500");
		clock += 7 * 86_400_000;
		await d.kick();
		expect(received.length).toBe(MAX_ATTEMPTS);
	});

	test("a restart in the middle of retries loses nothing and sends nothing twice", async () => {
		answer = 503;
		await subscribe();
		publishBackendCreated();
		const start = clock;
		await deliverer().kick();
		expect(received.length).toBe(1);
		// A new deliverer over the same database is what a restarted daemon runs.
		answer = 200;
		clock = start + (RETRY_DELAYS_MS[0] as number);
		const restarted = deliverer();
		await restarted.kick();
		expect(received.length).toBe(2);
		clock += 86_400_000;
		await restarted.kick();
		await deliverer().kick();
		expect(received.length).toBe(2);
	});

	test("the API validates input, hides the secret, and answers 404 across organizations", async () => {
		const bad = await core.json("/v1/webhooks", "POST", { url: "ftp://x", events: ["nope"] }, core.key());
		expect(bad.status).toBe(400);
		const fields = (await bad.json()).errors.map((e: { field: string }) => e.field);
		expect(fields).toEqual(expect.arrayContaining(["url", "events[0]"]));
		const hook = await subscribe();
		const listed = await (await core.request("/v1/webhooks", { key: core.key() })).json();
		expect(JSON.stringify(listed)).not.toContain(hook.secret);
		const other = await core.otherOrganization();
		const foreign = core.keyFor(other.owner, ["read", "write", "delete", "admin"]);
		expect((await core.request(`/v1/webhooks/${hook.id}`, { key: foreign })).status).toBe(404);
		const viewer = await core.member("VIEWER", "viewer@example.com");
		const viewerKey = core.keyFor(viewer, ["read"]);
		expect(
			(await core.json("/v1/webhooks", "POST", { url: "http://127.0.0.1/x", events: ["backend.created"] }, viewerKey))
				.status,
		).toBe(403);
		expect((await core.request(`/v1/webhooks/${hook.id}`, { method: "DELETE", key: core.key() })).status).toBe(204);
	});

	test("a test event is queued for the webhook and delivered", async () => {
		const hook = await subscribe(["alert.fired"]);
		const res = await core.request(`/v1/webhooks/${hook.id}/test`, { method: "POST", key: core.key() });
		expect(res.status).toBe(202);
		await deliverer().kick();
		expect(received.length).toBe(1);
		expect(JSON.parse((received[0] as Received).body).type).toBe("webhook.test");
	});
});
