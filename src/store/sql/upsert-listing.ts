// The upsert of listed assets into jobs, written once: an unchanged (LastModified, Size, ETag) is a
// no-op; a changed one is queued again with attempts reset (a running job keeps running; its commit
// turns into a requeue). A page is one transaction and one statement; how its rows are bound is the
// one difference: SQLite reads them from one JSON array (json_each), PostgreSQL from unnest()ed arrays.
import type { Dialect } from './dialect.js';

const COLUMNS = 'key, remote_modified_ms, remote_size, remote_etag, locator, state, run_at, created_at, updated_at';

/** The conflict clause: what a listing of a known key changes, and when (RETURNING: the rows changed). */
const CONFLICT = `
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
  RETURNING revision`;

/** Only while a download may need it: a settled job keeps no pre-signed URL (api/stac/locator.ts). */
const RELOCATABLE = "state IN ('queued', 'running')";

export function upsertListingSql(d: Dialect) {
  const now = d.now;
  return {
    // A key marked deleted_remote that is listed again is tracked again (and fetched again if its file was removed).
    undelete: `
      UPDATE jobs SET remote_deleted_at = NULL, local_removed = NULL,
        state = CASE WHEN local_removed IS NOT NULL AND state = 'done' THEN 'queued' ELSE state END,
        attempts = CASE WHEN local_removed IS NOT NULL AND state = 'done' THEN 0 ELSE attempts END,
        run_at = CASE WHEN local_removed IS NOT NULL AND state = 'done' THEN ${now} ELSE run_at END,
        updated_at = ${now}
      WHERE ${d.inList('key', 'keys', 'text')} AND remote_deleted_at IS NOT NULL`,
    /** SQLite: most states hold no deleted key; one probe of the partial index jobs_remote_deleted spares a page the undelete. */
    anyDeleted: 'SELECT 1 FROM jobs WHERE remote_deleted_at IS NOT NULL LIMIT 1',
    /**
     * SQLite: a page, @rows a JSON array of [key, lm, size, etag, loc] (sqlitePageRows). One statement
     * instead of one per key: half the CPU of a 1M-key first listing (bench/README.md, "Listing and
     * replicas, third pass"). SQLite upserts the rows one after the other, so a key repeated in the
     * page sees its earlier row, as one statement per key did. `WHERE true`: without it SQLite would
     * read ON CONFLICT as a join's ON.
     */
    insertPage: `
      INSERT INTO jobs (${COLUMNS})
      SELECT r.value ->> 0, r.value ->> 1, r.value ->> 2, r.value ->> 3, r.value ->> 4, 'queued', ${now}, ${now}, ${now}
        FROM json_each(@rows) AS r WHERE true
      ${CONFLICT}`,
    /** PostgreSQL: a page of unique keys (ON CONFLICT cannot touch a row twice in one statement). */
    insertMany: `
      INSERT INTO jobs (${COLUMNS})
      SELECT k, lm, sz, et, loc, 'queued', t.now, t.now, t.now
        FROM unnest(@keys::text[], @lms::bigint[], @sizes::bigint[], @etags::text[], @locs::text[]) AS u(k, lm, sz, et, loc), (SELECT ${now} AS now) t
      ${CONFLICT}`,
    // A new pre-signed href (or expiry) of an unchanged version is no new version: only the locator moves.
    // SQLite: @rows a JSON array of [key, loc], one per key (UPDATE … FROM uses one source row per target row).
    // `+jobs.state`: without it SQLite walks jobs_state over every queued job and scans the page for each.
    relocatePage: `
      UPDATE jobs SET locator = r.value ->> 1 FROM json_each(@rows) AS r
      WHERE jobs.key = r.value ->> 0 AND jobs.locator IS NOT r.value ->> 1 AND +jobs.${RELOCATABLE}`,
    relocateMany: `
      UPDATE jobs j SET locator = u.loc FROM unnest(@keys::text[], @locs::text[]) AS u(k, loc)
      WHERE j.key = u.k AND j.locator IS DISTINCT FROM u.loc AND j.${RELOCATABLE}`,
  };
}
