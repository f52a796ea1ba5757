// The audit log's shapes: an entry as the API returns it, and the list filters of the spec.
import { type Static, Type as T } from "@sinclair/typebox";

export const AuditLogEntry = T.Object({
	id: T.String(),
	organizationId: T.Union([T.String(), T.Null()]),
	userId: T.Union([T.String(), T.Null()]),
	userEmail: T.Union([T.String(), T.Null()]),
	action: T.String({ description: "what happened, e.g. backend.created or auth.login" }),
	resourceType: T.String(),
	resourceId: T.Union([T.String(), T.Null()]),
	description: T.String(),
	metadata: T.Record(T.String(), T.Unknown()),
	ipAddress: T.Union([T.String(), T.Null()]),
	userAgent: T.Union([T.String(), T.Null()]),
	timestamp: T.String({ format: "date-time" }),
});
export type AuditLogEntry = Static<typeof AuditLogEntry>;

export const AuditLogQuery = T.Object(
	{
		userId: T.Optional(T.String({ minLength: 1, maxLength: 64 })),
		resourceType: T.Optional(T.String({ minLength: 1, maxLength: 64 })),
		action: T.Optional(T.String({ minLength: 1, maxLength: 64 })),
		from: T.Optional(T.String({ minLength: 1, description: "ISO 8601 start time (inclusive)" })),
		to: T.Optional(T.String({ minLength: 1, description: "ISO 8601 end time (exclusive)" })),
		page: T.Optional(T.Integer({ minimum: 1 })),
		pageSize: T.Optional(T.Integer({ minimum: 1, maximum: 100 })),
	},
	{ additionalProperties: false },
);
export type AuditLogQuery = Static<typeof AuditLogQuery>;
