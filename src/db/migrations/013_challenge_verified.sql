-- Addresses that passed the proxy's Minecraft reconnect challenge, per backend, until they expire
-- (epoch milliseconds): a daemon restart keeps players verified. Expired rows are pruned by the proxy.
CREATE TABLE challenge_verified (
	backend_id TEXT NOT NULL REFERENCES backends (id) ON DELETE CASCADE,
	address TEXT NOT NULL,
	expires_at INTEGER NOT NULL,
	PRIMARY KEY (backend_id, address)
) WITHOUT ROWID;
CREATE INDEX challenge_verified_expiry ON challenge_verified (expires_at);
