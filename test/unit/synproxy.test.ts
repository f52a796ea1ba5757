// The SYNPROXY table's shape and its owner's bookkeeping, with nft replaced by a recorder (and
// checked by `nft -c` where it is installed). No test here sets nf_conntrack_tcp_loose: SYN-cookie
// targets, which need it, are covered end to end by test/e2e/synproxy.test.ts.
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { encodeServiceKey, IPPROTO, SvcFlag } from "../../src/dataplane/abi.ts";
import {
	type NftRunner,
	nftBinary,
	renderTable,
	SynProxy,
	type SynTarget,
	synTargets,
	tcpListeners,
} from "../../src/dataplane/synproxy.ts";
import { Logger } from "../../src/log.ts";
import { tempDir } from "../helpers/daemon.ts";

const OPTS = { mss4: 1460, mss6: 1440, wscale: 7 };
const GAME: SynTarget = { address: "198.51.100.7", port: 25565 };
const GAME6: SynTarget = { address: "2001:db8::7", port: 25565 };
const WEB: SynTarget = { address: null, port: 443 };

const service = (addr: string | null, port: number, proto: number, flags: number) => ({
	key: encodeServiceKey({ addr, port, proto }),
	flags,
});

/** The script without its set blocks: what stays the same whatever the targets. */
const rulesOf = (script: string) => script.replace(/\tset [^\n]+\{\n(\t\t[^\n]*\n)*\t\}\n/g, "");

const nft = nftBinary();

describe("which listeners the table names", () => {
	test("every TCP listener is tracked whatever its level; only those with SYN cookies are targets", () => {
		const services = [
			service("198.51.100.7", 25565, IPPROTO.TCP, SvcFlag.SYN_COOKIES),
			service("2001:db8::7", 25565, IPPROTO.TCP, 0),
			service(null, 443, IPPROTO.TCP, 0),
			service(null, 443, IPPROTO.TCP, SvcFlag.SYN_COOKIES),
			service("198.51.100.7", 19132, IPPROTO.UDP, SvcFlag.SYN_COOKIES),
			// The address's host entry (port 0) is no listener.
			service("198.51.100.7", 0, IPPROTO.TCP, SvcFlag.SYN_COOKIES),
		];
		expect(tcpListeners(services)).toEqual([WEB, GAME, GAME6]);
		expect(synTargets(services)).toEqual([WEB, GAME]);
	});
});

describe("the table", () => {
	test("keeps the same chains at every level: only the sets change", () => {
		const medium = renderTable([GAME, GAME6, WEB], [], OPTS);
		const high = renderTable([GAME, GAME6, WEB], [GAME, WEB], OPTS);
		expect(rulesOf(high)).not.toContain("\tset ");
		expect(rulesOf(high)).toBe(rulesOf(medium));
		// The synproxy rules stay over empty sets: their hooks keep translating completed flows.
		expect(medium).toContain("synproxy mss 1460 wscale 7 timestamp sack-perm");
		expect(medium).toContain("ct state established,related accept");
		expect(medium).not.toContain("elements = { 25565 }");
		expect(high).toMatch(/set cookie_v4 \{\n\t\ttype [^\n]+\n\t\telements = \{ 198\.51\.100\.7 \. 25565 \}/);
		expect(high).toMatch(/set cookie_any \{\n\t\ttype [^\n]+\n\t\telements = \{ 443 \}/);
		expect(high).toMatch(/set cookie_v6 \{\n\t\ttype [^\n]+\n\t\}/);
	});

	test("takes the timestamp option out of SYNPROXY's own ACK to a listener, and nothing else", () => {
		const script = renderTable([GAME], [GAME, GAME6, WEB], OPTS);
		const chainOf = (name: string) => script.match(new RegExp(`chain ${name} \\{\n([^}]*)\\}`))?.[1] ?? "";
		const output = chainOf("output")
			.trim()
			.split("\n")
			.map((l) => l.trim());
		expect(output).toEqual([
			"type filter hook output priority filter; policy accept;",
			...["ip daddr . tcp dport @cookie_v4", "ip6 daddr . tcp dport @cookie_v6", "tcp dport @cookie_any"].map(
				(m) => `${m} tcp flags & (fin | syn | rst | ack) == ack fib saddr type != local reset tcp option timestamp`,
			),
		]);
	});

	test("tracks the SYN-cookie targets even when they are not among the listeners given", () => {
		expect(renderTable([], [GAME6], OPTS)).toMatch(
			/set tcp_v6 \{\n\t\ttype [^\n]+\n\t\telements = \{ 2001:db8::7 \. 25565 \}/,
		);
	});

	test.skipIf(nft === null || process.getuid?.() !== 0)("is accepted by nft (checked, not applied)", () => {
		for (const script of [renderTable([GAME, GAME6, WEB], [], OPTS), renderTable([GAME], [GAME, GAME6, WEB], OPTS)]) {
			const p = Bun.spawnSync([nft as string, "-c", "-f", "-"], { stdin: Buffer.from(script), stderr: "pipe" });
			expect(p.stderr.toString()).toBe("");
			expect(p.exitCode).toBe(0);
		}
	});
});

describe("SynProxy without SYN-cookie targets", () => {
	let dir: ReturnType<typeof tempDir>;
	let scripts: string[];
	let fail: boolean;
	let logs: string[];
	const runner: NftRunner = (script) => {
		scripts.push(script);
		return fail
			? { ok: false, error: "Error: Could not process rule: No such file or directory" }
			: { ok: true, error: "" };
	};
	const proxy = () =>
		new SynProxy(
			dir.path,
			Logger.create("info", (l) => logs.push(l)),
			runner,
			null,
		);

	beforeEach(() => {
		dir = tempDir();
		scripts = [];
		fail = false;
		logs = [];
	});
	afterEach(() => dir.cleanup());

	test("installs the tracking table once, skips an unchanged one, and removes it with the last listener", () => {
		const p = proxy();
		expect(p.apply([GAME], [], OPTS)).toBe(true);
		expect(p.apply([GAME], [], OPTS)).toBe(true);
		expect(scripts).toHaveLength(1);
		expect(p.apply([], [], OPTS)).toBe(true);
		expect(scripts).toHaveLength(2);
		expect(scripts[1]).toBe("table inet pistonprotection_synproxy\ndelete table inet pistonprotection_synproxy\n");
		// Removed already: nothing to run again.
		p.remove();
		expect(scripts).toHaveLength(2);
	});

	test("a failed nft run leaves the installed table in charge and is logged once", () => {
		const p = proxy();
		expect(p.apply([GAME], [], OPTS)).toBe(true);
		fail = true;
		expect(p.apply([GAME, WEB], [], OPTS)).toBe(false);
		expect(p.apply([GAME, WEB], [], OPTS)).toBe(false);
		expect(logs.filter((l) => l.includes("not updated"))).toHaveLength(1);
		// No removal was attempted, and the table installed before is still the one in place.
		expect(scripts.filter((s) => !s.includes("{"))).toEqual([]);
		expect(p.apply([GAME], [], OPTS)).toBe(true);
		expect(scripts).toHaveLength(3);
	});

	test("a host that cannot run XDP SYN cookies gets no table at all", () => {
		const p = new SynProxy(
			dir.path,
			Logger.create("error", () => {}),
			runner,
			"the kernel lacks bpf_xdp_ct_lookup",
		);
		expect(p.apply([GAME], [], OPTS)).toBe(false);
		expect(scripts).toEqual([]);
		expect(existsSync(join(dir.path, "synproxy-state.json"))).toBe(false);
	});
});
