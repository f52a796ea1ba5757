// bun test/bench/telemetry.ts — (1) the collector's CPU per second of wall time with 50 backends
// and 1,000 rules, reading the real program's maps (root; the object is loaded and pinned under a
// temporary path, attached to no interface), with 10,000 sources in the source table; (2)
// GET /v1/metrics/timeseries latency over 30 days of MINUTE rollups for 50 backends (2.16 million
// rows, plus the coarser granularities). Prints markdown tables.
import { rmSync } from "node:fs";
import { join } from "node:path";
import { decodeConfig, encodeSrcKey, LAYOUT, u32 } from "../../src/dataplane/abi.ts";
import { Loader } from "../../src/dataplane/loader.ts";
import { Reconciler } from "../../src/dataplane/reconciler.ts";
import { srcSlot } from "../../src/dataplane/src-table.ts";
import { Logger } from "../../src/log.ts";
import { bucketOf, GRANULARITIES, type Granularity } from "../../src/telemetry/rollups.ts";
import { mapSource } from "../../src/telemetry/source.ts";
import { testCore } from "../helpers/app.ts";

const SECONDS = Number(process.env.BENCH_SECONDS ?? "30");
const BACKENDS = 50;
const RULES = 1000;
const SOURCES = 10_000;
const DAYS = 30;

const core = await testCore();
const log = Logger.create("error", () => {});
core.config.limits.max_backends = 1000;
core.config.limits.max_filter_rules = 10_000;
core.config.dataplane.enabled = true;
core.config.dataplane.pin_path = `/sys/fs/bpf/pp-bench-telemetry-${process.pid}`;
core.services.organizations.update(core.owner, core.organization.id, { tier: "ENTERPRISE" });

const ids: string[] = [];
for (let i = 0; i < BACKENDS; i++)
	ids.push(
		core.services.backends.create(core.owner, {
			name: `b${i}`,
			type: "UDP",
			listeners: [{ address: "198.18.200.1", port: 20000 + i, protocol: "UDP" }],
			protection: { level: "LOW" },
		}).id,
	);
for (let i = 0; i < RULES; i++)
	core.services.rules.create(core.owner, {
		backendId: ids[i % BACKENDS] as string,
		name: `r${i}`,
		priority: i,
		match: { protocols: [i % 2 ? "UDP" : "TCP"] },
		action: "DROP",
	});

function cpuMs(): number {
	const u = process.cpuUsage();
	return (u.user + u.system) / 1000;
}

const loader = new Loader(core.config.dataplane, log);
try {
	await loader.load();
	const map = (name: Parameters<typeof loader.loaded.map>[0]) => loader.loaded.map(name);
	new Reconciler(core.services.db, core.config.dataplane, map, log).fullResync();
	// 10,000 sources spread over the backends, in the ways the kernel would have given them.
	const table = map("pp_src_table");
	const hash = decodeConfig(map("pp_config").lookup(u32(0)) as Uint8Array).srcHash;
	const backendIndexes = core.services.db
		.query<{ dp_index: number }, []>("SELECT dp_index FROM backends ORDER BY dp_index")
		.all()
		.map((r) => r.dp_index);
	const WAY = LAYOUT.pp_src_way;
	for (let i = 0; i < SOURCES; i++) {
		const backend = backendIndexes[i % backendIndexes.length] as number;
		const addr = `100.${64 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`;
		const { set, tag } = srcSlot(hash, backend, addr);
		const bytes = table.lookup(u32(set)) as Uint8Array;
		const dv = new DataView(bytes.buffer, bytes.byteOffset);
		const w = [0, 1, 2, 3].find((n) => dv.getUint32(n * WAY.size + WAY.members.tag[0], true) === 0);
		if (w === undefined) continue;
		const at = w * WAY.size;
		dv.setUint32(at + WAY.members.tag[0], tag, true);
		bytes.set(encodeSrcKey(backend, addr), at + WAY.members.key[0]);
		const st = at + WAY.members.st[0];
		dv.setBigUint64(st + LAYOUT.pp_src_state.members.packets[0], BigInt(1000 + i), true);
		dv.setBigUint64(st + LAYOUT.pp_src_state.members.bytes[0], BigInt(100_000 + i), true);
		table.update(u32(set), bytes);
	}
	const telemetry = core.services.telemetry;
	telemetry.attach(mapSource(map));
	core.services.setCounterView(telemetry);

	const rows: string[] = [];
	for (const [label, ruleSeconds, scanSeconds] of [
		["defaults (rules every 60 s, sources every 5 s)", 60, 5],
		["rules every second, sources every 5 s", 1, 5],
		["rules and sources every second", 1, 1],
	] as const) {
		core.config.stats.rule_sample_seconds = ruleSeconds;
		core.config.telemetry.source_scan_seconds = scanSeconds;
		const ticks: number[] = [];
		const start = Date.now();
		const cpu0 = cpuMs();
		// The collector's own 1 s cadence, timed tick by tick.
		for (let t = 0; t < SECONDS; t++) {
			const before = performance.now();
			telemetry.tick(Date.now());
			ticks.push(performance.now() - before);
			await Bun.sleep(Math.max(0, start + (t + 1) * 1000 - Date.now()));
		}
		const wall = (Date.now() - start) / 1000;
		const cpu = cpuMs() - cpu0;
		ticks.sort((a, b) => a - b);
		rows.push(
			`| ${label} | ${(cpu / wall).toFixed(1)} ms (${((cpu / wall / 1000) * 100).toFixed(2)}% of one core) | ${ticks[Math.floor(ticks.length / 2)]?.toFixed(2)} | ${ticks.at(-1)?.toFixed(2)} |`,
		);
	}
	console.log(
		`\n### Collector CPU (${BACKENDS} backends, ${RULES} rules, ${SOURCES} sources in the source table, ${SECONDS} s each)\n`,
	);
	console.log("| schedule | CPU per second of wall time | tick p50 ms | tick max ms |");
	console.log("|---|---:|---:|---:|");
	for (const r of rows) console.log(r);
	telemetry.detach();
} finally {
	loader.close();
	rmSync(core.config.dataplane.pin_path, { recursive: true, force: true });
}

