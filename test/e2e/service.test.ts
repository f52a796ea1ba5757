import { afterAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { isolatedEnv, startDaemon, tempDir } from "../helpers/daemon.ts";

const dirs: Array<{ cleanup(): void }> = [];
afterAll(() => {
	for (const d of dirs) d.cleanup();
});

describe("the service process", () => {
	test("logs one JSON object per line with a timestamp, level and message", async () => {
		const d = tempDir();
		dirs.push(d);
		const daemon = await startDaemon(isolatedEnv(d.path));
		await daemon.stop();
		const lines = daemon
			.logs()
			.split("\n")
			.filter((l) => l.trim());
		expect(lines.length).toBeGreaterThan(1);
		for (const line of lines) {
			const entry = JSON.parse(line);
			expect(typeof entry.ts).toBe("string");
			expect(["debug", "info", "warn", "error"]).toContain(entry.level);
			expect(typeof entry.msg).toBe("string");
		}
	});

	test("SIGTERM shuts down cleanly with exit code 0", async () => {
		const d = tempDir();
		dirs.push(d);
		const daemon = await startDaemon(isolatedEnv(d.path));
		expect(await daemon.stop("SIGTERM")).toBe(0);
		expect(daemon.logs()).toContain('"msg":"stopped"');
	});

	test("SIGHUP reloads the config file; a bad file is refused and the old one kept", async () => {
		const d = tempDir();
		dirs.push(d);
		const configPath = join(d.path, "..", `${d.path.split("/").pop()}.toml`);
		writeFileSync(configPath, '[log]\nlevel = "debug"\n');
		const env = { ...isolatedEnv(d.path), PP_CONFIG: configPath };
		const daemon = await startDaemon(env);
		try {
			const login = () =>
				fetch(`${daemon.url}/v1/auth/login`, {
					method: "POST",
					headers: { "content-type": "application/json" },
					// Whitespace after the JSON: valid, and longer than the reloaded limit.
					body: JSON.stringify({ email: "nobody@example.com", password: "wrong password" }) + " ".repeat(1500),
				});
			expect((await login()).status).toBe(401);
			writeFileSync(configPath, '[log]\nlevel = "info"\n[api]\nbody_limit_bytes = 1024\n');
			process.kill(daemon.pid, "SIGHUP");
			const deadline = Date.now() + 5000;
			while (!daemon.logs().includes("configuration reloaded") && Date.now() < deadline) await Bun.sleep(25);
			expect(daemon.logs()).toContain("configuration reloaded");
			// The reloaded body limit applies to the next request without a restart.
			expect((await login()).status).toBe(400);

			writeFileSync(configPath, '[log]\nlevel = "shouting"\n');
			process.kill(daemon.pid, "SIGHUP");
			const deadline2 = Date.now() + 5000;
			while (!daemon.logs().includes("reload refused") && Date.now() < deadline2) await Bun.sleep(25);
			expect(daemon.logs()).toContain("log.level");
			const res = await fetch(`${daemon.url}/healthz`);
			expect(res.status).toBe(200);
		} finally {
			expect(await daemon.stop()).toBe(0);
		}
	});
});
