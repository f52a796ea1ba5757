// The proxy supervisor: converges listeners, origins, balancers and health checks on the
// database like the data plane does (a full load at start, then on every change: bus events
// from this process, the services/rules revisions for other processes). Changes are applied
// in place: a backend's listener, origin and runtime objects survive updates, so connections
// of other backends (and of the changed one) are not touched; a deleted backend's are ended.
import type { Database } from "bun:sqlite";
import type { Config } from "../config.ts";
import { systemActor } from "../domain/actor.ts";
import { type Backend, isHoneypot } from "../domain/backends/model.ts";
import type { OriginRow as BackendOriginRow } from "../domain/backends/service.ts";
import { readRevisions } from "../domain/revisions.ts";
import type { RuleMatch } from "../domain/rules/model.ts";
import type { Logger } from "../log.ts";
import { parseAddress, parsePrefix } from "../net/cidr.ts";
import { emptyProxyCounters, type OriginHealth, type Services } from "../services.ts";
import { Balancer } from "./balancer.ts";
import { loadClearanceKey, ProofOfWork, ReconnectChallenge, sqliteVerifiedStore } from "./challenge.ts";
import { applyResult, probeFor, runProbe } from "./health.ts";
import { compileProxyRule, contains } from "./rules.ts";
import { type BackendRuntime, DEFAULT_CONNECT_TIMEOUT_MS, type OriginRuntime } from "./runtime.ts";
import { type TcpConnection, TcpListener } from "./tcp.ts";
import { UdpListener } from "./udp.ts";

const POLL_MS = 250;
const SWEEP_MS = 100;
const SLOW_SWEEP_MS = 1000;
const BIND_RETRY_MS = 5000;

interface BackendRow {
	id: string;
	organization_id: string;
	name: string;
	type: Backend["type"];
	protection: string;
	load_balancer: string;
	health_check: string;
	domains: string;
}

/** Origins are read for every backend at once, so each row carries its backend. */
type OriginRow = BackendOriginRow & { backend_id: string };

export interface ProxyStatus {
	enabled: boolean;
	listeners: Array<{ protocol: "TCP" | "UDP"; address: string; port: number; backends: string[] }>;
	bindErrors: Array<{ protocol: string; address: string; port: number; error: string }>;
}

export class ProxySupervisor {
	private readonly backends = new Map<string, BackendRuntime & { fingerprint: string; checkKey: string }>();
	private readonly originsById = new Map<string, OriginRuntime>();
	private readonly tcp = new Map<string, TcpListener>();
	private readonly udp = new Map<string, UdpListener>();
	private readonly bindErrors = new Map<string, string>();
	private readonly healthTimers = new Map<string, ReturnType<typeof setInterval>>();
	private readonly tcpConnections = new Set<TcpConnection>();
	private readonly perAddress = new Map<string, number>();
	/** Refusals before a backend was known: a shared listener's per-address limit, an unknown host. */
	private readonly unrouted = { limit: 0, routing: 0 };
	private timers: Array<ReturnType<typeof setInterval>> = [];
	private unsubscribe: (() => void) | null = null;
	private revisions = "";
	private syncing = false;
	private running = false;
	private trusted: Array<{ family: 4 | 6; bytes: Uint8Array; prefixLength: number }> = [];
	private reconnect: ReconnectChallenge;
	private pow: ProofOfWork | null = null;

	constructor(
		private readonly services: Services,
		private config: Config,
		private readonly log: Logger,
	) {
		this.reconnect = new ReconnectChallenge(this.challengeSettings(), sqliteVerifiedStore(services.db, log));
		this.trusted = config.proxy.trusted_upstreams.map((c) => parsePrefix(c));
	}

	private get db(): Database {
		return this.services.db;
	}

	private challengeSettings() {
		return {
			windowMs: this.config.proxy.challenge_window_seconds * 1000,
			rememberMs: this.config.proxy.challenge_remember_seconds * 1000,
		};
	}

