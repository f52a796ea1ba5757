// bun run bench:api — authenticated GET /v1/organizations/current (API key, the full REST stack:
// body hooks, authentication, rate limit, domain service, SQLite) against the same JSON from a
// plain Bun.serve handler, both measured with wrk on loopback in one run. Prints a markdown table.
import { join } from "node:path";
import { DEFAULTS } from "../../src/config.ts";
import { migrate, openDatabase } from "../../src/db/database.ts";
import { buildHttpApp, recordPeer } from "../../src/http/app.ts";
import { Logger } from "../../src/log.ts";
import { createServices } from "../../src/services.ts";
import { tempDir } from "../helpers/daemon.ts";

const CONNECTIONS = 64;
const DURATION = process.env.BENCH_DURATION ?? "10s";

if (Bun.spawnSync(["which", "wrk"]).exitCode !== 0) {
	console.error("bench:api needs wrk (apt-get install wrk)");
	process.exit(2);
}

const dir = tempDir("pp-bench-");
const config = structuredClone(DEFAULTS);
config.storage.data_dir = dir.path;
config.dataplane.enabled = false;
const db = openDatabase(join(dir.path, "pp.db"));
migrate(db);
const services = createServices(
	db,
	config,
	Logger.create("error", () => {}),
);
const { user, organization } = await services.users.createOwner({
	email: "bench@example.com",
	password: "benchmark password",
	organizationName: "Bench",
});
// Enterprise: unlimited, so the limiter is exercised but never refuses the load generator.
db.prepare("UPDATE organizations SET plan = 'ENTERPRISE' WHERE id = ?").run(organization.id);
const owner = {
	kind: "user" as const,
	organizationId: organization.id,
	userId: user.id,
	email: user.email,
	role: "OWNER" as const,
	permissions: ["read" as const, "write" as const, "delete" as const, "admin" as const],
	sandbox: false,
	ipAddress: null,
	userAgent: null,
};
const { key } = services.apiKeys.create(owner, { name: "bench", permissions: ["read"] });
const app = buildHttpApp(services).compile();
const api = Bun.serve({
	hostname: "127.0.0.1",
	port: 0,
	fetch(request, server) {
		recordPeer(request, server.requestIP(request)?.address);
		return app.handle(request);
	},
});
const body = JSON.stringify(services.organizations.current(owner));
const plain = Bun.serve({
	hostname: "127.0.0.1",
	port: 0,
	fetch: () => new Response(body, { headers: { "content-type": "application/json" } }),
});

async function wrk(url: string, headers: string[] = []): Promise<{ rps: number; p99: number; p50: number }> {
	const args = [
		"wrk",
		"-t1",
		`-c${CONNECTIONS}`,
		`-d${DURATION}`,
		"--latency",
		...headers.flatMap((h) => ["-H", h]),
		url,
	];
	const proc = Bun.spawn(args, { stdout: "pipe", stderr: "pipe" });
	const out = await new Response(proc.stdout).text();
	await proc.exited;
	const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]);
	const ms = (label: string) => {
		const m = new RegExp(`${label}%\\s+([\\d.]+)(us|ms|s)`).exec(out);
		if (!m) throw new Error(`cannot parse wrk output:\n${out}`);
		const v = Number(m[1]);
		return m[2] === "us" ? v / 1000 : m[2] === "s" ? v * 1000 : v;
	};
	if (out.includes("Non-2xx")) throw new Error(`non-2xx responses during the run:\n${out}`);
	return { rps, p50: ms("50"), p99: ms("99") };
}

const check = await fetch(`http://127.0.0.1:${api.port}/v1/organizations/current`, {
	headers: { authorization: `Bearer ${key}` },
});
if (check.status !== 200) throw new Error(`API answered ${check.status}`);

const baseline = await wrk(`http://127.0.0.1:${plain.port}/`);
const measured = await wrk(`http://127.0.0.1:${api.port}/v1/organizations/current`, [`Authorization: Bearer ${key}`]);
api.stop(true);
plain.stop(true);
db.close();
dir.cleanup();

const ratio = measured.rps / baseline.rps;
console.log(`| handler | requests/s | p50 ms | p99 ms | vs plain |
|---|---|---|---|---|
| plain Bun.serve, same JSON | ${baseline.rps.toFixed(0)} | ${baseline.p50.toFixed(2)} | ${baseline.p99.toFixed(2)} | 100% |
| GET /v1/organizations/current, API key | ${measured.rps.toFixed(0)} | ${measured.p50.toFixed(2)} | ${measured.p99.toFixed(2)} | ${(ratio * 100).toFixed(0)}% |`);
const ok = ratio >= 0.5 && measured.p99 < 10;
console.log(`\ntarget (>= 50% of plain, p99 < 10 ms at ${CONNECTIONS} connections): ${ok ? "met" : "NOT met"}`);
process.exitCode = ok ? 0 : 1;
