// Every mutation and every authentication event is audited: services call record() inside their
// own transaction so an audit entry exists exactly when the change does.
import type { Database } from "bun:sqlite";
import { requirePermission } from "../../auth/rbac.ts";
import type { Actor } from "../actor.ts";
import { ValidationError } from "../errors.ts";
import { newId, nowIso } from "../ids.ts";
import type { Page } from "../pagination.ts";
import { check } from "../validate.ts";
import { type AuditLogEntry, AuditLogQuery } from "./model.ts";

export interface AuditEntry {
	action: string;
	resourceType: string;
	resourceId: string | null;
	description: string;
	metadata?: Record<string, unknown>;
}

/** Who an event is about when there may be no organization (a failed sign-in for an unknown email). */
export type AuditSubject = Omit<Actor, "organizationId"> & { organizationId: string | null };

interface AuditRow {
	id: string;
	organization_id: string | null;
	user_id: string | null;
	user_email: string | null;
	action: string;
	resource_type: string;
	resource_id: string | null;
	description: string;
	metadata: string;
	ip_address: string | null;
	user_agent: string | null;
	timestamp: string;
}

const toEntry = (r: AuditRow): AuditLogEntry => ({
	id: r.id,
	organizationId: r.organization_id,
	userId: r.user_id,
	userEmail: r.user_email,
	action: r.action,
	resourceType: r.resource_type,
	resourceId: r.resource_id,
	description: r.description,
	metadata: JSON.parse(r.metadata),
	ipAddress: r.ip_address,
	userAgent: r.user_agent,
	timestamp: r.timestamp,
});

export class AuditService {
	private readonly insert;

	constructor(private readonly db: Database) {
		this.insert = db.prepare(
			`INSERT INTO audit_logs (id, organization_id, user_id, user_email, action, resource_type, resource_id,
				description, metadata, ip_address, user_agent, timestamp)
			 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		);
	}

	record(actor: Actor, entry: AuditEntry): void {
		this.recordEvent(actor, entry);
	}

	recordEvent(subject: AuditSubject, entry: AuditEntry): void {
		const credential = subject.credential ? { credential: subject.credential } : {};
		this.insert.run(
			newId("al"),
			subject.organizationId,
			subject.userId,
			subject.email,
			entry.action,
			entry.resourceType,
			entry.resourceId,
			entry.description,
			JSON.stringify({ ...entry.metadata, actorKind: subject.kind, ...credential }),
			subject.ipAddress,
			subject.userAgent,
			nowIso(),
		);
	}

	/** GET /v1/audit-logs: the organization's entries, newest first; admins only. */
	list(actor: Actor, query: unknown): Page<AuditLogEntry> {
		requirePermission(actor, "admin");
		check(AuditLogQuery, query);
		const where = ["organization_id = ?"];
		const params: string[] = [actor.organizationId];
		for (const [field, column] of [
			["userId", "user_id"],
			["resourceType", "resource_type"],
			["action", "action"],
		] as const) {
			const value = query[field];
			if (value !== undefined) {
				where.push(`${column} = ?`);
				params.push(value);
			}
		}
		const from = query.from === undefined ? undefined : isoTime("from", query.from);
		const to = query.to === undefined ? undefined : isoTime("to", query.to);
		if (from && to && from > to) throw ValidationError.field("from", "invalid_value", "must not be after 'to'");
		if (from) {
			where.push("timestamp >= ?");
			params.push(from);
		}
		if (to) {
			where.push("timestamp < ?");
			params.push(to);
		}
		const page = query.page ?? 1;
		const pageSize = query.pageSize ?? 20;
		const clause = where.join(" AND ");
		const totalCount =
			this.db.query<{ n: number }, string[]>(`SELECT COUNT(*) AS n FROM audit_logs WHERE ${clause}`).get(...params)
				?.n ?? 0;
		const rows = this.db
			.query<AuditRow, string[]>(
				`SELECT * FROM audit_logs WHERE ${clause} ORDER BY timestamp DESC, rowid DESC
				 LIMIT ${pageSize} OFFSET ${(page - 1) * pageSize}`,
			)
			.all(...params);
		return {
			data: rows.map(toEntry),
			pagination: { page, pageSize, totalCount, hasNext: page * pageSize < totalCount },
		};
	}
}

function isoTime(field: string, value: string): string {
	const ms = Date.parse(value);
	if (Number.isNaN(ms)) throw ValidationError.field(field, "invalid_value", "must be an ISO 8601 time");
	return new Date(ms).toISOString();
}
