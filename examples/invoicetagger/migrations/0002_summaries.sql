-- The nightly summary of each account's tags, one row per account, mode and day.
-- by_tag is a JSON object {"tag": count}: TEXT here (SQLite keeps JSON as text);
-- postgres/0002_summaries.sql replaces this file on PostgreSQL with a JSONB column.
CREATE TABLE tag_summaries (
	account_id TEXT    NOT NULL,
	livemode   BOOLEAN NOT NULL,
	day        TEXT    NOT NULL, -- YYYY-MM-DD, UTC
	tag_count  INTEGER NOT NULL,
	by_tag     TEXT    NOT NULL,
	PRIMARY KEY (account_id, livemode, day)
);
