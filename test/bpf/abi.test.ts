// The kernel/user ABI is written once in bpf/pp_abi.h and mirrored in src/dataplane/abi.ts;
// this compares the mirror with the BTF of the compiled object: struct sizes, member names,
// offsets and sizes, enum values, map names and each map's key and value types.
import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import {
	BTF_ENUMS,
	DEFAULT_MAX_ENTRIES,
	LAYOUT,
	MAP_NAMES,
	MAP_TYPES,
	type MapName,
	PROGRAM_NAME,
} from "../../src/dataplane/abi.ts";
import { BpfObject } from "../../src/dataplane/libbpf.ts";
import { OBJ_PATH } from "./harness.ts";

interface BtfType {
	id: number;
	kind: string;
	name: string;
	size?: number;
	type_id?: number;
	nr_elems?: number;
	members?: { name: string; type_id: number; bits_offset: number }[];
	values?: { name: string; val: number }[];
	vars?: { type_id: number }[];
}

/** Types the program uses internally; they reach BTF through its subprograms, not the ABI. */
const INTERNAL = new Set([
	"pp_pkt",
	"pp_verdict",
	"pp_tss6",
	"pp_cursor",
	"pp_vlan_hdr",
	"pp_ipv6_opt_hdr",
	"pp_ipv6_frag_hdr",
	"pp_syn_opts",
]);

function bpftool(): string | null {
	return Bun.which("bpftool") ?? (existsSync("/usr/sbin/bpftool") ? "/usr/sbin/bpftool" : null);
}

const tool = bpftool();
const skip = !existsSync(OBJ_PATH)
	? "build/bpf/pp_xdp.o missing: run `bun run build:bpf`"
	: tool === null
		? "bpftool not installed"
		: null;
if (skip) console.warn(`skipping test/bpf/abi.test.ts: ${skip}`);
const suite = skip ? describe.skip : describe;

function loadBtf(): Map<number, BtfType> {
	const out = Bun.spawnSync([tool as string, "btf", "dump", "file", OBJ_PATH, "format", "raw", "-j"]);
	if (out.exitCode !== 0) throw new Error(`bpftool failed: ${out.stderr.toString()}`);
	const types = (JSON.parse(out.stdout.toString()) as { types: BtfType[] }).types;
	return new Map(types.map((t) => [t.id, t]));
}

