// The reconciler against real kernel maps (a private, unpinned load of the program): a full
// resync and a sequence of incremental updates converge on identical maps; stale contents of
// re-adopted maps are removed; a state that does not fit is refused without touching anything.
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import {
	decodeConfig,
	decodeService,
	encodeConfig,
	encodeListEntry,
	encodeLpmKey,
	KEYED_CONTENT_MAPS,
	LAYOUT,
	type MapName,
	NO_RULESET,
	PORT_NONE,
	SRC_SEEDS,
	SumState,
	u32,
} from "../../src/dataplane/abi.ts";
import { compileLists, hex, ListCompiler } from "../../src/dataplane/compile.ts";
import { BpfObject } from "../../src/dataplane/libbpf.ts";
import { CapacityError, Reconciler } from "../../src/dataplane/reconciler.ts";
import { Logger } from "../../src/log.ts";
import { type TestCore, testCore } from "../helpers/app.ts";

const OBJ = join(import.meta.dir, "..", "..", "build", "bpf", "pp_xdp.o");
const skip =
	process.getuid?.() !== 0 ? "needs root to load BPF maps" : !existsSync(OBJ) ? "run `bun run build:bpf` first" : null;

const COMPARED: MapName[] = [...KEYED_CONTENT_MAPS];

function load(sizes: Partial<Record<MapName, number>> = {}): BpfObject {
	const obj = BpfObject.openMem(new Uint8Array(readFileSync(OBJ)), { noPinning: true });
	for (const [name, n] of Object.entries(sizes)) obj.objectMap(name).setMaxEntries(n as number);
	obj.load();
	return obj;
}

/** Map contents as comparable text; services with their rule set's bytes instead of its slot. */
function snapshot(obj: BpfObject): Record<string, string[]> {
	const out: Record<string, string[]> = {};
	for (const name of COMPARED) {
		const map = obj.map(name);
		out[name] = [...map.keys()]
			.map((k) => {
				const v = map.lookup(k) as Uint8Array;
				if (name !== "pp_services") return `${hex(k)}=${hex(v)}`;
				const svc = decodeService(v);
				const rules =
					svc.ruleset === NO_RULESET ? "none" : hex(obj.map("pp_rulesets").lookup(u32(svc.ruleset)) as Uint8Array);
				return `${hex(k)}=${JSON.stringify({ ...svc, ruleset: 0 })}/${rules}`;
			})
			.sort();
	}
	// The port index, each port resolved to the service in its slot (slot numbers differ by history).
	const slots = obj.map("pp_svc_slots");
	out.pp_svc_ports = obj.map("pp_svc_ports").withMapped((b) =>
		[...new Uint32Array(b)].flatMap((v, i) => {
			if (i % 2 || v === PORT_NONE) return [];
			if (v === 0) return [`${i / 2}=pp_services`];
			const bytes = slots.lookup(u32(v - 1)) as Uint8Array;
			const svc = decodeService(bytes.subarray(20));
			const rules =
				svc.ruleset === NO_RULESET ? "none" : hex(obj.map("pp_rulesets").lookup(u32(svc.ruleset)) as Uint8Array);
			return [`${i / 2}=${hex(bytes.subarray(0, 20))}/${JSON.stringify({ ...svc, ruleset: 0 })}/${rules}`];
		}),
	);
	// The IPv4 summaries, whole (every word is written at the first sync).
	for (const name of ["pp_allow_v4_sum", "pp_block_v4_sum"] as const)
		out[name] = [String(obj.map(name).withMapped((b) => Bun.hash(new Uint8Array(b))))];
	return out;
}

