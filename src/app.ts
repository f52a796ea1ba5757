// Wires everything: the one place that knows all parts. `serve` calls startAppliance().
import { mkdirSync } from "node:fs";
import type { Server } from "bun";
import { type Config, type LoadedConfig, parseListen } from "./config.ts";
import { DataPlane } from "./dataplane/index.ts";
import { DatabaseError, databasePath, migrate, openDatabase } from "./db/database.ts";
import { type GrpcListener, grpcCredentials, startGrpc } from "./grpc/server.ts";
import { buildHttpApp, recordPeer } from "./http/app.ts";
import type { Logger } from "./log.ts";
import { AlertEvaluator, counterMetrics } from "./notify/alerts.ts";
import { WebhookDeliverer } from "./notify/webhooks.ts";
import { ProxySupervisor } from "./proxy/index.ts";
import { createServices, type Services } from "./services.ts";
import { exposition, PROMETHEUS_CONTENT_TYPE } from "./telemetry/prometheus.ts";
import { ensureCertificate } from "./tls.ts";

export interface Appliance {
	services: Services;
	dataplane: DataPlane;
	proxy: ProxySupervisor;
	ports: { http: number; https: number | null; grpc: number };
	reload(next: LoadedConfig): Promise<void>;
	stop(): Promise<void>;
}

/** Creates the data directory (0750) if missing; opens and migrates the database. */
export function openDataStore(config: Config) {
	try {
		mkdirSync(config.storage.data_dir, { recursive: true, mode: 0o750 });
	} catch (err) {
		throw new DatabaseError(`cannot create data directory ${config.storage.data_dir}: ${(err as Error).message}`);
	}
	const db = openDatabase(databasePath(config.storage.data_dir));
	const applied = migrate(db);
	return { db, applied };
}

export async function startAppliance(loaded: LoadedConfig, log: Logger): Promise<Appliance> {
	const config = loaded.config;
	const { db, applied } = openDataStore(config);
	for (const m of applied) log.info("migration applied", { version: m.version, name: m.name });
	const services = createServices(db, config, log);
	const dataplane = new DataPlane(services, config.dataplane, log.child({ component: "dataplane" }));
	services.setDataPlaneReadiness(() => dataplane.readiness());
	await dataplane.start();
	services.telemetry.start();
	// Webhooks: every subscribable event is queued in SQLite in the publisher's turn, then sent.
	const deliverer = new WebhookDeliverer(db, log.child({ component: "webhooks" }));
	services.bus.on("*", (event) => {
		if (services.webhooks.enqueue(event) > 0) void deliverer.kick();
	});
	deliverer.start();
	const alerts = new AlertEvaluator(
		db,
		services.bus,
		counterMetrics(db, services.counters),
		() => config,
		log.child({ component: "alerts" }),
	);
	alerts.start();
	// Players in, origins out: binds every backend's listeners and follows the database.
	const proxy = new ProxySupervisor(services, config, log.child({ component: "proxy" }));
	proxy.start();
	const app = buildHttpApp(services).compile();
	const fetch = (request: Request, server: Server<undefined>) => {
		recordPeer(request, server.requestIP(request)?.address);
		return app.handle(request);
	};

	// Prometheus /metrics has no credentials: on the loopback HTTP listener, or its own listener.
	const metrics = () =>
		new Response(exposition(db, services.telemetry, services.telemetry.counters, services.proxy()), {
			headers: { "content-type": PROMETHEUS_CONTENT_TYPE },
		});
	const servesMetrics = (request: Request) =>
		config.telemetry.prometheus_enabled &&
		!config.telemetry.prometheus_listen &&
		request.method === "GET" &&
		new URL(request.url).pathname === "/metrics";

	const servers: Server<undefined>[] = [];
	let grpc: GrpcListener | null = null;
	// Stopping, or giving up half-way through starting: whatever was started stops, the database last.
	const shutdown = async () => {
		for (const s of servers) s.stop(true);
		await grpc?.stop();
		proxy.stop();
		await deliverer.stop();
		await alerts.stop();
		services.telemetry.stop();
		dataplane.stop();
		db.close();
	};
	try {
		const http = Bun.serve({
			...parseListen(config.server.http_listen),
			fetch: (request, server) => (servesMetrics(request) ? metrics() : fetch(request, server)),
		});
		servers.push(http);
		if (config.telemetry.prometheus_enabled && config.telemetry.prometheus_listen) {
			const listener = Bun.serve({
				...parseListen(config.telemetry.prometheus_listen),
				fetch: (request) =>
					new URL(request.url).pathname === "/metrics" ? metrics() : new Response("not found", { status: 404 }),
			});
			servers.push(listener);
			log.info("prometheus metrics", { port: listener.port });
		}
		let httpsPort: number | null = null;
		if (config.server.https_enabled) {
			const tls = ensureCertificate(config);
			if (tls.generated)
				log.info("generated a self-signed TLS certificate", {
					cert: tls.certPath,
				});
			const https = Bun.serve({
				...parseListen(config.server.https_listen),
				tls: { cert: Bun.file(tls.certPath), key: Bun.file(tls.keyPath) },
				fetch,
			});
			servers.push(https);
			httpsPort = https.port ?? null;
		}
		grpc = await startGrpc(
			config.server.grpc_listen,
			services,
			log.child({ component: "grpc" }),
			grpcCredentials(config),
		);
		const ports = { http: http.port ?? 0, https: httpsPort, grpc: grpc.port };
		log.info("listening", { ...ports, configPath: loaded.path });

		return {
			services,
			dataplane,
			proxy,
			ports,
			async reload(next) {
				// Sections are swapped in place so every service sees them on its next read; the
				// listeners and the data directory are bound at start and change only on restart.
				const restartNeeded = (["server", "storage"] as const).filter(
					(k) => JSON.stringify(config[k]) !== JSON.stringify(next.config[k]),
				);
				for (const key of Object.keys(next.config) as Array<keyof Config>) {
					if (key !== "server" && key !== "storage") Object.assign(config, { [key]: next.config[key] });
				}
				log.setLevel(config.log.level);
				dataplane.reload(config.dataplane);
				proxy.reload(config);
				log.info("configuration reloaded", { configPath: next.path });
				if (restartNeeded.length)
					log.warn("some changes take effect only after a restart", { sections: restartNeeded });
			},
			async stop() {
				await shutdown();
				log.info("stopped");
			},
		};
	} catch (err) {
		await shutdown();
		throw err;
	}
}
