// Every command of the executable, in the order --help lists them.
import type { Command } from "./command.ts";
import { CORE_COMMANDS } from "./commands.ts";
import { DATAPLANE_COMMANDS } from "./dataplane.ts";
import { GEOIP_COMMANDS } from "./geoip.ts";
import { IP_COMMANDS } from "./ip.ts";
import { KEY_COMMANDS } from "./keys.ts";

export const COMMANDS: Command[] = [
	...CORE_COMMANDS,
	...KEY_COMMANDS,
	...IP_COMMANDS,
	...GEOIP_COMMANDS,
	...DATAPLANE_COMMANDS,
];
