// Webhook subscriptions as the spec describes them (Webhooks: Creating a Webhook, Event Types).
import { type Static, Type as T } from "@sinclair/typebox";

/** Every event type of the spec; each is published on the bus by the part that owns it. */
export const WEBHOOK_EVENTS = [
	"attack.detected",
	"attack.mitigated",
	"attack.escalated",
	"backend.created",
	"backend.updated",
	"backend.deleted",
	"backend.health_changed",
	"backend.under_attack",
	"rule.created",
	"rule.triggered",
	"alert.fired",
	"alert.resolved",
] as const;
export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number];

const EventType = T.Union(WEBHOOK_EVENTS.map((e) => T.Literal(e)));

export const WebhookCreate = T.Object(
	{
		url: T.String({ minLength: 8, maxLength: 2048, pattern: "^https?://" }),
		events: T.Array(EventType, { minItems: 1, maxItems: WEBHOOK_EVENTS.length, uniqueItems: true }),
		secret: T.Optional(T.String({ minLength: 16, maxLength: 256 })),
		enabled: T.Optional(T.Boolean()),
	},
	{ additionalProperties: false },
);
export type WebhookCreate = Static<typeof WebhookCreate>;

export const WebhookUpdate = T.Partial(WebhookCreate, { additionalProperties: false });
export type WebhookUpdate = Static<typeof WebhookUpdate>;

export const Webhook = T.Object({
	id: T.String(),
	url: T.String(),
	events: T.Array(T.String()),
	enabled: T.Boolean(),
	/** Why delivery stopped (e.g. after 7 failed attempts); null while enabled. */
	disabledReason: T.Union([T.String(), T.Null()]),
	/** The first characters of the secret, to tell secrets apart; the secret itself is never returned. */
	secretPrefix: T.String(),
	createdAt: T.String(),
	updatedAt: T.String(),
});
export type Webhook = Static<typeof Webhook>;

export const WebhookDelivery = T.Object({
	id: T.String(),
	eventId: T.String(),
	eventType: T.String(),
	status: T.Union([T.Literal("pending"), T.Literal("succeeded"), T.Literal("failed")]),
	attempts: T.Integer(),
	nextAttemptAt: T.Union([T.String(), T.Null()]),
	lastAttemptAt: T.Union([T.String(), T.Null()]),
	lastStatusCode: T.Union([T.Integer(), T.Null()]),
	lastError: T.Union([T.String(), T.Null()]),
	createdAt: T.String(),
	deliveredAt: T.Union([T.String(), T.Null()]),
});
export type WebhookDelivery = Static<typeof WebhookDelivery>;
