// The data plane inside the daemon: load and attach at start, converge the maps on the
// database (full resync, then on every change), sweep expired entries, report readiness.
// Stopping closes our handles only: the attached program keeps filtering (fail-static).
import type { Config } from "../config.ts";
import { Scheduler } from "../jobs/scheduler.ts";
import type { Logger } from "../log.ts";
import type { DataPlaneReadiness, Services } from "../services.ts";
import { mapSource } from "../telemetry/source.ts";
import type { MapName } from "./abi.ts";
import type { BpfMap } from "./libbpf.ts";
import { Loader } from "./loader.ts";
import { Reconciler } from "./reconciler.ts";
import { SynProxy, synOptions } from "./synproxy.ts";

const POLL_MS = 250;
const SWEEP_MS = 5000;
/** A full recompile at least this often (time windows have their own minute job). */
const RECOMPILE_MS = 30_000;

export class DataPlane {
	private loader: Loader | null = null;
	private reconciler: Reconciler | null = null;
	private timers: Array<ReturnType<typeof setInterval>> = [];
	private state: DataPlaneReadiness = { state: "starting", interfaces: [] };
	private lastFull = 0;
	private syncing = false;
	private unsubscribe: (() => void) | null = null;
	private readonly scheduler: Scheduler;

	constructor(
		private readonly services: Services,
		private config: Config["dataplane"],
		private readonly log: Logger,
	) {
		this.scheduler = new Scheduler(services, log.child({ component: "jobs" }));
	}

	readiness(): DataPlaneReadiness {
		const applied = this.reconciler?.appliedRevisions();
		if (!applied || !this.reconciler) return this.state;
		return { ...this.state, applied, synDefense: this.reconciler.synDefense() };
	}

	/** Loads, attaches and resyncs. Failure is reported by readiness, not thrown: the API stays up. */
	async start(objectBytes?: Uint8Array): Promise<void> {
		this.scheduler.start(this.services.config);
		if (!this.config.enabled) {
			this.state = { state: "disabled", interfaces: [] };
			this.log.info("data plane disabled by configuration");
			return;
		}
		try {
			const loader = new Loader(this.config, this.log);
			await loader.load(objectBytes);
			this.loader = loader;
			const attachments = loader.attachAll();
			this.reconciler = new Reconciler(this.services.db, this.config, (name) => this.map(name), this.log);
			this.reconciler.useSynProxy(
				new SynProxy(
					this.services.config.storage.data_dir,
					this.log.child({ component: "synproxy" }),
					undefined,
					this.config.syn_proxy ? undefined : "disabled by dataplane.syn_proxy",
				),
				synOptions(this.config.interfaces),
			);
			// The telemetry collector samples the counters (rates, rollups, rule stats, attacks);
			// attaching takes the rules' baselines before the first compile.
			this.services.telemetry.attach(mapSource((name) => this.map(name)));
			const stats = this.reconciler.fullResync();
			this.lastFull = Date.now();
			this.log.info("data plane synchronised", { ...stats });
			this.state = {
				state: attachments.length ? "attached" : "idle",
				interfaces: attachments.map((a) => ({ name: a.name, mode: a.mode === "skb" ? "generic" : "native" })),
			};
			if (!attachments.length)
				this.log.warn("no interface configured: nothing is filtered until dataplane.interfaces names one");
			// Changes made in this process apply at once; other processes' (the CLI) within POLL_MS.
			this.unsubscribe = this.services.bus.on("*", (e) => {
				if (/^(ip|backend|rule)\./.test(e.type)) this.syncSoon();
			});
			this.timers.push(setInterval(() => this.tick(), POLL_MS));
			this.timers.push(setInterval(() => this.sweep(), SWEEP_MS));
			this.services.setCounterView(this.services.telemetry);
		} catch (err) {
			this.state = { state: "failed", interfaces: [], error: (err as Error).message };
			this.log.error("data plane failed to start", { error: err });
		}
	}

	/** The loaded program's map by name (counters, tests). */
	map(name: MapName): BpfMap {
		if (!this.loader) throw new Error("the data plane is not loaded");
		return this.loader.loaded.map(name);
	}

	/**
	 * Applies a change before the request that made it answers. A bulk request publishes one
	 * event per rule after one commit: the first event's sync applies them all, the rest find
	 * nothing changed.
	 */
	private syncSoon(): void {
		if (this.reconciler?.changed()) this.syncNow();
	}

	/** Applies pending changes now (the poller does this within POLL_MS anyway). */
	syncNow(force = false): void {
		if (!this.reconciler || this.syncing) return;
		this.syncing = true;
		try {
			// New rules get their counter baseline before they are compiled.
			this.services.telemetry.baseline();
			const stats = this.reconciler.sync(new Date(), force);
			if (stats.updated || stats.deleted) this.log.info("data plane updated", { ...stats });
			if (this.state.state === "failed" && this.loader)
				this.state = { ...this.state, state: "attached", error: undefined };
		} catch (err) {
			// The maps keep their last good contents; the error is visible until a later sync works.
			this.log.error("data plane update refused", { error: err });
		} finally {
			this.syncing = false;
		}
	}

	private tick(): void {
		if (!this.reconciler) return;
		try {
			const due = Date.now() - this.lastFull >= RECOMPILE_MS;
			if (due || this.reconciler.changed()) {
				if (due) this.lastFull = Date.now();
				this.syncNow(due);
			}
		} catch (err) {
			this.log.error("data plane poll failed", { error: err });
		}
	}

	private sweep(): void {
		try {
			const removed = this.services.ipLists.sweepExpired();
			if (removed) this.log.info("expired list entries removed", { removed });
		} catch (err) {
			this.log.error("expiry sweep failed", { error: err });
		}
	}

	/** SIGHUP: management networks and ports are re-applied; interface changes need a restart. */
	reload(config: Config["dataplane"]): void {
		const before = JSON.stringify(this.config.interfaces);
		this.config = config;
		this.reconciler?.setConfig(config);
		if (JSON.stringify(config.interfaces) !== before)
			this.log.warn("dataplane.interfaces changed; restart the service to attach or detach interfaces");
		this.syncNow(true);
	}

	/**
	 * Stops our timers and handles. Fail-static (DESIGN.md): the program stays attached with the
	 * last maps, still answering SYNs with cookies where it did, and the SYNPROXY table that
	 * completes them stays too — it is kernel state and needs no daemon, and removing it would cut
	 * the connections it completed. The next daemon adopts both; `dataplane detach` removes both.
	 */
	stop(): void {
		this.scheduler.stop();
		this.services.setCounterView(null);
		this.services.telemetry.detach();
		for (const t of this.timers) clearInterval(t);
		this.timers = [];
		this.unsubscribe?.();
		this.unsubscribe = null;
		this.loader?.close();
		this.loader = null;
		this.reconciler = null;
	}
}
