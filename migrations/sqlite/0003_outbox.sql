-- constellr-sync state, version 3: the notification outbox. Immutable once released.
-- One row per (event, sink). Rows for completed downloads are inserted in the same transaction that
-- marks the job done, so an event is never lost between the commit and its delivery; a delivered row
-- is deleted, a row that ran out of attempts stays as 'failed' for inspection. Delivery is
-- at-least-once: a row whose delivery was in flight when the process died is sent again.

CREATE TABLE outbox (
  id               INTEGER PRIMARY KEY,
  sink             TEXT NOT NULL CHECK (sink IN ('hook', 'webhook')),
  event            TEXT NOT NULL CHECK (event IN ('created', 'updated', 'deleted')),
  key              TEXT NOT NULL,
  path             TEXT,               -- relative to the mirror root
  size             INTEGER,
  last_modified_ms INTEGER,            -- the server's LastModified
  sha256           TEXT,
  state            TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'failed')),
  attempts         INTEGER NOT NULL DEFAULT 0,  -- counted when a delivery starts
  run_at           INTEGER NOT NULL,            -- not before this time (backoff)
  lease_until      INTEGER,                     -- set while a delivery is in flight
  last_error       TEXT,
  created_at       INTEGER NOT NULL,
  updated_at       INTEGER NOT NULL
) STRICT;

CREATE INDEX outbox_due ON outbox (sink, run_at, id) WHERE state = 'pending';
