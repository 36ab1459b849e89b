// The job state machine, written once: claim, lease, complete, retry, fail, release, sweep. Every
// transition of a claimed job is fenced by its lease token (and state 'running'); a listing that saw
// a newer version meanwhile (revision <> claimed_revision) turns the outcome into a requeue.
import type { ClaimOrder } from '../../config/schema.js';
import type { Dialect } from './dialect.js';

export const ORDER_SQL: Record<ClaimOrder, string> = {
  'newest-first': 'remote_modified_ms DESC, id',
  'oldest-first': 'remote_modified_ms ASC, id',
  'smallest-first': 'remote_size ASC, id',
  key: 'key',
};

/**
 * ORDER_SQL in JavaScript, for the rows a claim returns: RETURNING gives them in no particular order,
 * and a claim of several jobs hands them out first to last. Keys compare as UTF-8 bytes, as SQLite's
 * BINARY collation does; a PostgreSQL database with another collation may order the few keys of
 * one claim differently from its ORDER BY (which still chose them).
 */
export function claimedInOrder<T extends { id: number; key: string; remoteModifiedMs: number; remoteSize: number }>(jobs: T[], order: ClaimOrder): T[] {
  const cmp: Record<ClaimOrder, (a: T, b: T) => number> = {
    'newest-first': (a, b) => b.remoteModifiedMs - a.remoteModifiedMs || a.id - b.id,
    'oldest-first': (a, b) => a.remoteModifiedMs - b.remoteModifiedMs || a.id - b.id,
    'smallest-first': (a, b) => a.remoteSize - b.remoteSize || a.id - b.id,
    key: (a, b) => Buffer.compare(Buffer.from(a.key), Buffer.from(b.key)),
  };
  return jobs.length > 1 ? jobs.sort(cmp[order]) : jobs;
}

/** Clears the lease (every transition out of 'running'). */
const UNLEASE = 'lease_owner = NULL, lease_token = NULL, lease_until = NULL';
const FENCE = "id = @id AND lease_token = @token AND state = 'running'";

export const CLAIMED_COLUMNS = 'id, key, remote_modified_ms, remote_size, remote_etag, revision, attempts, lease_token, lease_until, local_path, locator';

/**
 * Lease up to @n due queued jobs in `order`, in one statement; each job's token is @token plus its
 * id, so every job is fenced by its own lease. `index` is SQLite's planner hint for that order.
 */
export function claimJobsSql(d: Dialect, order: ClaimOrder, index: string): string {
  // One instant for the whole claim (t.now): every job of a batch gets the same lease.
  return `
    UPDATE jobs SET state = 'running', attempts = attempts + 1, lease_owner = @owner, lease_token = @token::text || '.' || id,
      lease_until = t.now + @leaseMs::bigint, claimed_revision = revision, started_at = t.now, updated_at = t.now
    FROM (SELECT ${d.now} AS now) t
    WHERE id IN (SELECT id FROM jobs ${d.indexedBy(index)} WHERE state = 'queued' AND run_at <= ${d.now}
                 ORDER BY ${ORDER_SQL[order]} LIMIT @n ${d.lockSkip('jobs')})
    RETURNING ${CLAIMED_COLUMNS}`;
}

/** What a completion writes (done, or queued again when a newer version was listed meanwhile). */
export function completeSet(d: Dialect, v: { path: string; bytes: string; sha: string; short: string }): string {
  return `
    state = CASE WHEN revision = claimed_revision THEN 'done' ELSE 'queued' END,
    attempts = CASE WHEN revision = claimed_revision THEN attempts ELSE 0 END,
    locator = CASE WHEN revision = claimed_revision THEN ${d.settledLocator} ELSE locator END,
    run_at = ${d.now}, finished_at = ${d.now}, updated_at = ${d.now},
    local_path = ${v.path}, local_modified_ms = remote_modified_ms, bytes_written = ${v.bytes}, sha256 = ${v.sha},
    mirror_path = ${v.path}, shortened = coalesce(${v.short}, shortened),
    ${UNLEASE},
    error_class = NULL, error_status = NULL, error_message = NULL`;
}

