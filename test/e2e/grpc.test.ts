// The gRPC API of a real daemon process: REST changes seen by gRPC Watch streams and gRPC
// changes seen through REST, and the spec's Python client (Debian's python3-grpcio, stubs
// generated from our .proto files by python3-grpc-tools).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Daemon, isolatedEnv, runCli, startDaemon, tempDir } from "../helpers/daemon.ts";
import { API_FILES, client, type Msg, PROTO_DIR, unary, watch } from "../helpers/grpc.ts";

const dir = tempDir("pp-grpc-e2e-");
let daemon: Daemon;
let key: string;

const rest = (path: string, method = "GET", body?: unknown) =>
	fetch(`${daemon.url}${path}`, {
		method,
		headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
		body: body === undefined ? undefined : JSON.stringify(body),
	});

beforeAll(async () => {
	const env = isolatedEnv(dir.path);
	expect(
		runCli(["admin", "create", "--email", "owner@example.com", "--password-stdin"], {
			env,
			stdin: "correct horse battery\n",
		}).exitCode,
	).toBe(0);
	const created = runCli(["apikey", "create", "--name", "e2e", "--permissions", "read,write,delete,admin"], { env });
	key = created.stdout.trim();
	daemon = await startDaemon(env);
	// Enterprise: the tests below make more calls than the FREE tier's burst.
	const org = (await (await rest("/v1/organizations/current")).json()) as Msg;
	expect((await rest(`/v1/organizations/${org.id}`, "PUT", { tier: "ENTERPRISE" })).status).toBe(200);
	await Bun.sleep(1100);
});

afterAll(async () => {
	await daemon?.stop();
	dir.cleanup();
});

describe("gRPC against the daemon", () => {
	test("a REST change is seen by WatchBackendStatus, and a gRPC change by REST", async () => {
		const b = client("BackendService", daemon.ports.grpc);
		const stream = watch(b, "WatchBackendStatus", {}, key);
		const viaGrpc = await unary(
			b,
			"CreateBackend",
			{ name: "grpc-made", type: "BACKEND_TYPE_TCP", listeners: [{ port: 7001, protocol: "TRANSPORT_PROTOCOL_TCP" }] },
			key,
		);
		expect((await stream.next()).backendId).toBe(viaGrpc.backend.id);
		const seen = (await (await rest(`/v1/backends/${viaGrpc.backend.id}`)).json()) as Msg;
		expect(seen).toMatchObject({ id: viaGrpc.backend.id, name: "grpc-made", type: "TCP" });
		const res = await rest(`/v1/backends/${viaGrpc.backend.id}/origins`, "POST", {
			name: "o1",
			address: "10.0.0.1",
			port: 7001,
		});
		expect(res.status).toBeLessThan(300);
		expect(await stream.next()).toMatchObject({ backendId: viaGrpc.backend.id, totalOrigins: 1 });
		stream.call.cancel();
	});

	test("a rule created over REST arrives on WatchRules; one created over gRPC is listed by REST", async () => {
		const b = await unary(
			client("BackendService", daemon.ports.grpc),
			"CreateBackend",
			{ name: "rules-e2e", type: "BACKEND_TYPE_UDP", listeners: [{ port: 7002, protocol: "TRANSPORT_PROTOCOL_UDP" }] },
			key,
		);
		const f = client("FilterService", daemon.ports.grpc);
		const stream = watch(f, "WatchRules", { backendId: b.backend.id }, key);
		await Bun.sleep(200);
		const res = await rest("/v1/filters", "POST", { backendId: b.backend.id, name: "via-rest", action: "DROP" });
		expect(res.status).toBe(201);
		const created = (await res.json()) as Msg;
		expect(await stream.next()).toMatchObject({
			type: "RULE_UPDATE_TYPE_CREATED",
			ruleId: created.id,
			rule: { name: "via-rest" },
		});
		const viaGrpc = await unary(
			f,
			"CreateRule",
			{ backendId: b.backend.id, name: "via-grpc", action: "RULE_ACTION_LOG" },
			key,
		);
		const listed = (await (await rest(`/v1/filters?backendId=${b.backend.id}`)).json()) as Msg;
		expect(listed.data.map((r: Msg) => r.id)).toContain(viaGrpc.rule.id);
		expect((await rest(`/v1/filters/${created.id}`, "DELETE")).status).toBeLessThan(300);
		const events = [await stream.next(), await stream.next()];
		expect(events.map((e) => e.type)).toEqual(["RULE_UPDATE_TYPE_CREATED", "RULE_UPDATE_TYPE_DELETED"]);
		stream.call.cancel();
	});

	const python = "/usr/bin/python3";
	const hasGrpcTools =
		existsSync(python) && Bun.spawnSync([python, "-c", "import grpc, grpc_tools.protoc"]).exitCode === 0;

	test.skipIf(!hasGrpcTools)("the spec's Python client lists backends (python3-grpcio, python3-grpc-tools)", () => {
		const out = join(dir.path, "py");
		const pkg = join(out, "pistonprotection_proto");
		mkdirSync(pkg, { recursive: true });
		const gen = Bun.spawnSync(
			[
				python,
				"-m",
				"grpc_tools.protoc",
				`-I${PROTO_DIR}`,
				`--python_out=${out}`,
				`--grpc_python_out=${out}`,
				...API_FILES,
			],
			{ stdout: "pipe", stderr: "pipe" },
		);
		expect(gen.stderr.toString()).toBe("");
		expect(gen.exitCode).toBe(0);
		// The spec imports `from pistonprotection_proto import backend_pb2, backend_pb2_grpc`.
		writeFileSync(
			join(pkg, "__init__.py"),
			"from pistonprotection.v1 import backend_pb2, backend_pb2_grpc  # noqa: F401\n",
		);
		const script = join(out, "client.py");
		writeFileSync(
			script,
			`import sys
import grpc
from pistonprotection_proto import backend_pb2, backend_pb2_grpc

channel = grpc.insecure_channel(sys.argv[1])
stub = backend_pb2_grpc.BackendServiceStub(channel)
metadata = [('authorization', 'Bearer ' + sys.argv[2])]
response = stub.ListBackends(backend_pb2.ListBackendsRequest(), metadata=metadata)
for backend in response.backends:
    print(f"Backend: {backend.name} ({backend.status.health})")
try:
    stub.ListBackends(backend_pb2.ListBackendsRequest(), metadata=[('authorization', 'Bearer pp_live_wrong')])
except grpc.RpcError as e:
    print("error:", e.code().name)
`,
		);
		const run = Bun.spawnSync([python, script, `127.0.0.1:${daemon.ports.grpc}`, key], {
			cwd: out,
			env: { ...process.env, PYTHONPATH: out },
			stdout: "pipe",
			stderr: "pipe",
		});
		expect(run.stderr.toString()).toBe("");
		const lines = run.stdout.toString().trim().split("\n");
		expect(lines.some((l) => /^Backend: grpc-made \(\d\)$/.test(l))).toBe(true);
		expect(lines.at(-1)).toBe("error: UNAUTHENTICATED");
	});
});
