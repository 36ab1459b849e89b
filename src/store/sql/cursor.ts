// The poll cursor, written once: the high-water mark, the measured clock skew and the last poll's
// error (the upsert of what a poll lists is in upsert-listing.ts).
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