// 30 days of MINUTE rollups (and the coarser ones) for every backend, written directly, every second
// of them measured by the kernel (kernel_seconds), as the collector writes them with the data plane on.
const db = core.services.db;
const now = bucketOf("MINUTE", Date.now());
const start = now - DAYS * 86_400_000;
const insert = db.prepare(
	`INSERT INTO traffic_rollups (granularity, backend_id, organization_id, bucket, seconds, rx_packets, rx_bytes,
		pass_packets, pass_bytes, drop_packets, drop_bytes, peak_pps, peak_bps, connections_max, connections_sum,
		connections_seconds, kernel_seconds) VALUES (?, ?, ?, ?, 60, ?, ?, ?, ?, ?, ?, ?, ?, NULL, 0, 0, 60)
	 ON CONFLICT (granularity, backend_id, bucket) DO UPDATE SET seconds = seconds + 60,
		kernel_seconds = kernel_seconds + 60, rx_packets = rx_packets + excluded.rx_packets`,
);
const fillStart = performance.now();
for (const id of ids) {
	db.transaction(() => {
		for (let t = start; t < now; t += 60_000) {
			const pps = 1000 + ((t / 60_000) % 97);
			for (const g of GRANULARITIES as readonly Granularity[])
				insert.run(
					g,
					id,
					core.organization.id,
					bucketOf(g, t),
					pps * 60,
					pps * 6000,
					pps * 60,
					pps * 6000,
					0,
					0,
					pps,
					pps * 100,
				);
		}
	})();
}
const rowCount = db.query<{ n: number }, []>("SELECT COUNT(*) AS n FROM traffic_rollups").get()?.n;
const dbFile = Bun.file(join(core.config.storage.data_dir, "pp.db")).size;
console.log(
	`\n### timeseries latency (${rowCount} rollup rows, ${(dbFile / 1e6).toFixed(0)} MB; filled in ${((performance.now() - fillStart) / 1000).toFixed(0)} s)\n`,
);
console.log("| query | points | p50 ms | p95 ms |");
console.log("|---|---:|---:|---:|");
const key = core.key(["read"]);
const iso = (t: number) => new Date(t).toISOString();
for (const [label, q] of [
	[
		"one backend, last hour, MINUTE",
		`backendId=${ids[0]}&from=${iso(now - 3_600_000)}&to=${iso(now)}&granularity=MINUTE`,
	],
	[
		"one backend, last day, MINUTE",
		`backendId=${ids[0]}&from=${iso(now - 86_400_000)}&to=${iso(now)}&granularity=MINUTE`,
	],
	["one backend, 30 days, MINUTE", `backendId=${ids[0]}&from=${iso(start)}&to=${iso(now)}&granularity=MINUTE`],
	["one backend, 30 days, HOUR", `backendId=${ids[0]}&from=${iso(start)}&to=${iso(now)}&granularity=HOUR`],
	["organization (50 backends), last day, MINUTE", `from=${iso(now - 86_400_000)}&to=${iso(now)}&granularity=MINUTE`],
	["organization (50 backends), 30 days, HOUR", `from=${iso(start)}&to=${iso(now)}&granularity=HOUR`],
] as const) {
	const times: number[] = [];
	let points = 0;
	for (let i = 0; i < 21; i++) {
		const t0 = performance.now();
		const res = await core.request(`/v1/metrics/timeseries?metrics=requests_per_second&${q}`, { key });
		const body = (await res.json()) as { series: Array<{ points: unknown[] }> };
		times.push(performance.now() - t0);
		if (res.status !== 200) throw new Error(`${label}: ${res.status} ${JSON.stringify(body)}`);
		points = body.series[0]?.points.length ?? 0;
	}
	times.sort((a, b) => a - b);
	console.log(`| ${label} | ${points} | ${times[10]?.toFixed(1)} | ${times[19]?.toFixed(1)} |`);
}
core.close();
