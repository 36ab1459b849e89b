-- constellr-sync state, version 1. Immutable once released: later changes go into 0002_….sql.
-- Times are epoch milliseconds. LastModified values come from the server, never from the local clock.

CREATE TABLE cursor (
  id               INTEGER PRIMARY KEY CHECK (id = 1),
  hwm_ms           INTEGER,   -- newest LastModified of a completely listed poll
  poll_started_at  INTEGER,
  poll_finished_at INTEGER,   -- last poll that listed every page
  poll_error       TEXT,      -- message of the last failed poll, NULL after a success
  poll_error_class TEXT,      -- its class (auth_rejected, network, bad_listing, …)
  poll_error_at    INTEGER
) STRICT;
INSERT INTO cursor (id) VALUES (1);

CREATE TABLE jobs (
  id                 INTEGER PRIMARY KEY,
  key                TEXT NOT NULL UNIQUE,
  -- the remote version we want
  remote_modified_ms INTEGER NOT NULL,
  remote_size        INTEGER NOT NULL,
  remote_etag        TEXT,
  revision           INTEGER NOT NULL DEFAULT 0,  -- bumped whenever the listing shows another version
  state              TEXT NOT NULL DEFAULT 'queued'
                     CHECK (state IN ('queued', 'running', 'done', 'failed', 'gone')),
  attempts           INTEGER NOT NULL DEFAULT 0,  -- counted at claim, so a poison job runs out
  run_at             INTEGER NOT NULL,            -- not before this time
  -- lease of the worker that holds it; every write of that worker is fenced by lease_token
  lease_owner        TEXT,
  lease_token        TEXT,
  lease_until        INTEGER,
  claimed_revision   INTEGER,
  -- last error
  error_class        TEXT,
  error_status       INTEGER,
  error_message      TEXT,
  -- what the mirror holds
  local_path         TEXT,
  local_modified_ms  INTEGER,
  bytes_written      INTEGER,
  sha256             TEXT,
  created_at         INTEGER NOT NULL,
  updated_at         INTEGER NOT NULL,
  started_at         INTEGER,
  finished_at        INTEGER
) STRICT;

-- claim paths, one per order; partial indexes stay small when most jobs are done
CREATE INDEX jobs_queued_newest ON jobs (remote_modified_ms DESC, id) WHERE state = 'queued';
CREATE INDEX jobs_queued_run_at ON jobs (run_at) WHERE state = 'queued';
CREATE INDEX jobs_running_lease ON jobs (lease_until) WHERE state = 'running';
CREATE INDEX jobs_failed ON jobs (finished_at) WHERE state = 'failed';
CREATE INDEX jobs_state ON jobs (state);
