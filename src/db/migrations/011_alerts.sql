-- Alert rules and their evaluation state. An alert fires once when its condition has held for
-- durationSeconds and resolves once when it stops holding; the state survives restarts.
CREATE TABLE alerts (
	id TEXT PRIMARY KEY,
	organization_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
	backend_id TEXT REFERENCES backends (id) ON DELETE CASCADE,
	name TEXT NOT NULL,
	condition TEXT NOT NULL,
	notifications TEXT NOT NULL,
	enabled INTEGER NOT NULL DEFAULT 1,
	-- ok | pending (condition holds, duration not yet reached) | firing
	state TEXT NOT NULL DEFAULT 'ok' CHECK (state IN ('ok', 'pending', 'firing')),
	state_since INTEGER,
	last_value REAL,
	last_fired_at TEXT,
	last_resolved_at TEXT,
	created_at TEXT NOT NULL,
	updated_at TEXT NOT NULL
);
CREATE INDEX alerts_org ON alerts (organization_id);
