// install.sh end to end, in a staging root (--root) with its own ports, pin path and veth, so
// it passes while a real appliance runs on the same host: fresh install, a no-op second run,
// choosing an interface, an upgrade that keeps config and data, uninstall and purge.
// The steps share one installation and run in order.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import {
	createStaging,
	createVeth,
	freePort,
	httpGet,
	IS_ROOT,
	processAlive,
	processesUnder,
	REPO,
	type Result,
	readPid,
	removeStaging,
	run,
	runInstall,
	type Staging,
	sha256,
	stopProcessesUnder,
	xdpOf,
} from "../helpers/install.ts";

// The domain requires a dot in the email's domain, which install.sh's default admin@localhost
// lacks; an explicit address also exercises --admin-email.
const ADMIN_EMAIL = "owner@pp-install-test.example";

describe("install.sh and scripts/ static checks", () => {
	test("install.sh, scripts/deps.sh and scripts/verify-unit.sh pass shellcheck", () => {
		const result = run(["shellcheck", "install.sh", "scripts/deps.sh", "scripts/verify-unit.sh"], {
			cwd: REPO,
			allowFailure: true,
		});
		expect(result.output).toBe("");
		expect(result.exitCode).toBe(0);
	});

	test("--help lists the options, the test and packaging ones included, and exits 0", () => {
		const result = run(["bash", "install.sh", "--help"], { cwd: REPO });
		for (const option of [
			"--unattended",
			"--no-start",
			"--interface IFACE",
			"--admin-email",
			"--uninstall",
			"--purge",
			"--skip-deps",
			"--root DIR",
			"--binary FILE",
			"--http-listen",
			"--https-listen",
			"--grpc-listen",
			"--pin-path",
		])
			expect(result.stdout).toContain(option);
	});

	test("an unknown option or a malformed value exits 2 before anything is done", () => {
		for (const args of [["--bogus"], ["--interface", "not an interface"], ["--pin-path", "/tmp/x"], ["--purge"]]) {
			const result = run(["bash", "install.sh", ...args], { cwd: REPO, allowFailure: true });
			expect(result.exitCode).toBe(2);
		}
	});
});

