-- Restricted-key apps (stripe_api_access_type "restricted_api_key"): the rk_live_…/rk_test_…
-- key a merchant pasted into the app's settings view, per account and mode, sealed with
-- APPBACKEND_ENCRYPTION_KEY (AES-256-GCM) like the OAuth tokens. Only the last four
-- characters are kept in the clear, for the settings view to show which key is saved.
CREATE TABLE appbackend_restricted_keys (
	account_id  TEXT NOT NULL,
	livemode    BOOLEAN NOT NULL,
	api_key     TEXT NOT NULL,     -- sealed
	key_last4   TEXT NOT NULL,
	user_id     TEXT NOT NULL DEFAULT '',  -- who pasted it
	status      TEXT NOT NULL,     -- active | reauthorization_required (Stripe answered 401)
	verified_at INTEGER NOT NULL,  -- microseconds since the Unix epoch
	updated_at  INTEGER NOT NULL,
	PRIMARY KEY (account_id, livemode)
);
