// Backends: protected services with listeners, origins and protection settings.
// Listener and protection changes bump the 'services' revision the data plane follows.
import type { Database } from "bun:sqlite";
import { destinationScope } from "../../dataplane/compile.ts";
import type { EventBus } from "../../events.ts";
import type { GeoIpService } from "../../geoip/service.ts";
import { AddressError, parseAddress } from "../../net/cidr.ts";
import type { LiveView } from "../../services.ts";
import type { Actor, Permission } from "../actor.ts";
import type { AuditService } from "../audit/service.ts";
import { Conflict, type FieldError, Forbidden, NotFound, ValidationError } from "../errors.ts";
import { newId, nowIso } from "../ids.ts";
import { bumpRevision } from "../revisions.ts";
import { PROXY_ACTION_TYPES } from "../rules/model.ts";
import { activeSourceSets, MAX_RULES_PER_BACKEND, MAX_SOURCE_SETS } from "../rules/service.ts";
import { check } from "../validate.ts";
import {
	BACKEND_TYPES,
	type Backend,
	BackendCreate,
	type BackendStatus,
	type BackendType,
	BackendUpdate,
	DEFAULT_LISTENERS,
	type Health,
	HONEYPOT_ORIGIN_NAME,
	isHoneypot,
	type Listener,
	type Origin,
	OriginInput,
	OriginUpdate,
	type Protection,
	ProtectionLevel,
} from "./model.ts";

interface BackendRow {
	id: string;
	organization_id: string;
	dp_index: number;
	sandbox: number;
	name: string;
	type: Backend["type"];
	protection: string;
	load_balancer: string;
	health_check: string;
	domains: string;
	created_at: string;
	updated_at: string;
}

/** An `origins` row as stored. */
export interface OriginRow {
	id: string;
	name: string;
	address: string;
	port: number;
	weight: number;
	priority: number;
	enabled: number;
	settings: string;
}

export interface BackendQuery {
	page?: number;
	pageSize?: number;
	type?: string;
	status?: string;
	search?: string;
}

const STATUS_FILTERS = ["healthy", "degraded", "unhealthy", "unknown"] as const;

/** Whether a backend has its REDIRECT target: an origin named honeypot (any case). */
export function hasHoneypot(db: Database, backendId: string): boolean {
	return (
		db
			.query<{ n: number }, [string, string]>("SELECT 1 AS n FROM origins WHERE backend_id = ? AND lower(name) = ?")
			.get(backendId, HONEYPOT_ORIGIN_NAME) !== null
	);
}
const MAX_ORIGINS = 64;

/**
 * A level challenge only exists where the proxy can hold a conversation with the client before the
 * origin: a reconnect for Minecraft Java, a proof-of-work page for HTTP. HTTPS is routed by SNI
 * without terminating TLS, and RakNet, QUIC and raw TCP/UDP have nothing to show a challenge in;
 * accepting `enabled: true` there would store a setting nothing enforces.
 */
export const CHALLENGE_TYPES = PROXY_ACTION_TYPES.CHALLENGE;

function checkChallenge(type: BackendType, protection: Protection | undefined): void {
	// A CAPTCHA needs a third-party service the appliance cannot reach offline; the others name the
	// one challenge each backend type has (proof of work in the browser, reconnect for Minecraft).
	if (protection?.challenge?.type === "CAPTCHA")
		throw ValidationError.field(
			"protection.challenge.type",
			"unsupported",
			"no CAPTCHA provider is built in; use PROOF_OF_WORK (HTTP) or MINECRAFT_LOGIN (Minecraft Java)",
		);
	if (protection?.challenge?.enabled && !CHALLENGE_TYPES.includes(type))
		throw ValidationError.field(
			"protection.challenge.enabled",
			"unsupported",
			`${type} backends have no challenge (${CHALLENGE_TYPES.join(", ")} only): ${type === "HTTPS" ? "TLS is routed by SNI, not terminated" : "the protocol has no place to show one"}`,
		);
}

function require(actor: Actor, permission: Permission) {
	if (!actor.permissions.includes(permission)) throw new Forbidden(`requires the '${permission}' permission`);
}

