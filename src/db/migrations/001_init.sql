-- Accounts, organizations, API keys and the audit log.
CREATE TABLE organizations (
	id TEXT PRIMARY KEY,
	name TEXT NOT NULL,
	logo_url TEXT,
	tier TEXT NOT NULL DEFAULT 'PRO' CHECK (tier IN ('FREE', 'PRO', 'ENTERPRISE')),
	created_at TEXT NOT NULL,
	updated_at TEXT NOT NULL
);

CREATE TABLE users (
	id TEXT PRIMARY KEY,
	email TEXT NOT NULL UNIQUE COLLATE NOCASE,
	name TEXT NOT NULL DEFAULT '',
	password_hash TEXT NOT NULL,
	created_at TEXT NOT NULL,
	updated_at TEXT NOT NULL,
	last_login_at TEXT
);

CREATE TABLE memberships (
	organization_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
	user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	role TEXT NOT NULL CHECK (role IN ('OWNER', 'ADMIN', 'MEMBER', 'VIEWER')),
	created_at TEXT NOT NULL,
	PRIMARY KEY (organization_id, user_id)
);
CREATE INDEX memberships_user ON memberships (user_id);

CREATE TABLE api_keys (
	id TEXT PRIMARY KEY,
	organization_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
	created_by TEXT REFERENCES users (id) ON DELETE SET NULL,
	name TEXT NOT NULL,
	environment TEXT NOT NULL CHECK (environment IN ('live', 'test')),
	display_prefix TEXT NOT NULL,
	key_hash TEXT NOT NULL UNIQUE,
	permissions TEXT NOT NULL,
	expires_at TEXT,
	last_used_at TEXT,
	revoked_at TEXT,
	created_at TEXT NOT NULL
);
CREATE INDEX api_keys_org ON api_keys (organization_id);

CREATE TABLE audit_logs (
	id TEXT PRIMARY KEY,
	organization_id TEXT REFERENCES organizations (id) ON DELETE CASCADE,
	user_id TEXT,
	user_email TEXT,
	action TEXT NOT NULL,
	resource_type TEXT NOT NULL,
	resource_id TEXT,
	description TEXT NOT NULL,
	metadata TEXT NOT NULL DEFAULT '{}',
	ip_address TEXT,
	user_agent TEXT,
	timestamp TEXT NOT NULL
);
CREATE INDEX audit_logs_org_time ON audit_logs (organization_id, timestamp);

-- Small appliance-wide settings (key → JSON value).
CREATE TABLE settings (
	key TEXT PRIMARY KEY,
	value TEXT NOT NULL,
	updated_at TEXT NOT NULL
);
