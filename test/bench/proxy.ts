// bun run bench:proxy — the proxy against a direct connection and HAProxy (TCP mode, same
// origin) in one run on loopback: bulk throughput, connection rate, added p50/p99 latency of
// small request/response exchanges at moderate load, and UDP packets per second for a
// Bedrock-sized datagram stream (direct vs proxy: HAProxy does not relay UDP). Origins, the
// proxy and HAProxy each run in their own process; the load generator is this one.
// Prints a markdown table for BENCHMARKS.md.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const HOST = "127.0.0.1";

// ---------------------------------------------------------------- child processes

async function originChild(): Promise<void> {
	const block = Buffer.alloc(64 * 1024, 0x61);
	const echo = Bun.listen<{ queue: Buffer[] }>({
		hostname: HOST,
		port: 0,
		socket: {
			open(s) {
				s.data = { queue: [] };
				s.setNoDelay(true);
			},
			data(s, d) {
				if (s.data.queue.length) {
					s.data.queue.push(Buffer.from(d));
					return;
				}
				const n = s.write(d);
				if (n < d.length) s.data.queue.push(Buffer.from(d.subarray(Math.max(n, 0))));
			},
			drain(s) {
				while (s.data.queue.length) {
					const head = s.data.queue[0] as Buffer;
					const n = s.write(head);
					if (n < head.length) {
						s.data.queue[0] = head.subarray(Math.max(n, 0));
						return;
					}
					s.data.queue.shift();
				}
			},
		},
	});
	// chargen: writes 64 KiB blocks for as long as the client reads.
	const pump = (s: import("bun").Socket<undefined>) => {
		while (s.write(block) === block.length);
	};
	const chargen = Bun.listen({ hostname: HOST, port: 0, socket: { open: pump, drain: pump, data() {} } });
	const udp = await Bun.udpSocket({
		hostname: HOST,
		port: 0,
		socket: {
			data(s, buf, port, addr) {
				try {
					s.send(buf, port, addr);
				} catch {
					// The load generator's socket is gone (ICMP unreachable surfaced on this send).
				}
			},
			error() {
				// ICMP unreachable for a load generator socket that is already closed.
			},
		},
	});
	console.log(JSON.stringify({ echo: echo.port, chargen: chargen.port, udp: udp.port }));
}

async function proxyChild(ports: { echo: number; chargen: number; udp: number }): Promise<void> {
	const { proxyCore, freePort } = await import("../helpers/proxy.ts");
	const core = await proxyCore((c) => {
		c.proxy.max_connections_per_ip = 0;
	});
	const out: Record<string, number> = {};
	for (const [name, port, type, protocol] of [
		["echo", ports.echo, "TCP", "TCP"],
		["chargen", ports.chargen, "TCP", "TCP"],
		["udp", ports.udp, "MINECRAFT_BEDROCK", "UDP"],
	] as const) {
		const listen = await freePort();
		core.services.backends.create(core.owner, {
			name,
			type,
			listeners: [{ address: HOST, port: listen, protocol }],
			healthCheck: { enabled: false },
			origins: [{ name: "o", address: HOST, port }],
		});
		out[name] = listen;
	}
	await Bun.sleep(300);
	// A normal exit on SIGTERM lets `bun --cpu-prof` write its profile when the bench ends the child.
	process.on("SIGTERM", () => process.exit(0));
	console.log(JSON.stringify(out));
}

const mode = process.argv[2];
if (mode === "origin") {
	await originChild();
} else if (mode === "proxy") {
	await proxyChild(JSON.parse(process.argv[3] as string));
} else {
	await main();
}

// ---------------------------------------------------------------- load generator

async function spawnChild(args: string[]): Promise<{ proc: import("bun").Subprocess; info: Record<string, number> }> {
	const proc = Bun.spawn([process.execPath, import.meta.path, ...args], { stdout: "pipe", stderr: "inherit" });
	const reader = (proc.stdout as ReadableStream<Uint8Array>).getReader();
	let text = "";
	while (!text.includes("\n")) {
		const { value, done } = await reader.read();
		if (done) throw new Error(`child ${args[0]} exited before reporting its ports`);
		text += new TextDecoder().decode(value);
	}
	reader.releaseLock();
	return { proc, info: JSON.parse(text.split("\n")[0] as string) };
}

function connectTo(port: number, handlers: Partial<import("bun").SocketHandler<undefined>>) {
	return Bun.connect({
		hostname: HOST,
		port,
		socket: { data() {}, ...handlers } as import("bun").SocketHandler<undefined>,
	});
}

/** Bytes per second read from the chargen through `port`, over 4 connections. */
async function bulk(port: number): Promise<number> {
	let bytes = 0;
	let counting = false;
	const sockets = await Promise.all(
		Array.from({ length: 4 }, () =>
			connectTo(port, {
				data(_s, d) {
					if (counting) bytes += d.length;
				},
			}),
		),
	);
	await Bun.sleep(500);
	counting = true;
	const t0 = performance.now();
	await Bun.sleep(SECONDS * 1000);
	const elapsed = (performance.now() - t0) / 1000;
	counting = false;
	for (const s of sockets) s.terminate();
	return bytes / elapsed;
}

