-- The claim index of a non-default download order costs every listed row an extra b-tree insert
-- (listing ingest ran at 45k instead of 26k keys/s without them). They are now created on demand for
-- the configured order only (SqliteStore ensures it before its first claim in that order) and
-- dropped when another order takes over. newest-first keeps jobs_queued_newest from 0001.
DROP INDEX IF EXISTS jobs_queued_oldest;
DROP INDEX IF EXISTS jobs_queued_smallest;
DROP INDEX IF EXISTS jobs_queued_key;
