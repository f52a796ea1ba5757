-- Protection API (issue 5): time windows toggled by a job, GeoIP networks of the countries and
-- ASNs that rules and backends reference, and stored samples of the per-rule counters.

-- Whether a rule's timeMatch window is open now, in the configured timezone (filters.timezone).
-- Written by the minute job and by every rule change; the compiler skips rules with 0.
ALTER TABLE filter_rules ADD COLUMN time_active INTEGER NOT NULL DEFAULT 1;

-- The networks of each referenced country ("CN") or ASN ("13335") in the current GeoIP
-- database, as comma-separated canonical CIDRs. Rewritten when the references or the
-- database change, so compiling stays a pure function of the database.
CREATE TABLE geoip_sets (
	kind TEXT NOT NULL CHECK (kind IN ('country', 'asn')),
	code TEXT NOT NULL,
	-- The database file's identity (size:mtime) the networks were read from.
	generation TEXT NOT NULL,
	networks TEXT NOT NULL,
	PRIMARY KEY (kind, code)
);

-- Per-rule counter samples, written by the daemon every stats.rule_sample_seconds when the
-- counters moved (and once as a baseline when a rule is first seen), kept
-- stats.rule_retention_days. packets/bytes are cumulative since the rule was created (kernel
-- counter resets and reused slots are accounted for); raw_* are the kernel's totals then.
CREATE TABLE rule_stats_samples (
	rule_id TEXT NOT NULL REFERENCES filter_rules (id) ON DELETE CASCADE,
	sampled_at TEXT NOT NULL,
	packets INTEGER NOT NULL,
	bytes INTEGER NOT NULL,
	raw_packets INTEGER NOT NULL,
	raw_bytes INTEGER NOT NULL,
	last_matched TEXT,
	PRIMARY KEY (rule_id, sampled_at)
) WITHOUT ROWID;
CREATE INDEX rule_stats_samples_time ON rule_stats_samples (sampled_at);
