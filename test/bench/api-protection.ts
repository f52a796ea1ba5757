// bun test/bench/api-protection.ts (root, after `bun run build:bpf`): the protection API against
// a daemon attached to a veth (rig index 22). Measures
//  - POST /v1/ips/block answered → first packet of a steady stream dropped in the kernel;
//  - POST …/protection/level answered → first packet rate-limited;
//  - bulk creation of 10,000 rules' worth of prefixes and of 100,000 blocked addresses through the
//    bulk endpoints, until the kernel holds them, with the daemon's peak memory (VmHWM).
// Latency is measured on the kernel's maps (polled every 0.5 ms after the answer), the packets'
// fate is checked on the reason counters while a stream runs. Prints a markdown table.
// `stream` mode is the sender run inside the namespace.
import { readFileSync } from "node:fs";
import { decodeService, encodeLpmKey, encodeServiceKey, IPPROTO, Level, type Reason } from "../../src/dataplane/abi.ts";
import { BpfMap } from "../../src/dataplane/libbpf.ts";
import { reasonCounters } from "../../src/dataplane/stats.ts";
import { createRig } from "../helpers/dataplane.ts";
import { canUseNetns } from "../helpers/netns.ts";

if (process.argv[2] === "stream") {
	// stream <src> <dst> <port> <ms>: one datagram per millisecond for ms milliseconds (sleeping
	// between sends, so the sender does not take a core from the daemon on a 2-core machine).
	const [src, dst, port, ms] = process.argv.slice(3) as [string, string, string, string];
	const socket = await Bun.udpSocket({ hostname: src });
	const payload = Buffer.alloc(64, 0x61);
	const end = performance.now() + Number(ms);
	for (let i = 0; performance.now() < end && i < 1_000_000; i++) {
		socket.send(payload, Number(port), dst);
		await Bun.sleep(1);
	}
	socket.close();
	process.exit(0);
}

const skip = canUseNetns();
if (skip) {
	console.error(`api-protection bench skipped: ${skip}`);
	process.exit(0);
}

