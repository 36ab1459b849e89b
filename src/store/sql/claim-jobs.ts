// Claiming jobs, written once: lease up to n due queued jobs, or running jobs whose lease expired,
// in the configured order, in one statement. PostgreSQL locks the candidate rows and passes over
// those another replica is claiming (lockSkip); SQLite walks the order's own index (indexedBy),
// created on demand (CLAIM_INDEX).
import type { ClaimOrder } from '../../config/schema.js';
import type { ListedSize } from '../../lib/size.js';
import { sizeColumn } from '../rows.js';
import type { Dialect } from './dialect.js';

export const ORDER_SQL: Record<ClaimOrder, string> = {
  'newest-first': 'remote_modified_ms DESC, id',
  'oldest-first': 'remote_modified_ms ASC, id',
  'smallest-first': 'remote_size ASC, id',
  key: 'key',
};

/**
 * The index each order's claim walks. newest-first's is there (migration 0001; SQLite drops it during a
 * long first listing and builds it at its end); the others
 * are SQLite's to create on demand for the order in use (and to drop when another is used): each one
 * costs every newly listed row an extra b-tree insert. PostgreSQL plans without them.
 */
export const CLAIM_INDEX: Record<ClaimOrder, { name: string; columns: string; onDemand: boolean }> = {
  'newest-first': { name: 'jobs_queued_newest', columns: ORDER_SQL['newest-first'], onDemand: false },
  'oldest-first': { name: 'jobs_queued_oldest', columns: ORDER_SQL['oldest-first'], onDemand: true },
  'smallest-first': { name: 'jobs_queued_smallest', columns: ORDER_SQL['smallest-first'], onDemand: true },
  key: { name: 'jobs_queued_key', columns: ORDER_SQL.key, onDemand: true },
};

/**
 * SQLite: the statements that leave the claim index of `order` there, newest-first's too (a long
 * first listing drops it until its end, sqlite-store.ts), and no other on-demand one.
 */
export function claimIndexDdl(order: ClaimOrder): string[] {
  return (Object.entries(CLAIM_INDEX) as [ClaimOrder, (typeof CLAIM_INDEX)[ClaimOrder]][]).map(([o, idx]) =>
    o === order || !idx.onDemand ? `CREATE INDEX IF NOT EXISTS ${idx.name} ON jobs (${idx.columns}) WHERE state = 'queued'` : `DROP INDEX IF EXISTS ${idx.name}`,
  );
}

/** SQLite: the statements that drop every claim-order index (a long first listing, sqlite-store.ts). */
export const DROP_CLAIM_INDEXES: string[] = Object.values(CLAIM_INDEX).map((idx) => `DROP INDEX IF EXISTS ${idx.name}`);

/**
 * ORDER_SQL in JavaScript, for the rows a claim returns: RETURNING gives them in no particular order,
 * and a claim of several jobs hands them out first to last. Keys compare as UTF-8 bytes, as SQLite's
 * BINARY collation does; a PostgreSQL database with another collation may order the few keys of
 * one claim differently from its ORDER BY (which still chose them).
 */
export function claimedInOrder<T extends { id: number; key: string; remoteModifiedMs: number; remoteSize: ListedSize }>(jobs: T[], order: ClaimOrder): T[] {
  const cmp: Record<ClaimOrder, (a: T, b: T) => number> = {
    'newest-first': (a, b) => b.remoteModifiedMs - a.remoteModifiedMs || a.id - b.id,
    'oldest-first': (a, b) => a.remoteModifiedMs - b.remoteModifiedMs || a.id - b.id,
    'smallest-first': (a, b) => sizeColumn(a.remoteSize) - sizeColumn(b.remoteSize) || a.id - b.id,
    key: (a, b) => Buffer.compare(Buffer.from(a.key), Buffer.from(b.key)),
  };
  return jobs.length > 1 ? jobs.sort(cmp[order]) : jobs;
}

export const CLAIMED_COLUMNS = 'id, key, remote_modified_ms, remote_size, remote_etag, revision, attempts, lease_token, lease_until, local_path, locator';