/** Completed connect → 1-byte exchange → close cycles per second, 32 loops in parallel. */
async function connectionRate(port: number): Promise<number> {
	let done = 0;
	const deadline = performance.now() + SECONDS * 1000;
	const cycle = () =>
		new Promise<void>((resolve) => {
			let settled = false;
			const finish = () => {
				if (!settled) {
					settled = true;
					resolve();
				}
			};
			connectTo(port, {
				open(s) {
					s.write("x");
				},
				data(s) {
					done++;
					s.end();
					finish();
				},
				close: finish,
				connectError: finish,
				error: finish,
			}).catch(finish);
		});
	const loop = async () => {
		while (performance.now() < deadline) await cycle();
	};
	const t0 = performance.now();
	await Promise.all(Array.from({ length: 32 }, loop));
	return done / ((performance.now() - t0) / 1000);
}

/**
 * Round-trip times (ms) of 64-byte exchanges at moderate load: 8 lanes, each with one connection
 * per path, exchanging on the paths in turn every 4 ms (about 2,000 exchanges/s per path). The
 * paths are measured in lock-step so that a scheduling hiccup of the shared cores lands on all.
 */
async function latencies(ports: number[]): Promise<Array<{ p50: number; p99: number }>> {
	const samples = ports.map(() => [] as number[]);
	const payload = Buffer.alloc(64, 0x62);
	const deadline = performance.now() + SECONDS * 1000;
	const open = async (port: number) => {
		const state = { resolve: () => {}, got: 0 };
		const s = await connectTo(port, {
			data(_s, d) {
				state.got += d.length;
				if (state.got >= payload.length) {
					state.got -= payload.length;
					state.resolve();
				}
			},
		});
		s.setNoDelay(true);
		return {
			async exchange(): Promise<number> {
				const reply = new Promise<void>((r) => {
					state.resolve = r;
				});
				const t0 = performance.now();
				s.write(payload);
				await reply;
				return performance.now() - t0;
			},
			close: () => s.end(),
		};
	};
	const lane = async () => {
		const conns = await Promise.all(ports.map(open));
		let next = performance.now();
		while (performance.now() < deadline) {
			for (const [i, c] of conns.entries()) samples[i]?.push(await c.exchange());
			next += 4;
			const wait = next - performance.now();
			if (wait > 0) await Bun.sleep(wait);
		}
		for (const c of conns) c.close();
	};
	await Promise.all(Array.from({ length: 8 }, lane));
	return samples.map((xs) => {
		xs.sort((a, b) => a - b);
		const q = (p: number) => xs[Math.min(xs.length - 1, Math.floor(p * xs.length))] as number;
		return { p50: q(0.5), p99: q(0.99) };
	});
}

/** Echoed 1200-byte datagrams per second with 64 in flight. */
async function udpRate(port: number): Promise<number> {
	const datagram = Buffer.alloc(1200, 0x63);
	let echoed = 0;
	let counting = false;
	let lastEcho = performance.now();
	const sock: import("bun").udp.ConnectedSocket<"buffer"> = await Bun.udpSocket({
		connect: { hostname: HOST, port },
		socket: {
			data() {
				if (counting) echoed++;
				lastEcho = performance.now();
				sock.send(datagram);
			},
		},
	});
	// A stalled window (datagrams lost on loopback) is refilled after 50 ms of silence.
	const refill = setInterval(() => {
		if (performance.now() - lastEcho > 50) for (let i = 0; i < 64; i++) sock.send(datagram);
	}, 50);
	for (let i = 0; i < 64; i++) sock.send(datagram);
	await Bun.sleep(500);
	counting = true;
	const t0 = performance.now();
	await Bun.sleep(SECONDS * 1000);
	const rate = echoed / ((performance.now() - t0) / 1000);
	clearInterval(refill);
	sock.close();
	return rate;
}

