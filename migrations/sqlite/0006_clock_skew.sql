-- The server/local clock skew measured at the last complete poll (server Date − our clock, ms), shown
-- by `status` and /metrics. The high-water mark never exceeds the server's clock (see README).
ALTER TABLE cursor ADD COLUMN clock_skew_ms INTEGER;
ALTER TABLE cursor ADD COLUMN clock_skew_at INTEGER;