export function jobsSql(d: Dialect) {
  const now = d.now;
  return {
    heartbeat: `UPDATE jobs SET lease_until = ${now} + @leaseMs::bigint, updated_at = ${now} WHERE ${FENCE}`,
    /** What the mirror held before a completion (created vs updated). */
    prior: 'SELECT key, remote_modified_ms, local_path FROM jobs WHERE id = @id AND lease_token = @token',
    complete: `UPDATE jobs SET ${completeSet(d, { path: '@path', bytes: '@bytes', sha: '@sha', short: '@short::integer' })} WHERE ${FENCE} RETURNING state`,
    retryLater: `
      UPDATE jobs SET
        attempts = CASE WHEN revision <> claimed_revision THEN 0
                        WHEN @consume = 1 THEN attempts ELSE ${d.greatest('0', 'attempts - 1')} END,
        state = CASE WHEN revision <> claimed_revision THEN 'queued'
                     WHEN @consume = 1 AND attempts >= @max THEN 'failed' ELSE 'queued' END,
        run_at = CASE WHEN revision <> claimed_revision THEN ${now} ELSE ${now} + @delayMs::bigint END,
        finished_at = CASE WHEN @consume = 1 AND attempts >= @max AND revision = claimed_revision THEN ${now} ELSE finished_at END,
        locator = CASE WHEN @consume = 1 AND attempts >= @max AND revision = claimed_revision THEN ${d.settledLocator} ELSE locator END,
        error_class = @cls, error_status = @status, error_message = @msg, updated_at = ${now},
        ${UNLEASE}
      WHERE ${FENCE}
      RETURNING state`,
    /** failed or gone (@state), unless a newer version was listed meanwhile. */
    finalState: `
      UPDATE jobs SET
        state = CASE WHEN revision <> claimed_revision THEN 'queued' ELSE @state::text END,
        attempts = CASE WHEN revision <> claimed_revision THEN 0 ELSE attempts END,
        locator = CASE WHEN revision <> claimed_revision THEN locator ELSE ${d.settledLocator} END,
        run_at = ${now}, finished_at = ${now}, updated_at = ${now},
        error_class = @cls, error_status = @status, error_message = @msg,
        ${UNLEASE}
      WHERE ${FENCE}`,
    /** case_conflict with policy skip: done without a file. */
    skip: `
      UPDATE jobs SET
        state = CASE WHEN revision <> claimed_revision THEN 'queued' ELSE 'done' END,
        attempts = CASE WHEN revision <> claimed_revision THEN 0 ELSE attempts END,
        locator = CASE WHEN revision <> claimed_revision THEN locator ELSE ${d.settledLocator} END,
        run_at = ${now}, finished_at = ${now}, updated_at = ${now},
        local_path = NULL, mirror_path = NULL, path_fold = NULL, bytes_written = NULL, sha256 = NULL,
        error_class = @cls, error_status = NULL, error_message = @msg,
        ${UNLEASE}
      WHERE ${FENCE}`,
    release: `
      UPDATE jobs SET state = 'queued', attempts = ${d.greatest('0', 'attempts - 1')}, run_at = ${now}, updated_at = ${now},
        ${UNLEASE}
      WHERE ${FENCE}`,
    /**
     * Running jobs back to the queue (or failed at the cap): all of them (@expiredOnly = 0, a SQLite
     * start-up) or those whose lease expired. PostgreSQL passes over a row locked by a worker
     * committing its rename; a later sweep takes it if its lease really expired.
     */
    requeueRunning: `
      UPDATE jobs SET
        state = CASE WHEN attempts >= @max THEN 'failed' ELSE 'queued' END,
        finished_at = CASE WHEN attempts >= @max THEN ${now} ELSE finished_at END,
        locator = CASE WHEN attempts >= @max THEN ${d.settledLocator} ELSE locator END,
        error_class = CASE WHEN attempts >= @max THEN 'interrupted' ELSE error_class END,
        error_message = CASE WHEN attempts >= @max
          THEN 'the download was interrupted ' || attempts || ' times (the process died or its lease expired each time)'
          ELSE error_message END,
        run_at = ${now}, updated_at = ${now}, ${UNLEASE}
      WHERE id IN (SELECT id FROM jobs WHERE state = 'running' AND (@expiredOnly = 0 OR lease_until < ${now}) ${d.lockSkip('jobs')})`,
    requeueStale: `
      UPDATE jobs SET revision = revision + 1,
        state = CASE WHEN state = 'running' THEN 'running' ELSE 'queued' END,
        attempts = CASE WHEN state = 'running' THEN attempts ELSE 0 END,
        run_at = ${now}, updated_at = ${now},
        error_class = CASE WHEN state = 'running' THEN error_class ELSE 'stale_file' END,
        error_message = CASE WHEN state = 'running' THEN error_message
          ELSE 'a worker that had lost its lease renamed an older version into place; fetched again' END
      WHERE id = @id`,
    // retry: the error stays in the row until the next attempt overwrites it (status shows why it failed)
    requeueFailed: `
      UPDATE jobs SET state = 'queued', attempts = 0, run_at = ${now}, updated_at = ${now}, finished_at = NULL
      WHERE state = 'failed' AND (@keys::text[] IS NULL OR ${d.inList('key', 'keys', 'text')})
        AND (@cls::text IS NULL OR error_class = @cls)`,
    /** verify --repair: running jobs are left alone. */
    requeue: `
      UPDATE jobs SET state = 'queued', attempts = 0, run_at = ${now}, updated_at = ${now},
        error_class = @cls, error_status = NULL, error_message = @msg
      WHERE ${d.inList('id', 'ids', 'bigint')} AND state <> 'running'`,
    // Who already holds a folded path: a key that is done, running, or still has a file there.
    pathHolder: `
      SELECT key, mirror_path FROM jobs
      WHERE path_fold = @fold AND id <> @id AND (state IN ('done', 'running') OR local_path IS NOT NULL)
      ORDER BY (state = 'done') DESC, finished_at LIMIT 1`,
    reservePath: `UPDATE jobs SET mirror_path = @path, path_fold = @fold WHERE ${FENCE}`,
    pathOwner: `
      SELECT key FROM jobs
      WHERE key <> @ex AND mirror_path IS NOT NULL AND (state IN ('done', 'running') OR local_path IS NOT NULL)
        AND (mirror_path = @p OR mirror_path = @p || '/' OR substr(mirror_path, 1, length(@p) + 1) = @p || '/'
             OR path_fold = @f OR path_fold = @f || '/' OR substr(path_fold, 1, length(@f) + 1) = @f || '/')
      ORDER BY (state = 'done') DESC, finished_at LIMIT 1`,
  };
}
