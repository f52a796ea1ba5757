// `pistonprotection dataplane …` and `status`: the attached XDP program itself, read from the
// kernel (pinned maps and interface state), so they work whether or not the daemon runs.
import { existsSync } from "node:fs";
import { decodeService, decodeSynConfig, type MapName, u32 } from "../dataplane/abi.ts";
import { BpfMap } from "../dataplane/libbpf.ts";
import { attachedProgram, detachConfigured, interfaceIndex } from "../dataplane/loader.ts";
import { backendCounters, reasonCounters, topSources } from "../dataplane/stats.ts";
import { removeSynProxy, type SynDefense, synProxyInstalled, synTargets } from "../dataplane/synproxy.ts";
import { type Command, EXIT } from "./command.ts";
import { config, withServices } from "./context.ts";

function withPinned<T>(pinPath: string, name: MapName, fn: (map: BpfMap) => T): T {
	const map = BpfMap.fromPinned(`${pinPath}/${name}`);
	try {
		return fn(map);
	} finally {
		map.close();
	}
}

/**
 * The SYN defence the kernel has now: XDP cookies need both the program's flag and SYN-cookie
 * targets in the SYNPROXY table; services with SYN cookies without them are left to the kernel's
 * own cookies.
 */
function synDefense(pinPath: string): SynDefense {
	const xdp = withPinned(pinPath, "pp_syn_cfg", (m) => {
		const v = m.lookup(u32(0));
		return v !== null && decodeSynConfig(v).xdp;
	});
	if (xdp && synProxyInstalled()) return "XDP_SYNCOOKIE";
	const wanted = withPinned(pinPath, "pp_services", (m) =>
		synTargets(
			[...m.keys()].flatMap((key) => {
				const v = m.lookup(key);
				return v === null ? [] : [{ key, flags: decodeService(v).flags }];
			}),
		),
	);
	return wanted.length ? "KERNEL_SYNCOOKIE" : "OFF";
}

const status: Command = {
	name: "status",
	summary: "Show attached interfaces, XDP mode and the data plane's counters",
	options: { json: { type: "boolean" } },
	help: { json: "print as JSON" },
	run: (ctx) =>
		withServices(ctx, (services) => {
			const dp = services.config.dataplane;
			const interfaces = dp.interfaces.map((name) => {
				if (!existsSync(`/sys/class/net/${name}`))
					return { name, attached: false, mode: null, note: "no such interface" };
				const prog = attachedProgram(interfaceIndex(name));
				return {
					name,
					attached: !!prog?.ours,
					mode: prog?.ours ? (prog.mode === "skb" ? "generic" : "native") : null,
					note: prog && !prog.ours ? `another XDP program (id ${prog.id}) is attached` : "",
				};
			});
			const loaded = existsSync(`${dp.pin_path}/pp_reason_ctrs`);
			const reasons = loaded ? withPinned(dp.pin_path, "pp_reason_ctrs", reasonCounters) : null;
			const backends = loaded
				? services.db
						.query<{ id: string; name: string; dp_index: number }, []>(
							"SELECT id, name, dp_index FROM backends WHERE sandbox = 0 ORDER BY dp_index",
						)
						.all()
						.map((b) => ({
							...b,
							...withPinned(dp.pin_path, "pp_backend_ctrs", (m) => backendCounters(m, b.dp_index)),
						}))
				: [];
			const sources = loaded
				? withPinned(dp.pin_path, "pp_src_table", (table) =>
						withPinned(dp.pin_path, "pp_src_limits", (rules) => topSources(table, rules, 10)),
					)
				: [];
			const syn: SynDefense = loaded && existsSync(`${dp.pin_path}/pp_syn_cfg`) ? synDefense(dp.pin_path) : "OFF";
			const report = {
				enabled: dp.enabled,
				pinPath: dp.pin_path,
				loaded,
				synDefense: syn,
				interfaces,
				reasons,
				backends,
				topSources: sources,
			};
			if (ctx.values.json) {
				ctx.out(JSON.stringify(report, (_k, v) => (typeof v === "bigint" ? Number(v) : v), 2));
				return EXIT.OK;
			}
			ctx.out(`data plane: ${!dp.enabled ? "disabled" : loaded ? "loaded" : "not loaded"} (pins: ${dp.pin_path})`);
			ctx.out(`SYN defence: ${syn}`);
			if (!interfaces.length) ctx.out("interfaces: none configured (dataplane.interfaces)");
			for (const i of interfaces)
				ctx.out(
					`interface ${i.name}: ${i.attached ? `attached (${i.mode})` : "not attached"}${i.note ? ` — ${i.note}` : ""}`,
				);
			if (reasons) {
				ctx.out("\ncounters (packets / bytes):");
				for (const [name, c] of Object.entries(reasons))
					if (c.packets > 0n)
						ctx.out(
							`  ${name.toLowerCase().padEnd(18)} ${String(c.packets).padStart(14)} ${String(c.bytes).padStart(16)}`,
						);
			}
			for (const b of backends)
				ctx.out(
					`backend ${b.name} (${b.id}): in ${b.rxPackets} passed ${b.passPackets} dropped ${b.dropPackets} packets`,
				);
			if (sources.length) {
				ctx.out("\ntop sources (packets / dropped):");
				for (const s of sources)
					ctx.out(`  ${s.address.padEnd(40)} ${String(s.packets).padStart(12)} ${String(s.drops).padStart(12)}`);
			}
			return EXIT.OK;
		}),
};

const detach: Command = {
	name: "dataplane detach",
	summary: "Detach the XDP program from the configured interfaces and remove its pinned maps",
	run(ctx) {
		const { config: cfg } = config(ctx);
		const detached = detachConfigured(cfg.dataplane);
		ctx.out(detached.length ? `detached from ${detached.join(", ")}` : "no interface carried the program");
		ctx.out(`removed pins under ${cfg.dataplane.pin_path} (if any)`);
		// Without the program no SYN cookies reach SYNPROXY: its table would only drop.
		try {
			removeSynProxy(cfg.storage.data_dir);
			ctx.out("removed the SYN proxy table and restored nf_conntrack_tcp_loose (if set)");
		} catch (err) {
			ctx.err(`SYN proxy: ${(err as Error).message}`);
			return EXIT.FAILURE;
		}
		return EXIT.OK;
	},
};

export const DATAPLANE_COMMANDS: Command[] = [status, detach];
