-- When an event died (its last attempt failed), so that APPBACKEND_PROCESSED_RETENTION
-- keeps a dead event for the retention after it died rather than after it arrived: an
-- event whose retries outlast the retention would otherwise be pruned the moment it
-- dies, before anyone could replay it. Set with status 'dead', read only while the
-- status is 'dead' (a replay makes it pending, its next death sets it anew). Events
-- that died before this migration count from their arrival.
ALTER TABLE appbackend_events ADD COLUMN dead_at BIGINT; -- microseconds since the Unix epoch
UPDATE appbackend_events SET dead_at = received_at WHERE status = 'dead';
-- The prune's query: dead events by the time they died.
CREATE INDEX appbackend_events_dead ON appbackend_events (dead_at) WHERE status = 'dead';
