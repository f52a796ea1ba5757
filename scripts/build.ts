// bun run build: BPF objects with clang, then one self-contained executable with
// `bun build --compile`. Migrations, BPF objects, views and static assets are imported by the
// source with import attributes, so the bundler embeds them; nothing is read from the tree at run time.
import { join } from "node:path";
import pkg from "../package.json" with { type: "json" };

const root = join(import.meta.dir, "..");
const run = (args: string[]) => {
	const proc = Bun.spawnSync(args, {
		cwd: root,
		stdout: "inherit",
		stderr: "inherit",
	});
	if (proc.exitCode !== 0) {
		console.error(`build: ${args.join(" ")} failed`);
		process.exit(1);
	}
};

run(["bun", "scripts/build-bpf.ts"]);
const commit = Bun.spawnSync(["git", "rev-parse", "--short", "HEAD"], {
	cwd: root,
	stdout: "pipe",
	stderr: "ignore",
});
const version = `${pkg.version}${commit.exitCode === 0 ? `+${commit.stdout.toString().trim()}` : ""}`;
run([
	"bun",
	"build",
	"--compile",
	"--minify-syntax",
	"--minify-whitespace",
	`--define=PP_BUILD_VERSION=${JSON.stringify(version)}`,
	"src/main.ts",
	"--outfile",
	"dist/pistonprotection",
]);
console.log(`build: dist/pistonprotection ${version}`);
