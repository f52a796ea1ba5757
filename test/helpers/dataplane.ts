// End-to-end data-plane fixtures: a namespace topology, a daemon attached to its root-side
// veth with its own pin path, echo servers on the root side, and a client in the namespace.
import { Database } from "bun:sqlite";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { operatorActor } from "../../src/cli/context.ts";
import { DEFAULTS } from "../../src/config.ts";
import { type MapName, REASON_NAMES, type ReasonName } from "../../src/dataplane/abi.ts";
import { BpfMap } from "../../src/dataplane/libbpf.ts";
import { reasonCounters } from "../../src/dataplane/stats.ts";
import { Logger } from "../../src/log.ts";
import { createServices, type Services } from "../../src/services.ts";
import { TRIVIAL_PATH } from "../bpf/harness.ts";
import { type Daemon, isolatedEnv, ROOT, runCli, startDaemon, tempDir } from "./daemon.ts";
import { createTopology, type Topology } from "./netns.ts";

export interface Rig {
	topo: Topology;
	env: Record<string, string>;
	pinPath: string;
	dataDir: string;
	daemon: Daemon | null;
	start(): Promise<Daemon>;
	/** Domain services over the daemon's database, acting as the operator (like the CLI). */
	services(): { services: Services; actor: ReturnType<typeof operatorActor>; close(): void };
	cli(args: string[]): ReturnType<typeof runCli>;
	/** Waits until the daemon reports the database's current revisions applied to the kernel. */
	settle(timeoutMs?: number): Promise<void>;
	reasons(): Record<ReasonName, { packets: bigint; bytes: bigint }>;
	map(name: MapName): BpfMap;
	udp(
		src: string,
		dst: string,
		port: number,
		count: number,
		waitMs?: number,
		opts?: { size?: number; srcPort?: number },
	): Promise<number>;
	tcp(src: string, dst: string, port: number, waitMs?: number): Promise<string>;
	ping(src: string, dst: string, count?: number): Promise<number>;
	destroy(): Promise<void>;
}

export async function createRig(
	index: number,
	opts: { xdpMode?: "native" | "generic"; env?: Record<string, string> } = {},
): Promise<Rig> {
	const topo = createTopology(index);
	// SYN cookies leave by XDP_TX, which on a veth in native mode needs NAPI on the peer end: a
	// pass-all program there provides it (a NIC needs nothing of the kind).
	const peerProg = topo.exec([
		"ip",
		"link",
		"set",
		"dev",
		topo.peerIf,
		"xdpdrv",
		"object",
		TRIVIAL_PATH,
		"program",
		"pp_trivial_pass",
	]);
	if (peerProg.exitCode !== 0) {
		topo.destroy();
		throw new Error(`XDP on the peer veth ${topo.peerIf}: ${peerProg.stderr.trim()}`);
	}
	const dir = tempDir();
	const pinPath = `/sys/fs/bpf/pp-test-${randomBytes(4).toString("hex")}`;
	const env = isolatedEnv(dir.path, {
		PP_DATAPLANE_ENABLED: "true",
		PP_DATAPLANE_INTERFACES: topo.hostIf,
		PP_DATAPLANE_PIN_PATH: pinPath,
		PP_DATAPLANE_XDP_MODE: opts.xdpMode ?? "native",
		// The namespace's addresses are not admin networks, so nothing passes as management.
		PP_DATAPLANE_ADMIN_NETWORKS: "127.0.0.0/8",
		PP_DATAPLANE_MANAGEMENT_PORTS: "22",
		PP_SERVER_HTTPS_ENABLED: "false",
		PP_LOG_LEVEL: "debug",
		...opts.env,
	});
	const admin = runCli(["admin", "create", "--email", "owner@example.com"], { env });
	if (admin.exitCode !== 0) throw new Error(`admin create failed: ${admin.stderr}`);
	const netclient = join(ROOT, "test", "helpers", "netclient.ts");
	const rig: Rig = {
		topo,
		env,
		pinPath,
		dataDir: dir.path,
		daemon: null,
		async start() {
			rig.daemon = await startDaemon(env);
			return rig.daemon;
		},
		services() {
			const config = structuredClone(DEFAULTS);
			config.storage.data_dir = dir.path;
			const db = new Database(join(dir.path, "pistonprotection.db"));
			db.exec("PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON");
			const services = createServices(
				db,
				config,
				Logger.create("error", () => {}),
			);
			return { services, actor: operatorActor(services), close: () => db.close() };
		},
		cli: (args) => runCli(args, { env }),
		async settle(timeoutMs = 3000) {
			const db = new Database(join(dir.path, "pistonprotection.db"), { readonly: true });
			try {
				const deadline = Date.now() + timeoutMs;
				for (;;) {
					const want = Object.fromEntries(
						db
							.query<{ section: string; revision: number }, []>("SELECT section, revision FROM dataplane_revisions")
							.all()
							.map((r) => [r.section, r.revision]),
					);
					const ready = (await (await fetch(`${rig.daemon?.url}/readyz`)).json()) as {
						dataplane: { applied?: Record<string, number> };
					};
					const applied = ready.dataplane.applied ?? {};
					if (Object.entries(want).every(([k, v]) => applied[k] === v)) return;
					if (Date.now() > deadline) throw new Error(`data plane did not apply revisions ${JSON.stringify(want)}`);
					await Bun.sleep(50);
				}
			} finally {
				db.close();
			}
		},
		reasons() {
			const map = BpfMap.fromPinned(`${pinPath}/pp_reason_ctrs`);
			try {
				return reasonCounters(map);
			} finally {
				map.close();
			}
		},
		map: (name) => BpfMap.fromPinned(`${pinPath}/${name}`),
		async udp(src, dst, port, count, waitMs = 1500, opts = {}) {
			const r = await topo.run([
				"bun",
				netclient,
				"udp",
				src,
				dst,
				String(port),
				String(count),
				String(waitMs),
				String(opts.size ?? 64),
				String(opts.srcPort ?? 0),
			]);
			if (r.exitCode !== 0) throw new Error(`udp client failed: ${r.stderr}`);
			return Number(r.stdout.trim());
		},
		async tcp(src, dst, port, waitMs = 1500) {
			return (await topo.run(["bun", netclient, "tcp", src, dst, String(port), String(waitMs)])).stdout.trim();
		},
		async ping(src, dst, count = 3) {
			const r = await topo.run(["ping", "-n", "-q", "-c", String(count), "-i", "0.05", "-W", "1", "-I", src, dst]);
			const m = /(\d+) received/.exec(r.stdout);
			return m ? Number(m[1]) : 0;
		},
		async destroy() {
			if (rig.daemon) await rig.daemon.stop();
			runCli(["dataplane", "detach"], { env });
			topo.destroy();
			if (existsSync(pinPath)) rmSync(pinPath, { recursive: true, force: true });
			dir.cleanup();
		},
	};
	return rig;
}

