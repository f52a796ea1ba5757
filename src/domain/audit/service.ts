// Every mutation is audited: services call record() inside their own transaction so an
// audit entry exists exactly when the change does.
import type { Database } from "bun:sqlite";
import type { Actor } from "../actor.ts";
import { newId, nowIso } from "../ids.ts";

export interface AuditEntry {
	action: string;
	resourceType: string;
	resourceId: string | null;
	description: string;
	metadata?: Record<string, unknown>;
}

export class AuditService {
	private readonly insert;

	constructor(db: Database) {
		this.insert = db.prepare(
			`INSERT INTO audit_logs (id, organization_id, user_id, user_email, action, resource_type, resource_id,
				description, metadata, ip_address, user_agent, timestamp)
			 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		);
	}

	record(actor: Actor, entry: AuditEntry): void {
		this.insert.run(
			newId("al"),
			actor.organizationId,
			actor.userId,
			actor.email,
			entry.action,
			entry.resourceType,
			entry.resourceId,
			entry.description,
			JSON.stringify({ ...entry.metadata, actorKind: actor.kind }),
			actor.ipAddress,
			actor.userAgent,
			nowIso(),
		);
	}
}
