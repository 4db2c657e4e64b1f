-- Processes: one row per running appbackend process (a River client), kept fresh by its
-- heartbeat, so that the jobs of a process that died go back to the queue within
-- seconds instead of waiting for River's rescuer.
CREATE TABLE appbackend_processes (
	id           TEXT PRIMARY KEY,  -- the River client id the process fetches jobs as
	started_at   INTEGER NOT NULL,  -- microseconds since the Unix epoch, database clock
	heartbeat_at INTEGER NOT NULL   -- the same, at the latest heartbeat
);
