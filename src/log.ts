// Structured JSON logs, one object per line on stderr: {"ts","level","msg",...fields}.
// The level can change at run time (SIGHUP reloads it from the config).

export type LogLevel = "debug" | "info" | "warn" | "error";
const ORDER: Record<LogLevel, number> = {
	debug: 10,
	info: 20,
	warn: 30,
	error: 40,
};

export type LogFields = Record<string, unknown>;

export class Logger {
	constructor(
		private state: { level: LogLevel; write: (line: string) => void },
		private readonly bound: LogFields = {},
	) {}

	static create(level: LogLevel = "info", write: (line: string) => void = (l) => process.stderr.write(l)): Logger {
		return new Logger({ level, write });
	}

	setLevel(level: LogLevel): void {
		this.state.level = level;
	}

	/** A logger that adds fixed fields (e.g. component) to every line; shares the level. */
	child(fields: LogFields): Logger {
		return new Logger(this.state, { ...this.bound, ...fields });
	}

	debug(msg: string, fields?: LogFields): void {
		this.log("debug", msg, fields);
	}
	info(msg: string, fields?: LogFields): void {
		this.log("info", msg, fields);
	}
	warn(msg: string, fields?: LogFields): void {
		this.log("warn", msg, fields);
	}
	error(msg: string, fields?: LogFields): void {
		this.log("error", msg, fields);
	}

	private log(level: LogLevel, msg: string, fields?: LogFields): void {
		if (ORDER[level] < ORDER[this.state.level]) return;
		const entry = {
			ts: new Date().toISOString(),
			level,
			msg,
			...this.bound,
			...fields,
		};
		this.state.write(`${JSON.stringify(entry, errorReplacer)}\n`);
	}
}

function errorReplacer(_key: string, value: unknown): unknown {
	if (value instanceof Error) return { name: value.name, message: value.message };
	if (typeof value === "bigint") return value.toString();
	return value;
}
