// A leased job's lease: extended (heartbeat), given back (release: shutdown), or taken from a dead or
// hung holder (requeueRunning: start-up recovery and the expired-lease sweep).
import type { Dialect } from './dialect.js';
import { FENCE, UNLEASE } from './jobs.js';

export function leaseJobsSql(d: Dialect) {
  const now = d.now;
  return {
    heartbeat: `UPDATE jobs SET lease_until = ${now} + @leaseMs::bigint, updated_at = ${now} WHERE ${FENCE}`,
    /** SQLite: how long a held lease has left (ms; no row when it is not held). A check that writes nothing. */
    leaseLeft: `SELECT lease_until - ${now} AS left_ms FROM jobs WHERE ${FENCE}`,
    release: `
      UPDATE jobs SET state = 'queued', attempts = ${d.greatest('0', 'attempts - 1')}, run_at = ${now}, updated_at = ${now},
        ${UNLEASE}
      WHERE ${FENCE}`,
    /**
     * Running jobs back to the queue (or failed at the cap): all of them (@expiredOnly = 0, a SQLite
     * start-up) or those whose lease expired. PostgreSQL passes over a row locked by a worker
     * committing its rename; a later sweep takes it if its lease really expired. A job of a claim
     * window that never started (started_at NULL) gets its attempt back: it did not cause the death.
     */
    requeueRunning: `
      UPDATE jobs SET
        state = CASE WHEN attempts >= @max AND started_at IS NOT NULL THEN 'failed' ELSE 'queued' END,
        attempts = CASE WHEN started_at IS NULL THEN ${d.greatest('0', 'attempts - 1')} ELSE attempts END,
        finished_at = CASE WHEN attempts >= @max AND started_at IS NOT NULL THEN ${now} ELSE finished_at END,
        locator = CASE WHEN attempts >= @max AND started_at IS NOT NULL THEN ${d.settledLocator} ELSE locator END,
        error_class = CASE WHEN attempts >= @max AND started_at IS NOT NULL THEN 'interrupted' ELSE error_class END,
        error_message = CASE WHEN attempts >= @max AND started_at IS NOT NULL
          THEN 'the download was interrupted ' || attempts || ' times (the process died or its lease expired each time)'
          ELSE error_message END,
        run_at = ${now}, updated_at = ${now}, ${UNLEASE}
      WHERE id IN (SELECT id FROM jobs WHERE state = 'running' AND (@expiredOnly = 0 OR lease_until < ${now}) ${d.lockSkip('jobs')})`,
    /** A claim window's job starts (claimed unstarted: started_at NULL): a death now counts its attempt. */
    markStarted: `UPDATE jobs SET started_at = ${now} WHERE ${FENCE}`,
    /**
     * PostgreSQL: markStarted for many jobs (@ids, @tokens) in one statement, one commit. The rows are
     * locked in id order first, as commitPlacedBatch's lockLeased locks them, so two such statements
     * never wait for each other in a circle. Returns the ids marked.
     */
    markStartedMany: `
      WITH l AS (
        SELECT j.id FROM jobs j JOIN unnest(@ids::bigint[], @tokens::text[]) AS i(id, token) ON j.id = i.id AND j.lease_token = i.token
        WHERE j.state = 'running' ORDER BY j.id FOR UPDATE OF j)
      UPDATE jobs SET started_at = ${now} FROM l WHERE jobs.id = l.id RETURNING jobs.id`,
  };
}