	start(): void {
		if (!this.config.proxy.enabled) {
			this.log.info("proxy disabled by configuration");
			return;
		}
		this.running = true;
		this.pow = new ProofOfWork(
			loadClearanceKey(this.config.storage.data_dir),
			this.config.proxy.clearance_ttl_seconds * 1000,
		);
		this.services.setProxyView({
			originHealth: (id) => this.originHealth(id),
			activeConnections: (id) => this.backends.get(id)?.connections.size ?? null,
			counters: (id) => this.backends.get(id)?.counters ?? null,
			refusedUnrouted: () => ({ ...this.unrouted }),
		});
		this.syncNow();
		this.unsubscribe = this.services.bus.on("*", (e) => {
			if (/^(backend|rule|origin)\./.test(e.type) && e.type !== "backend.health_changed") this.syncNow();
		});
		this.timers.push(setInterval(() => this.poll(), POLL_MS));
		this.timers.push(setInterval(() => this.sweep(), SWEEP_MS));
		this.timers.push(setInterval(() => this.slowSweep(), SLOW_SWEEP_MS));
		this.timers.push(setInterval(() => this.bindErrors.size && this.syncNow(), BIND_RETRY_MS));
	}

	originHealth(originId: string): OriginHealth {
		return this.originsById.get(originId)?.health ?? "UNKNOWN";
	}

	status(): ProxyStatus {
		const listeners: ProxyStatus["listeners"] = [];
		for (const [proto, map] of [
			["TCP", this.tcp],
			["UDP", this.udp],
		] as const)
			for (const l of map.values())
				listeners.push({ protocol: proto, address: l.address, port: l.port, backends: l.backends.map((b) => b.id) });
		const bindErrors = [...this.bindErrors].map(([key, error]) => {
			const [protocol, address, port] = key.split("|");
			return { protocol: protocol as string, address: address as string, port: Number(port), error };
		});
		return { enabled: this.running, listeners, bindErrors };
	}

	private poll(): void {
		try {
			const r = readRevisions(this.db);
			if (`${r.services}|${r.rules}` !== this.revisions) this.syncNow();
		} catch (err) {
			this.log.error("proxy poll failed", { error: err });
		}
	}

	/** Loads the desired state and converges on it. */
	syncNow(): void {
		if (!this.running || this.syncing) return;
		this.syncing = true;
		try {
			const r = readRevisions(this.db);
			this.revisions = `${r.services}|${r.rules}`;
			this.converge();
		} catch (err) {
			this.log.error("proxy update failed", { error: err });
		} finally {
			this.syncing = false;
		}
	}

