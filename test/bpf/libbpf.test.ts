// libbpf.ts wrappers: errors name the operation and errno, the verifier log is captured,
// per-CPU values are split per CPU, batches fall back where the kernel has none.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { encodeLpmKey, encodeMgmtValue, u32 } from "../../src/dataplane/abi.ts";
import {
	BpfObject,
	LibbpfError,
	monotonicNowNs,
	numPossibleCpus,
	objGet,
	progInfoById,
	XDP_DROP,
	XDP_PASS,
} from "../../src/dataplane/libbpf.ts";
import { Dataplane, skipReason, TRIVIAL_PATH } from "./harness.ts";

const skip = skipReason();
if (skip) console.warn(`skipping test/bpf/libbpf.test.ts: ${skip}`);
const suite = skip ? describe.skip : describe;

test("monotonicNowNs is CLOCK_MONOTONIC in nanoseconds", () => {
	const a = monotonicNowNs();
	const b = monotonicNowNs();
	expect(b).toBeGreaterThanOrEqual(a);
	expect(a).toBeGreaterThan(0n);
	const uptimeS = Number(readFileSync("/proc/uptime", "utf8").split(" ")[0]);
	expect(Math.abs(Number(a / 1_000_000n) / 1000 - uptimeS)).toBeLessThan(5);
});

suite("libbpf wrappers", () => {
	let dp: Dataplane;
	beforeAll(() => {
		dp = Dataplane.open();
	});
	afterAll(() => dp?.close());

	test("the trivial programs pass and drop", () => {
		const obj = BpfObject.openMem(readFileSync(TRIVIAL_PATH), { noPinning: true });
		try {
			obj.load();
			expect(obj.programNames().sort()).toEqual(["pp_trivial_drop", "pp_trivial_pass"]);
			const frame = new Uint8Array(60);
			expect(obj.program("pp_trivial_pass").testRun(frame).retval).toBe(XDP_PASS);
			const r = obj.program("pp_trivial_drop").testRun(frame, { repeat: 1000 });
			expect(r.retval).toBe(XDP_DROP);
			expect(r.durationNs).toBeGreaterThanOrEqual(0);
		} finally {
			obj.close();
		}
	});

	test("a failed call throws LibbpfError naming the operation and errno", () => {
		try {
			objGet("/nonexistent/pp_config");
			throw new Error("objGet should have failed");
		} catch (err) {
			expect(err).toBeInstanceOf(LibbpfError);
			const e = err as LibbpfError;
			expect(e.op).toContain("bpf_obj_get");
			expect(e.errname).toBe("ENOENT");
			expect(e.errno).toBe(2);
		}
		expect(() => dp.prog.testRun(new Uint8Array(4))).toThrow(LibbpfError);
		expect(() => BpfObject.openMem(new Uint8Array(64))).toThrow(LibbpfError);
	});

	test("a program the verifier rejects fails with the verifier log", () => {
		const dir = mkdtempSync(join(tmpdir(), "pp-bad-"));
		try {
			// Reads the packet without a bounds check, which the verifier must refuse.
			const src = join(dir, "bad.bpf.c");
			writeFileSync(
				src,
				'#include <linux/bpf.h>\n#include <bpf/bpf_helpers.h>\nSEC("xdp") int bad(struct xdp_md *ctx) { return *(char *)(long)ctx->data; }\nchar LICENSE[] SEC("license") = "GPL";\n',
			);
			const cc = Bun.spawnSync([
				"clang",
				"-O2",
				"-target",
				"bpf",
				"-I/usr/include/x86_64-linux-gnu",
				"-c",
				src,
				"-o",
				join(dir, "bad.o"),
			]);
			expect(cc.exitCode).toBe(0);
			const obj = BpfObject.openMem(readFileSync(join(dir, "bad.o")));
			try {
				obj.load();
				throw new Error("load should have failed");
			} catch (err) {
				expect(err).toBeInstanceOf(LibbpfError);
				const e = err as LibbpfError;
				expect(e.op).toBe("bpf_object__load");
				expect(e.errname).toBe("EACCES");
				expect(e.verifierLog).toContain("invalid access to packet");
			} finally {
				obj.close();
			}
		} finally {
			rmSync(dir, { recursive: true, force: true });
		}
	});

	test("per-CPU lookups return one value per possible CPU", () => {
		const per = dp.map("pp_reason_ctrs").lookupPerCpu(u32(0));
		expect(per?.length).toBe(numPossibleCpus());
		expect(per?.[0]?.length).toBe(16);
	});

	test("updateMany and deleteMany work on maps without batch support (LPM tries)", () => {
		const m = dp.map("pp_mgmt_v4");
		const keys = ["10.1.0.0/16", "10.2.0.0/16", "10.3.0.0/16"].map((c) => encodeLpmKey(c));
		m.updateMany(
			keys,
			keys.map(() => encodeMgmtValue()),
		);
		expect([...m.keys()].length).toBe(3);
		expect(m.deleteMany([...keys, encodeLpmKey("10.9.0.0/16")])).toBe(3);
		expect([...m.keys()].length).toBe(0);
	});

	test("updateMany and deleteMany batch on hash maps", () => {
		const m = dp.map("pp_bans");
		const keys = Array.from({ length: 100 }, (_, i) => {
			const k = new Uint8Array(16);
			k[15] = i;
			return k;
		});
		m.updateMany(
			keys,
			keys.map(() => new Uint8Array(8)),
		);
		expect([...m.keys()].length).toBe(100);
		expect(m.deleteMany(keys)).toBe(100);
		expect(m.lookup(keys[0] as Uint8Array)).toBeNull();
	});

	test("a map rejects keys of the wrong size before calling the kernel", () => {
		expect(() => dp.map("pp_bans").lookup(new Uint8Array(3))).toThrow(LibbpfError);
	});

	test("a loaded program's name and tag can be read back by id", () => {
		const info = dp.prog.info();
		expect(info.name).toBe("pp_xdp");
		expect(info.tag).toMatch(/^[0-9a-f]{16}$/);
		expect(progInfoById(info.id)).toEqual(info);
	});
});
