// Read-only queries for status, progress, dry runs, verify and export, written once. Instants a
// caller compares with its own clock (run_at) come back as `t`, in the database's time base on
// SQLite (the host clock) and as an offset from the database's now on PostgreSQL (see hostTime).
import { listedSizeSql } from '../rows.js';
import type { Dialect } from './dialect.js';

/** What a job's size is known to be: the bytes a done job wrote, else the listed size when listed. */
const LISTED = listedSizeSql('remote_size');
const SIZE_KNOWN = `(state = 'done' AND bytes_written IS NOT NULL) OR ${LISTED}`;
const KNOWN_BYTES = `coalesce(sum(CASE WHEN state = 'done' AND bytes_written IS NOT NULL THEN bytes_written WHEN ${LISTED} THEN remote_size ELSE 0 END), 0)`;
const UNKNOWN_SIZE = `coalesce(sum(CASE WHEN ${SIZE_KNOWN} THEN 0 ELSE 1 END), 0)`;

export function statusSql(d: Dialect) {
  return {
    counts: 'SELECT state, count(*) AS n FROM jobs GROUP BY state',
    // Sizes the listing omitted are unknown, never summed; a done job counts the
    // bytes it wrote. KNOWN_BYTES and UNKNOWN_SIZE say this once for both queries.
    bytesByState: `SELECT state, ${KNOWN_BYTES} AS b FROM jobs GROUP BY state`,
    failures: `SELECT * FROM jobs ${d.indexedBy('jobs_failed')} WHERE state = 'failed' ORDER BY finished_at DESC, id DESC LIMIT @limit`,
    // three index-friendly parts (a single OR would scan and sort the whole table on every refresh
    // of the status page); retrying jobs wait for a later run_at than fresh ones, so the newest
    // 5000 run_at values of the queue hold them
    problemsFailed: `SELECT *, ${d.hostTime('run_at')} AS t FROM jobs ${d.indexedBy('jobs_failed')} WHERE state = 'failed' ORDER BY finished_at DESC, id DESC LIMIT @limit`,
    problemsGone: `SELECT *, ${d.hostTime('run_at')} AS t FROM jobs WHERE state = 'gone' ORDER BY updated_at DESC, id DESC LIMIT @limit`,
    problemsRetrying: `
      SELECT *, ${d.hostTime('run_at')} AS t FROM (SELECT * FROM jobs ${d.indexedBy('jobs_queued_run_at')} WHERE state = 'queued' ORDER BY run_at DESC LIMIT 5000) q
      WHERE attempts > 0 AND error_class IS NOT NULL ORDER BY updated_at DESC, id DESC LIMIT @limit`,
    getJob: 'SELECT * FROM jobs WHERE key = @key',
    getJobs: `SELECT * FROM jobs WHERE ${d.inList('key', 'keys', 'text')}`,
    nextRunAt: `SELECT ${d.hostTime('min(run_at)')} AS t FROM jobs WHERE state = 'queued'`,
    jobBriefs: `SELECT key, state, remote_size, ${d.hostTime('run_at')} AS t, local_path FROM jobs WHERE ${d.inList('state', 'states', 'text')} ORDER BY state, id`,
    backlog: `SELECT count(*) AS n, coalesce(sum(CASE WHEN ${LISTED} THEN remote_size ELSE 0 END), 0) AS b FROM jobs WHERE state IN ('queued', 'running')`,
    mirrorTotals: `SELECT state, ${KNOWN_BYTES} AS b, ${UNKNOWN_SIZE} AS u, max(finished_at) AS f FROM jobs GROUP BY state`,
    listJobs: 'SELECT * FROM jobs WHERE id > @after ORDER BY id LIMIT @limit',
  };
}
