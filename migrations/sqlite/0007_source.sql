-- constellr-sync state, version 6: sources (issue 14). Immutable once released.
-- Where a job's bytes are, for sources that say more than the key: the STAC source stores the item's
-- collection and id, the asset key, the pre-signed href with its expiry and the listed checksum as a
-- small JSON document. NULL for the asset API (the key locates the asset).
ALTER TABLE jobs ADD COLUMN locator TEXT;
-- Which source last polled and its incremental strategy with the reason (JSON), for `status`.
ALTER TABLE cursor ADD COLUMN source_info TEXT;