describe.skipIf(skip !== null)(`reconciler${skip ? ` — skipped: ${skip}` : ""}`, () => {
	let core: TestCore;
	let objects: BpfObject[] = [];
	const log = Logger.create("error", () => {});
	beforeEach(async () => {
		core = await testCore();
	});
	afterEach(() => {
		for (const o of objects) o.close();
		objects = [];
		core.close();
	});
	const reconcilerFor = (obj: BpfObject) =>
		new Reconciler(core.services.db, core.services.config.dataplane, (name) => obj.map(name), log);

	test("a daemon that re-adopts the maps keeps the port index's slots: the program never reads a slot being rewritten", () => {
		const obj = load();
		objects.push(obj);
		const { services, owner } = core;
		services.backends.create(owner, { name: "mc", type: "MINECRAFT_JAVA", protection: { level: "HIGH" } });
		reconcilerFor(obj).fullResync();
		const index = () => obj.map("pp_svc_ports").withMapped((b) => [...new Uint32Array(b)]);
		const before = index();
		expect(before.some((v) => v !== 0 && v !== PORT_NONE)).toBe(true);
		const again = reconcilerFor(obj);
		again.fullResync();
		expect(index()).toEqual(before);
		const [b] = services.backends.list(owner).data;
		services.backends.setProtectionLevel(owner, b?.id as string, "LOW");
		again.sync();
		const after = index();
		const moved = after.filter((v, i) => v !== before[i] && v !== 0 && v !== PORT_NONE);
		expect(moved.length).toBeGreaterThan(0);
		expect(moved.every((v) => !before.includes(v))).toBe(true);
	});

	test("the source table's seeds are random, published in pp_config, and kept by a re-adopting daemon", () => {
		const obj = load({ pp_src_table: 1024 });
		objects.push(obj);
		reconcilerFor(obj).fullResync();
		const hashOf = () => decodeConfig(obj.map("pp_config").lookup(u32(0)) as Uint8Array).srcHash;
		const first = hashOf();
		expect(first.setMask).toBe(1023);
		expect(new Set(first.seeds).size).toBe(SRC_SEEDS);
		const again = reconcilerFor(obj);
		again.fullResync();
		core.services.ipLists.add(core.owner, "block", { ip: "203.0.113.0/24" });
		again.sync();
		expect(hashOf()).toEqual(first);
		// Seeds published for another table size are replaced, and ways placed with them freed.
		const way = new Uint8Array(obj.map("pp_src_table").info.valueSize);
		way[0] = 7; // a used way's tag
		obj.map("pp_src_table").update(u32(5), way);
		const stale = encodeConfig({ ...decodeConfig(obj.map("pp_config").lookup(u32(0)) as Uint8Array) });
		new DataView(stale.buffer).setUint32(LAYOUT.pp_config.members.src_set_mask[0], 511, true);
		obj.map("pp_config").update(u32(0), stale);
		reconcilerFor(obj).fullResync();
		expect(hashOf().setMask).toBe(1023);
		expect(hashOf().seeds).not.toEqual(first.seeds);
		expect(obj.map("pp_src_table").lookup(u32(5))?.[0]).toBe(0);
		// Another install draws other seeds.
		const other = load({ pp_src_table: 1024 });
		objects.push(other);
		reconcilerFor(other).fullResync();
		expect(decodeConfig(other.map("pp_config").lookup(u32(0)) as Uint8Array).srcHash.seeds).not.toEqual(first.seeds);
	});

	test("backend-wide limits are written as each CPU's share of them", () => {
		const obj = load();
		objects.push(obj);
		const { services, owner } = core;
		services.backends.create(owner, {
			name: "udp",
			type: "UDP",
			listeners: [{ address: "198.18.0.1", port: 30000, protocol: "UDP" }],
			protection: { level: "LOW", globalRateLimit: { requestsPerSecond: 90_000, burstSize: 180_000 } },
		});
		// Seven CPUs, whatever this machine has: the division is the control plane's.
		const n = 7;
		new Reconciler(
			core.services.db,
			core.services.config.dataplane,
			(name) => obj.map(name),
			log,
			undefined,
			n,
		).fullResync();
		const svc = [...obj.map("pp_services").keys()].map((k) =>
			decodeService(obj.map("pp_services").lookup(k) as Uint8Array),
		);
		expect(svc.length).toBeGreaterThan(0);
		for (const v of svc) {
			expect(v.globPkt).toEqual({ rate: Math.floor(90_000 / n), burst: Math.floor(180_000 / n) });
		}
	});

	test("a sequence of incremental updates and one full resync produce identical maps", () => {
		const incremental = load();
		objects.push(incremental);
		const inc = reconcilerFor(incremental);
		inc.fullResync();
		const { services, owner } = core;
		const steps: Array<() => void> = [
			() => services.ipLists.add(owner, "block", { ip: "203.0.113.0/24", reason: "x" }),
			() => services.ipLists.add(owner, "block", { ip: "2001:db8::/32" }),
			() => services.ipLists.add(owner, "allow", { ip: "203.0.113.7" }),
			() => services.ipLists.add(owner, "ban", { ip: "198.51.100.9", durationSeconds: 600 }),
			() => {
				const b = services.backends.create(owner, {
					name: "mc",
					type: "MINECRAFT_JAVA",
					protection: { level: "HIGH", perIpRateLimit: { requestsPerSecond: 50 } },
				});
				services.ipLists.add(owner, "block", { ip: "192.0.2.0/24", backendId: b.id });
				services.rules.create(owner, {
					backendId: b.id,
					name: "r1",
					match: {
						sourceIps: [{ address: "10.0.0.0", prefixLength: 8 }],
						destinationPorts: [{ start: 25565, end: 25565 }],
					},
					action: "DROP",
				});
				services.rules.create(owner, {
					backendId: b.id,
					name: "r2",
					match: { sourceIps: [{ address: "10.1.0.0", prefixLength: 16 }] },
					action: "RATE_LIMIT",
					rateLimit: { requestsPerSecond: 5 },
				});
			},
			() => services.ipLists.remove(owner, "block", "203.0.113.0/24"),
			// 4096 /24s of the summary at once, then a hole in them.
			() => services.ipLists.add(owner, "block", { ip: "172.16.0.0/12" }),
			() => services.ipLists.add(owner, "allow", { ip: "172.20.1.0/24" }),
			() => services.ipLists.add(owner, "block", { ip: "198.51.100.0/25", durationSeconds: 60 }),
			() => services.ipLists.add(owner, "block", { ip: "198.51.100.0/25", durationSeconds: 900 }),
			() => {
				const [b] = services.backends.list(owner).data;
				services.backends.setProtectionLevel(owner, b?.id as string, "UNDER_ATTACK");
				const rules = services.rules.list(owner).data;
				services.rules.reorder(owner, b?.id as string, rules.map((r) => r.id).reverse());
			},
		];
		for (const step of steps) {
			step();
			inc.sync();
		}
		const full = load();
		objects.push(full);
		reconcilerFor(full).fullResync();
		const a = snapshot(incremental);
		const b = snapshot(full);
		expect(a).toEqual(b);
		const lengths = (obj: BpfObject) => decodeConfig(obj.map("pp_config").lookup(u32(0)) as Uint8Array).prefixLengths;
		expect(lengths(incremental)).toEqual(lengths(full));
		expect(lengths(full).block).toEqual({ v4: [25, 24, 12], v6: [32] });
		// What the summaries say, read as the program reads them.
		const state = (obj: BpfObject, name: MapName, ip: string) => {
			const n = ip.split(".").reduce((a, o) => a * 256 + Number(o), 0) >>> 8;
			const w = obj.map(name).lookup(u32(n >>> 5)) as Uint8Array;
			return Number((new DataView(w.buffer).getBigUint64(0, true) >> BigInt((n & 31) * 2)) & 3n);
		};
		expect(a.pp_svc_ports?.length).toBeGreaterThan(0);
		for (const obj of [incremental, full]) {
			expect(state(obj, "pp_block_v4_sum", "172.31.255.1")).toBe(SumState.MATCH);
			expect(state(obj, "pp_block_v4_sum", "198.51.100.1")).toBe(SumState.PROBE);
			expect(state(obj, "pp_block_v4_sum", "203.0.113.1")).toBe(SumState.NONE);
			expect(state(obj, "pp_allow_v4_sum", "172.20.1.9")).toBe(SumState.MATCH);
			expect(state(obj, "pp_allow_v4_sum", "203.0.113.7")).toBe(SumState.PROBE);
		}
		expect(decodeConfig(full.map("pp_config").lookup(u32(0)) as Uint8Array).bans).toBe(true);
		expect(a.pp_block_v4?.length).toBe(3);
		expect(a.pp_services?.length).toBeGreaterThan(0);
	});

	test("the incremental list compiler always equals a full compile, and re-checks only what changed", () => {
		const { services, owner } = core;
		const lists = new ListCompiler();
		const same = () => {
			const full = compileLists(services.db);
			for (const [name, contents] of full)
				expect([...(lists.contents.get(name)?.entries() ?? [])].map(([k, e]) => `${k}=${hex(e.value)}`).sort()).toEqual(
					[...contents.entries()].map(([k, e]) => `${k}=${hex(e.value)}`).sort(),
				);
		};
		expect(lists.update(services.db).touched).toBeNull();
		for (let i = 0; i < 50; i++) services.ipLists.add(owner, "block", { ip: `10.0.${i}.0/24` });
		lists.update(services.db);
		same();
		const b = services.backends.create(owner, { name: "mc", type: "MINECRAFT_JAVA" });
		// A new backend is a new context: everything is recompiled and re-checked.
		expect(lists.update(services.db).touched).toBeNull();
		services.ipLists.add(owner, "block", { ip: "10.0.1.0/24", backendId: b.id });
		services.ipLists.add(owner, "ban", { ip: "198.51.100.9", durationSeconds: 600 });
		const one = lists.update(services.db);
		expect([...(one.touched?.values() ?? [])].reduce((n, keys) => n + keys.size, 0)).toBe(2);
		same();
		services.ipLists.add(owner, "ban", { ip: "198.51.100.9", durationSeconds: 1200 });
		services.ipLists.remove(owner, "block", "10.0.7.0/24");
		const two = lists.update(services.db);
		expect(two.touched?.get("pp_bans")?.size).toBe(1);
		expect(two.touched?.get("pp_block_v4")?.size).toBe(1);
		same();
		expect(lists.lengths().block).toEqual({ v4: [24], v6: [] });
	});

	test("a full resync removes what a re-adopted map holds but the database does not", () => {
		const obj = load();
		objects.push(obj);
		const stale = encodeLpmKey("198.51.100.0/24", 0);
		obj.map("pp_block_v4").update(stale, encodeListEntry({ expiresNs: 0n, reason: 0, entryId: 99 }));
		core.services.ipLists.add(core.owner, "block", { ip: "203.0.113.0/24" });
		reconcilerFor(obj).fullResync();
		const keys = [...obj.map("pp_block_v4").keys()].map(hex);
		expect(keys).toEqual([hex(encodeLpmKey("203.0.113.0/24", 0))]);
	});

	test("every list change bumps list_gen, so the program's cached verdicts are looked up again", () => {
		const obj = load();
		objects.push(obj);
		const rec = reconcilerFor(obj);
		rec.fullResync();
		const gen = () => decodeConfig(obj.map("pp_config").lookup(u32(0)) as Uint8Array).listGen;
		const start = gen();
		core.services.ipLists.add(core.owner, "block", { ip: "203.0.113.0/24" });
		rec.sync();
		expect(gen()).toBe(start + 1);
		core.services.backends.create(core.owner, { name: "only-services", type: "MINECRAFT_BEDROCK" });
		rec.sync();
		expect(gen()).toBe(start + 1);
		core.services.ipLists.remove(core.owner, "block", "203.0.113.0/24");
		rec.sync();
		expect(gen()).toBe(start + 2);
		const again = reconcilerFor(obj);
		again.fullResync();
		expect(gen()).toBe(start + 2);
	});

	test("a state larger than a map is refused whole: no map is changed", () => {
		const obj = load({ pp_block_v4: 16 });
		objects.push(obj);
		const rec = reconcilerFor(obj);
		rec.fullResync();
		core.services.ipLists.add(core.owner, "allow", { ip: "192.0.2.1" });
		for (let i = 0; i < 20; i++) core.services.ipLists.add(core.owner, "block", { ip: `203.0.${i}.0/24` });
		expect(() => rec.sync()).toThrow(CapacityError);
		expect([...obj.map("pp_block_v4").keys()].length).toBe(0);
		expect([...obj.map("pp_allow_v4").keys()].length).toBe(0);
	});

	test("the domain refuses an entry beyond the configured list size, and writes nothing", () => {
		core.services.config.dataplane.map_sizes.blocklist = 16;
		for (let i = 0; i < 16; i++) core.services.ipLists.add(core.owner, "block", { ip: `203.0.${i}.0/24` });
		expect(() => core.services.ipLists.add(core.owner, "block", { ip: "203.0.99.0/24" })).toThrow(/16/);
		expect(core.services.ipLists.list(core.owner, "block", { pageSize: 100 }).pagination.totalCount).toBe(16);
	});
});
