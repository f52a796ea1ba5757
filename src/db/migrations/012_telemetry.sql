-- Telemetry: traffic rolled up per backend at MINUTE, FIVE_MINUTES, HOUR and DAY (bucket = start,
-- epoch milliseconds), drops per verdict reason (the kernel counts reasons for the whole host),
-- traffic per source country, and attacks. Rows are bounded by the retention of each granularity;
-- every query reads a primary-key or index range.
CREATE TABLE traffic_rollups (
	granularity TEXT NOT NULL CHECK (granularity IN ('MINUTE', 'FIVE_MINUTES', 'HOUR', 'DAY')),
	backend_id TEXT NOT NULL REFERENCES backends (id) ON DELETE CASCADE,
	organization_id TEXT NOT NULL,
	bucket INTEGER NOT NULL,
	-- seconds sampled into the bucket: rates are totals / seconds
	seconds INTEGER NOT NULL,
	rx_packets INTEGER NOT NULL,
	rx_bytes INTEGER NOT NULL,
	pass_packets INTEGER NOT NULL,
	pass_bytes INTEGER NOT NULL,
	drop_packets INTEGER NOT NULL,
	drop_bytes INTEGER NOT NULL,
	peak_pps INTEGER NOT NULL,
	peak_bps INTEGER NOT NULL,
	-- open proxied connections: largest, and summed over the seconds measured (for the average)
	connections_max INTEGER,
	connections_sum INTEGER NOT NULL DEFAULT 0,
	connections_seconds INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (granularity, backend_id, bucket)
) WITHOUT ROWID;
CREATE INDEX traffic_rollups_org ON traffic_rollups (granularity, organization_id, bucket);
CREATE INDEX traffic_rollups_bucket ON traffic_rollups (granularity, bucket);

CREATE TABLE reason_rollups (
	granularity TEXT NOT NULL,
	bucket INTEGER NOT NULL,
	reason TEXT NOT NULL,
	seconds INTEGER NOT NULL,
	packets INTEGER NOT NULL,
	bytes INTEGER NOT NULL,
	PRIMARY KEY (granularity, bucket, reason)
) WITHOUT ROWID;

CREATE TABLE geo_rollups (
	granularity TEXT NOT NULL,
	backend_id TEXT NOT NULL REFERENCES backends (id) ON DELETE CASCADE,
	organization_id TEXT NOT NULL,
	bucket INTEGER NOT NULL,
	country TEXT NOT NULL,
	packets INTEGER NOT NULL,
	bytes INTEGER NOT NULL,
	drops INTEGER NOT NULL,
	unique_ips INTEGER NOT NULL,
	PRIMARY KEY (granularity, backend_id, bucket, country)
) WITHOUT ROWID;
CREATE INDEX geo_rollups_org ON geo_rollups (granularity, organization_id, bucket);
CREATE INDEX geo_rollups_bucket ON geo_rollups (granularity, bucket);

CREATE TABLE attacks (
	id TEXT PRIMARY KEY,
	organization_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
	backend_id TEXT NOT NULL REFERENCES backends (id) ON DELETE CASCADE,
	started_at TEXT NOT NULL,
	-- NULL while the attack is active
	ended_at TEXT,
	last_seen_at TEXT NOT NULL,
	type TEXT NOT NULL,
	severity TEXT NOT NULL,
	peak_pps INTEGER NOT NULL,
	peak_bps INTEGER NOT NULL,
	packets INTEGER NOT NULL,
	bytes INTEGER NOT NULL,
	dropped_packets INTEGER NOT NULL,
	rate_limited_packets INTEGER NOT NULL,
	challenged_packets INTEGER NOT NULL,
	unique_sources INTEGER NOT NULL,
	top_sources TEXT NOT NULL,
	reasons TEXT NOT NULL,
	actions TEXT NOT NULL,
	series TEXT NOT NULL,
	-- auto-mitigation: the level before escalation and the level set, to restore afterwards
	previous_level TEXT,
	escalated_level TEXT
);
CREATE INDEX attacks_backend ON attacks (backend_id, started_at);
CREATE INDEX attacks_org ON attacks (organization_id, started_at);
CREATE INDEX attacks_active ON attacks (backend_id) WHERE ended_at IS NULL;
