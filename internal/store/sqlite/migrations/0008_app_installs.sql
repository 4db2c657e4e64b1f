-- The App Installs API (apps.install objects, API version 2026-09-30.endive): an
-- installation remembers its install's id (appinst_…, for reauthorizing it) and the
-- permissions the merchant granted and has yet to approve. The lists are JSON arrays
-- of permission names; NULL when no Install object was ever seen for the row.
ALTER TABLE appbackend_installations ADD COLUMN install_id TEXT;
ALTER TABLE appbackend_installations ADD COLUMN permissions_granted TEXT;
ALTER TABLE appbackend_installations ADD COLUMN permissions_pending TEXT;
ALTER TABLE appbackend_installations ADD COLUMN approval_required BOOLEAN NOT NULL DEFAULT FALSE;
