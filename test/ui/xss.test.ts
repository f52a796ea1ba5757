// @kitajs/html escapes attributes but not text children: the XSS scanner checks that every
// dynamic text in the views is escaped (`safe`) or known to be ours.
import { expect, test } from "bun:test";
import { join } from "node:path";
import { Glob } from "bun";
import { ROOT } from "../helpers/daemon.ts";

test("no view renders unescaped dynamic text", () => {
	const files = [...new Glob("{views,src/ui}/**/*.tsx").scanSync(ROOT)].map((f) => join(ROOT, f));
	const scan = Bun.spawnSync([join(ROOT, "node_modules", ".bin", "xss-scan"), "--simplified", ...files], {
		cwd: ROOT,
		stdout: "pipe",
		stderr: "pipe",
	});
	const errors = `${scan.stdout}${scan.stderr}`.split("\n").filter((line) => / error /.test(line));
	expect(errors).toEqual([]);
}, 60_000);
