// Filter rules: per-backend match/action rules in priority order (lower number first).
// Every change bumps the 'rules' revision; the reconciler compiles them into rule sets.
import type { Database } from "bun:sqlite";
import type { Static } from "@sinclair/typebox";
import type { Config } from "../../config.ts";
import { destinationScope, l7MatchErrors } from "../../dataplane/compile.ts";
import type { EventBus } from "../../events.ts";
import type { GeoIpService } from "../../geoip/service.ts";
import { AddressError, parsePrefix } from "../../net/cidr.ts";
import type { LiveView } from "../../services.ts";
import type { Actor, Permission } from "../actor.ts";
import type { AuditService } from "../audit/service.ts";
import { HONEYPOT_ORIGIN_NAME } from "../backends/model.ts";
import { hasHoneypot } from "../backends/service.ts";
import { type FieldError, Forbidden, NotFound, ValidationError } from "../errors.ts";
import { newId, nowIso } from "../ids.ts";
import { bumpRevision } from "../revisions.ts";
import { check, timeRange } from "../validate.ts";
import {
	type FilterRule,
	GRANULARITIES,
	PROXY_ACTION_TYPES,
	RuleBulkCreate,
	RuleBulkDelete,
	RuleCreate,
	type RuleMatch,
	RuleReorder,
	type RuleStats,
	RuleUpdate,
} from "./model.ts";
import { windowOpen } from "./timewindow.ts";

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

