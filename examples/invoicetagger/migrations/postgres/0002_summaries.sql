-- PostgreSQL's version of ../0002_summaries.sql: by_tag is JSONB, which PostgreSQL
-- validates and can query (by_tag->>'urgent'). The app writes and reads it as JSON text
-- on both databases.
CREATE TABLE tag_summaries (
	account_id TEXT    NOT NULL,
	livemode   BOOLEAN NOT NULL,
	day        TEXT    NOT NULL, -- YYYY-MM-DD, UTC
	tag_count  INTEGER NOT NULL,
	by_tag     JSONB   NOT NULL,
	PRIMARY KEY (account_id, livemode, day)
);
