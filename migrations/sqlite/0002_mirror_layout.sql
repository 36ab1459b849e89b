-- constellr-sync state, version 2: the mirror layout (issue 4). Immutable once released.
-- jobs.state keeps its five states (changing its CHECK would need a table rebuild); a key that the
-- full reconciliation listing no longer returns is marked with remote_deleted_at instead.

-- The path a key holds (or is about to write) in the mirror, relative to the root; folder markers end
-- in '/'. Set before the download, so a key mirrored first keeps its path against later twins.
ALTER TABLE jobs ADD COLUMN mirror_path TEXT;
-- mirror_path as the filesystem compares names (lower-cased and/or NFC on case- or
-- normalization-insensitive filesystems; identical to mirror_path otherwise).
ALTER TABLE jobs ADD COLUMN path_fold TEXT;
-- 1 when a segment or the whole path was shortened (NAME_MAX / PATH_MAX).
ALTER TABLE jobs ADD COLUMN shortened INTEGER NOT NULL DEFAULT 0;
-- Set by a complete full listing that no longer returned the key (deleted_remote).
ALTER TABLE jobs ADD COLUMN remote_deleted_at INTEGER;
-- What reconcile did with the local file: NULL (kept), 'trash' or 'delete'.
ALTER TABLE jobs ADD COLUMN local_removed TEXT CHECK (local_removed IN ('trash', 'delete'));
-- Id of the last full listing that returned the key.
ALTER TABLE jobs ADD COLUMN seen_reconcile INTEGER;

CREATE INDEX jobs_path_fold ON jobs (path_fold) WHERE path_fold IS NOT NULL;
CREATE INDEX jobs_mirror_path ON jobs (mirror_path) WHERE mirror_path IS NOT NULL;
CREATE INDEX jobs_remote_deleted ON jobs (remote_deleted_at) WHERE remote_deleted_at IS NOT NULL;

-- One row per full reconciliation listing.
CREATE TABLE reconciles (
  id           INTEGER PRIMARY KEY,
  started_at   INTEGER NOT NULL,
  finished_at  INTEGER,
  listed       INTEGER NOT NULL DEFAULT 0,   -- assets returned by the full listing
  queued       INTEGER NOT NULL DEFAULT 0,   -- new or changed versions it queued (missed by polls)
  missing      INTEGER NOT NULL DEFAULT 0,   -- known keys the listing no longer returned
  applied      INTEGER NOT NULL DEFAULT 0,   -- of those, marked deleted_remote (and trashed/deleted)
  guarded      INTEGER NOT NULL DEFAULT 0,   -- 1 when maxDelete stopped it (nothing was changed)
  policy       TEXT,
  error        TEXT,
  error_class  TEXT
) STRICT;
