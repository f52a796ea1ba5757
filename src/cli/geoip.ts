// `pistonprotection geoip …`: which GeoIP databases are in use, lookups, and updates from the
// configured URL or MaxMind license key (the daemon also runs updates on geoip.update_schedule).
import { existsSync } from "node:fs";
import { GEO_KINDS } from "../geoip/service.ts";
import { updateGeoIp } from "../geoip/update.ts";
import type { Command } from "./command.ts";
import { EXIT, UsageError } from "./command.ts";
import { operatorActor, withServices } from "./context.ts";

const status: Command = {
	name: "geoip status",
	summary: "Show the country and ASN databases in use",
	run: (ctx) =>
		withServices(ctx, (services) => {
			for (const kind of GEO_KINDS) {
				const path = services.geoip.path(kind);
				if (!existsSync(path)) {
					ctx.out(`${kind}: none (${path} does not exist)`);
					continue;
				}
				const info = services.geoip.database(kind)?.info;
				ctx.out(`${kind}: ${path} (${info?.databaseType ?? "?"}${info?.builtAt ? `, built ${info.builtAt}` : ""})`);
			}
			return EXIT.OK;
		}),
};

const lookup: Command = {
	name: "geoip lookup",
	summary: "Show the country and ASN of an address",
	args: "<ip>",
	positionals: { min: 1, max: 1 },
	run: (ctx) =>
		withServices(ctx, (services) => {
			const ip = ctx.positionals[0] as string;
			let answer: ReturnType<typeof services.geoip.lookup>;
			try {
				answer = services.geoip.lookup(ip);
			} catch (err) {
				throw new UsageError((err as Error).message);
			}
			ctx.out(
				`${ip}: country ${answer.country ?? "unknown"}, ASN ${answer.asn ?? "unknown"}${answer.organization ? ` (${answer.organization})` : ""}`,
			);
			return EXIT.OK;
		}),
};

const update: Command = {
	name: "geoip update",
	summary: "Fetch the GeoIP databases from geoip.*_update_url or the MaxMind license key",
	run: (ctx) =>
		withServices(ctx, async (services) => {
			let failed = false;
			// Audited as the owner when one exists; before `admin create` the update belongs to no one.
			const owner = services.users.firstOwner() ? operatorActor(services) : undefined;
			for (const r of await updateGeoIp(services, fetch, owner)) {
				ctx.out(`${r.kind}: ${r.status} ${r.path}${r.detail ? ` — ${r.detail}` : ""}`);
				if (r.status === "failed") failed = true;
			}
			return failed ? EXIT.FAILURE : EXIT.OK;
		}),
};

export const GEOIP_COMMANDS: Command[] = [status, lookup, update];
