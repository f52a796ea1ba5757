// The gRPC listener. It carries the standard health service now; the resource services
// (BackendService, FilterService, …) register on the same server.
import * as grpc from "@grpc/grpc-js";
import { HealthImplementation } from "grpc-health-check";
import { parseListen } from "../config.ts";

export interface GrpcListener {
	server: grpc.Server;
	health: HealthImplementation;
	port: number;
	stop(): Promise<void>;
}

export async function startGrpc(
	listen: string,
	credentials = grpc.ServerCredentials.createInsecure(),
): Promise<GrpcListener> {
	const server = new grpc.Server();
	const health = new HealthImplementation({ "": "SERVING" });
	health.addToServer(server);
	const { hostname, port } = parseListen(listen);
	const address = hostname.includes(":") ? `[${hostname}]:${port}` : `${hostname}:${port}`;
	const bound = await new Promise<number>((resolve, reject) =>
		server.bindAsync(address, credentials, (err, p) => (err ? reject(err) : resolve(p))),
	);
	return {
		server,
		health,
		port: bound,
		stop: () =>
			new Promise<void>((resolve) => {
				health.setStatus("", "NOT_SERVING");
				server.tryShutdown(() => resolve());
				// Streams that ignore cancellation must not hold shutdown forever.
				setTimeout(() => {
					server.forceShutdown();
					resolve();
				}, 2000).unref();
			}),
	};
}
