-- Desired state of the data plane: backends with their listeners and origins, filter rules,
-- and the IP lists (block, allow, ban). The reconciler compiles these into BPF maps.
CREATE TABLE backends (
	id TEXT PRIMARY KEY,
	organization_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
	-- Small stable number the data plane knows the backend by (pp_service.backend).
	dp_index INTEGER NOT NULL UNIQUE CHECK (dp_index > 0),
	sandbox INTEGER NOT NULL DEFAULT 0,
	name TEXT NOT NULL,
	type TEXT NOT NULL CHECK (type IN ('HTTP', 'HTTPS', 'TCP', 'UDP', 'MINECRAFT_JAVA', 'MINECRAFT_BEDROCK', 'QUIC')),
	protection TEXT NOT NULL,
	load_balancer TEXT NOT NULL,
	health_check TEXT NOT NULL,
	domains TEXT NOT NULL DEFAULT '[]',
	created_at TEXT NOT NULL,
	updated_at TEXT NOT NULL,
	UNIQUE (organization_id, sandbox, name)
);

CREATE TABLE backend_listeners (
	backend_id TEXT NOT NULL REFERENCES backends (id) ON DELETE CASCADE,
	-- '' means every local address.
	address TEXT NOT NULL DEFAULT '',
	port INTEGER NOT NULL CHECK (port BETWEEN 1 AND 65535),
	protocol TEXT NOT NULL CHECK (protocol IN ('TCP', 'UDP')),
	PRIMARY KEY (backend_id, address, port, protocol)
);
CREATE INDEX backend_listeners_port ON backend_listeners (port, protocol);

CREATE TABLE origins (
	id TEXT PRIMARY KEY,
	backend_id TEXT NOT NULL REFERENCES backends (id) ON DELETE CASCADE,
	name TEXT NOT NULL,
	address TEXT NOT NULL,
	port INTEGER NOT NULL CHECK (port BETWEEN 1 AND 65535),
	weight INTEGER NOT NULL DEFAULT 100,
	priority INTEGER NOT NULL DEFAULT 1,
	enabled INTEGER NOT NULL DEFAULT 1,
	settings TEXT NOT NULL DEFAULT '{}',
	created_at TEXT NOT NULL,
	updated_at TEXT NOT NULL
);
CREATE INDEX origins_backend ON origins (backend_id);

CREATE TABLE filter_rules (
	id TEXT PRIMARY KEY,
	organization_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
	backend_id TEXT NOT NULL REFERENCES backends (id) ON DELETE CASCADE,
	-- Stable slot of the rule's counters in the data plane (pp_rule.stats_slot).
	stats_slot INTEGER NOT NULL UNIQUE,
	name TEXT NOT NULL,
	description TEXT NOT NULL DEFAULT '',
	priority INTEGER NOT NULL,
	enabled INTEGER NOT NULL DEFAULT 1,
	match TEXT NOT NULL,
	action TEXT NOT NULL CHECK (action IN ('ALLOW', 'DROP', 'RATE_LIMIT', 'CHALLENGE', 'LOG', 'REDIRECT')),
	rate_limit TEXT,
	created_at TEXT NOT NULL,
	updated_at TEXT NOT NULL
);
CREATE INDEX filter_rules_backend ON filter_rules (backend_id, priority);

CREATE TABLE ip_entries (
	id TEXT PRIMARY KEY,
	organization_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
	-- Entries made with pp_test_ keys live in the sandbox and never reach the data plane.
	sandbox INTEGER NOT NULL DEFAULT 0,
	list TEXT NOT NULL CHECK (list IN ('block', 'allow', 'ban')),
	-- Canonical CIDR text (network address / prefix length).
	cidr TEXT NOT NULL,
	family INTEGER NOT NULL CHECK (family IN (4, 6)),
	backend_id TEXT REFERENCES backends (id) ON DELETE CASCADE,
	reason TEXT NOT NULL DEFAULT '',
	-- manual (API, UI, CLI) or the component that created it (e.g. validation).
	source TEXT NOT NULL DEFAULT 'manual',
	created_at TEXT NOT NULL,
	expires_at TEXT
);
CREATE UNIQUE INDEX ip_entries_unique ON ip_entries (organization_id, sandbox, list, cidr, IFNULL(backend_id, ''));
CREATE INDEX ip_entries_expiry ON ip_entries (expires_at) WHERE expires_at IS NOT NULL;

-- Bumped in the same transaction as every change of a section, so the daemon notices changes
-- made by another process (the CLI) without re-reading everything.
CREATE TABLE dataplane_revisions (
	section TEXT PRIMARY KEY CHECK (section IN ('services', 'rules', 'lists')),
	revision INTEGER NOT NULL
);
INSERT INTO dataplane_revisions (section, revision) VALUES ('services', 0), ('rules', 0), ('lists', 0);
