// A small command table over node:util parseArgs: strict flags, --help everywhere,
// usage errors exit 2. Commands return their exit code.
import { type ParseArgsConfig, parseArgs } from "node:util";

export const EXIT = { OK: 0, FAILURE: 1, USAGE: 2, CONFLICT: 3 } as const;

export class UsageError extends Error {}

type Options = NonNullable<ParseArgsConfig["options"]>;

export interface Command {
	/** "serve", "admin create" … */
	name: string;
	summary: string;
	/** Arguments after the command name, e.g. "<file>". */
	args?: string;
	options?: Options;
	/** Help text for each option, keyed by option name. */
	help?: Record<string, string>;
	positionals?: { min: number; max: number };
	run(ctx: CommandContext): Promise<number> | number;
}

export interface CommandContext {
	values: Record<string, string | boolean | Array<string | boolean> | undefined>;
	positionals: string[];
	out: (line: string) => void;
	err: (line: string) => void;
}

const COMMON: Options = {
	config: { type: "string" },
	help: { type: "boolean", short: "h" },
};

export function usage(cmd: Command): string {
	const lines = [
		`Usage: pistonprotection ${cmd.name}${cmd.args ? ` ${cmd.args}` : ""} [options]`,
		"",
		cmd.summary,
		"",
		"Options:",
	];
	const opts: Options = { ...cmd.options, ...COMMON };
	const help: Record<string, string> = {
		...cmd.help,
		config: "config file (default /etc/pistonprotection/config.toml, or $PP_CONFIG)",
		help: "show this help",
	};
	for (const [name, o] of Object.entries(opts)) {
		const flag = `--${name}${o.type === "string" ? ` <${name === "config" ? "path" : "value"}>` : ""}`;
		lines.push(`  ${flag.padEnd(28)} ${help[name] ?? ""}`);
	}
	return lines.join("\n");
}

export function overview(commands: Command[]): string {
	return [
		"Usage: pistonprotection <command> [options]",
		"",
		"Commands:",
		...commands.map((c) => `  ${c.name.padEnd(22)} ${c.summary}`),
		"",
		"Run 'pistonprotection <command> --help' for a command's options.",
	].join("\n");
}

/** Finds the command named by the leading words of argv (longest match first). */
export function resolve(commands: Command[], argv: string[]): { command: Command; rest: string[] } | null {
	const words = argv.filter((a) => !a.startsWith("-"));
	for (const len of [2, 1]) {
		const name = words.slice(0, len).join(" ");
		const command = commands.find((c) => c.name === name);
		if (command && argv.slice(0, len).join(" ") === name) return { command, rest: argv.slice(len) };
	}
	return null;
}

export async function runCommand(
	cmd: Command,
	rest: string[],
	io: Pick<CommandContext, "out" | "err">,
): Promise<number> {
	let parsed: ReturnType<typeof parseArgs>;
	try {
		parsed = parseArgs({
			args: rest,
			options: { ...cmd.options, ...COMMON },
			strict: true,
			allowPositionals: true,
		});
	} catch (err) {
		io.err(`pistonprotection ${cmd.name}: ${(err as Error).message}`);
		io.err(`Run 'pistonprotection ${cmd.name} --help' for usage.`);
		return EXIT.USAGE;
	}
	if (parsed.values.help) {
		io.out(usage(cmd));
		return EXIT.OK;
	}
	const { min, max } = cmd.positionals ?? { min: 0, max: 0 };
	if (parsed.positionals.length < min || parsed.positionals.length > max) {
		io.err(`pistonprotection ${cmd.name}: expected ${cmd.args ?? "no arguments"}`);
		io.err(`Run 'pistonprotection ${cmd.name} --help' for usage.`);
		return EXIT.USAGE;
	}
	try {
		return await cmd.run({
			values: parsed.values,
			positionals: parsed.positionals,
			...io,
		});
	} catch (err) {
		if (err instanceof UsageError) {
			io.err(`pistonprotection ${cmd.name}: ${err.message}`);
			return EXIT.USAGE;
		}
		throw err;
	}
}
