// Network interfaces as iproute2 reports them (`ip -d -j link show`): the kernel's own view of
// each link's kind (veth, bridge, …) and XDP attachment, which sysfs does not give for virtual links.

export interface IpLink {
	ifname: string;
	operstate?: string;
	linkinfo?: { info_kind?: string };
	xdp?: { mode?: number; prog?: { id?: number; name?: string } };
}

/** Every link, or just `dev`; null when `ip` fails (not installed, no such device). */
export function ipLinks(dev?: string): IpLink[] | null {
	const proc = Bun.spawnSync(["ip", "-d", "-j", "link", "show", ...(dev ? ["dev", dev] : [])], {
		stdout: "pipe",
		stderr: "pipe",
	});
	if (proc.exitCode !== 0) return null;
	return JSON.parse(proc.stdout.toString()) as IpLink[];
}

/**
 * Native XDP_TX out of a veth is dropped silently unless its peer runs an XDP program (the peer
 * needs NAPI to take the frame), so the SYN-ACKs of XDP SYN cookies need that peer program.
 */
export const VETH_XDP_TX_NOTE =
	"XDP_TX (SYN cookies at HIGH and up) works on a veth only while its peer runs an XDP program; otherwise set dataplane.syn_proxy = false";
