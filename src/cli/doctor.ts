// `pistonprotection doctor`: what the host offers the data plane, read from the kernel's own
// files. It attaches nothing: native XDP support is judged from the interface's driver.
import { dlopen, FFIType } from "bun:ffi";
import { existsSync, readFileSync, readlinkSync } from "node:fs";
import { release } from "node:os";
import { basename } from "node:path";
import { ipLinks, VETH_XDP_TX_NOTE } from "../net/links.ts";

export interface Check {
	name: string;
	status: "ok" | "warn" | "fail";
	detail: string;
}

/** Drivers with native (driver-mode) XDP in mainline Linux. */
const NATIVE_XDP_DRIVERS = new Set([
	"veth",
	"virtio_net",
	"tun",
	"ixgbe",
	"ixgbevf",
	"i40e",
	"ice",
	"igb",
	"igc",
	"mlx4_core",
	"mlx4_en",
	"mlx5_core",
	"bnxt_en",
	"nfp",
	"qede",
	"thunderx",
	"ena",
	"hv_netvsc",
	"netsec",
	"stmmac",
	"sfc",
	"tsnep",
	"cpsw",
	"mvneta",
	"mvpp2",
	"dpaa2-eth",
	"enetc",
	"fec",
	"lan966x",
	"octeontx2-nicpf",
	"gve",
	"bond",
]);

/** Capability bits the daemon uses (linux/capability.h). */
const CAPABILITIES: Array<[string, number, boolean]> = [
	["CAP_BPF", 39, true],
	["CAP_NET_ADMIN", 12, true],
	["CAP_PERFMON", 38, true],
	["CAP_NET_BIND_SERVICE", 10, false],
	["CAP_SYS_ADMIN", 21, false],
];

export function kernelAtLeast(text: string, major: number, minor: number): boolean {
	const m = /^(\d+)\.(\d+)/.exec(text);
	if (!m) return false;
	const [maj, min] = [Number(m[1]), Number(m[2])];
	return maj > major || (maj === major && min >= minor);
}

export function runDoctor(): Check[] {
	const checks: Check[] = [];
	const kernel = release();
	checks.push({
		name: "kernel",
		status: kernelAtLeast(kernel, 5, 15) ? "ok" : "fail",
		detail: `${kernel}${kernelAtLeast(kernel, 5, 15) ? "" : " (5.15 or newer required)"}`,
	});
	checks.push(
		existsSync("/sys/kernel/btf/vmlinux")
			? { name: "btf", status: "ok", detail: "/sys/kernel/btf/vmlinux present" }
			: {
					name: "btf",
					status: "warn",
					detail: "kernel BTF not exposed (CONFIG_DEBUG_INFO_BTF)",
				},
	);
	const bpffs = readFileSync("/proc/mounts", "utf8")
		.split("\n")
		.some((l) => l.split(" ")[2] === "bpf" && l.split(" ")[1] === "/sys/fs/bpf");
	checks.push({
		name: "bpffs",
		status: bpffs ? "ok" : "warn",
		detail: bpffs
			? "mounted at /sys/fs/bpf"
			: "not mounted; the daemon mounts it at start (mount -t bpf bpf /sys/fs/bpf)",
	});
	checks.push(libbpfCheck());
	checks.push(...capabilityChecks());
	checks.push(...interfaceChecks());
	return checks;
}

function libbpfCheck(): Check {
	try {
		const lib = dlopen("libbpf.so.1", {
			libbpf_major_version: { args: [], returns: FFIType.u32 },
			libbpf_minor_version: { args: [], returns: FFIType.u32 },
		});
		const v = `${lib.symbols.libbpf_major_version()}.${lib.symbols.libbpf_minor_version()}`;
		lib.close();
		return { name: "libbpf", status: "ok", detail: `libbpf.so.1 version ${v}` };
	} catch (err) {
		return {
			name: "libbpf",
			status: "fail",
			detail: `libbpf.so.1 not loadable (${(err as Error).message}); apt-get install libbpf1`,
		};
	}
}

function capabilityChecks(): Check[] {
	const status = readFileSync("/proc/self/status", "utf8");
	const eff = BigInt(`0x${/CapEff:\s*([0-9a-f]+)/.exec(status)?.[1] ?? "0"}`);
	return CAPABILITIES.map(([name, bit, needed]) => {
		const has = (eff >> BigInt(bit)) & 1n;
		return {
			name: `capability ${name}`,
			status: has ? "ok" : needed ? "fail" : "warn",
			detail: has ? "effective" : needed ? "missing (run as root or via the systemd unit)" : "missing",
		};
	});
}

/** XDP attach modes as `ip -j link` reports them (linux/if_link.h XDP_ATTACHED_*). */
const XDP_ATTACHED = ["none", "native", "generic", "offload", "multi"];

function interfaceChecks(): Check[] {
	const links = ipLinks();
	if (!links) return [{ name: "interfaces", status: "warn", detail: "ip -j link show failed" }];
	return links
		.filter((l) => l.ifname !== "lo")
		.map((link) => {
			const driver = physicalDriver(link.ifname) ?? link.linkinfo?.info_kind ?? "unknown";
			const native = NATIVE_XDP_DRIVERS.has(driver);
			const attached = link.xdp
				? `; XDP program ${link.xdp.prog?.name ?? link.xdp.prog?.id ?? "?"} attached (${XDP_ATTACHED[link.xdp.mode ?? 0]})`
				: "";
			return {
				name: `interface ${link.ifname}`,
				status: "ok" as const,
				detail: `driver ${driver}, ${(link.operstate ?? "unknown").toLowerCase()}; XDP ${
					native ? "native (driver mode) supported" : "generic mode only"
				}${attached}${driver === "veth" ? `; ${VETH_XDP_TX_NOTE}` : ""}`,
			};
		});
}

function physicalDriver(name: string): string | null {
	try {
		return basename(readlinkSync(`/sys/class/net/${name}/device/driver`));
	} catch {
		return null;
	}
}
