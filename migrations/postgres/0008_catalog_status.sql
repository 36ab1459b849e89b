-- constellr-sync state, version 8: the STAC catalogue's health (issue 22). Immutable once released.
-- The extent of the item version whose JSON is on disk ({"bbox": [...], "start": ..., "end": ...}): a
-- collection's extent follows the files, not a newer listing whose assets are not downloaded yet.
ALTER TABLE stac_items ADD COLUMN written_extent text;
-- The catalogue writer's current error, for `status`, /api/status and the metric: what failed, on which
-- path, since when. Cleared when a later write of the whole pending catalogue succeeds. One row.
CREATE TABLE catalog_status (
  id integer PRIMARY KEY CHECK (id = 1),
  error text,
  error_path text,
  error_code text,
  failing_since bigint,
  updated_at bigint
);
INSERT INTO catalog_status (id) VALUES (1);