	private converge(): void {
		const rows = this.db
			.query<BackendRow, []>(
				"SELECT id, organization_id, name, type, protection, load_balancer, health_check, domains FROM backends WHERE sandbox = 0",
			)
			.all();
		const origins = this.db
			.query<OriginRow, []>(
				`SELECT o.* FROM origins o JOIN backends b ON b.id = o.backend_id WHERE b.sandbox = 0
				 ORDER BY o.priority, o.created_at, o.id`,
			)
			.all();
		const listeners = this.db
			.query<{ backend_id: string; address: string; port: number; protocol: "TCP" | "UDP" }, []>(
				`SELECT l.backend_id, l.address, l.port, l.protocol FROM backend_listeners l JOIN backends b ON b.id = l.backend_id
				 WHERE b.sandbox = 0`,
			)
			.all();
		const rules = this.db
			.query<{ id: string; backend_id: string; action: "CHALLENGE" | "REDIRECT"; match: string }, []>(
				`SELECT id, backend_id, action, match FROM filter_rules
				 WHERE enabled = 1 AND time_active = 1 AND action IN ('CHALLENGE', 'REDIRECT') ORDER BY priority, created_at, id`,
			)
			.all();

		const seen = new Set<string>();
		for (const row of rows) {
			seen.add(row.id);
			const own = origins.filter((o) => o.backend_id === row.id);
			const ownRules = rules.filter((r) => r.backend_id === row.id);
			const fingerprint = JSON.stringify([row, own, ownRules]);
			const current = this.backends.get(row.id);
			if (current && current.fingerprint === fingerprint) continue;
			this.applyBackend(row, own, ownRules, current ?? null, fingerprint);
		}
		for (const [id, b] of this.backends) {
			if (seen.has(id)) continue;
			this.backends.delete(id);
			b.deleted = true;
			this.stopHealth(id);
			for (const o of [...b.origins, ...(b.honeypot ? [b.honeypot] : [])]) this.originsById.delete(o.id);
			for (const c of [...b.connections]) c.close("backend deleted");
			this.log.info("proxy stopped serving backend", { backendId: id });
		}

		// Listeners: one per (protocol, address, port), serving the backends that name it.
		const desired = new Map<string, BackendRuntime[]>();
		for (const l of listeners) {
			const b = this.backends.get(l.backend_id);
			if (!b) continue;
			const key = `${l.protocol}|${l.address}|${l.port}`;
			const list = desired.get(key) ?? [];
			list.push(b);
			desired.set(key, list);
		}
		for (const list of desired.values()) list.sort((a, b) => (a.id < b.id ? -1 : 1));
		for (const [proto, map] of [
			["TCP", this.tcp],
			["UDP", this.udp],
		] as const) {
			for (const [key, l] of map) {
				if (desired.has(`${proto}|${key}`)) continue;
				l.stop();
				map.delete(key);
				this.log.info("proxy listener closed", { protocol: proto, address: l.address, port: l.port });
			}
		}
		for (const key of this.bindErrors.keys()) if (!desired.has(key)) this.bindErrors.delete(key);
		for (const [key, list] of desired) {
			const [proto, address, portText] = key.split("|") as ["TCP" | "UDP", string, string];
			const port = Number(portText);
			const inner = `${address}|${port}`;
			const existing = proto === "TCP" ? this.tcp.get(inner) : this.udp.get(inner);
			if (existing) {
				existing.backends = list;
				continue;
			}
			this.bind(proto, address, port, list, key);
		}
	}

	private bind(proto: "TCP" | "UDP", address: string, port: number, list: BackendRuntime[], key: string): void {
		const inner = `${address}|${port}`;
		const common = {
			config: () => this.config.proxy,
			log: this.log,
			trustedUpstream: (ip: string) => this.isTrusted(ip),
			acquireAddress: (ip: string) => this.acquire(ip),
			releaseAddress: (ip: string) => this.release(ip),
			geo: (ip: string) => this.services.geoip.lookup(ip),
		};
		try {
			if (proto === "TCP") {
				const l = new TcpListener(address, port, {
					...common,
					reconnect: this.reconnect,
					pow: this.pow as ProofOfWork,
					onVerified: (b, ip) => this.verified(b, ip),
					refusedUnrouted: (reason) => this.unrouted[reason]++,
					open: (c) => this.tcpConnections.add(c),
					closed: (c) => this.tcpConnections.delete(c),
				});
				l.backends = list;
				l.start();
				this.tcp.set(inner, l);
			} else {
				const l = new UdpListener(address, port, common);
				l.backends = list;
				this.udp.set(inner, l);
				l.start().catch((err) => {
					this.udp.delete(inner);
					this.bindErrors.set(key, (err as Error).message);
					this.log.error("proxy cannot bind", { protocol: proto, address, port, error: err });
				});
			}
			this.bindErrors.delete(key);
			this.log.info("proxy listening", {
				protocol: proto,
				address: address || "*",
				port,
				backends: list.map((b) => b.id),
			});
		} catch (err) {
			this.bindErrors.set(key, (err as Error).message);
			this.log.error("proxy cannot bind", { protocol: proto, address, port, error: err });
		}
	}

