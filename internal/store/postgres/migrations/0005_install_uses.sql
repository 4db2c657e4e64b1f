-- The same schema as store/sqlite/migrations/0005_install_uses.sql, in PostgreSQL's types.
-- GET /install stores nothing any more: its state is signed (a key derived from the app
-- secret) and bound to the browser's cookie, which also carries the return data, so an
-- anonymous request cannot fill the disk. The old table's rows are of no use to the new
-- code (and a flood may have left millions): it goes.
DROP TABLE appbackend_install_states;

-- One row per accepted GET /install/callback, only after install_signature verified:
-- it makes a state single-use and caps how many states one signature may complete
-- (a genuine signature stays valid for the timestamp tolerance). A row can go once
-- neither its state nor its signature would be accepted again (expires_at).
CREATE TABLE appbackend_install_uses (
	state_hash    TEXT PRIMARY KEY,  -- hex SHA-256 of the state
	signature_key TEXT NOT NULL,     -- hex SHA-256 of install_signature's timestamp and signed content
	account_id    TEXT NOT NULL,
	user_id       TEXT NOT NULL,
	signed_as     TEXT NOT NULL,     -- which signed content install_signature covered
	used_at       BIGINT NOT NULL,   -- microseconds since the Unix epoch
	expires_at    BIGINT NOT NULL
);
CREATE INDEX appbackend_install_uses_signature ON appbackend_install_uses (signature_key);
CREATE INDEX appbackend_install_uses_expires ON appbackend_install_uses (expires_at);
