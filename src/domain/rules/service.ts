// Filter rules: per-backend match/action rules in priority order (lower number first).
// Every change bumps the 'rules' revision; the reconciler compiles them into rule sets.
import type { Database } from "bun:sqlite";
import type { EventBus } from "../../events.ts";
import { AddressError, parsePrefix } from "../../net/cidr.ts";
import type { Actor, Permission } from "../actor.ts";
import type { AuditService } from "../audit/service.ts";
import { type FieldError, Forbidden, NotFound, ValidationError } from "../errors.ts";
import { newId, nowIso } from "../ids.ts";
import { bumpRevision } from "../revisions.ts";
import { check } from "../validate.ts";
import { type FilterRule, RuleCreate, type RuleMatch, RuleUpdate } from "./model.ts";

/** Rules the data plane evaluates per backend (pp_ruleset holds 64). */
export const MAX_RULES_PER_BACKEND = 64;
/** Distinct source sets across all rules (one bit each in the kernel's u64 mask). */
export const MAX_SOURCE_SETS = 64;

interface RuleRow {
	id: string;
	organization_id: string;
	backend_id: string;
	stats_slot: number;
	name: string;
	description: string;
	priority: number;
	enabled: number;
	match: string;
	action: FilterRule["action"];
	rate_limit: string | null;
	created_at: string;
	updated_at: string;
}

export const toRule = (r: RuleRow): FilterRule => ({
	id: r.id,
	backendId: r.backend_id,
	name: r.name,
	description: r.description,
	priority: r.priority,
	enabled: r.enabled === 1,
	match: JSON.parse(r.match),
	action: r.action,
	rateLimit: r.rate_limit ? JSON.parse(r.rate_limit) : null,
	createdAt: r.created_at,
	updatedAt: r.updated_at,
});

export interface RuleQuery {
	backendId?: string;
	enabled?: boolean;
	action?: string;
	page?: number;
	pageSize?: number;
}

function require(actor: Actor, permission: Permission) {
	if (!actor.permissions.includes(permission)) throw new Forbidden(`requires the '${permission}' permission`);
}

/** A source list's identity: its canonical prefixes, sorted. Equal lists share one source set. */
export function sourceSetKey(prefixes: Array<{ address: string; prefixLength?: number }>): string {
	return [
		...new Set(
			prefixes.map(
				(p) => parsePrefix(p.prefixLength === undefined ? p.address : `${p.address}/${p.prefixLength}`).text,
			),
		),
	]
		.sort()
		.join(",");
}

/** Checks what the data plane can enforce, beyond the schema. */
function matchErrors(match: RuleMatch, action: string, rateLimit: unknown): FieldError[] {
	const errors: FieldError[] = [];
	for (const field of ["sourceIps", "sourceIpBlacklist"] as const) {
		(match[field] ?? []).forEach((p, i) => {
			try {
				parsePrefix(p.prefixLength === undefined ? p.address : `${p.address}/${p.prefixLength}`);
			} catch (err) {
				if (!(err instanceof AddressError)) throw err;
				errors.push({ field: `match.${field}[${i}]`, code: err.code, message: err.message });
			}
		});
	}
	(match.destinationPorts ?? []).forEach((r, i) => {
		if (r.start > r.end)
			errors.push({
				field: `match.destinationPorts[${i}]`,
				code: "invalid_port",
				message: "start must not exceed end",
			});
	});
	for (const field of ["sourceCountries", "sourceCountryBlacklist", "sourceAsns"] as const) {
		if (match[field]?.length)
			errors.push({
				field: `match.${field}`,
				code: "geoip_unavailable",
				message: "country and ASN matching needs a GeoIP database, which this appliance does not have yet",
			});
	}
	if (match.destinationIps?.length)
		errors.push({
			field: "match.destinationIps",
			code: "unsupported",
			message: "match on destination addresses by giving the backend listeners on those addresses",
		});
	if (match.l7Match && Object.keys(match.l7Match).length)
		errors.push({
			field: "match.l7Match",
			code: "unsupported",
			message: "L7 validation options are not available yet",
		});
	if (action === "RATE_LIMIT" && !rateLimit)
		errors.push({
			field: "rateLimit",
			code: "required",
			message: "a RATE_LIMIT rule needs rateLimit.requestsPerSecond",
		});
	return errors;
}

export class FilterRuleService {
	constructor(
		private readonly db: Database,
		private readonly audit: AuditService,
		private readonly bus: EventBus,
	) {}

