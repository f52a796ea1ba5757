// Minecraft Bedrock (RakNet) through the appliance with jsp-raknet peers: the health check's
// unconnected ping against a real RakNet server, server-list pings through the proxy, and the
// cached pong answered by the appliance once the origin is gone.
import { afterEach, describe, expect, test } from "bun:test";
import { Client, Server } from "jsp-raknet";
import { freePort, proxyCore, until } from "../helpers/proxy.ts";

type Core = Awaited<ReturnType<typeof proxyCore>>;
let core: Core | null = null;
const cleanups: Array<() => unknown> = [];

afterEach(async () => {
	for (const c of cleanups.splice(0).reverse()) await c();
	core?.close();
	core = null;
});

function advertisement(motd: string) {
	return {
		motd,
		name: "PP",
		protocol: 712,
		version: "1.21.20",
		players: { online: 3, max: 50 },
		gamemode: "Survival",
		serverId: "1234567890",
		toString() {
			return `MCPE;${this.motd};${this.protocol};${this.version};${this.players.online};${this.players.max};${this.serverId};${this.name};${this.gamemode};1;`;
		},
	};
}

/** One unconnected ping from a jsp-raknet client; resolves with the advertised server name. */
function raknetPing(port: number): Promise<string> {
	return new Promise((resolve, reject) => {
		const client = new Client("127.0.0.1", port);
		const timer = setTimeout(() => {
			client.close("timeout");
			reject(new Error("no pong"));
		}, 5000);
		client.ping((name: unknown) => {
			clearTimeout(timer);
			client.close("done");
			resolve(String(name));
		});
	});
}

describe("the Bedrock proxy", () => {
	test("pings pass through to a RakNet origin, and its last pong is served when it is down", async () => {
		core = await proxyCore();
		const originPort = await freePort();
		const server = new Server("127.0.0.1", originPort, advertisement("Bedrock Origin") as never);
		await server.listen();
		let serverOpen = true;
		cleanups.push(() => serverOpen && server.close());
		const port = await freePort();
		const backend = core.services.backends.create(core.owner, {
			name: "bedrock",
			type: "MINECRAFT_BEDROCK",
			listeners: [{ address: "127.0.0.1", port, protocol: "UDP" }],
			healthCheck: { enabled: true, intervalSeconds: 1, timeoutSeconds: 1, healthyThreshold: 1, unhealthyThreshold: 1 },
			origins: [{ name: "o", address: "127.0.0.1", port: originPort }],
		});
		const originId = backend.origins[0]?.id as string;
		await until(() => core?.services.originHealth(originId) === "HEALTHY", 5000, "RakNet health check");
		expect(await raknetPing(port)).toContain("MCPE;Bedrock Origin;712");

		server.close();
		serverOpen = false;
		await until(() => core?.services.originHealth(originId) === "UNHEALTHY", 5000, "origin down");
		expect(await raknetPing(port)).toContain("MCPE;Bedrock Origin;712");
	}, 30_000);
});
