// `pistonprotection apikey list|revoke` and `keys rotate`: credentials the operator manages on
// the host. Each calls the same domain services as the API and is audited the same way.
import { KeyRing } from "../auth/keys.ts";
import { type Command, EXIT } from "./command.ts";
import { operatorActor, withServices } from "./context.ts";

const apikeyList: Command = {
	name: "apikey list",
	summary: "List the owner organization's API keys (never their secrets)",
	run: (ctx) =>
		withServices(ctx, (services) => {
			const actor = operatorActor(services);
			for (let page = 1; ; page++) {
				const result = services.apiKeys.list(actor, page, 100);
				for (const k of result.data) {
					const state = k.revokedAt
						? "revoked"
						: k.expiresAt && Date.parse(k.expiresAt) <= Date.now()
							? "expired"
							: "active";
					ctx.out(
						`${k.id}  ${k.prefix}…  ${k.permissions.join(",").padEnd(22)} ${state.padEnd(8)} last used ${k.lastUsedAt ?? "never"}  ${k.name}`,
					);
				}
				if (!result.pagination.hasNext) break;
			}
			return EXIT.OK;
		}),
};

const apikeyRevoke: Command = {
	name: "apikey revoke",
	summary: "Revoke an API key by id; it stops working at once",
	args: "<key-id>",
	positionals: { min: 1, max: 1 },
	run: (ctx) =>
		withServices(ctx, (services) => {
			const key = services.apiKeys.revoke(operatorActor(services), ctx.positionals[0] as string);
			ctx.out(`revoked ${key.id} (${key.name})`);
			return EXIT.OK;
		}),
};

const keysRotate: Command = {
	name: "keys rotate",
	summary: "Start signing tokens with a new key; tokens of the previous key stay valid until they expire",
	run: (ctx) =>
		withServices(ctx, (services) => {
			const kid = KeyRing.open(services.config.storage.data_dir).rotate();
			services.audit.record(operatorActor(services), {
				action: "signing_key.rotated",
				resourceType: "signing_key",
				resourceId: kid,
				description: "Rotated the token signing key",
			});
			ctx.out(`new signing key ${kid}; the running daemon picks it up within a second`);
			return EXIT.OK;
		}),
};

export const KEY_COMMANDS: Command[] = [apikeyList, apikeyRevoke, keysRotate];
