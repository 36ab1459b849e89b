// The listing side, written once: the poll cursor (high-water mark, clock skew, errors) and the upsert
// of listed assets into jobs. An unchanged (LastModified, Size, ETag) is a no-op; a changed one is
// queued again with attempts reset (a running job keeps running; its commit turns into a requeue).
import type { Dialect } from './dialect.js';

export function cursorSql(d: Dialect) {
  const now = d.now;
  const mark = `CASE WHEN @hwm::bigint IS NULL THEN hwm_ms WHEN hwm_ms IS NULL OR @hwm::bigint > hwm_ms THEN @hwm::bigint ELSE hwm_ms END`;
  return {
    get: 'SELECT hwm_ms, poll_started_at, poll_finished_at, poll_error, poll_error_class, poll_error_at, clock_skew_ms, clock_skew_at, source_info FROM cursor WHERE id = 1',
    setSourceInfo: 'UPDATE cursor SET source_info = @info WHERE id = 1',
    startPoll: `UPDATE cursor SET poll_started_at = ${now} WHERE id = 1`,
    // The mark only moves forward, except down to @cap (the server's clock): a mark in the future is a bug to repair.
    finishPoll: `
      UPDATE cursor SET hwm_ms = ${d.capped(mark, '@cap::bigint')},
        clock_skew_ms = coalesce(@skew::bigint, clock_skew_ms), clock_skew_at = CASE WHEN @skew::bigint IS NULL THEN clock_skew_at ELSE ${now} END,
        poll_finished_at = ${now}, poll_error = NULL, poll_error_class = NULL, poll_error_at = NULL
      WHERE id = 1`,
    failPoll: `UPDATE cursor SET poll_error = @msg, poll_error_class = @cls, poll_error_at = ${now} WHERE id = 1`,
    // A key marked deleted_remote that is listed again is tracked again (and fetched again if its file was removed).
    undelete: `
      UPDATE jobs SET remote_deleted_at = NULL, local_removed = NULL,
        state = CASE WHEN local_removed IS NOT NULL AND state = 'done' THEN 'queued' ELSE state END,
        attempts = CASE WHEN local_removed IS NOT NULL AND state = 'done' THEN 0 ELSE attempts END,
        run_at = CASE WHEN local_removed IS NOT NULL AND state = 'done' THEN ${now} ELSE run_at END,
        updated_at = ${now}
      WHERE ${d.inList('key', 'keys', 'text')} AND remote_deleted_at IS NOT NULL`,
    /** The conflict clause of the listing upsert (the rows come from each backend's VALUES or unnest). */
    upsertConflict: `
      ON CONFLICT (key) DO UPDATE SET
        locator = excluded.locator,
        remote_modified_ms = excluded.remote_modified_ms,
        remote_size = excluded.remote_size,
        remote_etag = excluded.remote_etag,
        revision = jobs.revision + 1,
        state = CASE WHEN jobs.state = 'running' THEN 'running' ELSE 'queued' END,
        attempts = CASE WHEN jobs.state = 'running' THEN jobs.attempts ELSE 0 END,
        run_at = excluded.run_at,
        error_class = NULL, error_status = NULL, error_message = NULL,
        updated_at = excluded.updated_at
      WHERE jobs.remote_modified_ms IS DISTINCT FROM excluded.remote_modified_ms
         OR jobs.remote_size IS DISTINCT FROM excluded.remote_size
         OR (excluded.remote_etag IS NOT NULL AND jobs.remote_etag IS NOT NULL AND excluded.remote_etag IS DISTINCT FROM jobs.remote_etag)
         OR jobs.state = 'gone'
      RETURNING revision`,
  };
}

export interface CursorRow {
  hwm_ms: number | null;
  poll_started_at: number | null;
  poll_finished_at: number | null;
  poll_error: string | null;
  poll_error_class: string | null;
  poll_error_at: number | null;
  clock_skew_ms: number | null;
  clock_skew_at: number | null;
  source_info: string | null;
}
