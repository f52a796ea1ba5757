// Organizations: the tenant boundary. Every resource row carries organization_id and every
// query of a service filters by the actor's organization; another organization's id is a 404.
import type { Database } from "bun:sqlite";
import { requireOwner, requirePermission } from "../../auth/rbac.ts";
import { type Config, DEFAULTS } from "../../config.ts";
import type { Actor } from "../actor.ts";
import { AuditService } from "../audit/service.ts";
import { NotFound, ValidationError } from "../errors.ts";
import { newId, nowIso } from "../ids.ts";
import { check } from "../validate.ts";
import { type Organization, OrganizationUpdate, type OrganizationUsage } from "./model.ts";

export type { Organization } from "./model.ts";

interface OrganizationRow {
	id: string;
	name: string;
	logo_url: string | null;
	plan: Organization["tier"];
	created_at: string;
	updated_at: string;
}

const toOrganization = (r: OrganizationRow): Organization => ({
	id: r.id,
	name: r.name,
	logoUrl: r.logo_url,
	tier: r.plan,
	createdAt: r.created_at,
	updatedAt: r.updated_at,
});

/** The limiter asks for the tier on every request; a change made elsewhere applies within this time. */
const TIER_CACHE_MS = 1000;
const ROW_CACHE_MS = 1000;

export class OrganizationService {
	private readonly byId;
	private readonly tierById;
	private readonly tiers = new Map<string, { tier: Organization["tier"]; at: number }>();
	private readonly rows = new Map<string, { organization: Organization; at: number }>();

	constructor(
		private readonly db: Database,
		private readonly config: () => Config = () => DEFAULTS,
		private readonly audit: AuditService = new AuditService(db),
	) {
		this.byId = db.query<OrganizationRow, [string]>("SELECT * FROM organizations WHERE id = ?");
		this.tierById = db.query<{ plan: Organization["tier"] }, [string]>("SELECT plan FROM organizations WHERE id = ?");
	}

	/** Inserts a row; callers run it inside their own transaction (see UserService.createOwner). */
	insert(name: string): Organization {
		const now = nowIso();
		const id = newId("org");
		this.db
			.prepare("INSERT INTO organizations (id, name, created_at, updated_at) VALUES (?, ?, ?, ?)")
			.run(id, name, now, now);
		return this.get(id);
	}

	/**
	 * Organizations are read on every authenticated request and change rarely: rows are cached
	 * for ROW_CACHE_MS (another process's change shows within that) and dropped on our own writes.
	 */
	get(id: string): Organization {
		const now = Date.now();
		const cached = this.rows.get(id);
		if (cached && now - cached.at < ROW_CACHE_MS) return cached.organization;
		const row = this.byId.get(id);
		if (!row) throw new NotFound("organization", id);
		const organization = toOrganization(row);
		if (this.rows.size >= 10_000) this.rows.clear();
		this.rows.set(id, { organization, at: now });
		return organization;
	}

	/** The rate-limit tier, for the API's limiter (no permission: it is the caller's own). */
	tier(id: string): Organization["tier"] {
		const now = Date.now();
		const cached = this.tiers.get(id);
		if (cached && now - cached.at < TIER_CACHE_MS) return cached.tier;
		if (this.tiers.size >= 10_000) this.tiers.clear();
		const tier = this.tierById.get(id)?.plan ?? "FREE";
		this.tiers.set(id, { tier, at: now });
		return tier;
	}

	current(actor: Actor): Organization {
		requirePermission(actor, "read");
		return this.get(actor.organizationId);
	}

	/** The actor's own organization under that id, else 404 whatever exists elsewhere. */
	scoped(actor: Actor, id: string): Organization {
		if (id !== actor.organizationId) throw new NotFound("organization", id);
		return this.get(id);
	}

	update(actor: Actor, id: string, input: unknown): Organization {
		this.scoped(actor, id);
		requirePermission(actor, "admin");
		check(OrganizationUpdate, input);
		if (input.tier !== undefined) requireOwner(actor);
		const name = input.name?.trim();
		if (name === "") throw ValidationError.field("name", "required", "must not be empty");
		if (input.logoUrl && !isHttpUrl(input.logoUrl))
			throw ValidationError.field("logoUrl", "invalid_url", "must be an http(s) URL");
		return this.db.transaction(() => {
			const before = this.get(id);
			const sets: string[] = [];
			const params: Array<string | null> = [];
			if (name !== undefined) sets.push("name = ?") && params.push(name);
			if (input.logoUrl !== undefined) sets.push("logo_url = ?") && params.push(input.logoUrl);
			if (input.tier !== undefined) sets.push("plan = ?") && params.push(input.tier);
			if (sets.length === 0) return before;
			this.db
				.prepare(`UPDATE organizations SET ${sets.join(", ")}, updated_at = ? WHERE id = ?`)
				.run(...params, nowIso(), id);
			this.rows.delete(id);
			this.tiers.delete(id);
			const after = this.get(id);
			this.audit.record(actor, {
				action: "organization.updated",
				resourceType: "organization",
				resourceId: id,
				description: `Updated organization '${after.name}'`,
				metadata: { changes: changed(before, after) },
			});
			return after;
		})();
	}

	/** Real counts from the database; limits from configuration; the period is the calendar month (UTC). */
	usage(actor: Actor, id: string): OrganizationUsage {
		this.scoped(actor, id);
		requirePermission(actor, "read");
		const count = (sql: string) => this.db.query<{ n: number | null }, [string]>(sql).get(id)?.n ?? 0;
		const now = new Date();
		const periodStart = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1)).toISOString();
		const traffic = this.db
			.query<{ bandwidth_bytes: number; requests: number }, [string, string]>(
				"SELECT bandwidth_bytes, requests FROM usage_counters WHERE organization_id = ? AND period_start = ?",
			)
			.get(id, periodStart);
		const limits = this.config().limits;
		return {
			backendsCount: count("SELECT COUNT(*) AS n FROM backends WHERE organization_id = ? AND sandbox = 0"),
			domainsCount: count(
				"SELECT SUM(json_array_length(domains)) AS n FROM backends WHERE organization_id = ? AND sandbox = 0",
			),
			filterRulesCount: count(
				`SELECT COUNT(*) AS n FROM filter_rules r JOIN backends b ON b.id = r.backend_id
				 WHERE r.organization_id = ? AND b.sandbox = 0`,
			),
			bandwidthUsed: traffic?.bandwidth_bytes ?? 0,
			requestsUsed: traffic?.requests ?? 0,
			limits: {
				maxBackends: limits.max_backends,
				maxDomainsPerBackend: limits.max_domains_per_backend,
				maxFilterRules: limits.max_filter_rules,
				maxBandwidthBytes: limits.max_bandwidth_bytes,
				maxRequests: limits.max_requests,
			},
			usageResetAt: new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1)).toISOString(),
		};
	}

	count(): number {
		return this.db.query<{ n: number }, []>("SELECT COUNT(*) AS n FROM organizations").get()?.n ?? 0;
	}
}

function isHttpUrl(value: string): boolean {
	try {
		const url = new URL(value);
		return url.protocol === "https:" || url.protocol === "http:";
	} catch {
		return false;
	}
}

function changed(before: Organization, after: Organization): Record<string, { from: unknown; to: unknown }> {
	const out: Record<string, { from: unknown; to: unknown }> = {};
	for (const key of ["name", "logoUrl", "tier"] as const)
		if (before[key] !== after[key]) out[key] = { from: before[key], to: after[key] };
	return out;
}
