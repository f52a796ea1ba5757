-- Webhook subscriptions and their durable delivery queue. A delivery row exists from the moment
-- the event is published; its status changes only after an attempt's outcome is known.
CREATE TABLE webhooks (
	id TEXT PRIMARY KEY,
	organization_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
	url TEXT NOT NULL,
	events TEXT NOT NULL,
	-- The signing secret must be usable to compute HMACs, so it is kept; it is never returned.
	secret TEXT NOT NULL,
	enabled INTEGER NOT NULL DEFAULT 1,
	disabled_reason TEXT,
	created_at TEXT NOT NULL,
	updated_at TEXT NOT NULL
);
CREATE INDEX webhooks_org ON webhooks (organization_id);

CREATE TABLE webhook_deliveries (
	id TEXT PRIMARY KEY,
	webhook_id TEXT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
	event_id TEXT NOT NULL,
	event_type TEXT NOT NULL,
	payload TEXT NOT NULL,
	status TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
	attempts INTEGER NOT NULL DEFAULT 0,
	-- Unix milliseconds: compared with the (controllable) clock of the deliverer.
	next_attempt_at INTEGER NOT NULL,
	last_attempt_at INTEGER,
	last_status_code INTEGER,
	last_error TEXT,
	created_at TEXT NOT NULL,
	delivered_at TEXT,
	UNIQUE (webhook_id, event_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
CREATE INDEX webhook_deliveries_hook ON webhook_deliveries (webhook_id, created_at);
