// The loader against the real kernel: pins under a private path, re-adopts pinned maps with
// their contents, recreates a pinned map whose layout no longer matches (then the reconciler
// repopulates it), and refuses interfaces it does not own.
import { afterEach, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { existsSync, rmSync } from "node:fs";
import { DEFAULTS } from "../../src/config.ts";
import { encodeBanKey, u64 } from "../../src/dataplane/abi.ts";
import { BpfMap } from "../../src/dataplane/libbpf.ts";
import { DataPlaneError, Loader } from "../../src/dataplane/loader.ts";
import { Logger } from "../../src/log.ts";

const skip = process.getuid?.() !== 0 ? "needs root to load BPF programs" : null;
const pins: string[] = [];
afterEach(() => {
	for (const p of pins.splice(0)) if (existsSync(p)) rmSync(p, { recursive: true, force: true });
});

function config(overrides: Partial<(typeof DEFAULTS)["dataplane"]> = {}) {
	const pin = `/sys/fs/bpf/pp-test-${randomBytes(4).toString("hex")}`;
	pins.push(pin);
	return { ...structuredClone(DEFAULTS.dataplane), pin_path: pin, interfaces: [], ...overrides };
}

describe.skipIf(skip !== null)(`loader${skip ? ` — skipped: ${skip}` : ""}`, () => {
	const lines: string[] = [];
	const log = Logger.create("debug", (l) => lines.push(l));

	test("pins every map under the configured path and sizes them from the config", async () => {
		const cfg = config();
		cfg.map_sizes.bans = 4096;
		const loader = new Loader(cfg, log);
		await loader.load();
		try {
			expect(existsSync(`${cfg.pin_path}/pp_bans`)).toBe(true);
			expect(existsSync(`${cfg.pin_path}/pp_reason_ctrs`)).toBe(true);
			expect(loader.loaded.map("pp_bans").info.maxEntries).toBe(4096);
		} finally {
			loader.close();
		}
	});

	test("a second load re-adopts the pinned maps and keeps their contents", async () => {
		const cfg = config();
		const first = new Loader(cfg, log);
		await first.load();
		first.loaded.map("pp_bans").update(encodeBanKey("198.51.100.7"), u64(0n));
		first.close();
		const second = new Loader(cfg, log);
		await second.load();
		try {
			expect(second.loaded.map("pp_bans").lookup(encodeBanKey("198.51.100.7"))).not.toBeNull();
		} finally {
			second.close();
		}
	});

	test("a pinned map whose layout changed is recreated empty", async () => {
		const cfg = config();
		cfg.map_sizes.bans = 1024;
		const first = new Loader(cfg, log);
		await first.load();
		first.loaded.map("pp_bans").update(encodeBanKey("198.51.100.7"), u64(0n));
		first.close();
		const resized = { ...cfg, map_sizes: { ...cfg.map_sizes, bans: 2048 } };
		const second = new Loader(resized, log);
		await second.load();
		try {
			const bans = BpfMap.fromPinned(`${cfg.pin_path}/pp_bans`);
			expect(bans.info.maxEntries).toBe(2048);
			expect(bans.lookup(encodeBanKey("198.51.100.7"))).toBeNull();
			bans.close();
			expect(lines.some((l) => l.includes("pinned maps do not match this program"))).toBe(true);
		} finally {
			second.close();
		}
	});

	test("a configured interface that does not exist is an error naming it", async () => {
		const cfg = config({ interfaces: ["pp-nosuchif"] });
		const loader = new Loader(cfg, log);
		await loader.load();
		try {
			expect(() => loader.attachAll()).toThrow(DataPlaneError);
			expect(() => loader.attachAll()).toThrow("pp-nosuchif");
		} finally {
			loader.close();
		}
	});
});
