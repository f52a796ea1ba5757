// Packet generator of the live drop-rate bench: runs inside the generator's network namespace
// (`ip netns exec pp-gen-… bun test/bench/live-gen.ts …`, as setns is out of reach from Bun) and
// drives build/bench/pp_livegen.o with BPF_PROG_TEST_RUN in live-frames mode, which redirects
// every frame out of the namespace's veth toward the device under test. Runs until the time or
// frame budget is spent. Prints `ready` once set up, then one JSON line: frames, elapsed ns, ns/frame.
//
//   bun test/bench/live-gen.ts --ifname pp-…g --dst-mac 02:… [--seconds 6] [--max-frames N] [--prefixes N]
//     [--hosts 1..254]   (source host bytes per prefix: 254 = spoofed spread, 1 = one source per prefix)
//     [--syn]            (TCP SYNs with Linux's options to SYN_PORT instead of UDP to GAME_PORT)
//
// Also exports what the bench and the generator must agree on: the blocked prefixes and the
// frame template.
import { readFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { u32 } from "../../src/dataplane/abi.ts";
import { BPF_F_TEST_XDP_LIVE_FRAMES, BpfObject } from "../../src/dataplane/libbpf.ts";
import { buildPacket, linuxSynOptions, TCP_SYN } from "../helpers/packets.ts";

export const GEN_OBJ = join(import.meta.dir, "..", "..", "build", "bench", "pp_livegen.o");
export const GAME_PORT = 19132;
/** The TCP service port of the SYN frames (--syn). */
export const SYN_PORT = 25565;
/** What Linux puts in a SYN (timestamp value 1). */
export const LINUX_SYN_OPTIONS = linuxSynOptions(1);
/** The service address; it exists only in the frames (nothing in the root namespace routes it). */
export const SERVICE_ADDR = "198.19.255.1";
/** Frames per BPF_PROG_TEST_RUN call: about 0.1–0.5 s each, so the time budget is kept closely. */
const CHUNK = 1_000_000;
const BATCH = 64;

/**
 * n distinct /24 prefixes as a.b.c.0 (deterministic), spread over public unicast space away from
 * the ranges this bench or the tests use (10/8, 100.64/10, 127/8, 169.254/16, 172.16/12,
 * 192.168/16, 198.18/15, 203.0.113/24) and the source sets of the rules (20–83.x).
 */
export function blockedPrefixes(n: number): number[] {
	const seen = new Set<number>();
	const out: number[] = [];
	let x = 0x2545f491;
	while (out.length < n) {
		x = (Math.imul(x, 1103515245) + 12345) >>> 0;
		const a = 1 + ((x >>> 24) % 223);
		if ((a >= 20 && a <= 83) || [10, 100, 127, 169, 172, 192, 198, 203].includes(a)) continue;
		const base = ((a << 24) | (x & 0x00ffff00)) >>> 0;
		if (seen.has(base)) continue;
		seen.add(base);
		out.push(base);
	}
	return out;
}

export function prefixCidr(base: number): string {
	return `${base >>> 24}.${(base >>> 16) & 255}.${(base >>> 8) & 255}.0/24`;
}

function parseMac(mac: string): number[] {
	const bytes = mac.split(":").map((h) => Number.parseInt(h, 16));
	if (bytes.length !== 6 || bytes.some((b) => !(b >= 0 && b <= 255))) throw new RangeError(`bad MAC ${mac}`);
	return bytes;
}

/**
 * The frame the generator sends, its IPv4 source and L4 source port rewritten per frame.
 * udp: 60 bytes (64 on the wire with the FCS) to the game port, UDP checksum 0 (none, legal for IPv4).
 * syn: a 74-byte TCP SYN (78 on the wire) to SYN_PORT with LINUX_SYN_OPTIONS. The generator also
 * writes 0 to bytes 6–7 of the L4 header (the UDP checksum), which in TCP are the low half of the
 * sequence number: the template's is already 0 there, so the frame only changes where a spoofed
 * SYN would. The TCP checksum is then stale; XDP SYN cookies do not check it (pp_syncookie.h).
 */
export function frameTemplate(srcMac: string, dstMac: string, kind: "udp" | "syn" = "udp"): Uint8Array {
	const f =
		kind === "syn"
			? buildPacket({
					src: "1.0.0.1",
					dst: SERVICE_ADDR,
					l4: {
						proto: "tcp",
						sport: 40000,
						dport: SYN_PORT,
						flags: TCP_SYN,
						seq: 0x5eed0000,
						options: LINUX_SYN_OPTIONS,
					},
				})
			: buildPacket({
					src: "1.0.0.1",
					dst: SERVICE_ADDR,
					l4: { proto: "udp", sport: 40000, dport: GAME_PORT },
					payload: 18,
				});
	f.set(parseMac(dstMac), 0);
	f.set(parseMac(srcMac), 6);
	if (kind === "udp") {
		f[40] = 0;
		f[41] = 0;
	}
	return f;
}

function sysfs(ifname: string, attr: string): string {
	return readFileSync(`/sys/class/net/${ifname}/${attr}`, "utf8").trim();
}

export interface GenResult {
	frames: number;
	elapsedNs: number;
	/** Generator cost per frame as the kernel measured it (program + redirect + veth enqueue). */
	nsPerFrame: number;
}

function generate(opts: {
	ifname: string;
	dstMac: string;
	seconds: number;
	maxFrames: number;
	prefixes: number;
	hosts: number;
	syn: boolean;
}) {
	const ifindex = Number(sysfs(opts.ifname, "ifindex"));
	const obj = BpfObject.openMem(new Uint8Array(readFileSync(GEN_OBJ)), { noPinning: true });
	try {
		obj.load();
		const sources = obj.map("pp_gen_sources");
		const bases = blockedPrefixes(opts.prefixes);
		const values = bases.map((b) => {
			const v = new Uint8Array(4);
			new DataView(v.buffer).setUint32(0, b, false);
			return v;
		});
		sources.updateMany(
			bases.map((_, i) => u32(i)),
			values,
		);
		const frame = frameTemplate(sysfs(opts.ifname, "address"), opts.dstMac, opts.syn ? "syn" : "udp");
		// SYNs are answered in place (XDP_TX) and their pages come back rewritten: restore the template.
		const tmpl = obj.map("pp_gen_tmpl");
		if (opts.syn) {
			const t = new Uint8Array(tmpl.valueBytes);
			t.set(frame);
			tmpl.update(u32(0), t);
		}
		const cfg = new Uint8Array(16);
		const dv = new DataView(cfg.buffer);
		dv.setUint32(0, ifindex, true);
		dv.setUint32(4, bases.length, true);
		dv.setUint32(8, opts.hosts, true);
		dv.setUint32(12, opts.syn ? frame.length : 0, true);
		obj.map("pp_gen_cfg").update(u32(0), cfg);

		const prog = obj.program("pp_livegen");
		// Synchronously, before the first run blocks the thread: the bench opens its window after this.
		writeSync(1, "ready\n");
		const deadline = process.hrtime.bigint() + BigInt(Math.round(opts.seconds * 1e9));
		const t0 = process.hrtime.bigint();
		let frames = 0;
		let kernelNs = 0;
		while (frames < opts.maxFrames && process.hrtime.bigint() < deadline) {
			const repeat = Math.min(CHUNK, opts.maxFrames - frames);
			const r = prog.testRun(frame, { repeat, flags: BPF_F_TEST_XDP_LIVE_FRAMES, batchSize: BATCH });
			frames += repeat;
			kernelNs += r.durationNs * repeat;
		}
		const elapsedNs = Number(process.hrtime.bigint() - t0);
		const result: GenResult = { frames, elapsedNs, nsPerFrame: frames > 0 ? kernelNs / frames : 0 };
		return result;
	} finally {
		obj.close();
	}
}

if (import.meta.main) {
	const { values } = parseArgs({
		options: {
			ifname: { type: "string" },
			"dst-mac": { type: "string" },
			seconds: { type: "string", default: "6" },
			"max-frames": { type: "string", default: "200000000" },
			prefixes: { type: "string", default: "100000" },
			hosts: { type: "string", default: "254" },
			syn: { type: "boolean", default: false },
		},
	});
	if (values.ifname === undefined || values["dst-mac"] === undefined) {
		console.error("live-gen: --ifname and --dst-mac are required");
		process.exit(2);
	}
	const r = generate({
		ifname: values.ifname,
		dstMac: values["dst-mac"],
		seconds: Number(values.seconds),
		maxFrames: Number(values["max-frames"]),
		prefixes: Number(values.prefixes),
		hosts: Number(values.hosts),
		syn: values.syn === true,
	});
	console.log(JSON.stringify(r));
}
