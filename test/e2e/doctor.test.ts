// `pistonprotection doctor` on this machine: the kernel, BTF, bpffs, libbpf and capability checks
// read the real host, and a veth pair this test creates shows up with its driver, its XDP mode and
// the note about XDP_TX on veths. Attaches nothing.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { release } from "node:os";
import { isolatedEnv, runCli, tempDir } from "../helpers/daemon.ts";
import { canUseNetns, createTopology, type Topology } from "../helpers/netns.ts";

interface Check {
	name: string;
	status: "ok" | "warn" | "fail";
	detail: string;
}

const skip = canUseNetns();
let topo: Topology;
const dir = tempDir();

describe.skipIf(skip !== null)(`doctor${skip ? ` — skipped: ${skip}` : ""}`, () => {
	beforeAll(() => {
		topo = createTopology(128, 0);
	});
	afterAll(() => {
		topo?.destroy();
		dir.cleanup();
	});

	test("reports kernel, BTF, bpffs, libbpf, capabilities and each interface's XDP support, as text and JSON", () => {
		const r = runCli(["doctor", "--json"], { env: isolatedEnv(dir.path) });
		expect(r.exitCode).toBe(0);
		const checks = JSON.parse(r.stdout) as Check[];
		const byName = new Map(checks.map((c) => [c.name, c]));
		expect(byName.get("kernel")).toEqual({ name: "kernel", status: "ok", detail: release() });
		expect(byName.get("btf")?.status).toBe("ok");
		expect(byName.get("libbpf")).toMatchObject({
			status: "ok",
			detail: expect.stringMatching(/^libbpf\.so\.1 version \d+\.\d+$/),
		});
		expect(byName.get("bpffs")?.status).toMatch(/^(ok|warn)$/);
		expect(byName.get("capability CAP_BPF")).toMatchObject({ status: "ok", detail: "effective" });
		expect(byName.get("capability CAP_NET_ADMIN")).toMatchObject({ status: "ok", detail: "effective" });
		expect(checks.some((c) => c.name === "interface lo")).toBe(false);
		const veth = byName.get(`interface ${topo.hostIf}`);
		expect(veth?.detail).toContain("driver veth");
		expect(veth?.detail).toContain("XDP native (driver mode) supported");
		expect(veth?.detail).toContain(
			"XDP_TX (SYN cookies at HIGH and up) works on a veth only while its peer runs an XDP program",
		);

		const text = runCli(["doctor"], { env: isolatedEnv(dir.path) });
		expect(text.exitCode).toBe(0);
		expect(text.stdout).toMatch(/^ok\s+kernel\s+/m);
		expect(text.stdout).toContain(`interface ${topo.hostIf}`);
	});
});
