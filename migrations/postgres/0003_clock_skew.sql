-- constellr-sync state on PostgreSQL, version 3: what SQLite's 0006_clock_skew adds (see that file).
ALTER TABLE cursor ADD COLUMN clock_skew_ms bigint;
ALTER TABLE cursor ADD COLUMN clock_skew_at bigint;
