// Real Minecraft Java peers (PrismarineJS minecraft-protocol): an offline-mode server that
// reads the PROXY v2 header in front of each connection, and a client and pinger that dial a
// chosen address from a chosen loopback source while naming any hostname in the handshake.
import { connect, createServer as createTcpServer, type Socket } from "node:net";
import mc from "minecraft-protocol";
import { acceptProxyV2, type SeenHeader } from "./proxy.ts";

export const MC_VERSION = "1.20.4";

export interface MinecraftOrigin {
	port: number;
	joins: Array<{ username: string; address: string }>;
	/** While stalled (proxyProtocol origins), new connections are accepted and never answered. */
	setStalled(stalled: boolean): void;
	stop(): Promise<void>;
}

/**
 * An offline-mode server. With proxyProtocol the listening socket is ours: it reads the PROXY v2
 * header and hands the socket to minecraft-protocol's connection handler, so `joins` records
 * the address the header carried, as a Velocity/Paper origin would see it.
 */
export async function minecraftOrigin(opts: {
	motd: string;
	proxyProtocol?: boolean;
	maxPlayers?: number;
}): Promise<MinecraftOrigin> {
	const joins: MinecraftOrigin["joins"] = [];
	const server = mc.createServer({
		"online-mode": false,
		host: "127.0.0.1",
		port: 0,
		version: MC_VERSION,
		motd: opts.motd,
		maxPlayers: opts.maxPlayers ?? 20,
	});
	await new Promise<void>((r) => server.on("listening", () => r()));
	const socketServer = (server as unknown as { socketServer: import("node:net").Server }).socketServer;
	server.on("playerJoin", (client) => {
		const socket = (client as unknown as { socket: Socket & { proxied?: SeenHeader } }).socket;
		joins.push({ username: client.username, address: socket.proxied?.source ?? socket.remoteAddress ?? "" });
		client.end(`welcome ${client.username}`);
	});
	let port = (socketServer.address() as { port: number }).port;
	let front: import("node:net").Server | null = null;
	let stalled = false;
	const held = new Set<Socket>();
	if (opts.proxyProtocol) {
		front = createTcpServer((socket) => {
			socket.on("error", () => {});
			if (stalled) {
				held.add(socket);
				return;
			}
			acceptProxyV2(socket, (header) => {
				(socket as Socket & { proxied?: SeenHeader }).proxied = header;
				socketServer.emit("connection", socket);
			});
		});
		await new Promise<void>((r) => front?.listen(0, "127.0.0.1", r));
		port = (front.address() as { port: number }).port;
	}
	return {
		port,
		joins,
		setStalled(value) {
			stalled = value;
		},
		stop: async () => {
			for (const s of held) s.destroy();
			server.close();
			if (front) await new Promise<void>((r) => front?.close(() => r()));
		},
	};
}

const dial =
	(port: number, localAddress?: string) => (client: { setSocket(s: Socket): void; emit(e: string): void }) => {
		client.setSocket(connect({ host: "127.0.0.1", port, localAddress }));
		client.emit("connect");
	};

/** Server-list ping through `port`, naming `hostname` in the handshake. */
export async function ping(port: number, hostname: string, localAddress?: string) {
	return (await mc.ping({
		host: hostname,
		port,
		version: MC_VERSION,
		connect: dial(port, localAddress),
		noPongTimeout: 5000,
		closeTimeout: 10_000,
	} as unknown as mc.PingOptions)) as mc.NewPingResult;
}

/** Logs in as `username`; resolves with the disconnect reason text (origins end every join with one). */
export function join(port: number, hostname: string, username: string, localAddress?: string): Promise<string> {
	return new Promise((resolve, reject) => {
		const client = mc.createClient({
			host: hostname,
			port,
			username,
			version: MC_VERSION,
			auth: "offline",
			connect: dial(port, localAddress),
		} as unknown as mc.ClientOptions);
		let reason = "";
		const timer = setTimeout(() => {
			client.end();
			reject(new Error("login timed out"));
		}, 15_000);
		const text = (raw: unknown) => {
			const s = typeof raw === "string" ? raw : JSON.stringify(raw);
			try {
				const j = JSON.parse(s);
				return typeof j === "string" ? j : (j.text ?? j.value?.text?.value ?? s);
			} catch {
				return s;
			}
		};
		client.on("disconnect", (p: { reason: unknown }) => {
			reason = text(p.reason);
		});
		client.on("kick_disconnect", (p: { reason: unknown }) => {
			reason = text(p.reason);
		});
		client.on("error", () => {});
		client.on("end", () => {
			clearTimeout(timer);
			resolve(reason);
		});
	});
}