export const toRule = (r: RuleRow, stats: RuleStats): FilterRule => ({
	id: r.id,
	backendId: r.backend_id,
	name: r.name,
	description: r.description,
	priority: r.priority,
	enabled: r.enabled === 1,
	match: JSON.parse(r.match),
	action: r.action,
	rateLimit: r.rate_limit ? JSON.parse(r.rate_limit) : null,
	stats,
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

/** The key of a country list's source set (also used by backends' geoIp). */
export function countrySetKey(countries: string[]): string {
	return `cc:${[...new Set(countries)].sort().join(",")}`;
}

/**
 * The source sets a rule needs. Its conditions combine with AND: the positive ones (addresses,
 * countries, ASNs) form one set (their intersection), each blacklist is a set of its own.
 */
export function ruleSetKeys(m: RuleMatch): { positive: string | null; negative: string[] } {
	const parts: string[] = [];
	if (m.sourceIps?.length) parts.push(sourceSetKey(m.sourceIps));
	if (m.sourceCountries?.length) parts.push(countrySetKey(m.sourceCountries));
	if (m.sourceAsns?.length) parts.push(`as:${[...new Set(m.sourceAsns.map(String))].sort().join(",")}`);
	const negative: string[] = [];
	if (m.sourceIpBlacklist?.length) negative.push(sourceSetKey(m.sourceIpBlacklist));
	if (m.sourceCountryBlacklist?.length) negative.push(countrySetKey(m.sourceCountryBlacklist));
	return { positive: parts.length ? parts.join("&") : null, negative };
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
	(match.destinationIps ?? []).forEach((p, i) => {
		try {
			parsePrefix(p.prefixLength === undefined ? p.address : `${p.address}/${p.prefixLength}`);
		} catch (err) {
			if (!(err instanceof AddressError)) throw err;
			errors.push({ field: `match.destinationIps[${i}]`, code: err.code, message: err.message });
		}
	});
	if (match.l7Match) errors.push(...l7MatchErrors(match.l7Match));
	if (action === "RATE_LIMIT" && !rateLimit)
		errors.push({
			field: "rateLimit",
			code: "required",
			message: "a RATE_LIMIT rule needs rateLimit.requestsPerSecond",
		});
	return errors;
}

interface BackendInfo {
	id: string;
	type: string;
	protection: string;
	listeners: string[];
}

interface SampleRow {
	packets: number;
	bytes: number;
	raw_packets: number;
	raw_bytes: number;
	last_matched: string | null;
	sampled_at: string;
}

const GRANULARITY_MS: Record<(typeof GRANULARITIES)[number], number> = {
	MINUTE: 60_000,
	HOUR: 3_600_000,
	DAY: 86_400_000,
};
const MAX_BUCKETS = 10_000;

export interface StatsQuery {
	from?: string;
	to?: string;
	granularity?: string;
}

export class FilterRuleService {
	constructor(
		private readonly db: Database,
		private readonly audit: AuditService,
		private readonly bus: EventBus,
		private readonly config: () => Config,
		private readonly geoip: GeoIpService,
		private readonly live: LiveView,
	) {}

	create(actor: Actor, input: unknown): FilterRule {
		require(actor, "write");
		check(RuleCreate, input);
		const rule = this.db.transaction(() => {
			const id = this.insert(actor, input, "");
			this.afterWrite(actor, [input.backendId]);
			this.audit.record(actor, {
				action: "rule.created",
				resourceType: "filter_rule",
				resourceId: id,
				description: `Created filter rule '${input.name}' (${input.action})`,
				metadata: { backendId: input.backendId, action: input.action },
			});
			return this.load(actor, id);
		})();
		this.bus.publish({ type: "rule.created", organizationId: actor.organizationId, resourceId: rule.id });
		return rule;
	}

	/** Creates every rule or none (one transaction); errors name the rule: rules[3].match.sourceIps[0]. */
	bulkCreate(actor: Actor, input: unknown): FilterRule[] {
		require(actor, "write");
		check(RuleBulkCreate, input);
		const ids = this.db.transaction(() => {
			const created = input.rules.map((r, i) => this.insert(actor, r, `rules[${i}].`));
			this.afterWrite(actor, [...new Set(input.rules.map((r) => r.backendId))]);
			this.audit.record(actor, {
				action: "rule.bulk_created",
				resourceType: "filter_rule",
				resourceId: created[0] as string,
				description: `Created ${created.length} filter rules`,
				metadata: { ruleIds: created },
			});
			return created;
		})();
		for (const id of ids)
			this.bus.publish({ type: "rule.created", organizationId: actor.organizationId, resourceId: id });
		return ids.map((id) => this.load(actor, id));
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
			data: rows.map((r) => toRule(r, this.totals(r))),
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
		const backend = this.backend(actor, current.backendId, "backendId");
		const errors = this.ruleErrors(match, action, rateLimit, backend, "");
		if (errors.length) throw new ValidationError(errors);
		const rule = this.db.transaction(() => {
			this.db
				.prepare(
					`UPDATE filter_rules SET name = ?, description = ?, priority = ?, enabled = ?, match = ?, action = ?,
						rate_limit = ?, time_active = ?, updated_at = ? WHERE id = ?`,
				)
				.run(
					input.name ?? current.name,
					input.description ?? current.description,
					input.priority ?? current.priority,
					(input.enabled ?? current.enabled) ? 1 : 0,
					JSON.stringify(match),
					action,
					rateLimit ? JSON.stringify(rateLimit) : null,
					this.timeActive(match),
					nowIso(),
					id,
				);
			this.afterWrite(actor, [current.backendId]);
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
		this.bulkDelete(actor, { ruleIds: [id] }, false);
	}

	/** Deletes every listed rule or none; an unknown id is a 404 naming it. */
	bulkDelete(actor: Actor, input: unknown, bulk = true): { deleted: number } {
		require(actor, "delete");
		check(RuleBulkDelete, input);
		const ids = [...new Set(input.ruleIds)];
		const rules = ids.map((id) => this.load(actor, id));
		this.db.transaction(() => {
			const del = this.db.prepare("DELETE FROM filter_rules WHERE id = ?");
			for (const r of rules) del.run(r.id);
			this.geoip.materialize(this.db);
			if (!actor.sandbox) bumpRevision(this.db, "rules");
			if (bulk)
				this.audit.record(actor, {
					action: "rule.bulk_deleted",
					resourceType: "filter_rule",
					resourceId: rules[0]?.id as string,
					description: `Deleted ${rules.length} filter rules`,
					metadata: { ruleIds: ids },
				});
			else
				this.audit.record(actor, {
					action: "rule.deleted",
					resourceType: "filter_rule",
					resourceId: rules[0]?.id as string,
					description: `Deleted filter rule '${rules[0]?.name}'`,
					metadata: { backendId: rules[0]?.backendId },
				});
		})();
		for (const r of rules)
			this.bus.publish({ type: "rule.deleted", organizationId: actor.organizationId, resourceId: r.id });
		return { deleted: rules.length };
	}

	/** Gives the backend's rules the order of ruleIds (every rule of the backend, once). */
	reorder(actor: Actor, backendId: unknown, ruleIds: unknown): FilterRule[] {
		require(actor, "write");
		const input = { backendId, ruleIds };
		check(RuleReorder, input);
		this.reorderChecked(actor, input.backendId, input.ruleIds);
		return input.ruleIds.map((id) => this.load(actor, id));
	}

	private reorderChecked(actor: Actor, backendId: string, ruleIds: string[]): void {
		this.backend(actor, backendId, "backendId");
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
	}

	/**
	 * Counts of a rule between from and to (default: the last 24 hours) in buckets of the
	 * granularity, from the stored samples of its kernel counters (plus the live counters for
	 * the newest bucket when the data plane runs in this process).
	 */
	stats(actor: Actor, id: string, query: StatsQuery = {}) {
		require(actor, "read");
		const rule = this.loadRow(actor, id);
		const errors: FieldError[] = [];
		const granularity = (query.granularity ?? "HOUR").toUpperCase() as (typeof GRANULARITIES)[number];
		if (!GRANULARITIES.includes(granularity))
			errors.push({
				field: "granularity",
				code: "invalid_enum",
				message: `must be one of ${GRANULARITIES.join(", ")}`,
			});
		const { from, to } = timeRange(query, 86_400_000, errors);
		const step = GRANULARITY_MS[granularity] ?? GRANULARITY_MS.HOUR;
		if (!errors.length && (to - from) / step > MAX_BUCKETS)
			errors.push({
				field: "granularity",
				code: "invalid_value",
				message: `the range would have more than ${MAX_BUCKETS} buckets; choose a coarser granularity`,
			});
		if (errors.length) throw new ValidationError(errors);

		const fromIso = new Date(from).toISOString();
		const toIso = new Date(to).toISOString();
		const before = this.db
			.query<SampleRow, [string, string]>(
				"SELECT * FROM rule_stats_samples WHERE rule_id = ? AND sampled_at < ? ORDER BY sampled_at DESC LIMIT 1",
			)
			.get(id, fromIso);
		const samples = this.db
			.query<SampleRow, [string, string, string]>(
				"SELECT * FROM rule_stats_samples WHERE rule_id = ? AND sampled_at >= ? AND sampled_at <= ? ORDER BY sampled_at",
			)
			.all(id, fromIso, toIso);
		const liveNow = to >= Date.now() - 1000 ? this.liveTotals(rule) : null;
		const points = liveNow ? [...samples, { ...liveNow, raw_packets: 0, raw_bytes: 0, sampled_at: nowIso() }] : samples;
		const buckets = new Map<number, { packets: number; bytes: number }>();
		let previous = before ?? points[0] ?? null;
		let packets = 0;
		let bytes = 0;
		let lastMatched: string | null = null;
		for (const p of points) {
			const dp = Math.max(0, p.packets - (previous?.packets ?? p.packets));
			const db = Math.max(0, p.bytes - (previous?.bytes ?? p.bytes));
			previous = p;
			packets += dp;
			bytes += db;
			if (p.last_matched && p.last_matched >= fromIso && p.last_matched <= toIso) lastMatched = p.last_matched;
			const at = from + Math.floor((Date.parse(p.sampled_at) - from) / step) * step;
			const b = buckets.get(at) ?? { packets: 0, bytes: 0 };
			b.packets += dp;
			b.bytes += db;
			buckets.set(at, b);
		}
		const series = [];
		for (let t = from, i = 0; t < to && i < MAX_BUCKETS; t += step, i++) {
			const b = buckets.get(t) ?? { packets: 0, bytes: 0 };
			series.push({ timestamp: new Date(t).toISOString(), packetsMatched: b.packets, bytesMatched: b.bytes });
		}
		return {
			ruleId: id,
			from: fromIso,
			to: toIso,
			granularity,
			packetsMatched: packets,
			bytesMatched: bytes,
			packetsDropped: dropped(rule.action, packets),
			lastMatched,
			series,
		};
	}

	/** Inserts one rule after checking it; returns its id. Field paths carry `prefix`. */
	private insert(actor: Actor, input: Static<typeof RuleCreate>, prefix: string): string {
		const backend = this.backend(actor, input.backendId, `${prefix}backendId`);
		const match = input.match ?? {};
		const errors = this.ruleErrors(match, input.action, input.rateLimit, backend, prefix);
		if (errors.length) throw new ValidationError(errors);
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
		const slots = this.config().dataplane.map_sizes.rules;
		if (slot >= slots)
			throw ValidationError.field(
				`${prefix}backendId`,
				"limit_exceeded",
				`the data plane counts ${slots} rules (dataplane.map_sizes.rules)`,
			);
		this.db
			.prepare(
				`INSERT INTO filter_rules (id, organization_id, backend_id, stats_slot, name, description, priority, enabled,
					match, action, rate_limit, time_active, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
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
				JSON.stringify(match),
				input.action,
				input.rateLimit ? JSON.stringify(input.rateLimit) : null,
				this.timeActive(match),
				now,
				now,
			);
		return id;
	}

	/** After rules of these backends changed (inside the transaction): GeoIP sets, limits, revision. */
	private afterWrite(actor: Actor, backendIds: string[]): void {
		this.geoip.materialize(this.db);
		for (const b of backendIds) this.ensureCompilable(b);
		if (!actor.sandbox) bumpRevision(this.db, "rules");
	}

	private timeActive(match: RuleMatch): number {
		return windowOpen(match, new Date(), this.config().filters.timezone) ? 1 : 0;
	}

	/** Everything beyond the schema that decides whether the data plane (or proxy) can enforce the rule. */
	private ruleErrors(
		match: RuleMatch,
		action: string,
		rateLimit: unknown,
		backend: BackendInfo,
		prefix: string,
	): FieldError[] {
		const errors = matchErrors(match, action, rateLimit).map((e) => ({ ...e, field: prefix + e.field }));
		const geo = [
			["sourceCountries", "country"],
			["sourceCountryBlacklist", "country"],
			["sourceAsns", "asn"],
		] as const;
		for (const [field, kind] of geo)
			if (match[field]?.length && !this.geoip.available(kind))
				errors.push({
					field: `${prefix}match.${field}`,
					code: "geoip_unavailable",
					message: `no ${kind === "asn" ? "ASN" : "country"} database is installed (${this.geoip.path(kind)}); run 'pistonprotection geoip update' or reinstall`,
				});
		if (match.destinationIps?.length && !errors.some((e) => e.field.includes("destinationIps"))) {
			const scope = destinationScope(match.destinationIps, backend.listeners);
			if (scope === "partial")
				errors.push({
					field: `${prefix}match.destinationIps`,
					code: "unsupported",
					message:
						"the data plane matches a backend's listeners, not destination addresses: destinationIps must contain all or none of the backend's listener addresses, and the backend must not listen on every address",
				});
		}
		if (action === "CHALLENGE" || action === "REDIRECT") {
			const types = PROXY_ACTION_TYPES[action];
			if (!types.includes(backend.type))
				errors.push({
					field: `${prefix}action`,
					code: "unsupported",
					message: `the proxy cannot ${action === "CHALLENGE" ? "challenge" : "redirect"} ${backend.type} traffic (${types.join(", ")} only)`,
				});
			else if (action === "REDIRECT" && !hasHoneypot(this.db, backend.id))
				errors.push({
					field: `${prefix}action`,
					code: "honeypot_required",
					message: `REDIRECT sends matched traffic to the backend's origin named '${HONEYPOT_ORIGIN_NAME}'; add that origin first`,
				});
		}
		return errors;
	}

	private load(actor: Actor, id: string): FilterRule {
		const row = this.loadRow(actor, id);
		return toRule(row, this.totals(row));
	}

	private loadRow(actor: Actor, id: string): RuleRow {
		const row = this.db
			.query<RuleRow, [string, string, number]>(
				`SELECT r.* FROM filter_rules r JOIN backends b ON b.id = r.backend_id
				 WHERE r.id = ? AND r.organization_id = ? AND b.sandbox = ?`,
			)
			.get(id, actor.organizationId, actor.sandbox ? 1 : 0);
		if (!row) throw new NotFound("filter rule", id);
		return row;
	}

	/** Totals since creation: the newest sample, advanced by the live kernel counters when available. */
	private totals(row: RuleRow): RuleStats {
		const t = this.liveTotals(row) ?? this.latestSample(row.id);
		const packets = t?.packets ?? 0;
		return {
			packetsMatched: packets,
			bytesMatched: t?.bytes ?? 0,
			packetsDropped: dropped(row.action, packets),
			lastMatched: t?.last_matched ?? null,
		};
	}

	private latestSample(ruleId: string): SampleRow | null {
		return this.db
			.query<SampleRow, [string]>("SELECT * FROM rule_stats_samples WHERE rule_id = ? ORDER BY sampled_at DESC LIMIT 1")
			.get(ruleId);
	}

	private liveTotals(row: RuleRow): Pick<SampleRow, "packets" | "bytes" | "last_matched"> | null {
		const view = this.live.counters();
		const last = this.latestSample(row.id);
		if (!view || !last) return last;
		const now = view.rule(row.stats_slot);
		if (!now) return last;
		// A kernel total below the sample's means the counters restarted from zero.
		const dp = now.packets >= last.raw_packets ? now.packets - last.raw_packets : now.packets;
		const db = now.bytes >= last.raw_bytes ? now.bytes - last.raw_bytes : now.bytes;
		const lastMatched = now.lastMatched && now.lastMatched > row.created_at ? now.lastMatched : last.last_matched;
		return { packets: last.packets + dp, bytes: last.bytes + db, last_matched: lastMatched };
	}

	private backend(actor: Actor, backendId: string, field: string): BackendInfo {
		const row = this.db
			.query<{ id: string; type: string; protection: string }, [string, string, number]>(
				"SELECT id, type, protection FROM backends WHERE id = ? AND organization_id = ? AND sandbox = ?",
			)
			.get(backendId, actor.organizationId, actor.sandbox ? 1 : 0);
		if (!row) throw ValidationError.field(field, "backend_not_found", `backend ${backendId} does not exist`);
		const listeners = this.db
			.query<{ address: string }, [string]>("SELECT address FROM backend_listeners WHERE backend_id = ?")
			.all(backendId)
			.map((l) => l.address);
		return { ...row, listeners };
	}

	/** Refuses (inside the writer's transaction) a change the data plane could not hold. */
	private ensureCompilable(backendId: string): void {
		const geoRule = this.db
			.query<{ protection: string }, [string]>("SELECT protection FROM backends WHERE id = ?")
			.get(backendId);
		const geo = geoRule ? (JSON.parse(geoRule.protection) as { geoIp?: { mode: string } }).geoIp : undefined;
		const implicit = geo && geo.mode !== "OFF" ? 1 : 0;
		const enabled =
			this.db
				.query<{ n: number }, [string]>("SELECT COUNT(*) AS n FROM filter_rules WHERE backend_id = ? AND enabled = 1")
				.get(backendId)?.n ?? 0;
		if (enabled + implicit > MAX_RULES_PER_BACKEND)
			throw ValidationError.field(
				"backendId",
				"limit_exceeded",
				`a backend holds at most ${MAX_RULES_PER_BACKEND} enabled rules${implicit ? " (its geoIp setting takes one)" : ""}`,
			);
		const sets = activeSourceSets(this.db);
		if (sets.size > MAX_SOURCE_SETS)
			throw ValidationError.field(
				"match",
				"limit_exceeded",
				`the rules would need ${sets.size} distinct source lists (addresses, countries, ASNs); the data plane holds ${MAX_SOURCE_SETS}`,
			);
	}
}

/** Every distinct source set the live (non-sandbox) rules and backends' geoIp settings need. */
export function activeSourceSets(db: Database): Set<string> {
	const sets = new Set<string>();
	for (const r of db
		.query<{ match: string }, []>(
			"SELECT r.match FROM filter_rules r JOIN backends b ON b.id = r.backend_id WHERE r.enabled = 1 AND b.sandbox = 0",
		)
		.all()) {
		const keys = ruleSetKeys(JSON.parse(r.match) as RuleMatch);
		if (keys.positive) sets.add(keys.positive);
		for (const k of keys.negative) sets.add(k);
	}
	for (const b of db.query<{ protection: string }, []>("SELECT protection FROM backends WHERE sandbox = 0").all()) {
		const geo = (JSON.parse(b.protection) as { geoIp?: { mode: string; countries: string[] } }).geoIp;
		if (geo && geo.mode !== "OFF" && geo.countries.length) sets.add(countrySetKey(geo.countries));
	}
	return sets;
}

function dropped(action: FilterRule["action"], packets: number): number | null {
	if (action === "DROP") return packets;
	if (action === "RATE_LIMIT") return null;
	return 0;
}
