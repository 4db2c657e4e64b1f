-- The processing state of every event, in a narrow table of its own, kept by triggers
-- from appbackend_events. Marking an event processed changes status and processed_at;
-- while indexes of appbackend_events covered them, no such update was HOT: each one
-- wrote a new copy of the ~1.4 KB row elsewhere and a new entry into all five of its
-- indexes, which made PostgreSQL's own CPU per webhook 4.7× a bare receiver's. Here
-- the indexes that read the state move to this table, whose rows are a few dozen
-- bytes, and the inbox keeps room on its pages (fillfactor), so the inbox row's update
-- stays on its page and touches none of its indexes. appbackend_events keeps its
-- status columns, which every reader still reads; only the queries that needed the
-- state's indexes (counts by status, the prune's walk) read this table.
CREATE TABLE appbackend_event_states (
	id           TEXT PRIMARY KEY,
	status       TEXT NOT NULL,
	received_at  BIGINT NOT NULL, -- as appbackend_events'
	processed_at BIGINT,
	dead_at      BIGINT
);
INSERT INTO appbackend_event_states (id, status, received_at, processed_at, dead_at)
	SELECT id, status, received_at, processed_at, dead_at FROM appbackend_events;

DROP INDEX appbackend_events_status;
DROP INDEX appbackend_events_processed;
DROP INDEX appbackend_events_dead;
CREATE INDEX appbackend_event_states_status ON appbackend_event_states (status, received_at);
-- The prune's queries: processed events by processing time, dead ones by death.
CREATE INDEX appbackend_event_states_processed ON appbackend_event_states (processed_at) WHERE status = 'processed';
CREATE INDEX appbackend_event_states_dead ON appbackend_event_states (dead_at) WHERE status = 'dead';

-- Room on each page for the processed copy of its rows (a row is ~1.4 KB, so about
-- four rows and two updated copies per 8 KB page); pages written before keep theirs.
ALTER TABLE appbackend_events SET (fillfactor = 60);

-- Statement-level triggers with transition tables: one call per statement (a
-- webhook batch is one INSERT, a job's completion one UPDATE), whoever writes.
CREATE FUNCTION appbackend_event_states_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO appbackend_event_states (id, status, received_at, processed_at, dead_at)
		SELECT id, status, received_at, processed_at, dead_at FROM appbackend_new_events;
	RETURN NULL;
END $$;
CREATE TRIGGER appbackend_event_states_insert AFTER INSERT ON appbackend_events
	REFERENCING NEW TABLE AS appbackend_new_events
	FOR EACH STATEMENT EXECUTE FUNCTION appbackend_event_states_insert();

-- An event's id never changes, so the new row's id names its state.
CREATE FUNCTION appbackend_event_states_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	UPDATE appbackend_event_states s
		SET status = n.status, received_at = n.received_at, processed_at = n.processed_at, dead_at = n.dead_at
		FROM appbackend_new_events n
		WHERE s.id = n.id AND (s.status, s.received_at, s.processed_at, s.dead_at)
			IS DISTINCT FROM (n.status, n.received_at, n.processed_at, n.dead_at);
	RETURN NULL;
END $$;
CREATE TRIGGER appbackend_event_states_update AFTER UPDATE ON appbackend_events
	REFERENCING NEW TABLE AS appbackend_new_events
	FOR EACH STATEMENT EXECUTE FUNCTION appbackend_event_states_update();

CREATE FUNCTION appbackend_event_states_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	DELETE FROM appbackend_event_states WHERE id IN (SELECT id FROM appbackend_old_events);
	RETURN NULL;
END $$;
CREATE TRIGGER appbackend_event_states_delete AFTER DELETE ON appbackend_events
	REFERENCING OLD TABLE AS appbackend_old_events
	FOR EACH STATEMENT EXECUTE FUNCTION appbackend_event_states_delete();

CREATE FUNCTION appbackend_event_states_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	TRUNCATE appbackend_event_states;
	RETURN NULL;
END $$;
CREATE TRIGGER appbackend_event_states_truncate AFTER TRUNCATE ON appbackend_events
	FOR EACH STATEMENT EXECUTE FUNCTION appbackend_event_states_truncate();
