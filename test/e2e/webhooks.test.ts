// Webhooks through a real daemon: an API change publishes an event, the daemon queues and sends
// it to a receiver on loopback, signed; the history is in the API.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { createHmac } from "node:crypto";
import { type Daemon, isolatedEnv, runCli, startDaemon, tempDir } from "../helpers/daemon.ts";

let dir: ReturnType<typeof tempDir>;
let daemon: Daemon;
let key: string;
const received: Array<{ headers: Headers; body: string }> = [];
const receiver = Bun.serve({
	hostname: "127.0.0.1",
	port: 0,
	async fetch(req) {
		received.push({ headers: req.headers, body: await req.text() });
		return new Response("ok");
	},
});

beforeAll(async () => {
	dir = tempDir();
	const env = isolatedEnv(dir.path, { PP_SERVER_HTTPS_ENABLED: "false", PP_PROXY_ENABLED: "false" });
	runCli(["admin", "create", "--email", "owner@example.com"], { env });
	key = runCli(["apikey", "create", "--name", "hooks", "--permissions", "read,write,delete,admin"], {
		env,
	}).stdout.trim();
	daemon = await startDaemon(env);
});
afterAll(async () => {
	await daemon?.stop();
	receiver.stop(true);
	dir?.cleanup();
});

const api = (path: string, method = "GET", body?: unknown) =>
	fetch(`${daemon.url}${path}`, {
		method,
		headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
		body: body === undefined ? undefined : JSON.stringify(body),
	});

test("creating a backend through the API delivers a signed backend.created webhook", async () => {
	const created = await api("/v1/webhooks", "POST", {
		url: `http://127.0.0.1:${receiver.port}/pp`,
		events: ["backend.created", "backend.deleted"],
	});
	expect(created.status).toBe(201);
	const hook = (await created.json()) as { id: string; secret: string };
	expect(hook.secret).toMatch(/^whsec_/);
	const backend = await api("/v1/backends", "POST", {
		name: "hooked",
		type: "MINECRAFT_BEDROCK",
		listeners: [{ port: 49132, protocol: "UDP" }],
	});
	expect(backend.status).toBe(201);
	const { id: backendId } = (await backend.json()) as { id: string };
	const deadline = Date.now() + 5000;
	while (received.length < 1 && Date.now() < deadline) await Bun.sleep(25);
	expect(received.length).toBe(1);
	const r = received[0] as { headers: Headers; body: string };
	const ts = r.headers.get("x-pistonprotection-timestamp");
	const expected = `sha256=${createHmac("sha256", hook.secret).update(`${ts}.${r.body}`).digest("hex")}`;
	expect(r.headers.get("x-pistonprotection-signature")).toBe(expected);
	expect(Math.abs(Date.now() / 1000 - Number(ts))).toBeLessThan(300);
	expect(JSON.parse(r.body)).toMatchObject({ type: "backend.created", data: { resourceId: backendId } });
	const history = await (await api(`/v1/webhooks/${hook.id}/deliveries`)).json();
	expect(history.data).toHaveLength(1);
	expect(history.data[0]).toMatchObject({ status: "succeeded", eventType: "backend.created" });
});
