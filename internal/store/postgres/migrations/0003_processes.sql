-- The same schema as store/sqlite/migrations/0003_processes.sql, in PostgreSQL's types.
CREATE TABLE appbackend_processes (
	id           TEXT PRIMARY KEY,  -- the River client id the process fetches jobs as
	started_at   BIGINT NOT NULL,   -- microseconds since the Unix epoch, database clock
	heartbeat_at BIGINT NOT NULL    -- the same, at the latest heartbeat
);
