// pistonprotection <command>: the one executable's entry point.
import { type Command, EXIT, overview, resolve, runCommand } from "./cli/command.ts";
import { exitCodeFor } from "./cli/commands.ts";
import { COMMANDS } from "./cli/index.ts";

const io = {
	out: (line: string) => process.stdout.write(`${line}\n`),
	err: (line: string) => process.stderr.write(`${line}\n`),
};

async function main(argv: string[], commands: Command[]): Promise<number> {
	if (argv.length === 0 || argv[0] === "--help" || argv[0] === "-h" || argv[0] === "help") {
		io.out(overview(commands));
		return argv.length === 0 ? EXIT.USAGE : EXIT.OK;
	}
	if (argv[0] === "--version") argv = ["version"];
	const found = resolve(commands, argv);
	if (!found) {
		io.err(
			`pistonprotection: unknown command '${argv
				.filter((a) => !a.startsWith("-"))
				.slice(0, 2)
				.join(" ")}'`,
		);
		io.err(overview(commands));
		return EXIT.USAGE;
	}
	try {
		return await runCommand(found.command, found.rest, io);
	} catch (err) {
		return exitCodeFor(err, found.command.name, io);
	}
}

process.exitCode = await main(process.argv.slice(2), COMMANDS);
