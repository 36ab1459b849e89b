-- constellr-sync state, version 7: the mirror as a STAC catalogue (issue 15). Immutable once released.
-- Each STAC item as the API returned it (validated), with the jobs of its selected assets and the
-- version each was listed at; the catalogue writer derives "all assets done" from the job table.
-- `written` is a digest of the item JSON on disk and `json_path` where it is (NULL: none written).
CREATE TABLE stac_items (
  collection TEXT NOT NULL,
  item_id TEXT NOT NULL,
  raw TEXT NOT NULL,
  assets TEXT NOT NULL,
  api_url TEXT NOT NULL,
  seen_at INTEGER NOT NULL,
  written TEXT,
  json_path TEXT,
  PRIMARY KEY (collection, item_id)
);
-- The collection documents as the API returned them (NULL until fetched).
CREATE TABLE stac_collections (
  id TEXT PRIMARY KEY,
  raw TEXT,
  fetched_at INTEGER
);
