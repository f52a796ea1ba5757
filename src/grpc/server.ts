// The gRPC listener: the pistonprotection.v1 services (thin, over the same domain services as
// REST), the standard health service and server reflection. Every .proto is embedded (protos.ts);
// grpc-health-check and @grpc/reflection's own loaders read their files from node_modules at run
// time, which a compiled binary does not have, so both are registered here from embedded copies.
import { readFileSync } from "node:fs";
import * as grpc from "@grpc/grpc-js";
import { ReflectionV1Implementation } from "@grpc/reflection/build/src/implementations/reflection-v1.js";
import { type Config, parseListen } from "../config.ts";
import type { Logger } from "../log.ts";
import type { Services } from "../services.ts";
import { ensureCertificate } from "../tls.ts";
import { defineService, type GrpcDeps, type Handlers } from "./handlers.ts";
import { apiPackageDefinition, SUPPORT_PROTOS, supportPackageDefinition } from "./protos.ts";
import { alertHandlers } from "./services/alert.ts";
import { backendHandlers } from "./services/backend.ts";
import { filterHandlers } from "./services/filter.ts";
import { ipHandlers } from "./services/ip.ts";
import { metricsHandlers } from "./services/metrics.ts";
import { organizationHandlers } from "./services/organization.ts";
import { webhookHandlers } from "./services/webhook.ts";
import { StreamLimiter } from "./streams.ts";

export type ServingStatus = "SERVING" | "NOT_SERVING";

export interface GrpcListener {
	server: grpc.Server;
	health: HealthService;
	port: number;
	tls: boolean;
	stop(): Promise<void>;
}

/** grpc.health.v1.Health: Check and Watch per service name ("" is the whole server). */
export class HealthService {
	private readonly statuses = new Map<string, ServingStatus>();
	private readonly watchers = new Set<{ service: string; send(status: string): void }>();

	constructor(initial: Record<string, ServingStatus>) {
		for (const [k, v] of Object.entries(initial)) this.statuses.set(k, v);
	}

	setStatus(service: string, status: ServingStatus): void {
		this.statuses.set(service, status);
		for (const w of this.watchers) if (w.service === service) w.send(status);
	}

	addToServer(server: grpc.Server): void {
		const pkg = grpc.loadPackageDefinition(
			supportPackageDefinition(SUPPORT_PROTOS.health, { keepCase: true, enums: String, defaults: true }),
		) as unknown as { grpc: { health: { v1: { Health: { service: grpc.ServiceDefinition } } } } };
		server.addService(pkg.grpc.health.v1.Health.service, {
			Check: (call: grpc.ServerUnaryCall<{ service: string }, unknown>, callback: grpc.sendUnaryData<unknown>) => {
				const status = this.statuses.get(call.request.service);
				if (status) callback(null, { status });
				else callback({ code: grpc.status.NOT_FOUND, details: `unknown service '${call.request.service}'` });
			},
			Watch: (call: grpc.ServerWritableStream<{ service: string }, unknown>) => {
				const watcher = {
					service: call.request.service,
					send: (status: string) => call.write({ status }),
				};
				this.watchers.add(watcher);
				const done = () => this.watchers.delete(watcher);
				call.on("cancelled", done);
				call.on("close", done);
				watcher.send(this.statuses.get(call.request.service) ?? "SERVICE_UNKNOWN");
			},
		});
	}
}

/** grpc.reflection v1 and v1alpha over the API's descriptors. */
function addReflection(server: grpc.Server): void {
	const reflection = new ReflectionV1Implementation(apiPackageDefinition());
	// The options @grpc/reflection's handler expects its messages in.
	const options = { longs: String, enums: String, bytes: Array, defaults: true, oneofs: true };
	for (const [files, pkgName] of [
		[SUPPORT_PROTOS.reflectionV1, "v1"],
		[SUPPORT_PROTOS.reflectionV1Alpha, "v1alpha"],
	] as const) {
		const pkg = grpc.loadPackageDefinition(supportPackageDefinition(files, options)) as unknown as {
			grpc: { reflection: Record<string, { ServerReflection: { service: grpc.ServiceDefinition } }> };
		};
		const definition = pkg.grpc.reflection[pkgName]?.ServerReflection.service;
		if (!definition) throw new Error(`reflection ${pkgName} missing from its .proto`);
		server.addService(definition, {
			ServerReflectionInfo: (stream: grpc.ServerDuplexStream<unknown, unknown>) => {
				stream.on("end", () => stream.end());
				stream.on("data", (message) =>
					stream.write(reflection.handleServerReflectionRequest(message as never) as unknown),
				);
			},
		});
	}
}

const API_SERVICES: Record<string, (deps: GrpcDeps) => Handlers> = {
	BackendService: backendHandlers,
	FilterService: filterHandlers,
	IpService: ipHandlers,
	OrganizationService: organizationHandlers,
	MetricsService: metricsHandlers,
	AlertService: alertHandlers,
	WebhookService: webhookHandlers,
};

/** Every pistonprotection.v1 service on the server. */
export function addApiServices(server: grpc.Server, deps: GrpcDeps): void {
	for (const [name, handlers] of Object.entries(API_SERVICES)) {
		const { definition, implementation } = defineService(deps, name, handlers(deps));
		server.addService(definition, implementation);
	}
}

export function isLoopback(hostname: string): boolean {
	const h = hostname.replace(/^\[|\]$/g, "").toLowerCase();
	return h === "localhost" || h === "::1" || /^127\./.test(h) || h === "::ffff:127.0.0.1";
}

/** Plaintext on loopback (the default); TLS with the appliance's certificate whenever exposed. */
export function grpcCredentials(config: Config): { credentials: grpc.ServerCredentials; tls: boolean } {
	if (isLoopback(parseListen(config.server.grpc_listen).hostname))
		return { credentials: grpc.ServerCredentials.createInsecure(), tls: false };
	const { certPath, keyPath } = ensureCertificate(config);
	const keyPair = { cert_chain: readFileSync(certPath), private_key: readFileSync(keyPath) };
	return { credentials: grpc.ServerCredentials.createSsl(null, [keyPair]), tls: true };
}

export async function startGrpc(
	listen: string,
	services: Services,
	log: Logger,
	credentials: { credentials: grpc.ServerCredentials; tls: boolean } = {
		credentials: grpc.ServerCredentials.createInsecure(),
		tls: false,
	},
): Promise<GrpcListener> {
	const server = new grpc.Server();
	const health = new HealthService({ "": "SERVING" });
	health.addToServer(server);
	addReflection(server);
	addApiServices(server, { services, log, streams: new StreamLimiter() });
	for (const name of Object.keys(API_SERVICES)) health.setStatus(`pistonprotection.v1.${name}`, "SERVING");
	const { hostname, port } = parseListen(listen);
	const address = hostname.includes(":") ? `[${hostname}]:${port}` : `${hostname}:${port}`;
	const bound = await new Promise<number>((resolve, reject) =>
		server.bindAsync(address, credentials.credentials, (err, p) => (err ? reject(err) : resolve(p))),
	);
	return {
		server,
		health,
		port: bound,
		tls: credentials.tls,
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
