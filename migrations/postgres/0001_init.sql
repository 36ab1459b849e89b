-- constellr-sync state on PostgreSQL, version 1. The same tables and semantics as
-- migrations/sqlite/0001_init.sql. Immutable once released: later changes go into 0002_….sql.
-- Times are epoch milliseconds (bigint). Lease and run_at times come from the database's clock
-- (now()), never from a replica's clock; LastModified values come from the server.
-- Runs with search_path set to the deployment's schema; schema_migrations is created by the runner.

CREATE TABLE cursor (
  id               integer PRIMARY KEY CHECK (id = 1),
  hwm_ms           bigint,   -- newest LastModified of a completely listed poll
  poll_started_at  bigint,
  poll_finished_at bigint,   -- last poll that listed every page
  poll_error       text,     -- message of the last failed poll, NULL after a success
  poll_error_class text,
  poll_error_at    bigint
);
INSERT INTO cursor (id) VALUES (1);

CREATE TABLE jobs (
  id                 bigserial PRIMARY KEY,
  key                text NOT NULL UNIQUE,
  remote_modified_ms bigint NOT NULL,
  remote_size        bigint NOT NULL,
  remote_etag        text,
  revision           integer NOT NULL DEFAULT 0,
  state              text NOT NULL DEFAULT 'queued'
                     CHECK (state IN ('queued', 'running', 'done', 'failed', 'gone')),
  attempts           integer NOT NULL DEFAULT 0,
  run_at             bigint NOT NULL,
  lease_owner        text,
  lease_token        text,
  lease_until        bigint,
  claimed_revision   integer,
  error_class        text,
  error_status       integer,
  error_message      text,
  local_path         text,
  local_modified_ms  bigint,
  bytes_written      bigint,
  sha256             text,
  created_at         bigint NOT NULL,
  updated_at         bigint NOT NULL,
  started_at         bigint,
  finished_at        bigint
);

CREATE INDEX jobs_queued_newest ON jobs (remote_modified_ms DESC, id) WHERE state = 'queued';
CREATE INDEX jobs_queued_oldest ON jobs (remote_modified_ms, id) WHERE state = 'queued';
CREATE INDEX jobs_queued_smallest ON jobs (remote_size, id) WHERE state = 'queued';
CREATE INDEX jobs_queued_run_at ON jobs (run_at) WHERE state = 'queued';
CREATE INDEX jobs_running_lease ON jobs (lease_until) WHERE state = 'running';
CREATE INDEX jobs_failed ON jobs (finished_at) WHERE state = 'failed';
CREATE INDEX jobs_state ON jobs (state);

-- Named leases between replicas (the poller). A row is held by `owner` until `until` (database
-- clock); another replica may take it only after it expired. `takeovers` counts owner changes.
CREATE TABLE leases (
  name        text PRIMARY KEY,
  owner       text NOT NULL,
  until_ms    bigint NOT NULL,
  acquired_at bigint NOT NULL,
  takeovers   integer NOT NULL DEFAULT 0
);
