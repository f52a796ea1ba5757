// The operator's commands. Each loads the config, opens what it needs, calls a domain
// service, and prints. Exit codes: 0 ok, 1 failure, 2 bad usage/config/input, 3 already exists.
import { existsSync } from "node:fs";
import { resolve as resolvePath } from "node:path";
import { openDataStore, startAppliance } from "../app.ts";
import { ConfigError, loadConfig } from "../config.ts";
import { DatabaseError, databasePath, openDatabase } from "../db/database.ts";
import type { Permission } from "../domain/actor.ts";
import { Conflict, DomainError, ValidationError } from "../domain/errors.ts";
import { randomString } from "../domain/ids.ts";
import { Logger } from "../log.ts";
import { VERSION } from "../version.ts";
import { type Command, type CommandContext, EXIT, UsageError } from "./command.ts";
import { config, operatorActor, withServices } from "./context.ts";
import { runDoctor } from "./doctor.ts";

async function readStdin(): Promise<string> {
	const text = await Bun.stdin.text();
	return text.replace(/\r?\n$/, "");
}

const serve: Command = {
	name: "serve",
	summary: "Run the appliance: API, web UI, gRPC, data plane and proxy",
	async run(ctx) {
		let loaded = config(ctx);
		const log = Logger.create(loaded.config.log.level);
		const appliance = await startAppliance(loaded, log);
		const done = Promise.withResolvers<number>();
		let stopping = false;
		const stop = async (signal: string) => {
			if (stopping) return;
			stopping = true;
			log.info("shutting down", { signal });
			await appliance.stop();
			done.resolve(EXIT.OK);
		};
		process.on("SIGTERM", () => void stop("SIGTERM"));
		process.on("SIGINT", () => void stop("SIGINT"));
		process.on("SIGHUP", () => {
			try {
				loaded = loadConfig(ctx.values.config as string | undefined);
			} catch (err) {
				log.error("configuration reload refused; keeping the running configuration", { error: err });
				return;
			}
			void appliance.reload(loaded);
		});
		return done.promise;
	},
};

const migrateCmd: Command = {
	name: "migrate",
	summary: "Create or upgrade the database schema, then exit",
	run(ctx) {
		const { db, applied } = openDataStore(config(ctx).config);
		db.close();
		ctx.out(
			applied.length ? applied.map((m) => `applied ${m.version}_${m.name}`).join("\n") : "database is up to date",
		);
		return EXIT.OK;
	},
};

const adminCreate: Command = {
	name: "admin create",
	summary: "Create the first organization and its OWNER account",
	options: {
		email: { type: "string" },
		organization: { type: "string" },
		"password-stdin": { type: "boolean" },
	},
	help: {
		email: "the owner's email address (required)",
		organization: "organization name (default: 'Default')",
		"password-stdin": "read the password from standard input instead of generating one",
	},
	async run(ctx) {
		const email = ctx.values.email as string | undefined;
		if (!email) throw new UsageError("--email is required");
		const password = ctx.values["password-stdin"]
			? await readStdin()
			: randomString(20, "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789");
		return withServices(ctx, async ({ users }) => {
			const { user, organization } = await users.createOwner({
				email,
				password,
				organizationName: (ctx.values.organization as string | undefined) ?? "Default",
			});
			ctx.out(`organization: ${organization.name} (${organization.id})`);
			ctx.out(`owner:        ${user.email} (${user.id})`);
			if (!ctx.values["password-stdin"]) ctx.out(`password:     ${password}   (shown once; store it now)`);
			return EXIT.OK;
		});
	},
};

