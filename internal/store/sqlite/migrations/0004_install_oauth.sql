-- Install links: one row per `state` handed out by GET /install. Only hashes are kept,
-- so a copy of the database cannot complete anyone's install. A row is used once:
-- used_at is set in the transaction that records the installation.
CREATE TABLE appbackend_install_states (
	state_hash   TEXT PRIMARY KEY,  -- hex SHA-256 of the state
	browser_hash TEXT NOT NULL,     -- hex SHA-256 of the browser cookie's nonce
	livemode     BOOLEAN NOT NULL,  -- the mode asked for (GET /install?mode=test)
	return_query TEXT NOT NULL,     -- the caller's query string, given back on return
	created_at   INTEGER NOT NULL,  -- microseconds since the Unix epoch
	expires_at   INTEGER NOT NULL,
	used_at      INTEGER,
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
	expires_at    INTEGER NOT NULL,  -- the access token's, microseconds
	scope         TEXT NOT NULL DEFAULT '',
	user_id       TEXT NOT NULL DEFAULT '',
	status        TEXT NOT NULL,     -- active | reauthorization_required
	refreshes     INTEGER NOT NULL DEFAULT 0,
	refreshed_at  INTEGER,
	updated_at    INTEGER NOT NULL,
	PRIMARY KEY (account_id, livemode)
);

-- Installations gain the status reauthorization_required (an OAuth app whose refresh
-- token Stripe refused). SQLite cannot alter a CHECK: the table is rebuilt.
CREATE TABLE appbackend_installations_new (
	account_id         TEXT NOT NULL,
	livemode           BOOLEAN NOT NULL,
	status             TEXT NOT NULL CHECK (status IN ('installed', 'uninstalled', 'reauthorization_required')),
	application_id     TEXT,
	display_name       TEXT,
	installed_at       INTEGER,
	uninstalled_at     INTEGER,
	last_event_created INTEGER NOT NULL,
	last_event_id      TEXT NOT NULL,
	updated_at         INTEGER NOT NULL,
	PRIMARY KEY (account_id, livemode)
);
INSERT INTO appbackend_installations_new SELECT account_id, livemode, status, application_id, display_name,
	installed_at, uninstalled_at, last_event_created, last_event_id, updated_at FROM appbackend_installations;
DROP TABLE appbackend_installations;
ALTER TABLE appbackend_installations_new RENAME TO appbackend_installations;
