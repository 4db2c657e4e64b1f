-- The same schema as store/sqlite/migrations/0002_schedules.sql, in PostgreSQL's types.

-- Schedules: one row per platform schedule, and per account and mode for a per-account
-- schedule. The tick enqueues a row's run once next_run_at has come and advances the
-- plan in the same transaction.
CREATE TABLE appbackend_schedules (
	name        TEXT NOT NULL,
	account_id  TEXT NOT NULL DEFAULT '', -- '' for a platform schedule
	livemode    BOOLEAN NOT NULL,         -- FALSE for a platform schedule
	spec        TEXT NOT NULL,
	enabled     BOOLEAN NOT NULL,
	next_slot   BIGINT NOT NULL,          -- microseconds since the Unix epoch; 0: not planned yet
	next_run_at BIGINT NOT NULL,          -- next_slot plus the row's jitter
	last_slot   BIGINT,
	last_run_at BIGINT,
	runs        BIGINT NOT NULL DEFAULT 0,
	last_error  TEXT,
	created_at  BIGINT NOT NULL,
	updated_at  BIGINT NOT NULL,
	PRIMARY KEY (name, account_id, livemode)
);
-- The tick's query: the enabled rows whose time has come.
CREATE INDEX appbackend_schedules_due ON appbackend_schedules (next_run_at) WHERE enabled;
-- Uninstalls disable an account's rows.
CREATE INDEX appbackend_schedules_account ON appbackend_schedules (account_id, livemode);
