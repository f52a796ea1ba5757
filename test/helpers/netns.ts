// Test hosts on this machine: a network namespace "pp-<id>" joined to the root namespace by a
// veth pair "pp-<id>h" (root side, where XDP is attached) / "pp-<id>p" (peer, in the namespace).
// Addresses come from the benchmarking ranges 198.18.0.0/15 and 2001:2::/48 and exist only here.
// Everything is removed by destroy() (tests call it in afterAll) and by an exit hook.
import { randomBytes } from "node:crypto";

export interface Topology {
	ns: string;
	hostIf: string;
	peerIf: string;
	hostV4: string;
	hostV6: string;
	/** Source addresses on the namespace side: [0] is the primary. */
	peerV4: string[];
	peerV6: string[];
	/** Runs a command inside the namespace. */
	exec(
		args: string[],
		opts?: { timeoutMs?: number; stdin?: string },
	): { exitCode: number; stdout: string; stderr: string };
	/** Runs a command inside the namespace without blocking this process (servers here keep answering). */
	run(args: string[], timeoutMs?: number): Promise<{ exitCode: number; stdout: string; stderr: string }>;
	destroy(): void;
}

function sh(args: string[], allowFail = false) {
	const p = Bun.spawnSync(args, { stdout: "pipe", stderr: "pipe" });
	if (p.exitCode !== 0 && !allowFail) throw new Error(`${args.join(" ")} failed: ${p.stderr.toString().trim()}`);
	return p;
}

const live = new Set<Topology>();
process.on("exit", () => {
	for (const t of live) t.destroy();
});
// A run stopped by a signal (a timeout, ^C) must not leave namespaces behind either.
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
	process.once(signal, () => {
		for (const t of live) t.destroy();
		process.exit(128 + (signal === "SIGINT" ? 2 : signal === "SIGTERM" ? 15 : 1));
	});
}

export function canUseNetns(): string | null {
	if (process.getuid?.() !== 0) return "needs root (network namespaces, veth, XDP)";
	if (sh(["ip", "netns", "list"], true).exitCode !== 0) return "ip netns is not available";
	return null;
}

/** Creates a namespace with a veth pair; index (0-255) keeps parallel topologies' addresses apart. */
export function createTopology(index = 0, extraSources = 3): Topology {
	const id = randomBytes(3).toString("hex");
	const ns = `pp-${id}`;
	const hostIf = `pp-${id}h`;
	const peerIf = `pp-${id}p`;
	const hostV4 = `198.18.${index}.1`;
	const hostV6 = `2001:2:0:${index.toString(16)}::1`;
	const peerV4 = Array.from({ length: 1 + extraSources }, (_, i) => `198.18.${index}.${i + 2}`);
	const peerV6 = Array.from(
		{ length: 1 + extraSources },
		(_, i) => `2001:2:0:${index.toString(16)}::${(i + 2).toString(16)}`,
	);
	const topo: Topology = {
		ns,
		hostIf,
		peerIf,
		hostV4,
		hostV6,
		peerV4,
		peerV6,
		exec(args, opts = {}) {
			const p = Bun.spawnSync(
				["timeout", String(Math.ceil((opts.timeoutMs ?? 20_000) / 1000)), "ip", "netns", "exec", ns, ...args],
				{
					stdout: "pipe",
					stderr: "pipe",
					stdin: opts.stdin !== undefined ? Buffer.from(opts.stdin) : "ignore",
				},
			);
			return { exitCode: p.exitCode ?? -1, stdout: p.stdout.toString(), stderr: p.stderr.toString() };
		},
		async run(args, timeoutMs = 20_000) {
			const p = Bun.spawn(["timeout", String(Math.ceil(timeoutMs / 1000)), "ip", "netns", "exec", ns, ...args], {
				stdout: "pipe",
				stderr: "pipe",
			});
			const [stdout, stderr] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text()]);
			return { exitCode: await p.exited, stdout, stderr };
		},
		destroy() {
			sh(["ip", "link", "del", hostIf], true);
			sh(["ip", "netns", "del", ns], true);
			live.delete(topo);
		},
	};
	live.add(topo);
	try {
		sh(["ip", "netns", "add", ns]);
		sh(["ip", "link", "add", hostIf, "type", "veth", "peer", "name", peerIf]);
		sh(["ip", "link", "set", peerIf, "netns", ns]);
		sh(["ip", "addr", "add", `${hostV4}/24`, "dev", hostIf]);
		sh(["ip", "-6", "addr", "add", `${hostV6}/64`, "dev", hostIf, "nodad"]);
		sh(["ip", "link", "set", hostIf, "up"]);
		const inNs = (a: string[]) => sh(["ip", "netns", "exec", ns, ...a]);
		for (const a of peerV4) inNs(["ip", "addr", "add", `${a}/24`, "dev", peerIf]);
		for (const a of peerV6) inNs(["ip", "-6", "addr", "add", `${a}/64`, "dev", peerIf, "nodad"]);
		inNs(["ip", "link", "set", peerIf, "up"]);
		inNs(["ip", "link", "set", "lo", "up"]);
	} catch (err) {
		topo.destroy();
		throw err;
	}
	return topo;
}