	create(actor: Actor, input: unknown): FilterRule {
		require(actor, "write");
		check(RuleCreate, input);
		const errors = matchErrors(input.match ?? {}, input.action, input.rateLimit);
		if (errors.length) throw new ValidationError(errors);
		const rule = this.db.transaction(() => {
			this.ownBackend(actor, input.backendId);
			const now = nowIso();
			const id = newId("fr");
			const priority =
				input.priority ??
				(this.db
					.query<{ p: number | null }, [string]>("SELECT MAX(priority) AS p FROM filter_rules WHERE backend_id = ?")
					.get(input.backendId)?.p ?? 0) + 10;
			const slot =
				this.db
					.query<{ s: number }, []>(
						`SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM filter_rules WHERE stats_slot = 0) THEN 0
							ELSE (SELECT MIN(a.stats_slot) + 1 FROM filter_rules a
								WHERE NOT EXISTS (SELECT 1 FROM filter_rules b WHERE b.stats_slot = a.stats_slot + 1)) END AS s`,
					)
					.get()?.s ?? 0;
			this.db
				.prepare(
					`INSERT INTO filter_rules (id, organization_id, backend_id, stats_slot, name, description, priority, enabled,
						match, action, rate_limit, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				)
				.run(
					id,
					actor.organizationId,
					input.backendId,
					slot,
					input.name,
					input.description ?? "",
					priority,
					input.enabled === false ? 0 : 1,
					JSON.stringify(input.match ?? {}),
					input.action,
					input.rateLimit ? JSON.stringify(input.rateLimit) : null,
					now,
					now,
				);
			this.ensureCompilable(input.backendId);
			if (!actor.sandbox) bumpRevision(this.db, "rules");
			this.audit.record(actor, {
				action: "rule.created",
				resourceType: "filter_rule",
				resourceId: id,
				description: `Created filter rule '${input.name}' (${input.action})`,
				metadata: { backendId: input.backendId, action: input.action, priority },
			});
			return this.load(actor, id);
		})();
		this.bus.publish({ type: "rule.created", organizationId: actor.organizationId, resourceId: rule.id });
		return rule;
	}

	get(actor: Actor, id: string): FilterRule {
		require(actor, "read");
		return this.load(actor, id);
	}

	list(actor: Actor, query: RuleQuery = {}) {
		require(actor, "read");
		const page = Math.max(1, query.page ?? 1);
		const pageSize = Math.min(100, Math.max(1, query.pageSize ?? 20));
		const where = ["r.organization_id = ?", "b.sandbox = ?"];
		const params: Array<string | number> = [actor.organizationId, actor.sandbox ? 1 : 0];
		if (query.backendId) {
			where.push("r.backend_id = ?");
			params.push(query.backendId);
		}
		if (query.enabled !== undefined) {
			where.push("r.enabled = ?");
			params.push(query.enabled ? 1 : 0);
		}
		if (query.action) {
			where.push("r.action = ?");
			params.push(query.action);
		}
		const from = `FROM filter_rules r JOIN backends b ON b.id = r.backend_id WHERE ${where.join(" AND ")}`;
		const totalCount =
			this.db.query<{ n: number }, typeof params>(`SELECT COUNT(*) AS n ${from}`).get(...params)?.n ?? 0;
		const rows = this.db
			.query<RuleRow, typeof params>(
				`SELECT r.* ${from} ORDER BY r.backend_id, r.priority, r.created_at LIMIT ${pageSize} OFFSET ${(page - 1) * pageSize}`,
			)
			.all(...params);
		return {
			data: rows.map(toRule),
			pagination: { page, pageSize, totalCount, hasNext: page * pageSize < totalCount },
		};
	}

	update(actor: Actor, id: string, input: unknown): FilterRule {
		require(actor, "write");
		check(RuleUpdate, input);
		const current = this.load(actor, id);
		const match = input.match ?? current.match;
		const action = input.action ?? current.action;
		const rateLimit = input.rateLimit ?? current.rateLimit;
		const errors = matchErrors(match, action, rateLimit);
		if (errors.length) throw new ValidationError(errors);
		const rule = this.db.transaction(() => {
			this.db
				.prepare(
					`UPDATE filter_rules SET name = ?, description = ?, priority = ?, enabled = ?, match = ?, action = ?,
						rate_limit = ?, updated_at = ? WHERE id = ?`,
				)
				.run(
					input.name ?? current.name,
					input.description ?? current.description,
					input.priority ?? current.priority,
					(input.enabled ?? current.enabled) ? 1 : 0,
					JSON.stringify(match),
					action,
					rateLimit ? JSON.stringify(rateLimit) : null,
					nowIso(),
					id,
				);
			this.ensureCompilable(current.backendId);
			if (!actor.sandbox) bumpRevision(this.db, "rules");
			this.audit.record(actor, {
				action: "rule.updated",
				resourceType: "filter_rule",
				resourceId: id,
				description: `Updated filter rule '${input.name ?? current.name}'`,
				metadata: { fields: Object.keys(input as object) },
			});
			return this.load(actor, id);
		})();
		this.bus.publish({ type: "rule.updated", organizationId: actor.organizationId, resourceId: id });
		return rule;
	}

	delete(actor: Actor, id: string): void {
		require(actor, "delete");
		const current = this.load(actor, id);
		this.db.transaction(() => {
			this.db.prepare("DELETE FROM filter_rules WHERE id = ?").run(id);
			if (!actor.sandbox) bumpRevision(this.db, "rules");
			this.audit.record(actor, {
				action: "rule.deleted",
				resourceType: "filter_rule",
				resourceId: id,
				description: `Deleted filter rule '${current.name}'`,
				metadata: { backendId: current.backendId },
			});
		})();
		this.bus.publish({ type: "rule.deleted", organizationId: actor.organizationId, resourceId: id });
	}

	/** Gives the backend's rules the order of ruleIds (every rule of the backend, once). */
	reorder(actor: Actor, backendId: string, ruleIds: string[]): FilterRule[] {
		require(actor, "write");
		this.ownBackend(actor, backendId);
		const existing = this.db
			.query<{ id: string }, [string]>("SELECT id FROM filter_rules WHERE backend_id = ?")
			.all(backendId)
			.map((r) => r.id);
		const given = new Set(ruleIds);
		if (given.size !== ruleIds.length || given.size !== existing.length || existing.some((id) => !given.has(id)))
			throw ValidationError.field("ruleIds", "invalid_value", "must list every rule of the backend exactly once");
		this.db.transaction(() => {
			const set = this.db.prepare("UPDATE filter_rules SET priority = ?, updated_at = ? WHERE id = ?");
			const now = nowIso();
			ruleIds.forEach((id, i) => {
				set.run((i + 1) * 10, now, id);
			});
			if (!actor.sandbox) bumpRevision(this.db, "rules");
			this.audit.record(actor, {
				action: "rule.reordered",
				resourceType: "backend",
				resourceId: backendId,
				description: `Reordered ${ruleIds.length} filter rules`,
				metadata: { ruleIds },
			});
		})();
		this.bus.publish({ type: "rule.reordered", organizationId: actor.organizationId, resourceId: backendId });
		return this.list(actor, { backendId, pageSize: 100 }).data;
	}

	private load(actor: Actor, id: string): FilterRule {
		const row = this.db
			.query<RuleRow, [string, string, number]>(
				`SELECT r.* FROM filter_rules r JOIN backends b ON b.id = r.backend_id
				 WHERE r.id = ? AND r.organization_id = ? AND b.sandbox = ?`,
			)
			.get(id, actor.organizationId, actor.sandbox ? 1 : 0);
		if (!row) throw new NotFound("filter rule", id);
		return toRule(row);
	}

	private ownBackend(actor: Actor, backendId: string): void {
		const owned = this.db
			.query("SELECT 1 FROM backends WHERE id = ? AND organization_id = ? AND sandbox = ?")
			.get(backendId, actor.organizationId, actor.sandbox ? 1 : 0);
		if (!owned) throw ValidationError.field("backendId", "backend_not_found", `backend ${backendId} does not exist`);
	}

	/** Refuses (inside the writer's transaction) a change the data plane could not hold. */
	private ensureCompilable(backendId: string): void {
		const enabled =
			this.db
				.query<{ n: number }, [string]>("SELECT COUNT(*) AS n FROM filter_rules WHERE backend_id = ? AND enabled = 1")
				.get(backendId)?.n ?? 0;
		if (enabled > MAX_RULES_PER_BACKEND)
			throw ValidationError.field(
				"backendId",
				"limit_exceeded",
				`a backend holds at most ${MAX_RULES_PER_BACKEND} enabled rules`,
			);
		const sets = new Set<string>();
		for (const r of this.db
			.query<{ match: string }, []>(
				"SELECT r.match FROM filter_rules r JOIN backends b ON b.id = r.backend_id WHERE r.enabled = 1 AND b.sandbox = 0",
			)
			.all()) {
			const m = JSON.parse(r.match) as RuleMatch;
			if (m.sourceIps?.length) sets.add(sourceSetKey(m.sourceIps));
			if (m.sourceIpBlacklist?.length) sets.add(sourceSetKey(m.sourceIpBlacklist));
		}
		if (sets.size > MAX_SOURCE_SETS)
			throw ValidationError.field(
				"match.sourceIps",
				"limit_exceeded",
				`the rules would need ${sets.size} distinct source lists; the data plane holds ${MAX_SOURCE_SETS}`,
			);
	}
}
