-- constellr-sync state on PostgreSQL, version 2: what SQLite's 0002_mirror_layout, 0003_outbox and
-- 0004_operator add, with the same meaning (see those files). Immutable once released.

ALTER TABLE jobs ADD COLUMN mirror_path text;
ALTER TABLE jobs ADD COLUMN path_fold text;
ALTER TABLE jobs ADD COLUMN shortened integer NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN remote_deleted_at bigint;
ALTER TABLE jobs ADD COLUMN local_removed text CHECK (local_removed IN ('trash', 'delete'));
ALTER TABLE jobs ADD COLUMN seen_reconcile bigint;

CREATE INDEX jobs_path_fold ON jobs (path_fold) WHERE path_fold IS NOT NULL;
CREATE INDEX jobs_mirror_path ON jobs (mirror_path) WHERE mirror_path IS NOT NULL;
CREATE INDEX jobs_remote_deleted ON jobs (remote_deleted_at) WHERE remote_deleted_at IS NOT NULL;

CREATE TABLE reconciles (
  id           bigserial PRIMARY KEY,
  started_at   bigint NOT NULL,
  finished_at  bigint,
  listed       integer NOT NULL DEFAULT 0,
  queued       integer NOT NULL DEFAULT 0,
  missing      integer NOT NULL DEFAULT 0,
  applied      integer NOT NULL DEFAULT 0,
  guarded      integer NOT NULL DEFAULT 0,
  policy       text,
  error        text,
  error_class  text
);

CREATE TABLE outbox (
  id               bigserial PRIMARY KEY,
  sink             text NOT NULL CHECK (sink IN ('hook', 'webhook')),
  event            text NOT NULL CHECK (event IN ('created', 'updated', 'deleted')),
  key              text NOT NULL,
  path             text,
  size             bigint,
  last_modified_ms bigint,
  sha256           text,
  state            text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'failed')),
  attempts         integer NOT NULL DEFAULT 0,
  run_at           bigint NOT NULL,
  lease_until      bigint,
  last_error       text,
  created_at       bigint NOT NULL,
  updated_at       bigint NOT NULL
);
CREATE INDEX outbox_due ON outbox (sink, run_at, id) WHERE state = 'pending';

CREATE INDEX jobs_queued_key ON jobs (key) WHERE state = 'queued';
CREATE INDEX jobs_failed_class ON jobs (error_class) WHERE state = 'failed';
