// Jobs queued again from outside their lease: a stale file in place (requeueStale), the operator's
// retry of failed jobs (requeueFailed) and verify --repair (requeue).
import type { Dialect } from './dialect.js';

export function requeueJobsSql(d: Dialect) {
  const now = d.now;
  return {
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
