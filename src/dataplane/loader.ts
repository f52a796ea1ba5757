// Loads the XDP object from the bytes embedded in the binary, pins its maps under
// dataplane.pin_path, and attaches it to the configured interfaces (and only those).
// Fail-static: the attachment and the pinned maps outlive the daemon; a new daemon re-opens the
// pinned maps and swaps its freshly loaded program in atomically, keeping the maps' contents.

import { existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { constants as osConstants } from "node:os";
import objectPath from "../../build/bpf/pp_xdp.o" with { type: "file" };
import type { Config } from "../config.ts";
import type { Logger } from "../log.ts";
import { ipLinks, VETH_XDP_TX_NOTE } from "../net/links.ts";
import { PROGRAM_NAME } from "./abi.ts";
import {
	BpfObject,
	closeFd,
	LibbpfError,
	progFdById,
	progInfoById,
	type XdpMode,
	xdpAttach,
	xdpDetach,
	xdpQueryId,
} from "./libbpf.ts";
import { srcTableSets } from "./src-table.ts";

const BPFFS = "/sys/fs/bpf";

export class DataPlaneError extends Error {}

export interface Attachment {
	name: string;
	ifindex: number;
	mode: XdpMode;
}

/** Which config key sizes each map (dataplane.map_sizes). */
function mapSizes(sizes: Config["dataplane"]["map_sizes"]): Record<string, number> {
	return {
		pp_block_v4: sizes.blocklist,
		pp_block_v6: sizes.blocklist,
		pp_allow_v4: sizes.allowlist,
		pp_allow_v6: sizes.allowlist,
		pp_bans: sizes.bans,
		pp_srcset_v4: sizes.source_sets,
		pp_srcset_v6: sizes.source_sets,
		pp_services: sizes.services,
		pp_svc_slots: sizes.services * 2 + 2,
		// Backend indexes start at 1; each backend has two rule-set slots (double buffering).
		pp_rulesets: sizes.backends * 2 + 2,
		pp_global_bkt: sizes.backends + 1,
		pp_backend_ctrs: sizes.backends + 1,
		pp_l7_cfgs: sizes.backends + 1,
		pp_rule_ctrs: sizes.rules,
		pp_src_table: srcTableSets(sizes.rate_limit_sources),
		pp_src_limits: sizes.rate_limit_sources,
	};
}

export async function embeddedObject(): Promise<Uint8Array> {
	return new Uint8Array(await Bun.file(objectPath).arrayBuffer());
}

export function interfaceIndex(name: string): number {
	try {
		return Number(readFileSync(`/sys/class/net/${name}/ifindex`, "utf8").trim());
	} catch {
		throw new DataPlaneError(`interface ${name} does not exist`);
	}
}

function bpffsMounted(): boolean {
	return readFileSync("/proc/mounts", "utf8")
		.split("\n")
		.some((l) => {
			const [, mountpoint, type] = l.split(" ");
			return type === "bpf" && mountpoint === BPFFS;
		});
}

/** Mounts bpffs at /sys/fs/bpf when nothing is mounted there (needs CAP_SYS_ADMIN). */
export function ensureBpffs(log: Logger): void {
	if (bpffsMounted()) return;
	const proc = Bun.spawnSync(["mount", "-t", "bpf", "bpf", BPFFS], { stdout: "pipe", stderr: "pipe" });
	if (proc.exitCode !== 0)
		throw new DataPlaneError(
			`bpffs is not mounted at ${BPFFS} and mounting it failed: ${proc.stderr.toString().trim()}`,
		);
	log.info("mounted bpffs", { path: BPFFS });
}

/** Our program on an interface: the attached program's id and mode, or null. */
export function attachedProgram(ifindex: number): { id: number; mode: XdpMode; ours: boolean } | null {
	for (const mode of ["native", "skb"] as const) {
		const id = xdpQueryId(ifindex, mode);
		if (id !== 0) return { id, mode, ours: progInfoById(id).name === PROGRAM_NAME };
	}
	return null;
}

export class Loader {
	private object: BpfObject | null = null;
	readonly attachments = new Map<string, Attachment>();

	constructor(
		private readonly config: Config["dataplane"],
		private readonly log: Logger,
	) {}

	get loaded(): BpfObject {
		if (!this.object) throw new DataPlaneError("the data plane is not loaded");
		return this.object;
	}

	/**
	 * Loads the program and creates or re-adopts the pinned maps. A pinned map whose layout no
	 * longer matches the program is removed and recreated empty; the reconciler repopulates it.
	 */
	async load(bytes?: Uint8Array): Promise<void> {
		ensureBpffs(this.log);
		mkdirSync(this.config.pin_path, { recursive: true, mode: 0o700 });
		const image = bytes ?? (await embeddedObject());
		try {
			this.object = this.open(image);
		} catch (err) {
			if (!(err instanceof LibbpfError) || err.errno !== osConstants.errno.EINVAL || !existsSync(this.config.pin_path))
				throw err;
			this.log.warn("pinned maps do not match this program; recreating them", { pinPath: this.config.pin_path });
			rmSync(this.config.pin_path, { recursive: true, force: true });
			mkdirSync(this.config.pin_path, { recursive: true, mode: 0o700 });
			this.object = this.open(image);
		}
	}

	private open(image: Uint8Array): BpfObject {
		const obj = BpfObject.openMem(image, { objectName: "pistonprotection", pinRootPath: this.config.pin_path });
		try {
			for (const [name, size] of Object.entries(mapSizes(this.config.map_sizes)))
				obj.objectMap(name).setMaxEntries(size);
			obj.load();
			return obj;
		} catch (err) {
			obj.close();
			throw err;
		}
	}

	/**
	 * Attaches to every configured interface. Our own program already there (a previous daemon's)
	 * is replaced atomically; a foreign program is never replaced.
	 */
	attachAll(): Attachment[] {
		const fd = this.loaded.program(PROGRAM_NAME).fd;
		for (const name of this.config.interfaces) {
			const ifindex = interfaceIndex(name);
			const current = attachedProgram(ifindex);
			if (current && !current.ours)
				throw new DataPlaneError(
					`interface ${name} already runs another XDP program (id ${current.id}); detach it first`,
				);
			let mode: XdpMode;
			if (current) {
				const oldFd = progFdById(current.id);
				try {
					xdpAttach(ifindex, fd, { mode: current.mode, replaceFd: oldFd });
				} finally {
					closeFd(oldFd);
				}
				mode = current.mode;
				this.log.info("replaced the attached program", { interface: name, mode });
			} else {
				mode = this.attachFresh(name, ifindex, fd);
			}
			this.attachments.set(name, { name, ifindex, mode });
		}
		return [...this.attachments.values()];
	}

	private attachFresh(name: string, ifindex: number, fd: number): XdpMode {
		if (this.config.xdp_mode !== "generic") {
			try {
				xdpAttach(ifindex, fd, { mode: "native" });
				this.log.info("attached XDP", { interface: name, mode: "native" });
				if (this.config.syn_proxy && ipLinks(name)?.[0]?.linkinfo?.info_kind === "veth")
					this.log.warn("native XDP on a veth", { interface: name, note: VETH_XDP_TX_NOTE });
				return "native";
			} catch (err) {
				if (this.config.xdp_mode === "native") throw err;
				this.log.warn("native XDP is not available; falling back to generic mode", {
					interface: name,
					error: (err as Error).message,
				});
			}
		}
		xdpAttach(ifindex, fd, { mode: "skb" });
		this.log.info("attached XDP", { interface: name, mode: "generic" });
		return "skb";
	}

	/** Closes our handles; the attachment and pins stay (fail-static). */
	close(): void {
		this.object?.close();
		this.object = null;
	}
}

/**
 * Uninstall: removes our program from the configured interfaces, then the pins. Interfaces not
 * in the config and foreign XDP programs are never touched.
 */
export function detachConfigured(config: Config["dataplane"]): string[] {
	const detached: string[] = [];
	for (const name of config.interfaces) {
		if (!existsSync(`/sys/class/net/${name}`)) continue;
		const ifindex = interfaceIndex(name);
		const current = attachedProgram(ifindex);
		if (!current?.ours) continue;
		const fd = progFdById(current.id);
		try {
			xdpDetach(ifindex, { mode: current.mode, expectedFd: fd });
		} finally {
			closeFd(fd);
		}
		detached.push(name);
	}
	if (existsSync(config.pin_path)) rmSync(config.pin_path, { recursive: true, force: true });
	return detached;
}
