// Alert rules: CRUD with permissions, validation and audit. Evaluation and notification are
// src/notify/alerts.ts, which reads the rows this service writes.
import type { Database } from "bun:sqlite";
import { requirePermission } from "../../auth/rbac.ts";
import type { Config } from "../../config.ts";
import type { Actor } from "../actor.ts";
import type { AuditService } from "../audit/service.ts";
import { type FieldError, NotFound, ValidationError } from "../errors.ts";
import { newId, nowIso } from "../ids.ts";
import { type Page, paginate } from "../pagination.ts";
import { check } from "../validate.ts";
import { type Alert, AlertCreate, AlertUpdate, type Notification } from "./model.ts";

export interface AlertRow {
	id: string;
	organization_id: string;
	backend_id: string | null;
	name: string;
	condition: string;
	notifications: string;
	enabled: number;
	state: Alert["state"];
	state_since: number | null;
	last_value: number | null;
	last_fired_at: string | null;
	last_resolved_at: string | null;
	created_at: string;
	updated_at: string;
}

export const toAlert = (r: AlertRow): Alert => ({
	id: r.id,
	backendId: r.backend_id,
	name: r.name,
	condition: JSON.parse(r.condition),
	notifications: JSON.parse(r.notifications),
	enabled: r.enabled === 1,
	state: r.state,
	lastValue: r.last_value,
	lastFiredAt: r.last_fired_at,
	lastResolvedAt: r.last_resolved_at,
	createdAt: r.created_at,
	updatedAt: r.updated_at,
});

const EMAIL = /^[^\s@]+@[^\s@]+$/;
const ROUTING_KEY = /^[A-Za-z0-9]{20,64}$/;

function destinationErrors(notifications: Notification[], config: Config): FieldError[] {
	const errors: FieldError[] = [];
	notifications.forEach((n, i) => {
		const field = `notifications[${i}].destination`;
		if (n.type === "EMAIL") {
			if (!EMAIL.test(n.destination)) errors.push({ field, code: "invalid_format", message: "not an email address" });
			else if (!config.notify.smtp_host)
				errors.push({
					field: `notifications[${i}].type`,
					code: "smtp_not_configured",
					message: "EMAIL needs an SMTP server: set notify.smtp_host",
				});
		} else if (n.type === "PAGERDUTY") {
			if (!ROUTING_KEY.test(n.destination))
				errors.push({
					field,
					code: "invalid_format",
					message: "a PagerDuty Events API v2 routing key (integration key)",
				});
		} else {
			let url: URL | null = null;
			try {
				url = new URL(n.destination);
			} catch {
				url = null;
			}
			if (!url || (url.protocol !== "https:" && url.protocol !== "http:"))
				errors.push({ field, code: "invalid_format", message: "an http(s) URL" });
		}
	});
	return errors;
}

export class AlertService {
	constructor(
		private readonly db: Database,
		private readonly audit: AuditService,
		private readonly settings: () => Config,
	) {}

	create(actor: Actor, input: unknown): Alert {
		requirePermission(actor, "write");
		check(AlertCreate, input);
		const errors = [
			...destinationErrors(input.notifications, this.settings()),
			...this.backendErrors(actor, input.backendId ?? null),
		];
		if (errors.length) throw new ValidationError(errors);
		const id = newId("alr");
		const now = nowIso();
		this.db.transaction(() => {
			this.db
				.prepare(
					`INSERT INTO alerts (id, organization_id, backend_id, name, condition, notifications, enabled, created_at, updated_at)
					 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				)
				.run(
					id,
					actor.organizationId,
					input.backendId ?? null,
					input.name,
					JSON.stringify({ durationSeconds: 0, ...input.condition }),
					JSON.stringify(input.notifications),
					input.enabled === false ? 0 : 1,
					now,
					now,
				);
			this.audit.record(actor, {
				action: "alert.created",
				resourceType: "alert",
				resourceId: id,
				description: `Created alert '${input.name}'`,
				metadata: { condition: input.condition, channels: input.notifications.map((n) => n.type) },
			});
		})();
		return this.get(actor, id);
	}

	get(actor: Actor, id: string): Alert {
		requirePermission(actor, "read");
		return toAlert(this.row(actor, id));
	}

	list(actor: Actor, page = 1, pageSize = 20, backendId?: string): Page<Alert> {
		requirePermission(actor, "read");
		const rows = this.db
			.query<AlertRow, [string]>("SELECT * FROM alerts WHERE organization_id = ? ORDER BY created_at, id")
			.all(actor.organizationId)
			.filter((r) => backendId === undefined || r.backend_id === backendId);
		return paginate(rows.map(toAlert), page, pageSize);
	}

	/** A changed condition starts evaluation afresh (state back to ok without a resolve event). */
	update(actor: Actor, id: string, input: unknown): Alert {
		requirePermission(actor, "write");
		check(AlertUpdate, input);
		const current = this.row(actor, id);
		const notifications = input.notifications ?? (JSON.parse(current.notifications) as Notification[]);
		const errors = [
			...destinationErrors(notifications, this.settings()),
			...(input.backendId !== undefined ? this.backendErrors(actor, input.backendId) : []),
		];
		if (errors.length) throw new ValidationError(errors);
		this.db.transaction(() => {
			const conditionChanged = input.condition !== undefined || input.backendId !== undefined;
			this.db
				.prepare(
					`UPDATE alerts SET backend_id = ?, name = ?, condition = ?, notifications = ?, enabled = ?, updated_at = ?,
						state = CASE WHEN ? THEN 'ok' ELSE state END, state_since = CASE WHEN ? THEN NULL ELSE state_since END
					 WHERE id = ?`,
				)
				.run(
					input.backendId !== undefined ? input.backendId : current.backend_id,
					input.name ?? current.name,
					input.condition ? JSON.stringify({ durationSeconds: 0, ...input.condition }) : current.condition,
					JSON.stringify(notifications),
					(input.enabled ?? current.enabled === 1) ? 1 : 0,
					nowIso(),
					conditionChanged ? 1 : 0,
					conditionChanged ? 1 : 0,
					id,
				);
			this.audit.record(actor, {
				action: "alert.updated",
				resourceType: "alert",
				resourceId: id,
				description: `Updated alert '${input.name ?? current.name}'`,
				metadata: { fields: Object.keys(input as object) },
			});
		})();
		return this.get(actor, id);
	}

	delete(actor: Actor, id: string): void {
		requirePermission(actor, "delete");
		const current = this.row(actor, id);
		this.db.transaction(() => {
			this.db.prepare("DELETE FROM alerts WHERE id = ?").run(id);
			this.audit.record(actor, {
				action: "alert.deleted",
				resourceType: "alert",
				resourceId: id,
				description: `Deleted alert '${current.name}'`,
			});
		})();
	}

	private backendErrors(actor: Actor, backendId: string | null): FieldError[] {
		if (backendId === null) return [];
		const owned = this.db
			.query("SELECT 1 FROM backends WHERE id = ? AND organization_id = ?")
			.get(backendId, actor.organizationId);
		return owned
			? []
			: [{ field: "backendId", code: "backend_not_found", message: `backend ${backendId} does not exist` }];
	}

	private row(actor: Actor, id: string): AlertRow {
		const row = this.db
			.query<AlertRow, [string, string]>("SELECT * FROM alerts WHERE id = ? AND organization_id = ?")
			.get(id, actor.organizationId);
		if (!row) throw new NotFound("alert", id);
		return row;
	}
}