/**
 * Lease up to @n jobs in `order`, in one statement: due queued jobs, and running jobs whose lease
 * expired (a dead or hung holder) that the expired-lease sweep would requeue rather than fail (at
 * @max attempts a started one is left to the sweep, which fails it as interrupted). Such a job is
 * taken as the sweep followed by this claim would take it: an unstarted window job gets its attempt
 * back before this claim charges one, run_at becomes now (where 'listed' places it), its error stays,
 * and it gets a new token, so its old holder's heartbeat, completion or failure is refused. Each
 * job's token is @token plus its id, so every job is fenced by its own lease. The rows come back
 * with lease_expired 1 for such a job (the claim window logs them, as the sweep does).
 * INDEXED BY (SQLite): without statistics the planner picks jobs_state or jobs_queued_run_at and
 * sorts the whole queue for every claim (quadratic on a first sync); the order's index walks it.
 * 'listed' is the order the keys were listed in, through jobs_queued_run_at (SQLite, while a long
 * first listing runs without the order indexes). `started` false leaves started_at NULL: a claim
 * window's jobs, of which the store marks those that start at once (markStarted); the requeue of a
 * dead process's jobs gives an unstarted one its attempt back (it did not cause the death).
 * PostgreSQL locks the candidates of both kinds (lockSkip) in their own WITH queries (a UNION
 * cannot lock), and passes over a row a worker holds locked while it commits its rename.
 */
export function claimJobsSql(d: Dialect, order: ClaimOrder | 'listed', started = true): string {
  const orderBy = order === 'listed' ? 'run_at, id' : ORDER_SQL[order];
  // One instant for the whole claim (t.now): every job of a batch gets the same lease.
  return `
    WITH ${candidatesSql(d, order)}, pick AS MATERIALIZED (
      SELECT id, expired FROM (SELECT * FROM due UNION ALL SELECT * FROM lapsed) u ORDER BY ${orderBy} LIMIT @n
    )
    UPDATE jobs SET ${claimSetSql(d, 't.now', started ? 't.now' : 'NULL')}
    FROM (SELECT ${d.now} AS now) t
    WHERE id IN (SELECT id FROM pick)
    RETURNING ${CLAIMED_COLUMNS}, (SELECT expired FROM pick WHERE pick.id = jobs.id) AS lease_expired`;
}

/** The two kinds of claimable job (due queued ones, expired leases), each walked in `order` up to @n. */
function candidatesSql(d: Dialect, order: ClaimOrder | 'listed'): string {
  const [index, orderBy] = order === 'listed' ? ['jobs_queued_run_at', 'run_at, id'] : [CLAIM_INDEX[order].name, ORDER_SQL[order]];
  const cols = 'id, key, remote_modified_ms, remote_size';
  return `due AS (
      SELECT ${cols}, run_at, 0 AS expired FROM jobs ${d.indexedBy(index)} WHERE state = 'queued' AND run_at <= ${d.now}
      ORDER BY ${orderBy} LIMIT @n ${d.lockSkip('jobs')}
    ), lapsed AS (
      SELECT ${cols}, ${d.now} AS run_at, 1 AS expired FROM jobs ${d.indexedBy('jobs_running_lease')}
      WHERE state = 'running' AND lease_until < ${d.now} AND (started_at IS NULL OR attempts < @max)
      ORDER BY ${orderBy} LIMIT @n ${d.lockSkip('jobs')}
    )`;
}

/** What a claim sets on a job it takes (see claimJobsSql), at the instant `now`; started_at = `started`. */
function claimSetSql(d: Dialect, now: string, started: string): string {
  return `state = 'running',
      attempts = CASE WHEN state = 'running' AND started_at IS NULL THEN ${d.greatest('0', 'attempts - 1')} ELSE attempts END + 1,
      run_at = CASE WHEN state = 'running' THEN ${now} ELSE run_at END,
      lease_owner = @owner, lease_token = @token::text || '.' || id,
      lease_until = ${now} + @leaseMs::bigint, claimed_revision = revision, started_at = ${started}, updated_at = ${now}`;
}

/**
 * SQLite, a claim window's two steps in the caller's write transaction: claimPickSql chooses the
 * jobs (as claimJobsSql's pick, in `order`), then claimOneSql takes each by its id, as claimJobsSql
 * would (@started: now for a job that starts at once, else NULL). One UPDATE per row: a single
 * UPDATE … FROM of 16 rows kept a statement journal of every page it touched (spilled to a temporary
 * file above 64 KiB) and cost ~3 times the row updates themselves (bench/README.md, "Small files,
 * third pass").
 */
export function claimPickSql(d: Dialect, order: ClaimOrder | 'listed'): string {
  const orderBy = order === 'listed' ? 'run_at, id' : ORDER_SQL[order];
  return `
    WITH ${candidatesSql(d, order)}
    SELECT id, key, remote_modified_ms, remote_size, expired FROM (SELECT * FROM due UNION ALL SELECT * FROM lapsed) u ORDER BY ${orderBy} LIMIT @n`;
}

export function claimOneSql(d: Dialect): string {
  return `UPDATE jobs SET ${claimSetSql(d, d.now, '@started')} WHERE id = @id RETURNING ${CLAIMED_COLUMNS}`;
}
