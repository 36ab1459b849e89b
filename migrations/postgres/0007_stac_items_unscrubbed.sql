-- constellr-sync state, version 6: items stored whole by an older version (issue 22 §6). Immutable once released.
-- Until this version stac_items.raw held every asset of an item with its pre-signed href. Such rows are
-- marked here; the daemon's start-up rewrites each to what the state keeps now (the selected assets,
-- every URL stripped) and clears the mark. Rows written from now on are never marked.
ALTER TABLE stac_items ADD COLUMN unscrubbed integer NOT NULL DEFAULT 0;
UPDATE stac_items SET unscrubbed = 1;
CREATE INDEX stac_items_unscrubbed ON stac_items (collection, item_id) WHERE unscrubbed = 1;
