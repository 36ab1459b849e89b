// The job state machine, written once: lease, retry, fail, release, sweep, requeue (claims are in
// claim-jobs.ts, completions in complete-jobs.ts, path reservations in mirror-paths.ts). Every
// transition of a claimed job is fenced by its lease token (and state 'running'); a listing that saw
// a newer version meanwhile (revision <> claimed_revision) turns the outcome into a requeue.
import type { Dialect } from './dialect.js';

/** Clears the lease (every transition out of 'running'). */
export const UNLEASE = 'lease_owner = NULL, lease_token = NULL, lease_until = NULL';
export const FENCE = "id = @id AND lease_token = @token AND state = 'running'";

export function jobsSql(d: Dialect) {
  const now = d.now;
  return {
    heartbeat: `UPDATE jobs SET lease_until = ${now} + @leaseMs::bigint, updated_at = ${now} WHERE ${FENCE}`,
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
  };
}
