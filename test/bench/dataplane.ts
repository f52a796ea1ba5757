// bun run bench:dataplane — the data plane's tables from one run, as markdown:
//   1. ns per packet by verdict path (dataplane-prog.ts, BPF_PROG_TEST_RUN, in its own process);
//   2. live drop rate on a veth pair: pp_xdp vs trivial XDP_DROP vs nftables (live.ts);
//   3. time to apply 100k blocked prefixes from the database to the maps (apply.ts);
//   4. ns per packet of the game-protocol checks (dataplane-prog.ts --game);
//   5. live answer rate of spoofed SYNs: pp_xdp's XDP SYN cookies vs trivial XDP_DROP/XDP_TX (live.ts --syn).
// Needs root and `bun run build:bpf`; skips with a reason otherwise. Bounded to about three minutes.
import { join } from "node:path";
import { skipReason } from "../bpf/harness.ts";
import { benchApply } from "./apply.ts";
import {
	benchLive,
	benchLiveSyn,
	GAME_TABLE_MARK,
	LIVE_DEFAULTS,
	liveSkipReason,
	liveTable,
	synTable,
} from "./live.ts";

const PROG_BUDGET_S = 60;

function section(title: string, body: string): void {
	console.log(`### ${title}\n\n${body.trim()}\n`);
}

/** The per-path table and the game-protocol table, from one dataplane-prog.ts run. */
async function progTables(): Promise<[string, string]> {
	const p = Bun.spawn(
		[process.execPath, join(import.meta.dir, "dataplane-prog.ts"), "--budget-s", String(PROG_BUDGET_S), "--game"],
		{ stdout: "pipe", stderr: "inherit" },
	);
	const out = await new Response(p.stdout).text();
	if ((await p.exited) !== 0) throw new Error("dataplane-prog.ts failed");
	const [main = "", game = ""] = out.split(GAME_TABLE_MARK);
	return [main, game];
}

async function applyTable(): Promise<string> {
	const r = await benchApply();
	const n = r.prefixes.toLocaleString("en-US");
	return [
		"| measurement | value | target |",
		"|---|---:|---|",
		`| insert ${n} block rows (SQLite, one transaction) | ${(r.insertMs / 1000).toFixed(2)} s | — |`,
		`| apply ${n} blocked prefixes, database → maps (full resync) | ${(r.applyMs / 1000).toFixed(2)} s | < 2 s |`,
		`| one more block with ${n} in place (incremental sync) | ${r.updateMs.toFixed(0)} ms | — |`,
	].join("\n");
}

export async function benchDataplane(): Promise<void> {
	const skip = skipReason() ?? liveSkipReason();
	if (skip) {
		console.error(`bench:dataplane skipped: ${skip}`);
		return;
	}
	const t0 = performance.now();
	const [prog, game] = await progTables();
	section("Cost per packet (BPF_PROG_TEST_RUN)", prog);
	section("Live drop rate (veth pair, 100k blocked prefixes)", liveTable(await benchLive(LIVE_DEFAULTS)));
	section("Time to apply 100k blocked prefixes", await applyTable());
	section("Game protocols: cost per packet (BPF_PROG_TEST_RUN)", game);
	section("SYN flood: live answer rate (veth pair)", synTable(await benchLiveSyn(LIVE_DEFAULTS)));
	console.error(`bench:dataplane: ${((performance.now() - t0) / 1000).toFixed(0)} s`);
}

if (import.meta.main) await benchDataplane();
