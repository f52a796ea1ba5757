// Time to apply N blocked prefixes from the database to the kernel's maps: rows written through
// the database as the API would leave them, then one full resync by the reconciler into a
// private (unpinned) load of the program. Prints a markdown table row set.
import { Database } from "bun:sqlite";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DEFAULTS } from "../../src/config.ts";
import { BpfObject } from "../../src/dataplane/libbpf.ts";
import { Reconciler } from "../../src/dataplane/reconciler.ts";
import { migrate } from "../../src/db/database.ts";
import { Logger } from "../../src/log.ts";
import { createServices } from "../../src/services.ts";

const N = Number(process.env.PP_BENCH_PREFIXES ?? 100_000);
const OBJ = join(import.meta.dir, "..", "..", "build", "bpf", "pp_xdp.o");

export async function benchApply(
	count = N,
): Promise<{ prefixes: number; insertMs: number; applyMs: number; updateMs: number }> {
	const dir = mkdtempSync(join(tmpdir(), "pp-bench-"));
	const db = new Database(join(dir, "pp.db"), { create: true, strict: true });
	db.exec("PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON");
	migrate(db);
	const config = structuredClone(DEFAULTS);
	config.storage.data_dir = dir;
	const services = createServices(
		db,
		config,
		Logger.create("error", () => {}),
	);
	const { organization } = await services.users.createOwner({
		email: "bench@example.com",
		password: "benchmark password",
		organizationName: "bench",
	});
	const t0 = performance.now();
	const insert = db.prepare(
		"INSERT INTO ip_entries (id, organization_id, list, cidr, family, created_at) VALUES (?, ?, 'block', ?, 4, ?)",
	);
	const now = new Date().toISOString();
	db.transaction(() => {
		for (let i = 0; i < count; i++) {
			// Distinct /24s spread over 10.0.0.0/8 and 100.64.0.0/10-ish space.
			const a = 10 + (i >> 16);
			insert.run(`ip_bench${i}`, organization.id, `${a}.${(i >> 8) & 255}.${i & 255}.0/24`, now);
		}
	})();
	db.prepare("UPDATE dataplane_revisions SET revision = revision + 1 WHERE section = 'lists'").run();
	const insertMs = performance.now() - t0;

	const obj = BpfObject.openMem(new Uint8Array(readFileSync(OBJ)), { noPinning: true });
	obj.objectMap("pp_block_v4").setMaxEntries(Math.max(count + 1024, 262_144));
	obj.load();
	try {
		const rec = new Reconciler(
			db,
			config.dataplane,
			(name) => obj.map(name),
			Logger.create("error", () => {}),
		);
		const t1 = performance.now();
		rec.fullResync();
		const applyMs = performance.now() - t1;
		// One more block on top of N: what an API call costs once the list is large.
		insert.run("ip_bench_extra", organization.id, "203.0.113.0/24", now);
		db.prepare("UPDATE dataplane_revisions SET revision = revision + 1 WHERE section = 'lists'").run();
		const t2 = performance.now();
		rec.sync();
		const updateMs = performance.now() - t2;
		const applied = [...obj.map("pp_block_v4").keys()].length;
		if (applied !== count + 1) throw new Error(`expected ${count + 1} entries in pp_block_v4, found ${applied}`);
		return { prefixes: count, insertMs, applyMs, updateMs };
	} finally {
		obj.close();
		db.close();
		rmSync(dir, { recursive: true, force: true });
	}
}

if (import.meta.main) {
	const r = await benchApply();
	console.log("| measurement | value | target |");
	console.log("|---|---|---|");
	console.log(
		`| apply ${r.prefixes.toLocaleString("en-US")} blocked prefixes, database → maps (full resync) | ${(r.applyMs / 1000).toFixed(2)} s | < 2 s |`,
	);
	console.log(
		`| one more block with ${r.prefixes.toLocaleString("en-US")} in place (incremental) | ${r.updateMs.toFixed(0)} ms | — |`,
	);
}
