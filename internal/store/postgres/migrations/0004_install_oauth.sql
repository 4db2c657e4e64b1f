-- The same schema as store/sqlite/migrations/0004_install_oauth.sql, in PostgreSQL's types.
-- Install links: one row per `state` handed out by GET /install. Only hashes are kept,
-- so a copy of the database cannot complete anyone's install. A row is used once:
-- used_at is set in the transaction that records the installation.
CREATE TABLE appbackend_install_states (
	state_hash   TEXT PRIMARY KEY,  -- hex SHA-256 of the state
	browser_hash TEXT NOT NULL,     -- hex SHA-256 of the browser cookie's nonce
	livemode     BOOLEAN NOT NULL,  -- the mode asked for (GET /install?mode=test)
	return_query TEXT NOT NULL,     -- the caller's query string, given back on return
	created_at   BIGINT NOT NULL,  -- microseconds since the Unix epoch
	expires_at   BIGINT NOT NULL,
	used_at      BIGINT,
	account_id   TEXT,              -- who installed with it, once used
	user_id      TEXT,
	signed_as    TEXT               -- which signed content install_signature covered
);
CREATE INDEX appbackend_install_states_expires ON appbackend_install_states (expires_at);

-- OAuth tokens per account and mode, sealed with APPBACKEND_ENCRYPTION_KEY
-- (AES-256-GCM). The row is the refresh lock: a refresh holds it from reading the
-- refresh token to storing the rotated one.
CREATE TABLE appbackend_oauth_tokens (
	account_id    TEXT NOT NULL,
	livemode      BOOLEAN NOT NULL,
	access_token  TEXT NOT NULL,     -- sealed
	refresh_token TEXT NOT NULL,     -- sealed
	expires_at    BIGINT NOT NULL,  -- the access token's, microseconds
	scope         TEXT NOT NULL DEFAULT '',
	user_id       TEXT NOT NULL DEFAULT '',
	status        TEXT NOT NULL,     -- active | reauthorization_required
	refreshes     INTEGER NOT NULL DEFAULT 0,
	refreshed_at  BIGINT,
	updated_at    BIGINT NOT NULL,
	PRIMARY KEY (account_id, livemode)
);

-- Installations gain the status reauthorization_required (an OAuth app whose refresh
-- token Stripe refused).
ALTER TABLE appbackend_installations DROP CONSTRAINT appbackend_installations_status_check;
ALTER TABLE appbackend_installations ADD CONSTRAINT appbackend_installations_status_check
	CHECK (status IN ('installed', 'uninstalled', 'reauthorization_required'));
