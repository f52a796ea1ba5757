// `pistonprotection dataplane …`: operator actions on the attached XDP program itself.
import { detachConfigured } from "../dataplane/loader.ts";
import { type Command, EXIT } from "./command.ts";
import { config } from "./context.ts";

const detach: Command = {
	name: "dataplane detach",
	summary: "Detach the XDP program from the configured interfaces and remove its pinned maps",
	run(ctx) {
		const { config: cfg } = config(ctx);
		const detached = detachConfigured(cfg.dataplane);
		ctx.out(detached.length ? `detached from ${detached.join(", ")}` : "no interface carried the program");
		ctx.out(`removed pins under ${cfg.dataplane.pin_path} (if any)`);
		return EXIT.OK;
	},
};

export const DATAPLANE_COMMANDS: Command[] = [detach];
