-- Retention of processed events (APPBACKEND_PROCESSED_RETENTION): a pruned event leaves
-- its id here, so that Stripe's retries (3 days) and reconciliation's /v1/events (30
-- days) are still recognised as duplicates after its payload is gone. A tombstone is
-- pruned in turn once its created is older than max(30 days, the retention).
CREATE TABLE appbackend_event_tombstones (
	id      TEXT PRIMARY KEY,
	created BIGINT NOT NULL -- Stripe's created, seconds since the Unix epoch
);
CREATE INDEX appbackend_event_tombstones_created ON appbackend_event_tombstones (created);
-- The prune's query: processed events by processing time.
CREATE INDEX appbackend_events_processed ON appbackend_events (processed_at) WHERE status = 'processed';