	private applyBackend(
		row: BackendRow,
		originRows: OriginRow[],
		ruleRows: Array<{ id: string; action: "CHALLENGE" | "REDIRECT"; match: string }>,
		current: (BackendRuntime & { fingerprint: string; checkKey: string }) | null,
		fingerprint: string,
	): void {
		const loadBalancer = JSON.parse(row.load_balancer) as Backend["loadBalancer"];
		const healthCheck = JSON.parse(row.health_check) as Backend["healthCheck"];
		const b =
			current ??
			({
				id: row.id,
				connections: new Set(),
				counters: emptyProxyCounters(),
				status: null,
				pong: null,
				deleted: false,
				balancer: new Balancer(loadBalancer, this.config.proxy.sticky_ttl_seconds * 1000),
				origins: [],
				honeypot: null,
				fingerprint: "",
				checkKey: "",
			} as unknown as BackendRuntime & { fingerprint: string; checkKey: string });
		b.organizationId = row.organization_id;
		b.name = row.name;
		b.type = row.type;
		b.domains = JSON.parse(row.domains);
		b.protection = JSON.parse(row.protection);
		b.healthCheck = healthCheck;
		b.balancer.setConfig(loadBalancer);
		b.rules = ruleRows.map((r) => compileProxyRule(r.id, r.action, JSON.parse(r.match) as RuleMatch));

		const previous = new Map([...b.origins, ...(b.honeypot ? [b.honeypot] : [])].map((o) => [o.id, o]));
		const next: OriginRuntime[] = [];
		let honeypot: OriginRuntime | null = null;
		for (const r of originRows) {
			const settings = JSON.parse(r.settings) as Backend["origins"][number]["settings"];
			const o =
				previous.get(r.id) ??
				({
					id: r.id,
					active: 0,
					current: 0,
					health: "UNKNOWN",
					check: { health: "UNKNOWN", okStreak: 0, failStreak: 0, lastError: null },
				} as OriginRuntime);
			if (o.address !== r.address || o.port !== r.port) {
				o.health = "UNKNOWN";
				o.check = { health: "UNKNOWN", okStreak: 0, failStreak: 0, lastError: null };
			}
			o.name = r.name;
			o.address = r.address;
			o.port = r.port;
			o.weight = r.weight;
			o.priority = r.priority;
			o.enabled = r.enabled === 1;
			o.connectTimeoutMs = settings.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
			o.readTimeoutMs = settings.readTimeoutMs ?? null;
			o.writeTimeoutMs = settings.writeTimeoutMs ?? null;
			o.maxConnections = settings.maxConnections ?? null;
			o.proxyProtocol = settings.proxyProtocol ?? 0;
			o.honeypot = isHoneypot(r.name);
			previous.delete(r.id);
			this.originsById.set(r.id, o);
			if (o.honeypot) honeypot = o;
			else next.push(o);
		}
		for (const gone of previous.keys()) this.originsById.delete(gone);
		b.origins = next;
		b.honeypot = honeypot;
		b.fingerprint = fingerprint;
		if (!current) this.backends.set(b.id, b);

		const checkKey = JSON.stringify([
			row.type,
			healthCheck,
			b.domains,
			next.map((o) => [o.id, o.address, o.port, o.proxyProtocol]),
		]);
		if (checkKey !== b.checkKey) {
			b.checkKey = checkKey;
			this.startHealth(b);
		}
		this.log.info(current ? "proxy backend updated" : "proxy serving backend", {
			backendId: b.id,
			origins: next.length,
		});
	}

	// ---- health ----