const rig = await createRig(22);
const daemon = await rig.start();
const out = rig.cli(["apikey", "create", "--name", "bench", "--permissions", "read,write,delete,admin"]);
const key = out.stdout.trim().split("\n").pop() as string;
const api = async (path: string, method = "GET", body?: unknown) => {
	const res = await fetch(`${daemon.url}${path}`, {
		method,
		headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
		body: body === undefined ? undefined : JSON.stringify(body),
	});
	if (res.status >= 400) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
	return res.status === 204 ? null : await res.json();
};
const vmHwm = () => Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${daemon.pid}/status`, "utf8"))?.[1] ?? 0) / 1024;
const reasons = BpfMap.fromPinned(`${rig.pinPath}/pp_reason_ctrs`);
const counter = (reason: keyof typeof Reason) => reasonCounters(reasons)[reason as "BLOCK"].packets;

const PORT = 40_000;
const startHwm = vmHwm();
const rows: string[][] = [];
try {
	const backend = await api("/v1/backends", "POST", {
		name: "bench",
		type: "UDP",
		listeners: [{ address: rig.topo.hostV4, port: PORT, protocol: "UDP" }],
		protection: { level: "OFF", perIpRateLimit: { requestsPerSecond: 5, burstSize: 5 } },
	});
	await rig.settle();

	/** Starts a stream from src, runs action, and returns ms from action's answer to the counter moving. */
	/**
	 * Runs action while the namespace sends a steady stream; returns ms from action's answer
	 * until the kernel holds the change (ready() polled every 0.5 ms), and whether the stream's
	 * packets were then counted under reason.
	 */
	const measure = async (
		src: string,
		reason: keyof typeof Reason,
		action: () => Promise<unknown>,
		ready: () => boolean,
	) => {
		const sender = rig.topo.run(
			["bun", import.meta.path, "stream", src, rig.topo.hostV4, String(PORT), "3000"],
			10_000,
		);
		await Bun.sleep(1000);
		const before = counter(reason);
		await action();
		const answered = performance.now();
		let ms = Number.NaN;
		for (let i = 0; i < 4000 && performance.now() - answered < 2000; i++) {
			if (ready()) {
				ms = performance.now() - answered;
				break;
			}
			await Bun.sleep(0.5);
		}
		await sender;
		return { ms, effective: counter(reason) > before };
	};
	const blockMap = BpfMap.fromPinned(`${rig.pinPath}/pp_block_v4`);
	const servicesMap = BpfMap.fromPinned(`${rig.pinPath}/pp_services`);
	const serviceKey = encodeServiceKey({ addr: rig.topo.hostV4, port: PORT, proto: IPPROTO.UDP });
	const levelIs = (level: number) => {
		const v = servicesMap.lookup(serviceKey);
		return v !== null && decodeService(v).level === level;
	};

	const blockMs: number[] = [];
	const levelMs: number[] = [];
	let effective = true;
	for (let round = 0; round < 5; round++) {
		const src = rig.topo.peerV4[round % 4] as string;
		const key = encodeLpmKey(`${src}/32`, 0);
		const b = await measure(
			src,
			"BLOCK",
			() => api("/v1/ips/block", "POST", { ip: src, reason: "bench" }),
			() => blockMap.lookup(key) !== null,
		);
		blockMs.push(b.ms);
		await api(`/v1/ips/block/${src}`, "DELETE");
		await rig.settle();
		const l = await measure(
			src,
			"RATELIMIT",
			() => api(`/v1/backends/${backend.id}/protection/level`, "POST", { level: "LOW" }),
			() => levelIs(Level.LOW),
		);
		levelMs.push(l.ms);
		effective &&= b.effective && l.effective;
		await api(`/v1/backends/${backend.id}/protection/level`, "POST", { level: "OFF" });
		await rig.settle();
	}
	blockMap.close();
	servicesMap.close();
	const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
	const fmt = (xs: number[]) => `${med(xs).toFixed(2)} (${Math.min(...xs).toFixed(2)}–${Math.max(...xs).toFixed(2)})`;
	rows.push(["POST /v1/ips/block answered → entry in the kernel's block map (ms, median of 5, range)", fmt(blockMs)]);
	rows.push(["POST …/protection/level LOW answered → service entry at LOW in the kernel (ms)", fmt(levelMs)]);
	rows.push(["the stream's packets were then dropped / rate-limited in every round", effective ? "yes" : "no"]);

	// 10,000 prefixes in 50 rules of 200 prefixes each (64 rules per backend, 64 source sets).
	const rules = Array.from({ length: 50 }, (_, r) => ({
		backendId: backend.id,
		name: `bulk ${r}`,
		action: "DROP",
		match: {
			sourceIps: Array.from({ length: 200 }, (_, i) => ({ address: `10.${r}.${i}.0`, prefixLength: 24 })),
		},
	}));
	let t = performance.now();
	await api("/v1/filters/bulk", "POST", { rules });
	const rulesAnswered = performance.now() - t;
	await rig.settle(60_000);
	const rulesApplied = performance.now() - t;
	const afterRules = vmHwm();
	rows.push([
		"10,000 rule prefixes (50 rules) via POST /v1/filters/bulk: answered / in the kernel (ms)",
		`${rulesAnswered.toFixed(0)} / ${rulesApplied.toFixed(0)}`,
	]);

	// 100,000 blocked addresses in 5 bulk requests of 20,000 (each under the 1 MiB body limit).
	t = performance.now();
	for (let chunk = 0; chunk < 5; chunk++) {
		const entries = Array.from({ length: 20_000 }, (_, i) => {
			const n = chunk * 20_000 + i;
			return { ip: `100.${64 + (n >> 16)}.${(n >> 8) & 255}.${n & 255}` };
		});
		await api("/v1/ips/block/bulk", "POST", { entries });
	}
	const ipsAnswered = performance.now() - t;
	await rig.settle(120_000);
	const ipsApplied = performance.now() - t;
	const blocked = [...BpfMap.fromPinned(`${rig.pinPath}/pp_block_v4`).keys()].length;
	rows.push([
		"100,000 blocked IPs via 5 × POST /v1/ips/block/bulk: answered / in the kernel (ms)",
		`${ipsAnswered.toFixed(0)} / ${ipsApplied.toFixed(0)} (${blocked} map entries)`,
	]);
	rows.push([
		"daemon peak memory (VmHWM, MiB): at start / after the rules / after the 100k IPs",
		`${startHwm.toFixed(0)} / ${afterRules.toFixed(0)} / ${vmHwm().toFixed(0)}`,
	]);
} finally {
	reasons.close();
	await rig.destroy();
}
console.log("| measurement | result |\n|---|---|");
for (const [k, v] of rows) console.log(`| ${k} | ${v} |`);
