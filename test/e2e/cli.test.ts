import { Database } from "bun:sqlite";
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { COMMANDS } from "../../src/cli/index.ts";
import { isolatedEnv, runCli, startDaemon, tempDir } from "../helpers/daemon.ts";

const dirs: Array<{ cleanup(): void }> = [];
afterAll(() => {
	for (const d of dirs) d.cleanup();
});
function fresh() {
	const d = tempDir();
	dirs.push(d);
	return d.path;
}

describe("the command line", () => {
	test("an unknown command prints the overview and exits 2", () => {
		const r = runCli(["frobnicate"], { env: isolatedEnv(fresh()) });
		expect(r.exitCode).toBe(2);
		expect(r.stderr).toContain("unknown command 'frobnicate'");
		expect(r.stderr).toContain("Commands:");
	});

	test("every command answers --help with its usage and exit 0", () => {
		const env = isolatedEnv(fresh());
		for (const cmd of COMMANDS) {
			const r = runCli([...cmd.name.split(" "), "--help"], { env });
			expect(r.exitCode).toBe(0);
			expect(r.stdout).toContain(`Usage: pistonprotection ${cmd.name}`);
		}
	});

	test("a bad flag names the flag and exits 2", () => {
		const r = runCli(["migrate", "--frobnicate"], { env: isolatedEnv(fresh()) });
		expect(r.exitCode).toBe(2);
		expect(r.stderr).toContain("--frobnicate");
	});

	test("a bad config value names the key, exits 2 and writes nothing", () => {
		const data = join(fresh(), "data");
		const r = runCli(["serve"], { env: isolatedEnv(data, { PP_LOG_LEVEL: "loud" }) });
		expect(r.exitCode).toBe(2);
		expect(r.stderr).toContain("log.level");
		expect(existsSync(data)).toBe(false);
	});

	test("a bad config file names the key and exits 2, for config check too", () => {
		const dir = fresh();
		const path = join(dir, "bad.toml");
		writeFileSync(path, '[dataplane]\nxdp_mode = "turbo"\n');
		const env = isolatedEnv(join(dir, "data"));
		for (const args of [
			["config", "check", "--config", path],
			["serve", "--config", path],
		]) {
			const r = runCli(args, { env });
			expect(r.exitCode).toBe(2);
			expect(r.stderr).toContain("dataplane.xdp_mode");
		}
		expect(existsSync(join(dir, "data"))).toBe(false);
	});

	test("an unusable database path exits 2 with a clear message and writes nothing", () => {
		const dir = fresh();
		const notADir = join(dir, "file");
		writeFileSync(notADir, "x");
		const r = runCli(["migrate"], { env: isolatedEnv(join(notADir, "data")) });
		expect(r.exitCode).toBe(2);
		expect(r.stderr).toMatch(/pistonprotection migrate: .+/);
		expect(readdirSync(dir)).toEqual(["file"]);
	});

	test("admin create makes the first owner once; the second time exits 3", () => {
		const env = isolatedEnv(fresh());
		const first = runCli(["admin", "create", "--email", "root@example.com"], { env });
		expect(first.exitCode).toBe(0);
		expect(first.stdout).toMatch(/password:\s+\S{20}/);
		const again = runCli(["admin", "create", "--email", "other@example.com"], { env });
		expect(again.exitCode).toBe(3);
		expect(again.stderr).toContain("already exists");
	});

	test("admin create takes the password from stdin and rejects a short one with exit 2", () => {
		const env = isolatedEnv(fresh());
		const short = runCli(["admin", "create", "--email", "a@example.com", "--password-stdin"], {
			env,
			stdin: "short\n",
		});
		expect(short.exitCode).toBe(2);
		expect(short.stderr).toContain("password");
		const ok = runCli(["admin", "create", "--email", "a@example.com", "--password-stdin"], {
			env,
			stdin: "a long enough password\n",
		});
		expect(ok.exitCode).toBe(0);
		expect(ok.stdout).not.toContain("password:");
	});

	test("apikey create prints the key once and it authenticates against the running daemon", async () => {
		const data = fresh();
		const env = isolatedEnv(data);
		expect(runCli(["apikey", "create", "--name", "x"], { env }).exitCode).toBe(2);
		runCli(["admin", "create", "--email", "root@example.com", "--organization", "Blocky"], { env });
		const bad = runCli(["apikey", "create", "--name", "ci", "--permissions", "read,fly"], { env });
		expect(bad.exitCode).toBe(2);
		expect(bad.stderr).toContain("permissions");
		const made = runCli(["apikey", "create", "--name", "ci", "--permissions", "read,write"], { env });
		expect(made.exitCode).toBe(0);
		const key = made.stdout.trim();
		expect(key).toMatch(/^pp_live_/);
		const daemon = await startDaemon(env);
		try {
			const res = await fetch(`${daemon.url}/v1/organizations/current`, {
				headers: { authorization: `Bearer ${key}` },
			});
			expect(res.status).toBe(200);
			expect((await res.json()).name).toBe("Blocky");
		} finally {
			expect(await daemon.stop()).toBe(0);
		}
	});

	test("backup writes a consistent copy while the daemon runs, and refuses to overwrite", async () => {
		const data = fresh();
		const env = isolatedEnv(data);
		runCli(["admin", "create", "--email", "root@example.com"], { env });
		const daemon = await startDaemon(env);
		try {
			const target = join(fresh(), "backup.db");
			const r = runCli(["backup", target], { env });
			expect(r.exitCode).toBe(0);
			expect(statSync(target).mode & 0o777).toBe(0o600);
			const copy = new Database(target, { readonly: true });
			expect(copy.query<{ n: number }, []>("SELECT COUNT(*) AS n FROM users").get()?.n).toBe(1);
			expect(copy.query<{ r: string }, []>("PRAGMA integrity_check").get()).toEqual({ integrity_check: "ok" } as never);
			copy.close();
			const again = runCli(["backup", target], { env });
			expect(again.exitCode).toBe(2);
			expect(again.stderr).toContain("already exists");
		} finally {
			await daemon.stop();
		}
	});

	test("version prints the version", () => {
		const r = runCli(["version"], { env: isolatedEnv(fresh()) });
		expect(r.exitCode).toBe(0);
		expect(r.stdout).toMatch(/^pistonprotection \S+ \(bun /);
	});

	test("apikey list shows keys without secrets; apikey revoke stops a key at once", async () => {
		const env = isolatedEnv(fresh());
		runCli(["admin", "create", "--email", "root@example.com"], { env });
		const key = runCli(["apikey", "create", "--name", "deploy"], { env }).stdout.trim();
		const listed = runCli(["apikey", "list"], { env });
		expect(listed.exitCode).toBe(0);
		expect(listed.stdout).toContain("deploy");
		expect(listed.stdout).not.toContain(key);
		const id = /^(key_\S+)/m.exec(listed.stdout)?.[1] as string;
		const daemon = await startDaemon(env);
		try {
			const call = () =>
				fetch(`${daemon.url}/v1/organizations/current`, { headers: { authorization: `Bearer ${key}` } });
			expect((await call()).status).toBe(200);
			expect(runCli(["apikey", "revoke", id], { env }).exitCode).toBe(0);
			await Bun.sleep(1100);
			expect((await call()).status).toBe(401);
			expect(runCli(["apikey", "revoke", "key_doesnotexist"], { env }).exitCode).toBe(2);
		} finally {
			await daemon.stop();
		}
	});

	test("keys rotate signs new tokens with a new key while earlier tokens stay valid", async () => {
		const env = isolatedEnv(fresh(), { PP_SERVER_HTTPS_ENABLED: "false" });
		runCli(["admin", "create", "--email", "root@example.com", "--password-stdin"], {
			env,
			stdin: "a long enough password",
		});
		const daemon = await startDaemon(env);
		try {
			const login = async () => {
				const res = await fetch(`${daemon.url}/v1/auth/login`, {
					method: "POST",
					headers: { "content-type": "application/json" },
					body: JSON.stringify({ email: "root@example.com", password: "a long enough password" }),
				});
				return ((await res.json()) as { accessToken: string }).accessToken;
			};
			const kid = (token: string) => JSON.parse(Buffer.from(token.split(".")[0] as string, "base64url").toString()).kid;
			const before = await login();
			expect(runCli(["keys", "rotate"], { env }).exitCode).toBe(0);
			await Bun.sleep(1200);
			const after = await login();
			expect(kid(after)).not.toBe(kid(before));
			for (const token of [before, after]) {
				const res = await fetch(`${daemon.url}/v1/organizations/current`, {
					headers: { authorization: `Bearer ${token}` },
				});
				expect(res.status).toBe(200);
			}
		} finally {
			await daemon.stop();
		}
	});
});
