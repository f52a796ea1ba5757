// `pistonprotection ip …`: the operator's block and allow lists before (and beside) the API.
// The commands write the database; the running daemon applies the change to the kernel.
import { formatDuration } from "../format.ts";
import type { Command, CommandContext } from "./command.ts";
import { EXIT, UsageError } from "./command.ts";
import { operatorActor, withServices } from "./context.ts";

function duration(ctx: CommandContext): number | null {
	const raw = ctx.values.duration as string | undefined;
	if (raw === undefined) return null;
	const m = /^(\d+)([smhd]?)$/.exec(raw);
	if (!m) throw new UsageError(`--duration must be a number of seconds or like 90s, 15m, 12h, 7d (got '${raw}')`);
	return Number(m[1]) * ({ "": 1, s: 1, m: 60, h: 3600, d: 86400 }[m[2] as string] as number);
}

const scopeOptions = {
	backend: { type: "string" as const },
	reason: { type: "string" as const },
};
const scopeHelp = {
	backend: "apply to this backend only (default: every backend)",
	reason: "why, shown in lists and the audit log",
};

function adder(name: "block" | "allow"): Command {
	return {
		name: `ip ${name}`,
		summary:
			name === "block" ? "Drop traffic from an address or prefix" : "Always pass traffic from an address or prefix",
		args: "<ip-or-cidr>",
		positionals: { min: 1, max: 1 },
		options: { ...scopeOptions, duration: { type: "string" } },
		help: { ...scopeHelp, duration: "remove it automatically after this long: 3600, 15m, 12h, 7d" },
		run: (ctx) =>
			withServices(ctx, (services) => {
				const entry = services.ipLists.add(operatorActor(services), name, {
					ip: ctx.positionals[0] as string,
					reason: ctx.values.reason as string | undefined,
					durationSeconds: duration(ctx),
					backendId: (ctx.values.backend as string | undefined) ?? null,
				});
				const until = entry.expiresAt ? ` until ${entry.expiresAt}` : "";
				ctx.out(
					`${name === "block" ? "blocked" : "allowed"} ${entry.ip}${entry.backendId ? ` for ${entry.backendId}` : ""}${until}`,
				);
				return EXIT.OK;
			}),
	};
}

function remover(name: "unblock" | "disallow", list: "block" | "allow"): Command {
	return {
		name: `ip ${name}`,
		summary:
			list === "block"
				? "Remove an address or prefix from the block list"
				: "Remove an address or prefix from the allow list",
		args: "<ip-or-cidr>",
		positionals: { min: 1, max: 1 },
		options: { backend: scopeOptions.backend },
		help: { backend: "remove only the entry scoped to this backend" },
		run: (ctx) =>
			withServices(ctx, (services) => {
				const removed = services.ipLists.remove(
					operatorActor(services),
					list,
					ctx.positionals[0] as string,
					ctx.values.backend as string | undefined,
				);
				ctx.out(`removed ${removed.ip} from the ${list} list`);
				return EXIT.OK;
			}),
	};
}

const list: Command = {
	name: "ip list",
	summary: "List the block list, allow list or bans",
	options: { list: { type: "string" }, search: { type: "string" } },
	help: { list: "block (default), allow or ban", search: "only entries containing this text" },
	run: (ctx) =>
		withServices(ctx, (services) => {
			const kind = (ctx.values.list as string | undefined) ?? "block";
			if (kind !== "block" && kind !== "allow" && kind !== "ban")
				throw new UsageError("--list must be block, allow or ban");
			const actor = operatorActor(services);
			let page = 1;
			for (;;) {
				const result = services.ipLists.list(actor, kind, {
					page,
					pageSize: 100,
					search: ctx.values.search as string | undefined,
				});
				for (const e of result.data) {
					const left = e.expiresAt ? formatDuration(Date.parse(e.expiresAt) - Date.now()) : "permanent";
					ctx.out(`${e.ip.padEnd(44)} ${(e.backendId ?? "all backends").padEnd(16)} ${left.padEnd(10)} ${e.reason}`);
				}
				if (!result.pagination.hasNext) break;
				page++;
			}
			return EXIT.OK;
		}),
};

export const IP_COMMANDS: Command[] = [
	adder("block"),
	remover("unblock", "block"),
	adder("allow"),
	remover("disallow", "allow"),
	list,
];
