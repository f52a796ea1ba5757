// Alerts as the spec describes them (Alerts: Create Alert, operators, notification types).
import { type Static, Type as T } from "@sinclair/typebox";

/** Metrics an alert can watch: per-second rates measured from the data plane's counters. */
export const ALERT_METRICS = [
	"requests_per_second",
	"packets_per_second",
	"bytes_per_second",
	"passed_packets_per_second",
	"dropped_packets_per_second",
] as const;
export type AlertMetric = (typeof ALERT_METRICS)[number];

export const OPERATORS = ["GREATER_THAN", "LESS_THAN", "EQUAL", "NOT_EQUAL"] as const;
export const NOTIFICATION_TYPES = ["EMAIL", "WEBHOOK", "SLACK", "DISCORD", "PAGERDUTY"] as const;
export type NotificationType = (typeof NOTIFICATION_TYPES)[number];

const literals = <V extends string>(values: readonly V[]) => T.Union(values.map((v) => T.Literal(v)));

export const AlertCondition = T.Object(
	{
		metric: literals(ALERT_METRICS),
		operator: literals(OPERATORS),
		threshold: T.Number(),
		durationSeconds: T.Optional(T.Integer({ minimum: 0, maximum: 86_400 })),
	},
	{ additionalProperties: false },
);

export const Notification = T.Object(
	{
		type: literals(NOTIFICATION_TYPES),
		/** EMAIL: an address; WEBHOOK/SLACK/DISCORD: an http(s) URL; PAGERDUTY: an Events API v2 routing key. */
		destination: T.String({ minLength: 1, maxLength: 2048 }),
	},
	{ additionalProperties: false },
);
export type Notification = Static<typeof Notification>;

export const AlertCreate = T.Object(
	{
		backendId: T.Optional(T.Union([T.String({ minLength: 1 }), T.Null()])),
		name: T.String({ minLength: 1, maxLength: 200 }),
		condition: AlertCondition,
		notifications: T.Array(Notification, { maxItems: 20 }),
		enabled: T.Optional(T.Boolean()),
	},
	{ additionalProperties: false },
);
export type AlertCreate = Static<typeof AlertCreate>;

export const AlertUpdate = T.Partial(AlertCreate, { additionalProperties: false });

export const Alert = T.Object({
	id: T.String(),
	backendId: T.Union([T.String(), T.Null()]),
	name: T.String(),
	condition: AlertCondition,
	notifications: T.Array(Notification),
	enabled: T.Boolean(),
	state: T.Union([T.Literal("ok"), T.Literal("pending"), T.Literal("firing")]),
	lastValue: T.Union([T.Number(), T.Null()]),
	lastFiredAt: T.Union([T.String(), T.Null()]),
	lastResolvedAt: T.Union([T.String(), T.Null()]),
	createdAt: T.String(),
	updatedAt: T.String(),
});
export type Alert = Static<typeof Alert>;
