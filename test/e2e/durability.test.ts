import { Database } from "bun:sqlite";
import { afterAll, describe, expect, test } from "bun:test";
import { copyFileSync, existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { isolatedEnv, ROOT, runCli, startDaemon, tempDir } from "../helpers/daemon.ts";

const dirs: Array<{ cleanup(): void }> = [];
afterAll(() => {
	for (const d of dirs) d.cleanup();
});
function fresh() {
	const d = tempDir();
	dirs.push(d);
	return d.path;
}

describe("durability", () => {
	test("data survives a restart of the daemon", async () => {
		const env = isolatedEnv(fresh());
		runCli(["admin", "create", "--email", "root@example.com", "--organization", "Persist"], { env });
		const key = runCli(["apikey", "create", "--name", "k"], { env }).stdout.trim();
		for (let round = 0; round < 2; round++) {
			const daemon = await startDaemon(env);
			try {
				const res = await fetch(`${daemon.url}/v1/organizations/current`, {
					headers: { authorization: `Bearer ${key}` },
				});
				expect(res.status).toBe(200);
				expect((await res.json()).name).toBe("Persist");
			} finally {
				expect(await daemon.stop()).toBe(0);
			}
		}
	});

	test("a SIGKILL during writes loses no committed row", async () => {
		const dir = fresh();
		const dbPath = join(dir, "pp.db");
		const writer = Bun.spawn(["bun", join(ROOT, "test", "helpers", "writer.ts"), dbPath], {
			stdout: "pipe",
			stderr: "inherit",
		});
		let printed = "";
		const reader = (async () => {
			const decoder = new TextDecoder();
			for await (const chunk of writer.stdout) printed += decoder.decode(chunk, { stream: true });
		})();
		const deadline = Date.now() + 10_000;
		while (printed.split("\n").length < 500 && Date.now() < deadline) await Bun.sleep(10);
		writer.kill("SIGKILL");
		await writer.exited;
		await reader;
		const committed = printed.split("\n").filter((l) => /^row-\d+$/.test(l));
		expect(committed.length).toBeGreaterThan(100);
		const db = new Database(dbPath);
		const stored = new Set(
			db
				.query<{ resource_id: string }, []>("SELECT resource_id FROM audit_logs WHERE action = 'test.write'")
				.all()
				.map((r) => r.resource_id),
		);
		expect(db.query<{ integrity_check: string }, []>("PRAGMA integrity_check").get()?.integrity_check).toBe("ok");
		db.close();
		const lost = committed.filter((id) => !stored.has(id));
		expect(lost).toEqual([]);
	});
});

describe("the compiled binary", () => {
	const binary = join(ROOT, "dist", "pistonprotection");
	test("copied alone to an empty directory, it runs migrations and serves /healthz", async () => {
		if (!existsSync(binary))
			throw new Error("dist/pistonprotection is missing: the test command builds it first (bun run build)");
		const dir = fresh();
		const copy = join(dir, "pistonprotection");
		copyFileSync(binary, copy);
		Bun.spawnSync(["chmod", "0755", copy]);
		const data = join(dir, "data");
		const env = isolatedEnv(data);
		const migrated = runCli(["migrate"], { env, cmd: [copy] });
		expect(migrated.exitCode).toBe(0);
		expect(migrated.stdout).toContain("applied 1_init");
		expect(migrated.stdout).toContain("applied 2_protection");
		const daemon = await startDaemon(env, { cmd: [copy], cwd: dir });
		try {
			const res = await fetch(`${daemon.url}/healthz`);
			expect(res.status).toBe(200);
			// Static assets come from inside the binary: nothing beside it but the data directory.
			const version = runCli(["version"], { env, cmd: [copy] }).stdout.split(" ")[1];
			const htmx = await fetch(`${daemon.url}/static/${version}/htmx.min.js`);
			expect(htmx.status).toBe(200);
			expect(await htmx.text()).toContain("htmx");
		} finally {
			expect(await daemon.stop()).toBe(0);
		}
		expect(readdirSync(dir).sort()).toEqual(["data", "pistonprotection"]);
	});
});