export class BackendService {
	constructor(
		private readonly db: Database,
		private readonly audit: AuditService,
		private readonly bus: EventBus,
		/** dataplane.map_sizes.backends: the data plane's per-backend arrays hold this many. */
		private readonly maxBackends: number,
		private readonly geoip: GeoIpService,
		private readonly live: LiveView,
	) {}

	create(actor: Actor, input: unknown): Backend {
		require(actor, "write");
		check(BackendCreate, input);
		const listeners = this.listenersFor(input.type, input.listeners);
		this.checkOrigins(input.origins ?? []);
		this.checkGeoIp(input.protection);
		checkChallenge(input.type, input.protection);
		const sandbox = actor.sandbox ? 1 : 0;
		const backend = this.db.transaction(() => {
			this.ensureNameFree(actor, input.name, null);
			this.ensureListenersFree(listeners, null, { type: input.type, domains: normalizeDomains(input.domains ?? []) });
			const id = newId("bk");
			const now = nowIso();
			// The smallest free index keeps the data plane's per-backend arrays dense.
			const dpIndex =
				this.db
					.query<{ n: number }, []>(
						`SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM backends WHERE dp_index = 1) THEN 1
							ELSE (SELECT MIN(b.dp_index) + 1 FROM backends b
								WHERE NOT EXISTS (SELECT 1 FROM backends c WHERE c.dp_index = b.dp_index + 1)) END AS n`,
					)
					.get()?.n ?? 1;
			if (dpIndex > this.maxBackends)
				throw ValidationError.field(
					"name",
					"limit_exceeded",
					`the data plane holds ${this.maxBackends} backends (dataplane.map_sizes.backends)`,
				);
			this.db
				.prepare(
					`INSERT INTO backends (id, organization_id, dp_index, sandbox, name, type, protection, load_balancer,
						health_check, domains, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				)
				.run(
					id,
					actor.organizationId,
					dpIndex,
					sandbox,
					input.name,
					input.type,
					JSON.stringify({ enabled: true, level: "MEDIUM", ...input.protection }),
					JSON.stringify(input.loadBalancer ?? { algorithm: "ROUND_ROBIN", stickySessions: false }),
					JSON.stringify(
						input.healthCheck ?? {
							enabled: true,
							intervalSeconds: 30,
							timeoutSeconds: 10,
							healthyThreshold: 2,
							unhealthyThreshold: 3,
						},
					),
					JSON.stringify(normalizeDomains(input.domains ?? [])),
					now,
					now,
				);
			this.writeListeners(id, listeners);
			for (const o of input.origins ?? []) this.insertOrigin(id, o, now);
			this.afterProtectionChange(id, !!sandbox);
			if (!sandbox) bumpRevision(this.db, "services");
			this.audit.record(actor, {
				action: "backend.created",
				resourceType: "backend",
				resourceId: id,
				description: `Created backend '${input.name}'`,
				metadata: { backendName: input.name, backendType: input.type },
			});
			return this.load(actor, id);
		})();
		this.bus.publish({ type: "backend.created", organizationId: actor.organizationId, resourceId: backend.id });
		return backend;
	}

	get(actor: Actor, id: string): Backend {
		require(actor, "read");
		return this.load(actor, id);
	}

	list(actor: Actor, query: BackendQuery = {}) {
		require(actor, "read");
		const page = Math.max(1, query.page ?? 1);
		const pageSize = Math.min(100, Math.max(1, query.pageSize ?? 20));
		const errors: FieldError[] = [];
		if (query.type !== undefined && !(BACKEND_TYPES as readonly string[]).includes(query.type))
			errors.push({ field: "type", code: "invalid_enum", message: `must be one of ${BACKEND_TYPES.join(", ")}` });
		const status = query.status?.toLowerCase();
		if (status !== undefined && !(STATUS_FILTERS as readonly string[]).includes(status))
			errors.push({ field: "status", code: "invalid_enum", message: `must be one of ${STATUS_FILTERS.join(", ")}` });
		if (errors.length) throw new ValidationError(errors);
		const where = ["organization_id = ?", "sandbox = ?"];
		const params: Array<string | number> = [actor.organizationId, actor.sandbox ? 1 : 0];
		if (query.type) {
			where.push("type = ?");
			params.push(query.type);
		}
		if (query.search) {
			where.push("(name LIKE ? ESCAPE '\\' OR domains LIKE ? ESCAPE '\\')");
			const like = `%${query.search.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
			params.push(like, like);
		}
		const clause = where.join(" AND ");
		const ids = this.db
			.query<{ id: string }, typeof params>(`SELECT id FROM backends WHERE ${clause} ORDER BY created_at, id`)
			.all(...params)
			.map((r) => r.id);
		// Health is live state, not a column: filtering by it loads the candidates.
		const matching = status
			? ids.map((id) => this.load(actor, id)).filter((b) => b.status.health.toLowerCase() === status)
			: null;
		const totalCount = matching ? matching.length : ids.length;
		const slice = <T>(all: T[]) => all.slice((page - 1) * pageSize, page * pageSize);
		return {
			data: matching ? slice(matching) : slice(ids).map((id) => this.load(actor, id)),
			pagination: { page, pageSize, totalCount, hasNext: page * pageSize < totalCount },
		};
	}

	/** Live state: origin health from the proxy, rates from the data plane's counters. */
	status(actor: Actor, id: string): BackendStatus {
		require(actor, "read");
		return this.load(actor, id).status;
	}

	addOrigin(actor: Actor, backendId: string, input: unknown): Origin {
		require(actor, "write");
		check(OriginInput, input);
		const backend = this.load(actor, backendId);
		const originId = this.db.transaction(() => {
			if (backend.origins.some((o) => o.name === input.name))
				throw new Conflict("duplicate_name", `backend '${backend.name}' already has an origin named '${input.name}'`);
			this.checkOrigins([...backend.origins, input], "name");
			if (backend.origins.length >= MAX_ORIGINS)
				throw ValidationError.field("origins", "limit_exceeded", `a backend has at most ${MAX_ORIGINS} origins`);
			const now = nowIso();
			const id = this.insertOrigin(backendId, input, now);
			this.touch(backendId, now);
			this.audit.record(actor, {
				action: "backend.origin_added",
				resourceType: "backend",
				resourceId: backendId,
				description: `Added origin '${input.name}' (${input.address}:${input.port}) to '${backend.name}'`,
				metadata: { originId: id, name: input.name, address: input.address, port: input.port },
			});
			return id;
		})();
		this.bus.publish({ type: "backend.updated", organizationId: actor.organizationId, resourceId: backendId });
		return this.origin(actor, backendId, originId);
	}

	updateOrigin(actor: Actor, backendId: string, originId: string, input: unknown): Origin {
		require(actor, "write");
		check(OriginUpdate, input);
		const backend = this.load(actor, backendId);
		const current = this.origin(actor, backendId, originId);
		this.db.transaction(() => {
			if (input.name !== undefined && backend.origins.some((o) => o.name === input.name && o.id !== originId))
				throw new Conflict("duplicate_name", `backend '${backend.name}' already has an origin named '${input.name}'`);
			if (input.name !== undefined)
				this.checkOrigins(
					backend.origins.map((o) => (o.id === originId ? { name: input.name as string } : o)),
					"name",
				);
			const now = nowIso();
			this.db
				.prepare(
					`UPDATE origins SET name = ?, address = ?, port = ?, weight = ?, priority = ?, enabled = ?, settings = ?,
						updated_at = ? WHERE id = ?`,
				)
				.run(
					input.name ?? current.name,
					input.address ?? current.address,
					input.port ?? current.port,
					input.weight ?? current.weight,
					input.priority ?? current.priority,
					(input.enabled ?? current.enabled) ? 1 : 0,
					JSON.stringify(input.settings ? { ...current.settings, ...input.settings } : current.settings),
					now,
					originId,
				);
			this.ensureRedirectTarget(backendId, "name");
			this.touch(backendId, now);
			this.audit.record(actor, {
				action: "backend.origin_updated",
				resourceType: "backend",
				resourceId: backendId,
				description: `Updated origin '${input.name ?? current.name}' of '${backend.name}'`,
				metadata: { originId, fields: Object.keys(input as object) },
			});
		})();
		this.bus.publish({ type: "backend.updated", organizationId: actor.organizationId, resourceId: backendId });
		return this.origin(actor, backendId, originId);
	}

	removeOrigin(actor: Actor, backendId: string, originId: string): void {
		require(actor, "delete");
		const backend = this.load(actor, backendId);
		const current = this.origin(actor, backendId, originId);
		this.db.transaction(() => {
			this.db.prepare("DELETE FROM origins WHERE id = ?").run(originId);
			this.ensureRedirectTarget(backendId, "originId");
			this.touch(backendId, nowIso());
			this.audit.record(actor, {
				action: "backend.origin_removed",
				resourceType: "backend",
				resourceId: backendId,
				description: `Removed origin '${current.name}' from '${backend.name}'`,
				metadata: { originId, name: current.name },
			});
		})();
		this.bus.publish({ type: "backend.updated", organizationId: actor.organizationId, resourceId: backendId });
	}

	private origin(actor: Actor, backendId: string, originId: string): Origin {
		const origin = this.load(actor, backendId).origins.find((o) => o.id === originId);
		if (!origin) throw new NotFound("origin", originId);
		return origin;
	}

	private touch(backendId: string, now: string): void {
		this.db.prepare("UPDATE backends SET updated_at = ? WHERE id = ?").run(now, backendId);
	}

	/** Partial update: fields present replace, nested protection settings merge. */
	update(actor: Actor, id: string, input: unknown): Backend {
		require(actor, "write");
		check(BackendUpdate, input);
		const current = this.load(actor, id);
		this.checkGeoIp(input.protection);
		const type = input.type ?? current.type;
		checkChallenge(type, { ...current.protection, ...input.protection });
		const listeners = input.listeners
			? this.listenersFor(type, input.listeners)
			: input.type && input.type !== current.type
				? this.listenersFor(type, undefined)
				: null;
		const backend = this.db.transaction(() => {
			if (input.name !== undefined) this.ensureNameFree(actor, input.name, id);
			const domains = input.domains ? normalizeDomains(input.domains) : current.domains;
			this.ensureListenersFree(listeners ?? current.listeners, id, { type, domains });
			const now = nowIso();
			this.db
				.prepare(
					`UPDATE backends SET name = ?, type = ?, protection = ?, load_balancer = ?, health_check = ?, domains = ?,
						updated_at = ? WHERE id = ?`,
				)
				.run(
					input.name ?? current.name,
					type,
					JSON.stringify({ ...current.protection, ...input.protection }),
					JSON.stringify(input.loadBalancer ?? current.loadBalancer),
					JSON.stringify(input.healthCheck ?? current.healthCheck),
					JSON.stringify(input.domains ? normalizeDomains(input.domains) : current.domains),
					now,
					id,
				);
			if (listeners) {
				this.writeListeners(id, listeners);
				this.ensureDestinationRulesFit(id);
			}
			if (input.origins) {
				this.checkOrigins(input.origins);
				this.db.prepare("DELETE FROM origins WHERE backend_id = ?").run(id);
				for (const o of input.origins) this.insertOrigin(id, o, now);
				this.ensureRedirectTarget(id, "origins");
			}
			this.afterProtectionChange(id, actor.sandbox);
			if (!actor.sandbox) bumpRevision(this.db, "services");
			this.audit.record(actor, {
				action: "backend.updated",
				resourceType: "backend",
				resourceId: id,
				description: `Updated backend '${input.name ?? current.name}'`,
				metadata: { fields: Object.keys(input as object) },
			});
			return this.load(actor, id);
		})();
		this.bus.publish({ type: "backend.updated", organizationId: actor.organizationId, resourceId: id });
		return backend;
	}

	setProtectionLevel(actor: Actor, id: string, level: unknown): Backend {
		require(actor, "write");
		if (
			typeof level !== "string" ||
			!(ProtectionLevel.anyOf as Array<{ const: string }>).some((l) => l.const === level)
		)
			throw ValidationError.field("level", "invalid_enum", "must be one of OFF, LOW, MEDIUM, HIGH, UNDER_ATTACK");
		const current = this.load(actor, id);
		const backend = this.db.transaction(() => {
			this.db
				.prepare("UPDATE backends SET protection = ?, updated_at = ? WHERE id = ?")
				.run(JSON.stringify({ ...current.protection, level }), nowIso(), id);
			if (!actor.sandbox) bumpRevision(this.db, "services");
			this.audit.record(actor, {
				action: "backend.protection_changed",
				resourceType: "backend",
				resourceId: id,
				description: `Set protection level of '${current.name}' to ${level}`,
				metadata: { from: current.protection.level, to: level },
			});
			return this.load(actor, id);
		})();
		this.bus.publish({
			type: "backend.updated",
			organizationId: actor.organizationId,
			resourceId: id,
			data: { level },
		});
		return backend;
	}

	delete(actor: Actor, id: string): void {
		require(actor, "delete");
		const current = this.load(actor, id);
		this.db.transaction(() => {
			this.db.prepare("DELETE FROM backends WHERE id = ?").run(id);
			this.geoip.materialize(this.db);
			if (!actor.sandbox) {
				bumpRevision(this.db, "services");
				bumpRevision(this.db, "rules");
				bumpRevision(this.db, "lists");
			}
			this.audit.record(actor, {
				action: "backend.deleted",
				resourceType: "backend",
				resourceId: id,
				description: `Deleted backend '${current.name}'`,
				metadata: { backendName: current.name },
			});
		})();
		this.bus.publish({ type: "backend.deleted", organizationId: actor.organizationId, resourceId: id });
	}

	private load(actor: Actor, id: string): Backend {
		const row = this.db
			.query<BackendRow, [string, string, number]>(
				"SELECT * FROM backends WHERE id = ? AND organization_id = ? AND sandbox = ?",
			)
			.get(id, actor.organizationId, actor.sandbox ? 1 : 0);
		if (!row) throw new NotFound("backend", id);
		const origins = this.db
			.query<OriginRow, [string]>("SELECT * FROM origins WHERE backend_id = ? ORDER BY priority, rowid")
			.all(id)
			.map(
				(o): Origin => ({
					id: o.id,
					name: o.name,
					address: o.address,
					port: o.port,
					weight: o.weight,
					priority: o.priority,
					enabled: o.enabled === 1,
					healthStatus: this.live.originHealth(o.id),
					settings: JSON.parse(o.settings),
				}),
			);
		const listeners = this.db
			.query<{ address: string; port: number; protocol: "TCP" | "UDP" }, [string]>(
				"SELECT address, port, protocol FROM backend_listeners WHERE backend_id = ? ORDER BY port, protocol, address",
			)
			.all(id);
		return {
			id: row.id,
			organizationId: row.organization_id,
			name: row.name,
			type: row.type,
			listeners,
			origins,
			loadBalancer: JSON.parse(row.load_balancer),
			healthCheck: JSON.parse(row.health_check),
			protection: JSON.parse(row.protection),
			domains: JSON.parse(row.domains),
			status: this.statusOf(row, origins),
			createdAt: row.created_at,
			updatedAt: row.updated_at,
		};
	}

	private statusOf(row: BackendRow, origins: Origin[]): BackendStatus {
		const enabled = origins.filter((o) => o.enabled);
		const healthy = enabled.filter((o) => o.healthStatus === "HEALTHY").length;
		let health: Health = "UNKNOWN";
		if (enabled.length && enabled.every((o) => o.healthStatus !== "UNKNOWN"))
			health = healthy === enabled.length ? "HEALTHY" : healthy === 0 ? "UNHEALTHY" : "DEGRADED";
		const rates = row.sandbox ? null : (this.live.counters()?.backendRates(row.dp_index) ?? null);
		return {
			health,
			healthyOrigins: healthy,
			totalOrigins: origins.length,
			requestsPerSecond: rates ? rates.passedPacketsPerSecond : null,
			bytesPerSecond: rates ? rates.bytesPerSecond : null,
			packetsPerSecond: rates ? rates.packetsPerSecond : null,
			activeConnections: this.live.activeConnections(row.id),
			underAttack:
				this.db
					.query<{ n: number }, [string]>("SELECT 1 AS n FROM attacks WHERE backend_id = ? AND ended_at IS NULL")
					.get(row.id) !== null,
			lastUpdated: rates?.sampledAt ?? nowIso(),
		};
	}

	/** geoIp needs a country database, and an allow list needs at least one country. */
	private checkGeoIp(protection: Protection | undefined): void {
		const geo = protection?.geoIp;
		if (!geo || geo.mode === "OFF") return;
		if (geo.mode === "ALLOW_LIST" && geo.countries.length === 0)
			throw ValidationError.field(
				"protection.geoIp.countries",
				"invalid_value",
				"an ALLOW_LIST needs at least one country (an empty one would drop every source)",
			);
		if (!this.geoip.available("country"))
			throw ValidationError.field(
				"protection.geoIp",
				"geoip_unavailable",
				`no country database is installed (${this.geoip.path("country")}); run 'pistonprotection geoip update' or reinstall`,
			);
	}

	/** Inside the transaction: GeoIP networks for geoIp countries, and the rule and source-set limits. */
	private afterProtectionChange(id: string, sandbox: boolean): void {
		this.geoip.materialize(this.db);
		const protection = JSON.parse(
			this.db.query<{ protection: string }, [string]>("SELECT protection FROM backends WHERE id = ?").get(id)
				?.protection ?? "{}",
		) as Protection;
		const implicit = protection.geoIp && protection.geoIp.mode !== "OFF" ? 1 : 0;
		const rules =
			this.db
				.query<{ n: number }, [string]>("SELECT COUNT(*) AS n FROM filter_rules WHERE backend_id = ? AND enabled = 1")
				.get(id)?.n ?? 0;
		if (rules + implicit > MAX_RULES_PER_BACKEND)
			throw ValidationError.field(
				"protection.geoIp",
				"limit_exceeded",
				`the backend already has ${rules} enabled rules; with geoIp it would exceed ${MAX_RULES_PER_BACKEND}`,
			);
		const sets = activeSourceSets(this.db).size;
		if (sets > MAX_SOURCE_SETS)
			throw ValidationError.field(
				"protection.geoIp",
				"limit_exceeded",
				`rules and geoIp settings would need ${sets} distinct source lists; the data plane holds ${MAX_SOURCE_SETS}`,
			);
		if (!sandbox) bumpRevision(this.db, "rules");
	}

	/** Rules with destinationIps stay meaningful only if they cover all or none of the listeners. */
	private ensureDestinationRulesFit(id: string): void {
		const addresses = this.db
			.query<{ address: string }, [string]>("SELECT address FROM backend_listeners WHERE backend_id = ?")
			.all(id)
			.map((l) => l.address);
		for (const r of this.db
			.query<{ id: string; match: string }, [string]>("SELECT id, match FROM filter_rules WHERE backend_id = ?")
			.all(id)) {
			const m = JSON.parse(r.match) as { destinationIps?: Array<{ address: string; prefixLength?: number }> };
			if (m.destinationIps?.length && destinationScope(m.destinationIps, addresses) === "partial")
				throw ValidationError.field(
					"listeners",
					"unsupported",
					`filter rule ${r.id} matches destinationIps that would cover only some of these listeners; change the rule first`,
				);
		}
	}

	private listenersFor(type: Backend["type"], given: Listener[] | undefined): Backend["listeners"] {
		const listeners = given ?? DEFAULT_LISTENERS[type];
		if (!listeners)
			throw ValidationError.field(
				"listeners",
				"required",
				`a ${type} backend needs at least one listener (port and protocol)`,
			);
		const out = listeners.map((l, i) => {
			const address = (l.address ?? "").trim();
			if (address !== "") {
				try {
					parseAddress(address);
				} catch (err) {
					if (err instanceof AddressError)
						throw ValidationError.field(`listeners[${i}].address`, "invalid_ip", err.message);
					throw err;
				}
			}
			return { address, port: l.port, protocol: l.protocol };
		});
		const keys = out.map((l) => `${l.address}|${l.port}|${l.protocol}`);
		if (new Set(keys).size !== keys.length) throw ValidationError.field("listeners", "duplicate", "listeners repeat");
		return out;
	}

	/** Origin names are unique, and one at most is the honeypot (its name in any case). */
	private checkOrigins(origins: Array<{ name: string }>, field = "origins"): void {
		const names = origins.map((o) => o.name);
		const dup = names.find((n, i) => names.indexOf(n) !== i);
		if (dup) throw ValidationError.field(field, "duplicate_name", `origin name '${dup}' repeats`);
		if (names.filter(isHoneypot).length > 1)
			throw ValidationError.field(
				field,
				"duplicate_name",
				`only one origin may be named '${HONEYPOT_ORIGIN_NAME}' (in any case): it is the one REDIRECT rules send to`,
			);
	}

	/**
	 * Inside the transaction, after origins changed: a backend with REDIRECT rules keeps the origin
	 * they send matching connections to. Without it the proxy could only refuse those connections.
	 */
	private ensureRedirectTarget(backendId: string, field: string): void {
		const redirects =
			this.db
				.query<{ n: number }, [string]>(
					"SELECT COUNT(*) AS n FROM filter_rules WHERE backend_id = ? AND action = 'REDIRECT'",
				)
				.get(backendId)?.n ?? 0;
		if (redirects > 0 && !hasHoneypot(this.db, backendId))
			throw ValidationError.field(
				field,
				"honeypot_required",
				`the backend has ${redirects} REDIRECT rule${redirects === 1 ? "" : "s"}, which send matching connections to its origin named '${HONEYPOT_ORIGIN_NAME}'; keep that origin, or delete the rules first`,
			);
	}

	private ensureNameFree(actor: Actor, name: string, self: string | null): void {
		const clash = this.db
			.query<{ id: string }, [string, number, string]>(
				"SELECT id FROM backends WHERE organization_id = ? AND sandbox = ? AND name = ?",
			)
			.get(actor.organizationId, actor.sandbox ? 1 : 0, name);
		if (clash && clash.id !== self) throw new Conflict("duplicate_name", `a backend named '${name}' already exists`);
	}

	/**
	 * Two backends may not take the same port and protocol on overlapping addresses, except
	 * backends of one hostname-routed type (Minecraft Java by handshake address, HTTP by Host,
	 * HTTPS by SNI) whose domain lists are non-empty and disjoint: the proxy tells them apart.
	 */
	private ensureListenersFree(
		listeners: Backend["listeners"],
		self: string | null,
		routing: { type: Backend["type"]; domains: string[] },
	): void {
		for (const l of listeners) {
			const clashes = this.db
				.query<
					{ backend_id: string; type: Backend["type"]; domains: string },
					[number, string, string, string, string]
				>(
					`SELECT l.backend_id, b.type, b.domains FROM backend_listeners l JOIN backends b ON b.id = l.backend_id
					 WHERE l.port = ? AND l.protocol = ? AND b.sandbox = 0 AND l.backend_id != ?
					 AND (l.address = '' OR ? = '' OR l.address = ?)`,
				)
				.all(l.port, l.protocol, self ?? "", l.address, l.address);
			for (const clash of clashes) {
				const theirs: string[] = JSON.parse(clash.domains);
				const shareable =
					HOSTNAME_ROUTED.has(routing.type) &&
					clash.type === routing.type &&
					routing.domains.length > 0 &&
					theirs.length > 0;
				if (!shareable)
					throw new Conflict(
						"port_in_use",
						`${l.protocol} port ${l.port}${l.address ? ` on ${l.address}` : ""} is already used by another backend`,
					);
				const common = routing.domains.find((d) => theirs.includes(d));
				if (common)
					throw new Conflict("duplicate_domain", `domain '${common}' is already routed to backend ${clash.backend_id}`);
			}
		}
	}

	private writeListeners(id: string, listeners: Backend["listeners"]): void {
		this.db.prepare("DELETE FROM backend_listeners WHERE backend_id = ?").run(id);
		const insert = this.db.prepare(
			"INSERT INTO backend_listeners (backend_id, address, port, protocol) VALUES (?, ?, ?, ?)",
		);
		for (const l of listeners) insert.run(id, l.address, l.port, l.protocol);
	}

	private insertOrigin(backendId: string, o: OriginInput, now: string): string {
		const id = newId("or");
		this.db
			.prepare(
				`INSERT INTO origins (id, backend_id, name, address, port, weight, priority, enabled, settings, created_at, updated_at)
				 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			)
			.run(
				id,
				backendId,
				o.name,
				o.address,
				o.port,
				o.weight ?? 100,
				o.priority ?? 1,
				o.enabled === false ? 0 : 1,
				JSON.stringify(o.settings ?? {}),
				now,
				now,
			);
		return id;
	}
}

/** Types the proxy routes by hostname, so several backends can share one listener. */
const HOSTNAME_ROUTED = new Set<Backend["type"]>(["MINECRAFT_JAVA", "HTTP", "HTTPS"]);

function normalizeDomains(domains: string[]): string[] {
	return [...new Set(domains.map((d) => d.toLowerCase().replace(/\.$/, "")))];
}
