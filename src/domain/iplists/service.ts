// IP management: the block list, the allow list and dynamic bans, per organization and
// optionally per backend. Every change bumps the 'lists' revision so the reconciler applies it.
import type { Database } from "bun:sqlite";
import type { Config } from "../../config.ts";
import type { EventBus } from "../../events.ts";
import { AddressError, parsePrefix } from "../../net/cidr.ts";
import type { Actor, Permission } from "../actor.ts";
import type { AuditService } from "../audit/service.ts";
import { Forbidden, NotFound, ValidationError } from "../errors.ts";
import { newId, nowIso } from "../ids.ts";
import { bumpRevision } from "../revisions.ts";

export type ListKind = "block" | "allow" | "ban";
const MAX_DURATION_SECONDS = 10 * 365 * 24 * 3600;
/** Entries one bulk request may carry. */
export const MAX_BATCH = 100_000;

export interface IpEntry {
	id: string;
	list: ListKind;
	ip: string;
	backendId: string | null;
	reason: string;
	source: string;
	createdAt: string;
	expiresAt: string | null;
}

interface IpEntryRow {
	id: string;
	organization_id: string;
	list: ListKind;
	cidr: string;
	family: 4 | 6;
	backend_id: string | null;
	reason: string;
	source: string;
	created_at: string;
	expires_at: string | null;
}

const toEntry = (r: IpEntryRow): IpEntry => ({
	id: r.id,
	list: r.list,
	ip: r.cidr,
	backendId: r.backend_id,
	reason: r.reason,
	source: r.source,
	createdAt: r.created_at,
	expiresAt: r.expires_at,
});

export interface AddInput {
	ip: string;
	reason?: string;
	durationSeconds?: number | null;
	backendId?: string | null;
}

export interface ListQuery {
	backendId?: string;
	search?: string;
	page?: number;
	pageSize?: number;
}

function require(actor: Actor, permission: Permission) {
	if (!actor.permissions.includes(permission)) throw new Forbidden(`requires the '${permission}' permission`);
}

export class IpListService {
	constructor(
		private readonly db: Database,
		private readonly config: Config,
		private readonly audit: AuditService,
		private readonly bus: EventBus,
	) {}

	/** Adds or refreshes an entry (a repeated block updates its reason and expiry). */
	add(actor: Actor, list: ListKind, input: AddInput, source = "manual"): IpEntry {
		require(actor, "write");
		const { prefix, expiresAt, backendId, reason } = this.validate(actor, list, input);
		const entry = this.db.transaction(() => {
			const { id } = this.upsert(actor, list, { prefix, expiresAt, backendId, reason }, source, nowIso(), () =>
				this.ensureCapacity(list, prefix.family, prefix.prefixLength),
			);
			if (!actor.sandbox) bumpRevision(this.db, "lists");
			this.audit.record(actor, {
				action: `ip.${list === "allow" ? "allowed" : list === "ban" ? "banned" : "blocked"}`,
				resourceType: "ip",
				resourceId: id,
				description: `${list === "allow" ? "Allowed" : list === "ban" ? "Banned" : "Blocked"} ${prefix.text}${backendId ? ` for backend ${backendId}` : ""}`,
				metadata: { ip: prefix.text, list, backendId, expiresAt, reason, source },
			});
			return toEntry(
				this.db.query<IpEntryRow, [string]>("SELECT * FROM ip_entries WHERE id = ?").get(id) as IpEntryRow,
			);
		})();
		this.bus.publish({ type: `ip.${list}.added`, organizationId: actor.organizationId, resourceId: entry.id });
		return entry;
	}