	private startHealth(b: BackendRuntime): void {
		this.stopHealth(b.id);
		const probe = probeFor(b);
		if (probe === "none") {
			for (const o of b.origins) this.setHealth(b, o, "UNKNOWN");
			return;
		}
		const hc = b.healthCheck;
		const run = () => {
			for (const o of b.origins) {
				runProbe(probe, o, {
					timeoutMs: (hc.timeoutSeconds ?? 10) * 1000,
					host: b.domains.find((d) => !d.startsWith("*.")) ?? o.address,
					httpPath: hc.http?.path ?? "/",
					expectedStatus: hc.http?.expectedStatus ?? null,
				}).then((result) => {
					if (b.deleted || !b.origins.includes(o)) return;
					if (result.status) b.status = { json: result.status, at: Date.now() };
					if (result.pong) b.pong = { pong: result.pong, at: Date.now() };
					const before = o.health;
					const after = applyResult(o.check, result.ok, hc, result.error);
					if (after !== before) this.setHealth(b, o, after, result.error);
				});
			}
		};
		run();
		this.healthTimers.set(b.id, setInterval(run, (hc.intervalSeconds ?? 30) * 1000));
	}

	private setHealth(b: BackendRuntime, o: OriginRuntime, to: OriginHealth, error?: string): void {
		const from = o.health;
		o.health = to;
		o.check.health = to;
		if (from === to) return;
		this.log.info("origin health changed", { backendId: b.id, originId: o.id, from, to, error });
		this.services.bus.publish({
			type: "backend.health_changed",
			organizationId: b.organizationId,
			resourceId: b.id,
			data: { originId: o.id, from, to },
		});
	}

	private stopHealth(id: string): void {
		const t = this.healthTimers.get(id);
		if (t) clearInterval(t);
		this.healthTimers.delete(id);
	}

	// ---- per-connection services ----

	private isTrusted(ip: string): boolean {
		if (!this.trusted.length) return false;
		try {
			const addr = parseAddress(ip);
			return this.trusted.some((p) => contains(p, addr));
		} catch {
			return false;
		}
	}

	private acquire(ip: string): boolean {
		const limit = this.config.proxy.max_connections_per_ip;
		const n = this.perAddress.get(ip) ?? 0;
		if (limit > 0 && n >= limit) return false;
		this.perAddress.set(ip, n + 1);
		return true;
	}

	private release(ip: string): void {
		const n = (this.perAddress.get(ip) ?? 1) - 1;
		if (n <= 0) this.perAddress.delete(ip);
		else this.perAddress.set(ip, n);
	}

	private verified(b: BackendRuntime, ip: string): void {
		this.log.info("challenge passed", { backendId: b.id, ip });
		if (!this.config.proxy.challenge_allowlist) return;
		try {
			this.services.ipLists.add(
				systemActor(b.organizationId),
				"allow",
				{
					ip,
					durationSeconds: this.config.proxy.challenge_remember_seconds,
					backendId: b.id,
					reason: "passed the proxy challenge",
				},
				"proxy",
			);
		} catch (err) {
			this.log.warn("cannot allow-list a verified address", { ip, error: err });
		}
	}

	private sweep(): void {
		const now = Date.now();
		for (const c of this.tcpConnections) c.checkDeadlines(now);
	}

	private slowSweep(): void {
		const now = Date.now();
		for (const l of this.udp.values()) l.sweep(now);
		this.reconnect.sweep(now);
	}

	reload(config: Config): void {
		this.config = config;
		this.trusted = config.proxy.trusted_upstreams.map((c) => parsePrefix(c));
		this.reconnect.setSettings(this.challengeSettings());
		this.pow?.setClearanceTtl(config.proxy.clearance_ttl_seconds * 1000);
		if (config.proxy.enabled && !this.running) this.start();
		else if (!config.proxy.enabled && this.running) this.stop();
		else this.syncNow();
	}

	/** Closes listeners and every proxied connection. */
	stop(): void {
		this.running = false;
		for (const t of this.timers) clearInterval(t);
		this.timers = [];
		this.unsubscribe?.();
		this.unsubscribe = null;
		for (const id of [...this.healthTimers.keys()]) this.stopHealth(id);
		for (const l of this.tcp.values()) l.stop();
		for (const l of this.udp.values()) l.stop();
		this.tcp.clear();
		this.udp.clear();
		for (const c of [...this.tcpConnections]) c.close("proxy stopped");
		for (const b of this.backends.values()) b.deleted = true;
		this.backends.clear();
		this.originsById.clear();
	}
}
