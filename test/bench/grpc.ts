// bun test/bench/grpc.ts — unary GetBackend over gRPC against GET /v1/backends/{id} over REST,
// both with 50 calls in flight, against one daemon process (source) on loopback, in one run.
// The load generator (grpc-js client, fetch) runs in this process. Prints a markdown table.
import { isolatedEnv, runCli, startDaemon, tempDir } from "../helpers/daemon.ts";
import { client, type Msg, unary } from "../helpers/grpc.ts";

const CONCURRENCY = 50;
const SECONDS = Number(process.env.BENCH_SECONDS ?? "10");
const WARMUP_SECONDS = 2;

const dir = tempDir("pp-bench-grpc-");
const env = isolatedEnv(dir.path);
runCli(["admin", "create", "--email", "bench@example.com", "--password-stdin"], {
	env,
	stdin: "benchmark password\n",
});
const key = runCli(["apikey", "create", "--name", "bench", "--permissions", "read,write,admin"], { env }).stdout.trim();
const daemon = await startDaemon(env);
const headers = { authorization: `Bearer ${key}`, "content-type": "application/json" };
try {
	const org = (await (await fetch(`${daemon.url}/v1/organizations/current`, { headers })).json()) as Msg;
	// Enterprise: unlimited, so the limiter is exercised but never refuses the load generator.
	await fetch(`${daemon.url}/v1/organizations/${org.id}`, {
		method: "PUT",
		headers,
		body: JSON.stringify({ tier: "ENTERPRISE" }),
	});
	await Bun.sleep(1100);
	const backends = client("BackendService", daemon.ports.grpc);
	const created = await unary(
		backends,
		"CreateBackend",
		{
			name: "bench",
			type: "BACKEND_TYPE_MINECRAFT_JAVA",
			origins: [{ name: "primary", address: "10.0.0.1", port: 25565 }],
			domains: ["bench.example.com"],
		},
		key,
	);
	const id = created.backend.id as string;
	const restCheck = await fetch(`${daemon.url}/v1/backends/${id}`, { headers });
	if (restCheck.status !== 200) throw new Error(`REST GET /v1/backends/{id} answered ${restCheck.status}`);

	const grpcCall = () => unary(backends, "GetBackend", { backendId: id }, key).then(() => undefined);
	const restCall = async () => {
		const res = await fetch(`${daemon.url}/v1/backends/${id}`, { headers });
		if (res.status !== 200) throw new Error(`status ${res.status}`);
		await res.arrayBuffer();
	};

	const rows = [];
	for (const [name, call] of [
		["gRPC GetBackend", grpcCall],
		["REST GET /v1/backends/{id}", restCall],
	] as const) {
		await load(call, WARMUP_SECONDS);
		rows.push({ name, ...(await load(call, SECONDS)) });
	}
	backends.close();
	console.log(`| API | calls/s | p50 ms | p99 ms | errors |\n|---|---:|---:|---:|---:|`);
	for (const r of rows)
		console.log(`| ${r.name} | ${r.rate.toFixed(0)} | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} | ${r.errors} |`);
	console.log(
		`\n${CONCURRENCY} calls in flight, ${SECONDS} s each after ${WARMUP_SECONDS} s warm-up, one daemon (bun src/main.ts).`,
	);
} finally {
	await daemon.stop();
	dir.cleanup();
}

async function load(call: () => Promise<void>, seconds: number) {
	const latencies: number[] = [];
	let errors = 0;
	const end = performance.now() + seconds * 1000;
	const worker = async () => {
		while (performance.now() < end) {
			const t = performance.now();
			try {
				await call();
				latencies.push(performance.now() - t);
			} catch {
				errors++;
			}
		}
	};
	const start = performance.now();
	await Promise.all(Array.from({ length: CONCURRENCY }, worker));
	const elapsed = (performance.now() - start) / 1000;
	latencies.sort((a, b) => a - b);
	const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))] ?? 0;
	return { rate: latencies.length / elapsed, p50: pct(0.5), p99: pct(0.99), errors };
}
