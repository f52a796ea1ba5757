// levels.ts: what each protection level asks of the kernel, and how overrides apply.
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Level, type LevelName, SvcFlag } from "../../src/dataplane/abi.ts";
import { LEVEL_DEFAULTS, perCpuLimit, protectionLevelsMarkdown, serviceLimits } from "../../src/dataplane/levels.ts";

const ORDER: LevelName[] = ["OFF", "LOW", "MEDIUM", "HIGH", "UNDER_ATTACK"];

describe("serviceLimits", () => {
	test("each level keeps every check of the level below it", () => {
		for (let i = 1; i < ORDER.length; i++) {
			const lower = serviceLimits(ORDER[i - 1] as LevelName).flags;
			const higher = serviceLimits(ORDER[i] as LevelName).flags;
			expect(higher & lower).toBe(lower);
		}
	});

	test("each level above LOW has tighter per-source limits than the one below", () => {
		for (let i = 2; i < ORDER.length; i++) {
			const lower = serviceLimits(ORDER[i - 1] as LevelName);
			const higher = serviceLimits(ORDER[i] as LevelName);
			expect(higher.srcPkt.rate).toBeLessThan(lower.srcPkt.rate);
			expect(higher.srcByte.rate).toBeLessThan(lower.srcByte.rate);
		}
	});

	test("the levels turn on what DESIGN.md promises", () => {
		expect(serviceLimits("OFF").flags).toBe(0);
		expect(serviceLimits("LOW").flags).toBe(SvcFlag.SRC_LIMIT | SvcFlag.DROP_INVALID);
		const medium = serviceLimits("MEDIUM").flags;
		for (const f of [SvcFlag.DROP_FRAGMENTS, SvcFlag.DROP_REFLECTION, SvcFlag.GLOBAL_LIMIT, SvcFlag.L7_VALIDATE]) {
			expect(medium & f).toBe(f);
		}
		expect(serviceLimits("HIGH").flags & SvcFlag.SYN_COOKIES).toBe(SvcFlag.SYN_COOKIES);
		expect(serviceLimits("UNDER_ATTACK").flags & SvcFlag.VERIFIED_ONLY).toBe(SvcFlag.VERIFIED_ONLY);
		for (const name of ORDER) expect(serviceLimits(name).level).toBe(Level[name]);
	});

	test("a per-IP override replaces the level's packet numbers and keeps bytes from undercutting it", () => {
		const l = serviceLimits("HIGH", { perIpRateLimit: { requestsPerSecond: 5000, burstSize: 10000 } });
		expect(l.srcPkt).toEqual({ rate: 5000, burst: 10000 });
		expect(l.srcByte.rate).toBe(5000 * 1500);
		expect(l.srcByte.burst).toBe(10000 * 1500);
		const small = serviceLimits("LOW", { perIpRateLimit: { requestsPerSecond: 10, burstSize: 20 } });
		expect(small.srcByte).toEqual(LEVEL_DEFAULTS.LOW.srcByte);
	});

	test("a global override switches the backend bucket on even at LOW", () => {
		const l = serviceLimits("LOW", { globalRateLimit: { requestsPerSecond: 1000, burstSize: 2000 } });
		expect(l.flags & SvcFlag.GLOBAL_LIMIT).toBe(SvcFlag.GLOBAL_LIMIT);
		expect(l.globPkt).toEqual({ rate: 1000, burst: 2000 });
		expect(l.globByte).toEqual({ rate: 0, burst: 0 });
		const m = serviceLimits("MEDIUM", { globalRateLimit: { requestsPerSecond: 1000, burstSize: 2000 } });
		expect(m.globByte).toEqual(LEVEL_DEFAULTS.MEDIUM.globByte);
	});

	test("OFF ignores overrides", () => {
		const l = serviceLimits("OFF", {
			perIpRateLimit: { requestsPerSecond: 1, burstSize: 1 },
			globalRateLimit: { requestsPerSecond: 1, burstSize: 1 },
		});
		expect(l).toEqual(serviceLimits("OFF"));
	});

	test("overrides must be positive 32-bit integers", () => {
		expect(() => serviceLimits("LOW", { perIpRateLimit: { requestsPerSecond: 0, burstSize: 1 } })).toThrow(RangeError);
		expect(() => serviceLimits("LOW", { globalRateLimit: { requestsPerSecond: 1.5, burstSize: 1 } })).toThrow(
			RangeError,
		);
		expect(() => serviceLimits("LOW", { globalRateLimit: { requestsPerSecond: 1, burstSize: 2 ** 32 } })).toThrow(
			RangeError,
		);
	});

	test("the defaults are not shared objects a caller could mutate", () => {
		const a = serviceLimits("MEDIUM");
		a.srcPkt.rate = 1;
		expect(serviceLimits("MEDIUM").srcPkt.rate).toBe(LEVEL_DEFAULTS.MEDIUM.srcPkt.rate);
	});
});

/** Table cells without the padding a markdown formatter adds. */
function normalise(md: string): string[] {
	return md
		.split("\n")
		.map((line) =>
			line.startsWith("|")
				? line
						.split("|")
						.map((cell) => cell.trim().replace(/^-+$/, "---"))
						.join("|")
				: line.trim(),
		)
		.filter((line) => line.length > 0);
}

for (const file of [["docs", "protection-levels.md"], ["README.md"]]) {
	test(`${file.join("/")} has the generated table of protection levels`, () => {
		const doc = normalise(readFileSync(join(import.meta.dir, "..", "..", ...file), "utf8"));
		const table = normalise(protectionLevelsMarkdown());
		const start = doc.indexOf(table[0] as string);
		expect(start).toBeGreaterThanOrEqual(0);
		expect(doc.slice(start, start + table.length)).toEqual(table);
	});
}

describe("perCpuLimit", () => {
	test("each CPU's bucket gets the limit divided by the CPUs, at least 1, and 0 stays off", () => {
		expect(perCpuLimit({ rate: 100_000, burst: 200_000 }, 4)).toEqual({ rate: 25_000, burst: 50_000 });
		expect(perCpuLimit({ rate: 3, burst: 5 }, 4)).toEqual({ rate: 1, burst: 1 });
		expect(perCpuLimit({ rate: 0, burst: 0 }, 4)).toEqual({ rate: 0, burst: 0 });
		expect(perCpuLimit({ rate: 7, burst: 9 }, 1)).toEqual({ rate: 7, burst: 9 });
	});
});