suite("ABI mirror (abi.ts) against the BTF of pp_xdp.o", () => {
	const btf = loadBtf();
	const all = [...btf.values()];
	const get = (id: number): BtfType => {
		const t = btf.get(id);
		if (t === undefined) throw new Error(`BTF type ${id} missing`);
		return t;
	};
	const sizeOf = (id: number): number => {
		const t = get(id);
		if (t.kind === "ARRAY") return (t.nr_elems as number) * sizeOf(t.type_id as number);
		if (t.kind === "TYPEDEF" || t.kind === "CONST" || t.kind === "VOLATILE") return sizeOf(t.type_id as number);
		if (t.kind === "PTR") return 8;
		return t.size as number;
	};
	const nameOf = (id: number): string => {
		const t = get(id);
		return t.kind === "CONST" || t.kind === "VOLATILE" ? nameOf(t.type_id as number) : t.name;
	};
	const named = (kind: string, name: string): BtfType | undefined =>
		all.find((t) => t.kind === kind && t.name === name);

	for (const [name, layout] of Object.entries(LAYOUT)) {
		test(`struct ${name} matches: size, member names, offsets and sizes`, () => {
			const s = named("STRUCT", name);
			expect(s, `struct ${name} not in BTF`).toBeDefined();
			expect(s?.size).toBe(layout.size);
			const actual = Object.fromEntries(
				(s?.members ?? []).map((m) => [m.name, [m.bits_offset / 8, sizeOf(m.type_id)]]),
			);
			expect(actual).toEqual(Object.fromEntries(Object.entries(layout.members).map(([k, v]) => [k, [...v]])));
		});
	}

	test("every ABI struct in BTF is mirrored", () => {
		const structs = all
			.filter((t) => t.kind === "STRUCT" && t.name.startsWith("pp_") && !INTERNAL.has(t.name))
			.map((t) => t.name);
		expect(structs.sort()).toEqual(Object.keys(LAYOUT).sort());
	});

	for (const [name, e] of Object.entries(BTF_ENUMS)) {
		test(`enum ${name} matches: size and every value`, () => {
			const t = named("ENUM", name);
			expect(t, `enum ${name} not in BTF`).toBeDefined();
			expect(t?.size).toBe(e.size);
			const values = Object.fromEntries((t?.values ?? []).map((v) => [v.name, v.val >>> 0]));
			expect(values).toEqual(e.values);
		});
	}

	test("every pp_ enum in BTF is mirrored", () => {
		const enums = all
			.filter((t) => t.kind === "ENUM" && t.name.startsWith("pp_") && !INTERNAL.has(t.name))
			.map((t) => t.name);
		expect(enums.sort()).toEqual(Object.keys(BTF_ENUMS).sort());
	});

	test("the map names are the ones abi.ts lists", () => {
		const sec = named("DATASEC", ".maps");
		const names = (sec?.vars ?? []).map((v) => get(v.type_id).name);
		expect(names.sort()).toEqual([...MAP_NAMES].sort());
	});

	for (const map of MAP_NAMES) {
		test(`map ${map} has the key and value types abi.ts states`, () => {
			const sec = named("DATASEC", ".maps");
			const v = (sec?.vars ?? []).map((x) => get(x.type_id)).find((x) => x.name === map) as BtfType;
			const def = get(v.type_id as number);
			const member = (m: string) => def.members?.find((x) => x.name === m);
			const typeName = (m: string) => {
				const mem = member(m);
				return mem === undefined ? null : nameOf(get(mem.type_id).type_id as number);
			};
			const expected = MAP_TYPES[map];
			if (expected === null) {
				expect(member("key")).toBeUndefined();
				expect(member("value")).toBeUndefined();
				return;
			}
			expect({ key: typeName("key"), value: typeName("value") }).toEqual(expected);
		});
	}

	test("the compiled-in max_entries are the defaults abi.ts documents", () => {
		const obj = BpfObject.openMem(readFileSync(OBJ_PATH), { noPinning: true });
		try {
			const expected: [MapName, number][] = [
				["pp_backend_ctrs", DEFAULT_MAX_ENTRIES.backends],
				["pp_global_bkt", DEFAULT_MAX_ENTRIES.backends],
				["pp_rulesets", DEFAULT_MAX_ENTRIES.rulesets],
				["pp_rule_ctrs", DEFAULT_MAX_ENTRIES.ruleSlots],
				["pp_allow_v4", DEFAULT_MAX_ENTRIES.listEntries],
				["pp_allow_v6", DEFAULT_MAX_ENTRIES.listEntries],
				["pp_block_v4", DEFAULT_MAX_ENTRIES.listEntries],
				["pp_block_v6", DEFAULT_MAX_ENTRIES.listEntries],
				["pp_bans", DEFAULT_MAX_ENTRIES.bans],
				["pp_srcset_v4", DEFAULT_MAX_ENTRIES.srcsetEntries],
				["pp_srcset_v6", DEFAULT_MAX_ENTRIES.srcsetEntries],
				["pp_services", DEFAULT_MAX_ENTRIES.services],
				["pp_svc_slots", DEFAULT_MAX_ENTRIES.services * 2 + 2],
				["pp_src_limits", DEFAULT_MAX_ENTRIES.srcLimits],
				["pp_src_table", DEFAULT_MAX_ENTRIES.srcSets],
				["pp_mgmt_v4", DEFAULT_MAX_ENTRIES.mgmtEntries],
				["pp_mgmt_v6", DEFAULT_MAX_ENTRIES.mgmtEntries],
				["pp_events", DEFAULT_MAX_ENTRIES.eventsBytes],
				["pp_l7_cfgs", DEFAULT_MAX_ENTRIES.backends],
				["pp_l7_sessions", DEFAULT_MAX_ENTRIES.l7Sessions],
				["pp_mc_syns", DEFAULT_MAX_ENTRIES.mcFlows],
				["pp_mc_flows", DEFAULT_MAX_ENTRIES.mcFlows],
				["pp_dyn_bans", DEFAULT_MAX_ENTRIES.dynBans],
			];
			for (const [name, n] of expected) expect([name, obj.objectMap(name).maxEntries]).toEqual([name, n]);
		} finally {
			obj.close();
		}
	});

	test("the entry point is named as abi.ts says", () => {
		expect(named("FUNC", PROGRAM_NAME)).toBeDefined();
	});
});
