-- The app's own tables, beside appbackend's. One file serves both databases: TEXT,
-- BIGINT and BOOLEAN mean the same on SQLite and PostgreSQL, and times are Unix
-- seconds written by the app, so that no driver's idea of a timestamp gets in the way.

-- One row per account and mode that installed the app (OnInstall writes it,
-- OnUninstall deletes it): the account's settings.
CREATE TABLE tagger_accounts (
	account_id   TEXT    NOT NULL,
	livemode     BOOLEAN NOT NULL,
	default_tag  TEXT    NOT NULL,
	installed_at BIGINT  NOT NULL,
	PRIMARY KEY (account_id, livemode)
);

-- The tags of each invoice. The primary key makes a tag appear once per invoice,
-- whoever adds it (a Dashboard user, the invoice.finalized handler).
CREATE TABLE invoice_tags (
	account_id TEXT    NOT NULL,
	livemode   BOOLEAN NOT NULL,
	invoice_id TEXT    NOT NULL,
	tag        TEXT    NOT NULL,
	added_by   TEXT    NOT NULL, -- usr_… of the Dashboard user, or evt_… of the event
	created_at BIGINT  NOT NULL,
	PRIMARY KEY (account_id, livemode, invoice_id, tag)
);

CREATE INDEX invoice_tags_by_day ON invoice_tags (account_id, livemode, created_at);