const apikeyCreate: Command = {
	name: "apikey create",
	summary: "Create an API key for the owner's organization; the key is printed once",
	options: {
		name: { type: "string" },
		permissions: { type: "string" },
		test: { type: "boolean" },
		expires: { type: "string" },
	},
	help: {
		name: "a label for the key (required)",
		permissions: "comma-separated: read,write,delete,admin (default: read)",
		test: "create a pp_test_ sandbox key",
		expires: "expiry time, ISO 8601",
	},
	run(ctx) {
		const name = ctx.values.name as string | undefined;
		if (!name) throw new UsageError("--name is required");
		return withServices(ctx, (services) => {
			const permissions = ((ctx.values.permissions as string | undefined) ?? "read")
				.split(",")
				.map((p) => p.trim()) as Permission[];
			const { key, apiKey } = services.apiKeys.create(operatorActor(services), {
				name,
				permissions,
				environment: ctx.values.test ? "test" : "live",
				expiresAt: (ctx.values.expires as string | undefined) ?? null,
			});
			ctx.out(key);
			ctx.err(`created API key ${apiKey.id} (${apiKey.permissions.join(",")}); it is shown only this once`);
			return EXIT.OK;
		});
	},
};

const configCheck: Command = {
	name: "config check",
	summary: "Validate the configuration file and environment overrides",
	run(ctx) {
		const loaded = config(ctx);
		ctx.out(`configuration ok (${loaded.path ?? "defaults and environment only"})`);
		return EXIT.OK;
	},
};

const doctor: Command = {
	name: "doctor",
	summary: "Check the kernel, BTF, bpffs, libbpf, capabilities and interfaces",
	options: { json: { type: "boolean" } },
	help: { json: "print the checks as JSON" },
	run(ctx) {
		const checks = runDoctor();
		if (ctx.values.json) ctx.out(JSON.stringify(checks, null, 2));
		else for (const c of checks) ctx.out(`${c.status.padEnd(4)}  ${c.name.padEnd(28)} ${c.detail}`);
		return checks.some((c) => c.status === "fail") ? EXIT.FAILURE : EXIT.OK;
	},
};

const backup: Command = {
	name: "backup",
	summary: "Write a consistent copy of the database while the appliance runs",
	args: "<file>",
	positionals: { min: 1, max: 1 },
	run(ctx) {
		const target = resolvePath(ctx.positionals[0] as string);
		if (existsSync(target)) throw new UsageError(`${target} already exists; choose a new file`);
		const { config: cfg } = config(ctx);
		const source = databasePath(cfg.storage.data_dir);
		if (!existsSync(source)) throw new DatabaseError(`no database at ${source}`);
		const db = openDatabase(source, { readonly: true });
		try {
			// VACUUM INTO reads one snapshot: consistent even while the daemon writes.
			db.prepare("VACUUM INTO ?").run(target);
		} catch (err) {
			throw new UsageError(`cannot write ${target}: ${(err as Error).message}`);
		} finally {
			db.close();
		}
		Bun.spawnSync(["chmod", "0600", target]);
		ctx.out(`backup written to ${target}`);
		return EXIT.OK;
	},
};

const version: Command = {
	name: "version",
	summary: "Print the version",
	run(ctx) {
		ctx.out(`pistonprotection ${VERSION} (bun ${Bun.version})`);
		return EXIT.OK;
	},
};

export const CORE_COMMANDS: Command[] = [
	serve,
	migrateCmd,
	adminCreate,
	apikeyCreate,
	configCheck,
	doctor,
	backup,
	version,
];

/** Maps errors from any command to a message and exit code. */
export function exitCodeFor(err: unknown, command: string, io: Pick<CommandContext, "err">): number {
	const prefix = `pistonprotection ${command}: `;
	if (err instanceof ConfigError || err instanceof DatabaseError) {
		io.err(prefix + err.message);
		return EXIT.USAGE;
	}
	if (err instanceof ValidationError) {
		for (const e of err.errors) io.err(`${prefix}${e.field}: ${e.message}`);
		return EXIT.USAGE;
	}
	if (err instanceof Conflict) {
		io.err(prefix + err.message);
		return EXIT.CONFLICT;
	}
	if (err instanceof DomainError) {
		io.err(prefix + err.message);
		return EXIT.USAGE;
	}
	io.err(prefix + ((err as Error)?.message ?? String(err)));
	return EXIT.FAILURE;
}
