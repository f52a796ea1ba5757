// What every command needs: the loaded config, and the domain services over the database.
import { openDataStore } from "../app.ts";
import { type LoadedConfig, loadConfig } from "../config.ts";
import { type Actor, ROLE_PERMISSIONS } from "../domain/actor.ts";
import { Logger } from "../log.ts";
import { createServices, type Services } from "../services.ts";
import { type CommandContext, UsageError } from "./command.ts";

export function config(ctx: CommandContext): LoadedConfig {
	return loadConfig(ctx.values.config as string | undefined);
}

/** Opens and migrates the store, builds the domain services, runs fn, closes. */
export async function withServices<T>(ctx: CommandContext, fn: (services: Services) => T | Promise<T>): Promise<T> {
	const loaded = config(ctx);
	const { db } = openDataStore(loaded.config);
	try {
		return await fn(createServices(db, loaded.config, Logger.create("warn")));
	} finally {
		db.close();
	}
}

/** The CLI acts as the operator: the first owner, in that owner's organization. */
export function operatorActor(services: Services): Actor {
	const owner = services.users.firstOwner();
	if (!owner) throw new UsageError("no owner account exists yet; run 'pistonprotection admin create' first");
	return {
		kind: "system",
		organizationId: owner.organizationId,
		userId: owner.userId,
		email: owner.email,
		role: "OWNER",
		permissions: ROLE_PERMISSIONS.OWNER,
		sandbox: false,
		ipAddress: null,
		userAgent: "pistonprotection-cli",
	};
}