/** Debian's hping3, or null when it is not installed. */
export const HPING3 = Bun.which("hping3") ?? (Bun.which("/usr/sbin/hping3") ? "/usr/sbin/hping3" : null);

/**
 * A spoofed SYN flood (`hping3 --flood --rand-source`) from the topology's namespace to dst:port,
 * bounded by `timeout` and a packet count.
 */
export function synFlood(topo: Topology, dst: string, port: number, seconds: number, packets: number) {
	if (!HPING3) throw new Error("hping3 is not installed");
	return topo.run(
		[
			"timeout",
			String(seconds),
			HPING3,
			"-q",
			"-S",
			"--flood",
			"--rand-source",
			"-c",
			String(packets),
			"-p",
			String(port),
			dst,
		],
		(seconds + 5) * 1000,
	);
}

/** TcpExt counters of the root namespace (ListenOverflows, ListenDrops, SyncookiesSent, …). */
export function tcpExt(): Record<string, number> {
	const lines = readFileSync("/proc/net/netstat", "utf8").split("\n");
	const i = lines.findIndex((l) => l.startsWith("TcpExt:"));
	const names = (lines[i] ?? "").split(" ").slice(1);
	const values = (lines[i + 1] ?? "").split(" ").slice(1).map(Number);
	return Object.fromEntries(names.map((n, j) => [n, values[j] ?? 0]));
}

/** Counter deltas between two reads. */
export function delta(
	before: Record<ReasonName, { packets: bigint }>,
	after: Record<ReasonName, { packets: bigint }>,
): Partial<Record<ReasonName, number>> {
	const out: Partial<Record<ReasonName, number>> = {};
	for (const r of REASON_NAMES) {
		const d = Number(after[r].packets - before[r].packets);
		if (d) out[r] = d;
	}
	return out;
}

export interface EchoServers {
	udpPort: number;
	tcpPort: number;
	close(): void;
}

/** A client that already closed answers with ICMP unreachable; that must not stop the server. */
function echoBack(s: { send(d: Buffer, p: number, a: string): unknown }, data: Buffer, port: number, address: string) {
	try {
		s.send(data, port, address);
	} catch {
		// the next datagram is answered as usual
	}
}

/** UDP and TCP echo servers on the root side of a topology (v4 and v6 addresses). */
export async function echoServers(topo: Topology): Promise<EchoServers> {
	const udp4 = await Bun.udpSocket({
		hostname: "0.0.0.0",
		socket: {
			data(s, data, port, address) {
				echoBack(s, data, port, address);
			},
			error() {
				// ICMP errors for closed clients arrive here; they are not the server's problem.
			},
		},
	});
	const udp6 = await Bun.udpSocket({
		hostname: topo.hostV6,
		port: udp4.port,
		socket: {
			data(s, data, port, address) {
				echoBack(s, data, port, address);
			},
			error() {
				// ICMP errors for closed clients arrive here; they are not the server's problem.
			},
		},
	});
	const tcp = Bun.listen({
		hostname: "::",
		port: 0,
		socket: {
			data(s, data) {
				s.write(data);
			},
		},
	});
	return {
		udpPort: udp4.port,
		tcpPort: tcp.port,
		close() {
			udp4.close();
			udp6.close();
			tcp.stop(true);
		},
	};
}
