// Compiles every XDP entry point under bpf/ (files named *.bpf.c) into build/bpf/<name>.o.
// The objects keep their BTF (-g) so the loader can pin maps by name and tests can read the ABI.
// compileBpf is also what the benchmarks build their own reference programs with.
import { mkdirSync, readdirSync } from "node:fs";
import { basename, join } from "node:path";

const root = join(import.meta.dir, "..");

/** Compiles one BPF C file with the project's flags and headers; throws when clang fails. */
export function compileBpf(source: string, out: string): void {
	const args = [
		"clang",
		"-O2",
		"-g",
		"-Wall",
		"-Werror",
		"-target",
		"bpf",
		"-mcpu=v3",
		"-D__TARGET_ARCH_x86",
		"-I/usr/include/x86_64-linux-gnu",
		`-I${join(root, "bpf")}`,
		"-c",
		source,
		"-o",
		out,
	];
	const proc = Bun.spawnSync(args, { stdout: "inherit", stderr: "inherit" });
	if (proc.exitCode !== 0) throw new Error(`clang failed for ${source}`);
}

if (import.meta.main) {
	const outDir = join(root, "build", "bpf");
	mkdirSync(outDir, { recursive: true });
	for (const file of readdirSync(join(root, "bpf")).filter((f) => f.endsWith(".bpf.c"))) {
		const out = join(outDir, `${basename(file, ".bpf.c")}.o`);
		try {
			compileBpf(join(root, "bpf", file), out);
		} catch {
			console.error(`build-bpf: clang failed for bpf/${file}`);
			process.exit(1);
		}
		console.log(`build-bpf: bpf/${file} -> ${out.slice(root.length + 1)}`);
	}
}