describe.skipIf(!IS_ROOT)(
	IS_ROOT ? "install.sh in a staging root" : "install.sh in a staging root (skipped: needs root)",
	() => {
		let staging: Staging;
		let veth: ReturnType<typeof createVeth>;
		const pinPath = `/sys/fs/bpf/pp-test-${Math.random().toString(16).slice(2, 10)}`;
		const ports = { http: 0, https: 0, grpc: 0 };
		let healthUrl = "";
		let firstPid = 0;
		let installedHashes = { binary: "", config: "", unit: "" };
		let apiKey = "";

		const install = async (args: string[] = []): Promise<Result> => {
			const result = await runInstall(staging, [
				"--admin-email",
				ADMIN_EMAIL,
				"--http-listen",
				`127.0.0.1:${ports.http}`,
				"--https-listen",
				`127.0.0.1:${ports.https}`,
				"--grpc-listen",
				`127.0.0.1:${ports.grpc}`,
				"--pin-path",
				pinPath,
				...args,
			]);
			if (result.exitCode !== 0) throw new Error(`install.sh exited ${result.exitCode}:\n${result.output}`);
			return result;
		};
		const installed = () => ({
			binary: sha256(staging.paths.bin),
			config: sha256(staging.paths.config),
			unit: sha256(staging.paths.unit),
		});
		const organizationWithKey = (key: string) =>
			httpGet(`http://127.0.0.1:${ports.http}/v1/organizations/current`, { Authorization: `Bearer ${key}` });

		beforeAll(() => {
			staging = createStaging();
			veth = createVeth();
			ports.http = freePort();
			ports.https = freePort();
			ports.grpc = freePort();
			healthUrl = `http://127.0.0.1:${ports.http}/healthz`;
		});

		afterAll(async () => {
			await stopProcessesUnder(staging.dir);
			veth.remove();
			removeStaging(staging, pinPath);
		});

		test("a fresh install builds, installs and starts the daemon, and prints the credentials once", async () => {
			// The first run checks the packages for real (quick when they are present).
			const result = await install();

			expect(result.stdout).toContain(`owner:        ${ADMIN_EMAIL}`);
			expect(result.stdout.match(/password: +\S+/g)?.length).toBe(1);
			expect(result.stdout).toContain("no interface is protected yet");
			expect(result.stdout).toContain("--interface IFACE");

			const health = await httpGet(healthUrl);
			expect(health?.status).toBe(200);
			expect(JSON.parse(health?.body ?? "{}")).toEqual({ status: "ok" });

			firstPid = readPid(staging);
			expect(processAlive(firstPid)).toBe(true);
			expect(readFileSync(`/proc/${firstPid}/cmdline`, "utf8").split("\0")).toEqual([
				staging.paths.bin,
				"serve",
				"--config",
				staging.paths.config,
				"",
			]);

			expect(statSync(staging.paths.config).mode & 0o777).toBe(0o600);
			expect(statSync(staging.paths.dataDir).mode & 0o777).toBe(0o750);
			expect(statSync(staging.paths.bin).mode & 0o777).toBe(0o755);
			expect(existsSync(join(staging.paths.dataDir, "pistonprotection.db"))).toBe(true);
			expect(sha256(staging.paths.bin)).toBe(sha256(join(staging.src, "dist/pistonprotection")));
			expect(readFileSync(staging.paths.unit, "utf8")).toBe(
				readFileSync(join(REPO, "systemd/pistonprotection.service"), "utf8"),
			);

			const config = readFileSync(staging.paths.config, "utf8");
			expect(config).toContain(`data_dir = "${staging.paths.dataDir}"`);
			expect(config).toContain(`http_listen = "127.0.0.1:${ports.http}"`);
			expect(config).toContain(`pin_path = "${pinPath}"`);
			expect(config).toContain("interfaces = []");
			expect(readFileSync(staging.paths.logFile, "utf8")).toContain(`"msg":"listening","http":${ports.http}`);
			installedHashes = installed();
		});

		test("the unit passes systemd-analyze verify against the built binary", () => {
			const result = run(
				["bash", join(staging.src, "scripts/verify-unit.sh"), join(staging.src, "dist/pistonprotection")],
				{ allowFailure: true },
			);
			expect(result.output).toContain("verify-unit: systemd/pistonprotection.service ok");
			expect(result.exitCode).toBe(0);
		});

		test("a second run changes nothing: same daemon, same files, no new admin", async () => {
			const configMtime = statSync(staging.paths.config).mtimeMs;
			const result = await install(["--skip-deps"]);

			expect(result.stdout).toContain("nothing changed");
			expect(result.stdout).not.toContain("password:");
			expect(result.stdout).not.toContain("started the daemon");
			expect(readPid(staging)).toBe(firstPid);
			expect(processAlive(firstPid)).toBe(true);
			expect(installed()).toEqual(installedHashes);
			expect(statSync(staging.paths.config).mtimeMs).toBe(configMtime);
			expect((await httpGet(healthUrl))?.status).toBe(200);
		});

		test("rerunning with --interface writes it into the kept config and restarts the daemon", async () => {
			const before = readFileSync(staging.paths.config, "utf8");
			const result = await install(["--skip-deps", "--interface", veth.name]);

			expect(result.stdout).toContain(`set dataplane.interfaces = ["${veth.name}"]`);
			expect(result.stdout).toContain(`protected interfaces: ["${veth.name}"]`);
			const after = readFileSync(staging.paths.config, "utf8");
			expect(after).toBe(before.replace("interfaces = []", `interfaces = ["${veth.name}"]`));
			expect(statSync(staging.paths.config).mode & 0o777).toBe(0o600);

			const pid = readPid(staging);
			expect(pid).not.toBe(firstPid);
			expect(processAlive(firstPid)).toBe(false);
			expect(processAlive(pid)).toBe(true);
			expect((await httpGet(healthUrl))?.status).toBe(200);
			installedHashes = installed();
		});

		test("an older installation is upgraded: binary replaced, daemon restarted, config and data kept", async () => {
			// An "older release": the same source compiled with another version string.
			const older = join(staging.dir, "older/pistonprotection");
			run(["bun", "build", "--compile", '--define=PP_BUILD_VERSION="0.0.1-older"', "src/main.ts", "--outfile", older], {
				cwd: staging.src,
			});
			const downgrade = await install(["--skip-deps", "--binary", older]);
			expect(downgrade.stdout).toContain("-> pistonprotection 0.0.1-older");
			expect(run([staging.paths.bin, "version"]).stdout).toContain("0.0.1-older");
			const olderPid = readPid(staging);

			// Data written by the older version: an API key.
			apiKey = run([
				staging.paths.bin,
				"apikey",
				"create",
				"--name",
				"upgrade",
				"--config",
				staging.paths.config,
			]).stdout.trim();
			expect((await organizationWithKey(apiKey))?.status).toBe(200);
			expect((await organizationWithKey(`${apiKey}x`))?.status).toBe(401);

			const result = await install(["--skip-deps"]);
			expect(result.stdout).toMatch(/upgraded .*: pistonprotection 0\.0\.1-older .*-> pistonprotection /);
			expect(result.stdout).not.toContain("password:");
			expect(sha256(staging.paths.bin)).toBe(installedHashes.binary);
			expect(sha256(staging.paths.config)).toBe(installedHashes.config);

			const pid = readPid(staging);
			expect(pid).not.toBe(olderPid);
			expect(processAlive(olderPid)).toBe(false);
			expect(processAlive(pid)).toBe(true);
			expect((await httpGet(healthUrl))?.status).toBe(200);
			expect((await organizationWithKey(apiKey))?.status).toBe(200);
		});

		test("--uninstall stops the daemon, leaves no pins or XDP program, and keeps config and data", async () => {
			const pid = readPid(staging);
			const result = await runInstall(staging, ["--uninstall"]);
			expect(result.exitCode).toBe(0);

			expect(processAlive(pid)).toBe(false);
			expect(processesUnder(staging.dir)).toEqual([]);
			expect(existsSync(staging.paths.pidFile)).toBe(false);
			expect(existsSync(pinPath)).toBe(false);
			expect(xdpOf(veth.name)).toBeNull();
			expect(await httpGet(healthUrl)).toBeNull();

			expect(existsSync(staging.paths.bin)).toBe(false);
			expect(existsSync(staging.paths.unit)).toBe(false);
			expect(sha256(staging.paths.config)).toBe(installedHashes.config);
			expect(existsSync(join(staging.paths.dataDir, "pistonprotection.db"))).toBe(true);
			expect(result.stdout).toContain("--uninstall --purge");
		});

		test("--uninstall --purge removes the config, the data and the log", async () => {
			const result = await runInstall(staging, ["--uninstall", "--purge"]);
			expect(result.exitCode).toBe(0);
			for (const path of [staging.paths.config, staging.paths.dataDir, staging.paths.logFile])
				expect(existsSync(path)).toBe(false);

			const again = await runInstall(staging, ["--uninstall", "--purge"]);
			expect(again.exitCode).toBe(0);
			expect(again.stdout).toContain("nothing to uninstall");
		});
	},
);