async function main(): Promise<void> {
	if (Bun.spawnSync(["which", "haproxy"]).exitCode !== 0) {
		console.error("bench:proxy needs haproxy (apt-get install haproxy)");
		process.exit(2);
	}
	const children: import("bun").Subprocess[] = [];
	const dir = mkdtempSync(join(tmpdir(), "pp-bench-proxy-"));
	try {
		const origin = await spawnChild(["origin"]);
		children.push(origin.proc);
		const o = origin.info as { echo: number; chargen: number; udp: number };
		const proxy = await spawnChild(["proxy", JSON.stringify(o)]);
		children.push(proxy.proc);
		const p = proxy.info as { echo: number; chargen: number; udp: number };

		const haPorts = { echo: await freeTcpPort(), chargen: await freeTcpPort() };
		const cfgPath = join(dir, "haproxy.cfg");
		writeFileSync(
			cfgPath,
			[
				"global",
				"  maxconn 8000",
				`  nbthread ${process.env.BENCH_HAPROXY_THREADS ?? 1}`,
				"defaults",
				"  mode tcp",
				"  timeout connect 5s",
				"  timeout client 60s",
				"  timeout server 60s",
				...(["echo", "chargen"] as const).flatMap((n) => [
					`frontend f_${n}`,
					`  bind ${HOST}:${haPorts[n]}`,
					`  default_backend b_${n}`,
					`backend b_${n}`,
					`  server o ${HOST}:${o[n]}`,
				]),
				"",
			].join("\n"),
		);
		const haproxy = Bun.spawn(["haproxy", "-db", "-f", cfgPath], { stdout: "ignore", stderr: "inherit" });
		children.push(haproxy);
		await Bun.sleep(500);

		const paths = [
			{ name: "direct", echo: o.echo, chargen: o.chargen },
			{
				name: `HAProxy ${Bun.spawnSync(["haproxy", "-v"]).stdout.toString().split(" ")[2]} (TCP mode, nbthread ${process.env.BENCH_HAPROXY_THREADS ?? 1})`,
				echo: haPorts.echo,
				chargen: haPorts.chargen,
			},
			{ name: "PistonProtection proxy", echo: p.echo, chargen: p.chargen },
		];
		// Rounds interleave the paths so that noise from the shared cores falls on all of them; medians are reported.
		const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
		const results = paths.map(() => ({
			mbps: [] as number[],
			cps: [] as number[],
			p50: [] as number[],
			p99: [] as number[],
		}));
		for (let round = 0; round < rounds; round++) {
			// Latency first, after a full collection of the load generator's heap, so that garbage
			// from the bulk runs does not land in the latency tail.
			Bun.gc(true);
			const lat = await latencies(paths.map((p) => p.echo));
			for (const [i, path] of paths.entries()) {
				const r = results[i] as (typeof results)[0];
				r.p50.push(lat[i]?.p50 as number);
				r.p99.push(lat[i]?.p99 as number);
				Bun.gc(true);
				r.cps.push(await connectionRate(path.echo));
				Bun.gc(true);
				r.mbps.push((await bulk(path.chargen)) / 1e6);
				console.error(
					`bench:proxy round ${round + 1} ${path.name}: ${r.mbps.at(-1)?.toFixed(0)} MB/s, ${r.cps.at(-1)?.toFixed(0)} conn/s, p50 ${r.p50.at(-1)?.toFixed(3)} ms, p99 ${r.p99.at(-1)?.toFixed(3)} ms`,
				);
			}
		}
		const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
		const rows = paths.map((path, i) => {
			const r = results[i] as (typeof results)[0];
			return { name: path.name, mbps: median(r.mbps), cps: median(r.cps), p50: median(r.p50), p99: median(r.p99) };
		});
		const udpDirect = await udpRate(o.udp);
		const udpProxy = await udpRate(p.udp);

		const [direct, ha, ours] = rows as [(typeof rows)[0], (typeof rows)[0], (typeof rows)[0]];
		const pct = (a: number, b: number) => `${Math.round((100 * a) / b)}%`;
		console.log(
			`Loopback, ${SECONDS} s per measurement, median of ${rounds} interleaved rounds, one run (${new Date().toISOString().slice(0, 10)}).\n`,
		);
		console.log(
			"| path | bulk MB/s (4 conns) | connections/s (32 loops) | p50 ms | p99 ms | added p50 ms | added p99 ms |",
		);
		console.log("|---|---:|---:|---:|---:|---:|---:|");
		for (const r of rows)
			console.log(
				`| ${r.name} | ${r.mbps.toFixed(0)} | ${r.cps.toFixed(0)} | ${r.p50.toFixed(3)} | ${r.p99.toFixed(3)} | ${(r.p50 - direct.p50).toFixed(3)} | ${(r.p99 - direct.p99).toFixed(3)} |`,
			);
		console.log(
			`\nProxy vs HAProxy: throughput ${pct(ours.mbps, ha.mbps)}, connection rate ${pct(ours.cps, ha.cps)}; added p99 ${(ours.p99 - direct.p99).toFixed(3)} ms.`,
		);
		console.log(`\n| UDP, 1200-byte datagrams, 64 in flight | echoed datagrams/s |\n|---|---:|`);
		console.log(
			`| direct | ${udpDirect.toFixed(0)} |\n| PistonProtection proxy | ${udpProxy.toFixed(0)} (${pct(udpProxy, udpDirect)}) |`,
		);
	} finally {
		for (const c of children) c.kill();
		await Promise.all(children.map((c) => c.exited));
		rmSync(dir, { recursive: true, force: true });
	}
}

async function freeTcpPort(): Promise<number> {
	const l = Bun.listen({ hostname: HOST, port: 0, socket: { data() {} } });
	const port = l.port;
	l.stop(true);
	return port;
}
