-- constellr-sync state, version 4: the mirror as a STAC catalogue (issue 15). Immutable once released.
-- Each STAC item as the API returned it (validated), with the jobs of its selected assets and the
-- version each was listed at; the catalogue writer derives "all assets done" from the job table.
-- `written` is a digest of the item JSON on disk and `json_path` where it is (NULL: none written).
CREATE TABLE stac_items (
  collection text NOT NULL,
  item_id text NOT NULL,
  raw text NOT NULL,
  assets text NOT NULL,
  api_url text NOT NULL,
  seen_at bigint NOT NULL,
  written text,
  json_path text,
  PRIMARY KEY (collection, item_id)
);
-- The collection documents as the API returned them (NULL until fetched).
CREATE TABLE stac_collections (
  id text PRIMARY KEY,
  raw text,
  fetched_at bigint
);
