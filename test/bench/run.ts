// bun run bench — every registered benchmark, in sequence, each in its own process (so one's
// namespaces, maps and exit hooks never meet another's). Register a bench by adding its file here.
import { join } from "node:path";

const BENCHES = ["dataplane.ts", "grpc.ts", "api-protection.ts", "proxy.ts", "telemetry.ts"];

let failed = 0;
for (const file of BENCHES) {
	console.error(`bench: ${file}`);
	const p = Bun.spawn([process.execPath, join(import.meta.dir, file)], {
		stdout: "inherit",
		stderr: "inherit",
	});
	const code = await p.exited;
	if (code !== 0) {
		console.error(`bench: ${file} exited ${code}`);
		failed++;
	}
}
process.exit(failed > 0 ? 1 : 0);
