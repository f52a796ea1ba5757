import { describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { ConfigError, DEFAULTS, envName, loadConfig } from "../../src/config.ts";
import { tempDir } from "../helpers/daemon.ts";

function withFile(text: string, fn: (path: string) => void) {
	const dir = tempDir();
	try {
		const path = join(dir.path, "config.toml");
		writeFileSync(path, text);
		fn(path);
	} finally {
		dir.cleanup();
	}
}

function errorOf(fn: () => unknown): ConfigError {
	try {
		fn();
	} catch (err) {
		if (err instanceof ConfigError) return err;
		throw err;
	}
	throw new Error("expected a ConfigError");
}

describe("configuration", () => {
	test("a newcomer with no config file gets working defaults with data under ./data", () => {
		const { config, path } = loadConfig(undefined, { PP_CONFIG: undefined });
		// The default path may exist on an installed host; only compare when it does not.
		if (path === null) expect(config).toEqual(DEFAULTS);
		expect(DEFAULTS.storage.data_dir).toBe("./data");
		expect(DEFAULTS.server.https_listen).toBe("0.0.0.0:8443");
		expect(DEFAULTS.server.http_listen).toBe("127.0.0.1:8080");
		expect(DEFAULTS.server.grpc_listen).toBe("127.0.0.1:9090");
	});

	test("values in the TOML file override the defaults, nested tables included", () => {
		withFile('[log]\nlevel = "debug"\n[dataplane.map_sizes]\nbans = 1024\n', (path) => {
			const { config } = loadConfig(path, {});
			expect(config.log.level).toBe("debug");
			expect(config.dataplane.map_sizes.bans).toBe(1024);
			expect(config.dataplane.map_sizes.rules).toBe(DEFAULTS.dataplane.map_sizes.rules);
		});
	});

	test("every key can be overridden by its PP_* environment variable, over the file", () => {
		withFile('[log]\nlevel = "debug"\n', (path) => {
			const { config } = loadConfig(path, {
				PP_LOG_LEVEL: "warn",
				PP_DATAPLANE_INTERFACES: "pp-a, pp-b",
				PP_DATAPLANE_MANAGEMENT_PORTS: "22,443",
				PP_DATAPLANE_ENABLED: "false",
				PP_DATAPLANE_MAP_SIZES_BANS: "2048",
			});
			expect(config.log.level).toBe("warn");
			expect(config.dataplane.interfaces).toEqual(["pp-a", "pp-b"]);
			expect(config.dataplane.management_ports).toEqual([22, 443]);
			expect(config.dataplane.enabled).toBe(false);
			expect(config.dataplane.map_sizes.bans).toBe(2048);
		});
		expect(envName("dataplane.map_sizes.rate_limit_sources")).toBe("PP_DATAPLANE_MAP_SIZES_RATE_LIMIT_SOURCES");
	});

	test("an unknown key in the file is named in the error", () => {
		withFile('[server]\nhttps_listn = "0.0.0.0:1"\n', (path) => {
			expect(errorOf(() => loadConfig(path, {})).key).toBe("server.https_listn");
		});
	});

	test("a wrong value names the key and what was expected", () => {
		withFile('[log]\nlevel = "loud"\n', (path) => {
			const err = errorOf(() => loadConfig(path, {}));
			expect(err.key).toBe("log.level");
			expect(err.message).toContain('"debug"');
		});
		withFile("[dataplane.map_sizes]\nbans = 3\n", (path) => {
			expect(errorOf(() => loadConfig(path, {})).key).toBe("dataplane.map_sizes.bans");
		});
		withFile('[dataplane]\nadmin_networks = ["10.0.0.0/33"]\n', (path) => {
			expect(errorOf(() => loadConfig(path, {})).key).toBe("dataplane.admin_networks.0");
		});
		withFile('[server]\nhttp_listen = "127.0.0.1:70000"\n', (path) => {
			expect(errorOf(() => loadConfig(path, {})).key).toBe("server.http_listen");
		});
	});

	test("a bad environment value or an unknown PP_ variable names it", () => {
		expect(errorOf(() => loadConfig(undefined, { PP_CONFIG: undefined, PP_DATAPLANE_ENABLED: "maybe" })).key).toBe(
			"dataplane.enabled",
		);
		expect(errorOf(() => loadConfig(undefined, { PP_LOGLEVEL: "info" })).key).toBe("PP_LOGLEVEL");
	});

	test("a named config file that does not exist, or is not TOML, is an error", () => {
		expect(errorOf(() => loadConfig("/nonexistent/pp.toml", {})).key).toBe("file");
		withFile("this is = = not toml", (path) => {
			expect(errorOf(() => loadConfig(path, {})).key).toBe("file");
		});
	});

	test("a certificate without its key is refused", () => {
		expect(errorOf(() => loadConfig(undefined, { PP_SERVER_TLS_CERT: "/x.pem" })).key).toBe("server.tls_key");
	});
});

describe("the README's configuration reference", () => {
	test("names every configuration key and its environment variable", async () => {
		const { configKeys } = await import("../../src/config.ts");
		const readme = await Bun.file(`${import.meta.dir}/../../README.md`).text();
		for (const { key } of configKeys()) {
			expect(readme).toContain(`| \`${key}\` | \`${envName(key)}\` |`);
		}
	});
});
