// bun run test: every quality gate and every suite, one summary line at the end:
// "N passed, N failed, N skipped". Gates (tsc, biome, shellcheck, unit verification, build)
// count as one test each; bun test's own counts are added for the suites.
import { join } from "node:path";

const root = join(import.meta.dir, "..");
const totals = { passed: 0, failed: 0, skipped: 0 };
const failures: string[] = [];

function gate(name: string, args: string[]): boolean {
	const started = performance.now();
	const proc = Bun.spawnSync(args, { cwd: root, stdout: "pipe", stderr: "pipe" });
	const ok = proc.exitCode === 0;
	const ms = Math.round(performance.now() - started);
	console.log(`${ok ? "(pass)" : "(fail)"} gate: ${name} [${ms}ms]`);
	if (!ok) {
		process.stdout.write(proc.stdout.toString());
		process.stdout.write(proc.stderr.toString());
		failures.push(`gate: ${name}`);
	}
	totals[ok ? "passed" : "failed"]++;
	return ok;
}

const onlySuites = process.argv.includes("--suites-only");
if (!onlySuites) {
	gate("tsc --noEmit", ["./node_modules/.bin/tsc", "--noEmit", "-p", "."]);
	gate("biome check", ["./node_modules/.bin/biome", "check", "."]);
	gate("shellcheck", [
		"shellcheck",
		"install.sh",
		"scripts/deps.sh",
		"scripts/test.sh",
		"scripts/verify-unit.sh",
		".ci/run",
	]);
	gate("buf lint", ["./node_modules/.bin/buf", "lint"]);
}
const built = gate("bun run build", ["bun", "run", "build"]);
// verify needs the unit's ExecStart binary to exist, so it runs against the fresh build.
if (!onlySuites) {
	if (built) gate("systemd-analyze verify", ["bash", "scripts/verify-unit.sh"]);
	else {
		console.log("(fail) gate: systemd-analyze verify [needs the build]");
		failures.push("gate: systemd-analyze verify");
		totals.failed++;
	}
}

if (built) {
	// Files run one at a time: data-plane suites attach XDP to their own veths and must not overlap.
	const files = process.argv.slice(2).filter((a) => !a.startsWith("--"));
	const proc = Bun.spawn(["bun", "test", "--timeout", "120000", ...(files.length ? files : ["test/"])], {
		cwd: root,
		stdout: "inherit",
		stderr: "pipe",
	});
	let output = "";
	const decoder = new TextDecoder();
	for await (const chunk of proc.stderr) {
		const text = decoder.decode(chunk, { stream: true });
		output += text;
		process.stderr.write(text);
	}
	await proc.exited;
	const count = (word: string) => Number(new RegExp(`^\\s*(\\d+) ${word}$`, "m").exec(output)?.[1] ?? 0);
	totals.passed += count("pass");
	totals.failed += count("fail");
	totals.skipped += count("skip");
	for (const m of output.matchAll(/^\(fail\) (.+?)(?: \[[\d.]+m?s\])?$/gm)) failures.push(m[1] as string);
	if (proc.exitCode !== 0 && count("fail") === 0) {
		totals.failed++;
		failures.push(`bun test exited with ${proc.exitCode}`);
	}
}

if (failures.length) {
	console.log("\nFailed:");
	for (const f of [...new Set(failures)]) console.log(`  ${f}`);
}
console.log(`\n${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped`);
process.exit(totals.failed > 0 ? 1 : 0);
