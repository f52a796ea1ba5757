-- Accounts and access: rate-limit tiers, token families (API logins, web sessions, OAuth grants),
-- rotating refresh tokens, invitations, OAuth clients and codes, and usage counters.
-- Every secret (token, code, client secret) is stored only as its SHA-256.

-- 001 constrained tier to three values; the spec has four. SQLite cannot alter a CHECK in place
-- (defensive mode forbids writable_schema), so the tier moves to a new column; `tier` is unused.
ALTER TABLE organizations ADD COLUMN plan TEXT NOT NULL DEFAULT 'PRO'
	CHECK (plan IN ('FREE', 'PRO', 'BUSINESS', 'ENTERPRISE'));
UPDATE organizations SET plan = tier;

-- One sign-in: an API login, a web session or an OAuth grant. Revoking it ends every token in it.
CREATE TABLE token_families (
	id TEXT PRIMARY KEY,
	kind TEXT NOT NULL CHECK (kind IN ('api', 'web', 'oauth')),
	user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	organization_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
	client_id TEXT REFERENCES oauth_clients (id) ON DELETE CASCADE,
	-- Space-separated permissions the tokens of this family may use.
	scope TEXT NOT NULL,
	-- Web sessions: SHA-256 of the cookie value.
	session_hash TEXT UNIQUE,
	created_at TEXT NOT NULL,
	expires_at TEXT NOT NULL,
	last_seen_at TEXT,
	revoked_at TEXT,
	revoked_reason TEXT,
	ip_address TEXT,
	user_agent TEXT
);
CREATE INDEX token_families_user ON token_families (user_id);

CREATE TABLE refresh_tokens (
	token_hash TEXT PRIMARY KEY,
	family_id TEXT NOT NULL REFERENCES token_families (id) ON DELETE CASCADE,
	created_at TEXT NOT NULL,
	expires_at TEXT NOT NULL,
	-- Set when the token is exchanged; presenting it again revokes the family.
	used_at TEXT
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);

CREATE TABLE invitations (
	id TEXT PRIMARY KEY,
	organization_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
	email TEXT NOT NULL COLLATE NOCASE,
	role TEXT NOT NULL CHECK (role IN ('OWNER', 'ADMIN', 'MEMBER', 'VIEWER')),
	token_hash TEXT NOT NULL UNIQUE,
	invited_by TEXT REFERENCES users (id) ON DELETE SET NULL,
	created_at TEXT NOT NULL,
	expires_at TEXT NOT NULL,
	accepted_at TEXT,
	accepted_by TEXT REFERENCES users (id) ON DELETE SET NULL,
	revoked_at TEXT
);
CREATE INDEX invitations_org ON invitations (organization_id);

CREATE TABLE oauth_clients (
	id TEXT PRIMARY KEY,
	organization_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
	created_by TEXT REFERENCES users (id) ON DELETE SET NULL,
	name TEXT NOT NULL,
	secret_hash TEXT NOT NULL,
	redirect_uris TEXT NOT NULL DEFAULT '[]',
	scopes TEXT NOT NULL,
	created_at TEXT NOT NULL,
	revoked_at TEXT
);
CREATE INDEX oauth_clients_org ON oauth_clients (organization_id);

CREATE TABLE oauth_codes (
	code_hash TEXT PRIMARY KEY,
	client_id TEXT NOT NULL REFERENCES oauth_clients (id) ON DELETE CASCADE,
	user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	organization_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
	redirect_uri TEXT NOT NULL,
	scope TEXT NOT NULL,
	code_challenge TEXT NOT NULL,
	created_at TEXT NOT NULL,
	expires_at TEXT NOT NULL,
	used_at TEXT
);

-- Traffic used per organization and calendar month, written by telemetry, read by usage.
CREATE TABLE usage_counters (
	organization_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
	period_start TEXT NOT NULL,
	bandwidth_bytes INTEGER NOT NULL DEFAULT 0,
	requests INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (organization_id, period_start)
);

CREATE INDEX audit_logs_org_user ON audit_logs (organization_id, user_id);
CREATE INDEX audit_logs_org_resource ON audit_logs (organization_id, resource_type);