	/**
	 * Adds or refreshes many entries in one transaction: all of them or none. Errors name the
	 * entry (entries[12].ip). One audit entry records the batch.
	 */
	addMany(actor: Actor, list: ListKind, inputs: AddInput[], source = "manual"): { added: number; updated: number } {
		require(actor, "write");
		if (!Array.isArray(inputs) || inputs.length === 0 || inputs.length > MAX_BATCH)
			throw ValidationError.field("entries", "invalid_value", `must list 1 to ${MAX_BATCH} entries`);
		const checked = inputs.map((input, i) => {
			try {
				return this.validate(actor, list, input);
			} catch (err) {
				if (err instanceof ValidationError)
					throw new ValidationError(err.errors.map((e) => ({ ...e, field: `entries[${i}].${e.field}` })));
				throw err;
			}
		});
		const sandbox = actor.sandbox ? 1 : 0;
		const result = this.db.transaction(() => {
			const used = { 4: this.used(list, 4), 6: this.used(list, 6) };
			const capacity = this.capacity(list);
			const now = nowIso();
			let added = 0;
			let updated = 0;
			checked.forEach((entry, i) => {
				const family = list === "ban" ? 4 : entry.prefix.family;
				const { inserted } = this.upsert(actor, list, entry, source, now, () => {
					if (!sandbox && used[family] >= capacity)
						throw ValidationError.field(
							`entries[${i}].ip`,
							"limit_exceeded",
							`the ${list} list holds ${capacity} ${list === "ban" ? "" : `IPv${entry.prefix.family} `}entries (dataplane.map_sizes)`,
						);
				});
				if (!inserted) {
					updated++;
					return;
				}
				if (!sandbox) used[family]++;
				added++;
			});
			if (!actor.sandbox) bumpRevision(this.db, "lists");
			this.audit.record(actor, {
				action: `ip.bulk_${list === "allow" ? "allowed" : list === "ban" ? "banned" : "blocked"}`,
				resourceType: "ip",
				resourceId: checked[0]?.prefix.text ?? "",
				description: `${list === "allow" ? "Allowed" : list === "ban" ? "Banned" : "Blocked"} ${checked.length} addresses or prefixes`,
				metadata: { list, added, updated, source, first: checked.slice(0, 10).map((c) => c.prefix.text) },
			});
			return { added, updated };
		})();
		this.bus.publish({ type: `ip.${list}.added`, organizationId: actor.organizationId, resourceId: "bulk" });
		return result;
	}

	/** Removes the entry for an address or prefix (optionally only the backend-scoped one). */
	remove(actor: Actor, list: ListKind, ip: string, backendId?: string | null): IpEntry {
		require(actor, list === "allow" ? "write" : "delete");
		const prefix = this.prefixOf(ip);
		const removed = this.db.transaction(() => {
			const rows = this.db
				.query<IpEntryRow, [string, number, string, string]>(
					"SELECT * FROM ip_entries WHERE organization_id = ? AND sandbox = ? AND list = ? AND cidr = ?",
				)
				.all(actor.organizationId, actor.sandbox ? 1 : 0, list, prefix.text)
				.filter((r) => backendId === undefined || r.backend_id === (backendId ?? null));
			if (rows.length === 0) throw new NotFound(`${list}-list entry`, prefix.text);
			for (const row of rows) {
				this.db.prepare("DELETE FROM ip_entries WHERE id = ?").run(row.id);
				this.audit.record(actor, {
					action: `ip.${list === "allow" ? "disallowed" : list === "ban" ? "unbanned" : "unblocked"}`,
					resourceType: "ip",
					resourceId: row.id,
					description: `Removed ${prefix.text} from the ${list} list${row.backend_id ? ` of backend ${row.backend_id}` : ""}`,
					metadata: { ip: prefix.text, list, backendId: row.backend_id },
				});
			}
			if (!actor.sandbox) bumpRevision(this.db, "lists");
			return toEntry(rows[0] as IpEntryRow);
		})();
		this.bus.publish({ type: `ip.${list}.removed`, organizationId: actor.organizationId, resourceId: removed.id });
		return removed;
	}

	list(actor: Actor, list: ListKind, query: ListQuery = {}) {
		require(actor, "read");
		const page = Math.max(1, query.page ?? 1);
		const pageSize = Math.min(100, Math.max(1, query.pageSize ?? 20));
		const where = ["organization_id = ?", "sandbox = ?", "list = ?", "(expires_at IS NULL OR expires_at > ?)"];
		const params: Array<string | number> = [actor.organizationId, actor.sandbox ? 1 : 0, list, nowIso()];
		if (query.backendId) {
			where.push("backend_id = ?");
			params.push(query.backendId);
		}
		if (query.search) {
			where.push("(cidr LIKE ? OR reason LIKE ?)");
			params.push(`%${query.search}%`, `%${query.search}%`);
		}
		const clause = where.join(" AND ");
		const totalCount =
			this.db.query<{ n: number }, typeof params>(`SELECT COUNT(*) AS n FROM ip_entries WHERE ${clause}`).get(...params)
				?.n ?? 0;
		const rows = this.db
			.query<IpEntryRow, typeof params>(
				`SELECT * FROM ip_entries WHERE ${clause} ORDER BY created_at DESC, id LIMIT ${pageSize} OFFSET ${(page - 1) * pageSize}`,
			)
			.all(...params);
		return {
			data: rows.map(toEntry),
			pagination: { page, pageSize, totalCount, hasNext: page * pageSize < totalCount },
		};
	}

	/** Deletes expired entries (the kernel already ignores them); returns how many. */
	sweepExpired(now = nowIso()): number {
		return this.db.transaction(() => {
			const { changes } = this.db
				.prepare("DELETE FROM ip_entries WHERE expires_at IS NOT NULL AND expires_at <= ?")
				.run(now);
			if (changes > 0) bumpRevision(this.db, "lists");
			return changes;
		})();
	}

