// Helpers for running install.sh in a staging root (--root) that touches nothing of a real
// installation on the same host: its own copy of the source, ephemeral ports, its own pin
// path and interface, and processes stopped by PID.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const REPO = join(import.meta.dir, "..", "..");

export const IS_ROOT = process.getuid?.() === 0;

export interface Staging {
	/** Everything of the test lives under here. */
	dir: string;
	/** A copy of the working tree: install.sh builds here, not in the repository's dist/. */
	src: string;
	/** The --root given to install.sh. */
	root: string;
	paths: {
		bin: string;
		config: string;
		dataDir: string;
		unit: string;
		pidFile: string;
		logFile: string;
	};
}

/**
 * Copies the working tree (tracked and untracked files, .git for the version, node_modules)
 * so the test builds one fixed source even while the tree is being edited.
 */
export function createStaging(): Staging {
	const dir = mkdtempSync(join(tmpdir(), "pp-install-test-"));
	const src = join(dir, "src");
	const root = join(dir, "root");
	mkdirSync(src);
	mkdirSync(root);
	const files = run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], { cwd: REPO })
		.stdout.split("\0")
		.filter((f) => f !== "" && existsSync(join(REPO, f)));
	const copy = Bun.spawnSync(["cp", "--parents", "-a", "-t", src, ...files], { cwd: REPO, stderr: "pipe" });
	if (copy.exitCode !== 0) throw new Error(`copying the source failed: ${copy.stderr.toString()}`);
	for (const extra of [".git", "node_modules"]) run(["cp", "-a", join(REPO, extra), join(src, extra)]);
	return {
		dir,
		src,
		root,
		paths: {
			bin: join(root, "usr/local/bin/pistonprotection"),
			config: join(root, "etc/pistonprotection/config.toml"),
			dataDir: join(root, "var/lib/pistonprotection"),
			unit: join(root, "etc/systemd/system/pistonprotection.service"),
			pidFile: join(root, "run/pistonprotection.pid"),
			logFile: join(root, "var/log/pistonprotection.log"),
		},
	};
}

export interface Result {
	exitCode: number;
	stdout: string;
	stderr: string;
	/** stdout and stderr together, for messages. */
	output: string;
}

/** Runs a command to completion; throws unless allowed to fail. */
export function run(args: string[], options: { cwd?: string; allowFailure?: boolean } = {}): Result {
	const proc = Bun.spawnSync(args, {
		cwd: options.cwd,
		env: cleanEnv(),
		stdin: "ignore",
		stdout: "pipe",
		stderr: "pipe",
	});
	const result = {
		exitCode: proc.exitCode ?? -1,
		stdout: proc.stdout.toString(),
		stderr: proc.stderr.toString(),
		output: "",
	};
	result.output = `${result.stdout}${result.stderr}`;
	if (result.exitCode !== 0 && !options.allowFailure)
		throw new Error(`${args.join(" ")} exited ${result.exitCode}:\n${result.output}`);
	return result;
}

/** The caller's environment without PP_* overrides, which would redirect the binary. */
export function cleanEnv(): Record<string, string> {
	const env: Record<string, string> = {};
	for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith("PP_")) env[k] = v;
	return env;
}

/** Runs the staging copy's install.sh with --unattended --root; never throws. */
export async function runInstall(staging: Staging, args: string[]): Promise<Result> {
	const proc = Bun.spawn(["bash", join(staging.src, "install.sh"), "--unattended", "--root", staging.root, ...args], {
		cwd: staging.dir,
		env: cleanEnv(),
		stdin: "ignore",
		stdout: "pipe",
		stderr: "pipe",
	});
	const [stdout, stderr] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
	const exitCode = await proc.exited;
	return { exitCode, stdout, stderr, output: `${stdout}${stderr}` };
}

/** A port that was free a moment ago on 127.0.0.1. */
export function freePort(): number {
	const listener = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
	const port = listener.port;
	listener.stop(true);
	return port;
}

export function sha256(path: string): string {
	return new Bun.CryptoHasher("sha256").update(readFileSync(path)).digest("hex");
}

export function readPid(staging: Staging): number {
	return Number(readFileSync(staging.paths.pidFile, "utf8").trim());
}

/** True while the process exists and is not a zombie. */
export function processAlive(pid: number): boolean {
	try {
		const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
		return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
	} catch {
		return false;
	}
}

/** PIDs of live processes whose executable lies under dir (also after it was replaced). */
export function processesUnder(dir: string): number[] {
	const pids: number[] = [];
	for (const entry of new Bun.Glob("[0-9]*").scanSync({ cwd: "/proc", onlyFiles: false })) {
		try {
			const exe = readlinkSync(`/proc/${entry}/exe`).replace(/ \(deleted\)$/, "");
			if (exe.startsWith(`${dir}/`) && processAlive(Number(entry))) pids.push(Number(entry));
		} catch {
			// Gone, or a kernel thread without an executable.
		}
	}
	return pids;
}

/** Stops processes this test started (found by their executable under dir), by PID. */
export async function stopProcessesUnder(dir: string): Promise<void> {
	for (const pid of processesUnder(dir)) process.kill(pid, "SIGTERM");
	for (let i = 0; i < 50 && processesUnder(dir).length > 0; i++) await Bun.sleep(100);
	for (const pid of processesUnder(dir)) process.kill(pid, "SIGKILL");
}

export async function httpGet(
	url: string,
	headers: Record<string, string> = {},
): Promise<{ status: number; body: string } | null> {
	try {
		const response = await fetch(url, { headers, signal: AbortSignal.timeout(3000) });
		return { status: response.status, body: await response.text() };
	} catch {
		return null;
	}
}

/** A veth pair for --interface, so XDP (if the data plane attaches) lands on an interface of ours. */
export function createVeth(): { name: string; remove(): void } {
	const suffix = Math.random().toString(16).slice(2, 8);
	const name = `ppi${suffix}`;
	run(["ip", "link", "add", name, "type", "veth", "peer", "name", `ppj${suffix}`]);
	run(["ip", "link", "set", "dev", name, "up"]);
	run(["ip", "link", "set", "dev", `ppj${suffix}`, "up"]);
	return {
		name,
		remove: () => void run(["ip", "link", "del", name], { allowFailure: true }),
	};
}

/** The XDP attachment of an interface as `ip -j link` reports it, or null. */
export function xdpOf(iface: string): unknown {
	const links = JSON.parse(run(["ip", "-j", "link", "show", "dev", iface]).stdout) as Array<{ xdp?: unknown }>;
	return links[0]?.xdp ?? null;
}

export function removeStaging(staging: Staging, pinPath: string): void {
	// Only the pin path this test chose: /sys/fs/bpf/pp-test-<random>.
	if (/^\/sys\/fs\/bpf\/pp-test-[0-9a-f]+$/.test(pinPath)) rmSync(pinPath, { recursive: true, force: true });
	rmSync(staging.dir, { recursive: true, force: true });
}
