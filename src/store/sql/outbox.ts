// The notification outbox, written once: one row per event and configured sink, claimed under a
// lease, acked (deleted) or nacked (retried later, failed at the cap), pruned.
import type { Dialect } from './dialect.js';

export const OUTBOX_COLUMNS = 'id, sink, event, key, path, size, last_modified_ms, sha256, attempts, created_at';

/**
 * The one INSERT of events: one row per event of `events` (a row source with columns event, key,
 * path, size, lm, sha) and sink of the list parameter @sinks.
 */
export function outboxInsert(d: Dialect, events: string): string {
  return `
    INSERT INTO outbox (sink, event, key, path, size, last_modified_ms, sha256, run_at, created_at, updated_at)
    SELECT s.value, e.event, e.key, e.path, e.size, e.lm, e.sha, ${d.now}, ${d.now}, ${d.now} FROM ${events} e, ${d.listRows('sinks', 'text', 's')}`;
}

export function outboxSql(d: Dialect) {
  const now = d.now;
  return {
    /** One event (recordEvent). */
    insert: outboxInsert(d, '(SELECT @event::text AS event, @key::text AS key, @path::text AS path, @size::bigint AS size, @lm::bigint AS lm, @sha::text AS sha)'),
    claim: `
      UPDATE outbox SET attempts = attempts + 1, lease_until = ${now} + @leaseMs::bigint, updated_at = ${now}
      WHERE id IN (SELECT id FROM outbox WHERE sink = @sink AND state = 'pending' AND run_at <= ${now}
                     AND (lease_until IS NULL OR lease_until <= ${now}) ORDER BY id LIMIT @n ${d.lockSkip('outbox')})
      RETURNING ${OUTBOX_COLUMNS}`,
    ack: 'DELETE FROM outbox WHERE id = @id',
    nack: `
      UPDATE outbox SET
        state = CASE WHEN attempts >= @max THEN 'failed' ELSE 'pending' END,
        run_at = ${now} + @delayMs::bigint, lease_until = NULL, last_error = @err, updated_at = ${now}
      WHERE id = @id
      RETURNING state`,
    /** Start-up of the only process using the state (SQLite): every lease is a dead process's. */
    releaseAll: `UPDATE outbox SET lease_until = NULL, run_at = ${d.capped('run_at', now)} WHERE state = 'pending' AND lease_until IS NOT NULL`,
    /** Several replicas (PostgreSQL): only expired leases, a delivery in flight may be a live replica's. */
    releaseExpired: `UPDATE outbox SET lease_until = NULL WHERE state = 'pending' AND lease_until IS NOT NULL AND lease_until <= ${now}`,
    next: `SELECT ${d.hostTime(`min(${d.greatest('run_at', 'coalesce(lease_until, 0)')})`)} AS t FROM outbox WHERE sink = @sink AND state = 'pending'`,
    counts: 'SELECT sink, state, count(*) AS n FROM outbox GROUP BY sink, state',
    pruneUnconfigured: `DELETE FROM outbox WHERE NOT (${d.inList('sink', 'sinks', 'text')}) RETURNING sink`,
    pruneFailed: `DELETE FROM outbox WHERE state = 'failed' AND updated_at < ${now} - @retentionMs::bigint`,
  };
}