	private prefixOf(ip: string) {
		try {
			return parsePrefix(ip);
		} catch (err) {
			if (err instanceof AddressError) throw ValidationError.field("ip", err.code, err.message);
			throw err;
		}
	}

	/**
	 * Inside the caller's transaction: refreshes the entry with this (list, prefix, backend) or,
	 * once `admit` (the capacity check, which throws) lets it, inserts it.
	 */
	private upsert(
		actor: Actor,
		list: ListKind,
		e: ReturnType<IpListService["validate"]>,
		source: string,
		now: string,
		admit: () => void,
	): { id: string; inserted: boolean } {
		const sandbox = actor.sandbox ? 1 : 0;
		const existing = this.db
			.query<{ id: string }, [string, number, string, string, string]>(
				`SELECT id FROM ip_entries WHERE organization_id = ? AND sandbox = ? AND list = ? AND cidr = ?
				 AND IFNULL(backend_id, '') = ?`,
			)
			.get(actor.organizationId, sandbox, list, e.prefix.text, e.backendId ?? "");
		if (existing) {
			this.db
				.query("UPDATE ip_entries SET reason = ?, expires_at = ?, source = ? WHERE id = ?")
				.run(e.reason, e.expiresAt, source, existing.id);
			return { id: existing.id, inserted: false };
		}
		admit();
		const id = newId("ip");
		this.db
			.query(
				`INSERT INTO ip_entries (id, organization_id, sandbox, list, cidr, family, backend_id, reason, source,
					created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			)
			.run(
				id,
				actor.organizationId,
				sandbox,
				list,
				e.prefix.text,
				e.prefix.family,
				e.backendId,
				e.reason,
				source,
				now,
				e.expiresAt,
			);
		return { id, inserted: true };
	}

	private validate(actor: Actor, list: ListKind, input: AddInput) {
		const errors = [];
		let prefix: ReturnType<typeof parsePrefix> | null = null;
		try {
			prefix = parsePrefix(String(input.ip ?? ""));
		} catch (err) {
			if (!(err instanceof AddressError)) throw err;
			errors.push({ field: "ip", code: err.code, message: err.message });
		}
		if (prefix && list === "ban" && prefix.prefixLength !== (prefix.family === 4 ? 32 : 128))
			errors.push({ field: "ip", code: "invalid_ip", message: "a ban is for one exact address" });
		const d = input.durationSeconds;
		if (d != null && (!Number.isInteger(d) || d < 1 || d > MAX_DURATION_SECONDS))
			errors.push({
				field: "durationSeconds",
				code: "invalid_value",
				message: `must be a whole number of seconds from 1 to ${MAX_DURATION_SECONDS}`,
			});
		const reason = (input.reason ?? "").trim();
		if (reason.length > 500) errors.push({ field: "reason", code: "too_long", message: "at most 500 characters" });
		const backendId = input.backendId ?? null;
		if (backendId !== null) {
			const owned = this.db
				.query("SELECT 1 FROM backends WHERE id = ? AND organization_id = ? AND sandbox = ?")
				.get(backendId, actor.organizationId, actor.sandbox ? 1 : 0);
			if (!owned)
				errors.push({ field: "backendId", code: "backend_not_found", message: `backend ${backendId} does not exist` });
		}
		if (errors.length || !prefix) throw new ValidationError(errors);
		const expiresAt = d != null ? new Date(Date.now() + d * 1000).toISOString() : null;
		return { prefix, expiresAt, backendId, reason };
	}

	private capacity(list: ListKind): number {
		const sizes = this.config.dataplane.map_sizes;
		return list === "block" ? sizes.blocklist : list === "allow" ? sizes.allowlist : sizes.bans;
	}

	/** Live entries of a list (per family; bans share one map for both). */
	private used(list: ListKind, family: 4 | 6): number {
		const familyClause = list === "ban" ? "" : "AND family = ?";
		const params = list === "ban" ? [list] : [list, family];
		return (
			this.db
				.query<{ n: number }, Array<string | number>>(
					`SELECT COUNT(*) AS n FROM ip_entries WHERE sandbox = 0 AND list = ? ${familyClause}`,
				)
				.get(...params)?.n ?? 0
		);
	}

	/** A list larger than its map is refused here, before anything is written. */
	private ensureCapacity(list: ListKind, family: 4 | 6, prefixLength: number): void {
		const capacity = this.capacity(list);
		const used = this.used(list, family);
		if (used >= capacity)
			throw ValidationError.field(
				"ip",
				"limit_exceeded",
				`the ${list} list holds ${capacity} ${list === "ban" ? "" : `IPv${family} `}entries (dataplane.map_sizes); remove some first (/${prefixLength} not added)`,
			);
	}
}
