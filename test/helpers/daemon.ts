// Runs the appliance as a real process (from source, or a compiled binary) on ephemeral
// loopback ports in a temporary data directory, and stops it by PID.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const ROOT = join(import.meta.dir, "..", "..");
export const SOURCE_CMD = ["bun", join(ROOT, "src", "main.ts")];

export function tempDir(prefix = "pp-test-"): { path: string; cleanup(): void } {
	const path = mkdtempSync(join(tmpdir(), prefix));
	return {
		path,
		cleanup: () => rmSync(path, { recursive: true, force: true }),
	};
}

/** Environment for a daemon that touches nothing of the host: loopback, ephemeral ports, own data dir. */
export function isolatedEnv(dataDir: string, extra: Record<string, string> = {}): Record<string, string> {
	const env: Record<string, string> = {};
	for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith("PP_")) env[k] = v;
	return {
		...env,
		PP_CONFIG: emptyConfig(),
		PP_STORAGE_DATA_DIR: dataDir,
		PP_SERVER_HTTP_LISTEN: "127.0.0.1:0",
		PP_SERVER_HTTPS_LISTEN: "127.0.0.1:0",
		PP_DATAPLANE_ENABLED: "false",
		// The proxy would bind the listeners of the test's backends on the host (often the very
		// ports the test's own servers use); tests of the proxy turn it on with PP_PROXY_ENABLED.
		PP_PROXY_ENABLED: "false",
		PP_SERVER_GRPC_LISTEN: "127.0.0.1:0",
		...extra,
	};
}

/** An empty config file, so a host's /etc/pistonprotection/config.toml is never read by tests. */
function emptyConfig(): string {
	const path = join(tmpdir(), "pp-test-empty-config.toml");
	writeFileSync(path, "# test: defaults and PP_* overrides only\n");
	return path;
}

export interface RunResult {
	exitCode: number;
	stdout: string;
	stderr: string;
}

export function runCli(
	args: string[],
	opts: { env?: Record<string, string>; stdin?: string; cmd?: string[] } = {},
): RunResult {
	const proc = Bun.spawnSync([...(opts.cmd ?? SOURCE_CMD), ...args], {
		env: opts.env,
		stdin: opts.stdin !== undefined ? Buffer.from(opts.stdin) : "ignore",
		stdout: "pipe",
		stderr: "pipe",
	});
	return { exitCode: proc.exitCode ?? -1, stdout: proc.stdout.toString(), stderr: proc.stderr.toString() };
}

export interface Daemon {
	pid: number;
	ports: { http: number; https: number | null; grpc: number };
	url: string;
	logs(): string;
	/** Sends SIGTERM and waits for exit; returns the exit code. */
	stop(signal?: NodeJS.Signals): Promise<number>;
	exited: Promise<number>;
}

export async function startDaemon(
	env: Record<string, string>,
	opts: { cmd?: string[]; cwd?: string; args?: string[]; timeoutMs?: number } = {},
): Promise<Daemon> {
	const proc = Bun.spawn([...(opts.cmd ?? SOURCE_CMD), "serve", ...(opts.args ?? [])], {
		env,
		cwd: opts.cwd,
		stdout: "pipe",
		stderr: "pipe",
	});
	let log = "";
	const pump = async (stream: ReadableStream<Uint8Array>) => {
		const decoder = new TextDecoder();
		for await (const chunk of stream) log += decoder.decode(chunk, { stream: true });
	};
	void pump(proc.stdout);
	void pump(proc.stderr);
	const deadline = Date.now() + (opts.timeoutMs ?? 20_000);
	let ports: Daemon["ports"] | null = null;
	while (!ports) {
		const line = log.split("\n").find((l) => l.includes('"msg":"listening"'));
		if (line) ports = JSON.parse(line);
		else if (proc.exitCode !== null || Date.now() > deadline) {
			proc.kill("SIGKILL");
			throw new Error(`daemon did not start (exit ${proc.exitCode}):\n${log}`);
		} else await Bun.sleep(25);
	}
	const p = ports;
	return {
		pid: proc.pid,
		ports: p,
		url: `http://127.0.0.1:${p.http}`,
		logs: () => log,
		exited: proc.exited,
		async stop(signal = "SIGTERM") {
			if (proc.exitCode === null) proc.kill(signal);
			return await proc.exited;
		},
	};
}
