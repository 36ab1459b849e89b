// Completing jobs, written once: the done row and its notification rows commit together. The rules:
// - a completion is done only when no newer version was listed meanwhile (settleUnlessNewer, jobs.ts);
//   otherwise the job is queued again;
// - a finished download is one outbox event per configured sink, 'created' when the mirror held no
//   file for the key before, 'updated' when it did;
// - a folder marker (a mirror path ending in '/') is not a file and notifies nothing.
// Where the row as it was before comes from is the backends' one difference: SQLite writes the events
// first, under the write lock the completion holds (eventsIfDone); PostgreSQL completes a batch in one
// statement whose CTEs all see the row before the update (completeMany).
import type { Dialect } from './dialect.js';
import { FENCE, SAME_VERSION, settleUnlessNewer, UNLEASE } from './jobs.js';
import { outboxInsert } from './outbox.js';

/** A mirror path that is a folder marker (ends in '/'), as SQL over the column or expression `path`. */
export function isFolderMarker(path: string): string {
  return `(${path} LIKE '%/')`;
}

/** What a completion writes (done, or queued again when a newer version was listed meanwhile). */
function completeSet(d: Dialect, v: { path: string; bytes: string; sha: string; short: string }): string {
  return `
    ${settleUnlessNewer(d, "'done'")},
    run_at = ${d.now}, finished_at = ${d.now}, updated_at = ${d.now},
    local_path = ${v.path}, local_modified_ms = remote_modified_ms, bytes_written = ${v.bytes}, sha256 = ${v.sha},
    mirror_path = ${v.path}, shortened = coalesce(${v.short}, shortened),
    ${UNLEASE},
    error_class = NULL, error_status = NULL, error_message = NULL`;
}

/**
 * The outbox rows of completions that end done, from `done`: a row source with the job as it was
 * before (key, lm: remote_modified_ms, prior_path: local_path) and what was committed (path, bytes, sha).
 */
function completedEvents(d: Dialect, done: string): string {
  return outboxInsert(
    d,
    `(SELECT CASE WHEN c.prior_path IS NULL THEN 'created' ELSE 'updated' END AS event, c.key, c.path, c.bytes AS size, c.lm, NULLIF(c.sha, '') AS sha
      FROM ${done} c WHERE NOT ${isFolderMarker('c.path')})`,
  );
}

export function completeJobsSql(d: Dialect) {
  return {
    /** SQLite, before `complete` in the same write transaction: the events, if the completion will be done. */
    eventsIfDone: completedEvents(
      d,
      `(SELECT key, remote_modified_ms AS lm, local_path AS prior_path, @path AS path, @bytes AS bytes, @sha AS sha
        FROM jobs WHERE ${FENCE} AND ${SAME_VERSION})`,
    ),
    /** SQLite: one completion, fenced by its lease. */
    complete: `UPDATE jobs SET ${completeSet(d, { path: '@path', bytes: '@bytes', sha: '@sha', short: '@short::integer' })} WHERE ${FENCE} RETURNING state`,
    /**
     * PostgreSQL: completions of distinct jobs in one statement, each fenced by its own lease, with
     * their events; `prior` is each row before the update (every CTE sees the same snapshot).
     */
    completeMany: `
      WITH i AS (SELECT * FROM unnest(@ids::bigint[], @tokens::text[], @paths::text[], @bytes::bigint[], @shas::text[], @shorts::integer[])
                   AS i(id, token, path, bytes, sha, short)),
      prior AS (SELECT j.id, j.key, j.remote_modified_ms, j.local_path FROM jobs j JOIN i ON j.id = i.id AND j.lease_token = i.token),
      upd AS (
        UPDATE jobs SET ${completeSet(d, { path: 'i.path', bytes: 'i.bytes', sha: 'i.sha', short: 'i.short' })}
        FROM i WHERE jobs.id = i.id AND jobs.lease_token = i.token AND jobs.state = 'running'
        RETURNING jobs.id, jobs.state),
      ev AS (${completedEvents(
        d,
        `(SELECT prior.key, prior.remote_modified_ms AS lm, prior.local_path AS prior_path, i.path, i.bytes, i.sha
          FROM upd JOIN prior ON prior.id = upd.id JOIN i ON i.id = upd.id WHERE upd.state = 'done')`,
      )})
      SELECT id, state FROM upd`,
    /** PostgreSQL: lock the leased rows of a commit (held across the rename until the commit). */
    lockLeased: `
      SELECT j.id FROM jobs j JOIN unnest(@ids::bigint[], @tokens::text[]) AS i(id, token) ON j.id = i.id AND j.lease_token = i.token
      WHERE j.state = 'running' ORDER BY j.id FOR UPDATE OF j`,
  };
}
