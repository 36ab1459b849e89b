// The PostgreSQL implementation of StateStore, for several replicas sharing one database. All SQL for
// PostgreSQL lives here. Same semantics as SqliteStore, with three differences that matter:
// - Claims lock candidate rows with FOR UPDATE SKIP LOCKED at READ COMMITTED, so replicas never wait
//   on each other's claims and never claim the same row.
// - Lease and run_at times use the database's clock. Callers pass host times (`now`, `leaseUntil`,
//   `runAt`); only their differences are used, added to the database's now(). Host clock skew between
//   replicas therefore cannot expire a lease early.
// - requeueOrphans only requeues EXPIRED leases: a running row may belong to a live replica.
// Every statement is a single autocommit statement (one round trip), except migrations.
import pg from 'pg';
import { SyncError, type ErrorCode } from '../errors.js';
import type { RemoteAsset } from '../api/wire.js';
import type { ClaimOrder } from '../config/schema.js';
import { loadMigrations, MIGRATIONS_DIR, type Migration } from './sqlite.js';
import { newLeaseToken } from './sqlite-store.js';
import { rowToClaimed, rowToJob, rowToOutboxItem, rowToReconcile, type JobRow, type ReconcileRow } from './rows.js';
import path from 'node:path';
import { redactDatabaseUrl } from './database-url.js';
import {
  JOB_STATES,
  type ClaimOptions,
  type ClaimedJob,
  type CompleteInput,
  type CompleteOutcome,
  type Cursor,
  type FinishPollOptions,
  type Job,
  type JobError,
  type JobBrief,
  type JobState,
  type OutboxCounts,
  type OutboxEventInput,
  type OutboxItem,
  type OutboxPruned,
  type OutboxSink,
  type PathReservation,
  type PlacedOutcome,
  type ReconcileRecord,
  type RequeueSelection,
  type RetryOutcome,
  type StateStore,
  type UpsertResult,
} from './types.js';

const { Pool, Client } = pg;

/** The database's clock in epoch ms. clock_timestamp(), not now(): now() is frozen per transaction. */
const NOW = `(floor(extract(epoch from clock_timestamp()) * 1000))::bigint`;

/** One channel for every deployment; the payload is the schema, so listeners filter their own. */
export const NOTIFY_CHANNEL = 'constellr_sync_jobs';

const ORDER_SQL: Record<ClaimOrder, string> = {
  'newest-first': 'remote_modified_ms DESC, id',
  'oldest-first': 'remote_modified_ms ASC, id',
  'smallest-first': 'remote_size ASC, id',
  key: 'key',
};

const SCHEMA_RE = /^[a-z_][a-z0-9_]{0,62}$/;

export function assertSchemaName(schema: string): void {
  if (!SCHEMA_RE.test(schema))
    throw new SyncError(`state.schema: "${schema}" is not a valid schema name (lower-case letters, digits and _, at most 63, not starting with a digit)`, {
      code: 'SYNC_CONFIG_INVALID',
      kind: 'fatal',
      errorClass: 'config',
    });
}

export { redactDatabaseUrl };

export interface PostgresStoreOptions {
  url: string;
  schema: string;
  maxAttempts: number;
  poolSize?: number;
  /** Host clock, only used to translate nextRunAt() into the caller's time base. */
  clock?: () => number;
  /** Background errors (idle pool clients, the LISTEN connection). */
  onError?: (message: string, err: unknown) => void;
  /** Do not create or migrate anything (status); throws SYNC_STORE_OLD when behind. */
  readonly?: boolean;
  /** Notification sinks configured: completed downloads and recordEvent() write one outbox row per sink. */
  outboxSinks?: readonly OutboxSink[];
}

function storeError(message: string, code: ErrorCode, cause?: unknown): SyncError {
  return new SyncError(message, { code, kind: 'fatal', errorClass: 'config', cause });
}

// bigint (int8) columns hold epoch ms and sizes: well inside Number's exact range.
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === 20 ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
};

function poolConfig(o: { url: string; schema: string; max?: number }): pg.PoolConfig {
  return {
    connectionString: o.url,
    max: o.max ?? 10,
    // search_path pins every statement to the deployment's schema; READ COMMITTED is what SKIP LOCKED
    // claims are designed for (and the server default, stated here so a changed default cannot bite).
    options: `-c search_path=${o.schema} -c default_transaction_isolation=read\\ committed`,
    types,
    connectionTimeoutMillis: 10_000,
    application_name: 'constellr-sync',
  };
}

export const POSTGRES_MIGRATIONS_DIR = path.join(MIGRATIONS_DIR, 'postgres');

export interface MigrateResult {
  from: number;
  to: number;
  applied: string[];
}

/**
 * Bring `schema` to the latest migration, under a session advisory lock keyed by the schema so that
 * replicas starting together migrate once. Refuses a schema migrated by a newer constellr-sync.
 */
export async function migratePostgres(pool: pg.Pool, schema: string, migrations: Migration[] = loadMigrations(POSTGRES_MIGRATIONS_DIR)): Promise<MigrateResult> {
  assertSchemaName(schema);
  const latest = migrations.length === 0 ? 0 : migrations[migrations.length - 1]!.version;
  const client = await pool.connect();
  try {
    await client.query('SELECT pg_advisory_lock(hashtext($1))', [`constellr-sync/migrate/${schema}`]);
    try {
      await client.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
      await client.query(
        `CREATE TABLE IF NOT EXISTS "${schema}".schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`,
      );
      const from = await currentVersion(client, schema);
      if (from > latest) throw tooNew(from, latest);
      const applied: string[] = [];
      for (const m of migrations.filter((x) => x.version > from)) {
        await client.query('BEGIN');
        try {
          await client.query(`SET LOCAL search_path = "${schema}"`);
          await client.query(m.sql);
          await client.query(`INSERT INTO "${schema}".schema_migrations (version, name) VALUES ($1, $2)`, [m.version, m.name]);
          await client.query('COMMIT');
        } catch (e) {
          await client.query('ROLLBACK').catch(() => undefined);
          throw storeError(`PostgreSQL migration ${m.name} failed: ${(e as Error).message}`, 'SYNC_STORE_MIGRATE', e);
        }
        applied.push(m.name);
      }
      return { from, to: Math.max(from, latest), applied };
    } finally {
      await client.query('SELECT pg_advisory_unlock(hashtext($1))', [`constellr-sync/migrate/${schema}`]).catch(() => undefined);
    }
  } finally {
    client.release();
  }
}

function tooNew(current: number, latest: number): SyncError {
  return storeError(
    `the PostgreSQL state has schema version ${current}, written by a newer constellr-sync (this one knows up to ${latest}); upgrade constellr-sync or use another schema`,
    'SYNC_STORE_TOO_NEW',
  );
}

async function currentVersion(client: pg.PoolClient | pg.Pool, schema: string): Promise<number> {
  const r = await client.query<{ v: number | null }>(`SELECT max(version) AS v FROM "${schema}".schema_migrations`);
  return r.rows[0]?.v ?? 0;
}

/** Version of `schema`, or null when it was never migrated. */
export async function postgresSchemaVersion(pool: pg.Pool, schema: string): Promise<number | null> {
  const r = await pool.query<{ t: string | null }>('SELECT to_regclass($1) AS t', [`"${schema}".schema_migrations`]);
  if (!r.rows[0]?.t) return null;
  return currentVersion(pool, schema);
}

interface ClaimRow {
  id: number;
  key: string;
  remote_modified_ms: number;
  remote_size: number;
  remote_etag: string | null;
  revision: number;
  attempts: number;
  lease_token: string;
  lease_until: number;
  local_path: string | null;
  locator: string | null;
}

export class PostgresStore implements StateStore {
  readonly backend = 'postgres' as const;
  readonly pool: pg.Pool;
  readonly schema: string;
  readonly #o: PostgresStoreOptions;
  readonly #clock: () => number;
  #wakeSubs = new Set<() => void>();
  #listener: pg.Client | null = null;
  #listenRetry: NodeJS.Timeout | null = null;
  #listenBackoff = 500;
  #closed = false;

  private constructor(pool: pg.Pool, o: PostgresStoreOptions) {
    this.pool = pool;
    this.schema = o.schema;
    this.#o = o;
    this.#clock = o.clock ?? Date.now;
  }

  /** Connect, migrate (unless readonly) and return the store. Returns null when readonly and never migrated. */
  static async open(o: PostgresStoreOptions): Promise<PostgresStore | null> {
    assertSchemaName(o.schema);
    const pool = new Pool(poolConfig({ url: o.url, schema: o.schema, max: o.poolSize }));
    // An idle client's error (server restart) must not crash the process; the pool replaces it.
    pool.on('error', (e) => o.onError?.('idle PostgreSQL connection failed', e));
    try {
      const migrations = loadMigrations(POSTGRES_MIGRATIONS_DIR);
      const latest = migrations.at(-1)?.version ?? 0;
      if (o.readonly) {
        const v = await postgresSchemaVersion(pool, o.schema);
        if (v === null) {
          await pool.end();
          return null;
        }
        if (v > latest) throw tooNew(v, latest);
        if (v < latest)
          throw storeError(`the PostgreSQL state needs migration (version ${v} < ${latest}); run "constellr-sync migrate" or start the daemon once`, 'SYNC_STORE_OLD');
      } else {
        await migratePostgres(pool, o.schema, migrations);
      }
    } catch (e) {
      await pool.end().catch(() => undefined);
      if (e instanceof SyncError) throw e;
      throw storeError(`cannot open the PostgreSQL state at ${redactDatabaseUrl(o.url)} (schema ${o.schema}): ${(e as Error).message}`, 'SYNC_STORE_OPEN', e);
    }
    return new PostgresStore(pool, o);
  }

  async #q<R extends pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<pg.QueryResult<R>> {
    return this.pool.query<R>(sql, params);
  }

  /** Several statements in one READ COMMITTED transaction on one pooled connection. */
  async #tx<T>(fn: (q: <R extends pg.QueryResultRow>(sql: string, params?: unknown[]) => Promise<pg.QueryResult<R>>) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      const out = await fn((sql, params = []) => client.query(sql, params));
      await client.query('COMMIT');
      return out;
    } catch (e) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw e;
    } finally {
      client.release();
    }
  }

  get #sinks(): OutboxSink[] {
    return [...new Set(this.#o.outboxSinks ?? [])];
  }

  async #notify(): Promise<void> {
    await this.#q('SELECT pg_notify($1, $2)', [NOTIFY_CHANNEL, this.schema]);
  }

  async getCursor(): Promise<Cursor> {
    const r = (await this.#q<Record<string, number | string | null>>('SELECT * FROM cursor WHERE id = 1')).rows[0]!;
    return {
      hwmMs: r.hwm_ms as number | null,
      pollStartedAt: r.poll_started_at as number | null,
      pollFinishedAt: r.poll_finished_at as number | null,
      pollError: r.poll_error as string | null,
      pollErrorClass: r.poll_error_class as string | null,
      pollErrorAt: r.poll_error_at as number | null,
      clockSkewMs: r.clock_skew_ms === null || r.clock_skew_ms === undefined ? null : Number(r.clock_skew_ms),
      clockSkewAt: r.clock_skew_at === null || r.clock_skew_at === undefined ? null : Number(r.clock_skew_at),
      sourceInfo: (r.source_info as string | null | undefined) ?? null,
    };
  }

  async startPoll(_now: number): Promise<void> {
    await this.#q(`UPDATE cursor SET poll_started_at = ${NOW} WHERE id = 1`);
  }

  async upsertPage(items: readonly RemoteAsset[], _now: number): Promise<UpsertResult> {
    const result: UpsertResult = { inserted: 0, changed: 0, unchanged: 0 };
    if (items.length === 0) return result;
    // One statement per page (one transaction). ON CONFLICT cannot touch a row twice in one
    // statement, so a key repeated within the page keeps its last listing (counted unchanged).
    const byKey = new Map<string, RemoteAsset>();
    for (const it of items) byKey.set(it.key, it);
    result.unchanged += items.length - byKey.size;
    const list = [...byKey.values()];
    const r = await this.#tx(async (q) => {
      // A key marked deleted_remote that is listed again is tracked again (and fetched again if its file was removed).
      await q(
        `UPDATE jobs SET remote_deleted_at = NULL, local_removed = NULL,
           state = CASE WHEN local_removed IS NOT NULL AND state = 'done' THEN 'queued' ELSE state END,
           attempts = CASE WHEN local_removed IS NOT NULL AND state = 'done' THEN 0 ELSE attempts END,
           run_at = CASE WHEN local_removed IS NOT NULL AND state = 'done' THEN ${NOW} ELSE run_at END,
           updated_at = ${NOW}
         WHERE key = ANY($1::text[]) AND remote_deleted_at IS NOT NULL`,
        [list.map((i) => i.key)],
      );
      const ins = await q<{ revision: number }>(
      `INSERT INTO jobs AS j (key, remote_modified_ms, remote_size, remote_etag, locator, state, run_at, created_at, updated_at)
       SELECT k, lm, sz, et, loc, 'queued', t.now, t.now, t.now
         FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[], $5::text[]) AS u(k, lm, sz, et, loc), (SELECT ${NOW} AS now) t
       ON CONFLICT (key) DO UPDATE SET
         locator = excluded.locator,
         remote_modified_ms = excluded.remote_modified_ms,
         remote_size = excluded.remote_size,
         remote_etag = excluded.remote_etag,
         revision = j.revision + 1,
         state = CASE WHEN j.state = 'running' THEN 'running' ELSE 'queued' END,
         attempts = CASE WHEN j.state = 'running' THEN j.attempts ELSE 0 END,
         run_at = excluded.run_at,
         error_class = NULL, error_status = NULL, error_message = NULL,
         updated_at = excluded.updated_at
       WHERE j.remote_modified_ms IS DISTINCT FROM excluded.remote_modified_ms
          OR j.remote_size IS DISTINCT FROM excluded.remote_size
          OR (excluded.remote_etag IS NOT NULL AND j.remote_etag IS NOT NULL AND excluded.remote_etag IS DISTINCT FROM j.remote_etag)
          OR j.state = 'gone'
       RETURNING revision`,
      [list.map((i) => i.key), list.map((i) => i.lastModifiedMs), list.map((i) => i.size), list.map((i) => i.etag), list.map((i) => i.locator ?? null)],
      );
      // A new pre-signed href (or expiry) of an unchanged version is no new version: only the locator moves.
      const located = list.filter((i) => i.locator);
      if (located.length > 0)
        await q(
          `UPDATE jobs j SET locator = u.loc FROM unnest($1::text[], $2::text[]) AS u(k, loc)
           WHERE j.key = u.k AND j.locator IS DISTINCT FROM u.loc`,
          [located.map((i) => i.key), located.map((i) => i.locator)],
        );
      return ins;
    });
    for (const row of r.rows) {
      if (row.revision === 0) result.inserted++;
      else result.changed++;
    }
    result.unchanged += list.length - r.rows.length;
    if (r.rows.length > 0) await this.#notify();
    return result;
  }

  async finishPoll(hwmMs: number | null, _now: number, opts: FinishPollOptions = {}): Promise<void> {
    // The mark only moves forward, except down to $2 (the server's clock): a mark in the future is a bug to repair.
    await this.#q(
      `UPDATE cursor SET hwm_ms = LEAST($2::bigint, CASE WHEN $1::bigint IS NULL THEN hwm_ms WHEN hwm_ms IS NULL OR $1::bigint > hwm_ms THEN $1::bigint ELSE hwm_ms END),
         clock_skew_ms = COALESCE($3::bigint, clock_skew_ms), clock_skew_at = CASE WHEN $3::bigint IS NULL THEN clock_skew_at ELSE ${NOW} END,
         poll_finished_at = ${NOW}, poll_error = NULL, poll_error_class = NULL, poll_error_at = NULL WHERE id = 1`,
      [hwmMs, opts.capMs ?? null, opts.clockSkewMs ?? null],
    );
  }

  async setSourceInfo(info: string): Promise<void> {
    await this.#q('UPDATE cursor SET source_info = $1 WHERE id = 1', [info]);
  }

  async failPoll(message: string, errorClass: string, _now: number): Promise<void> {
    await this.#q(`UPDATE cursor SET poll_error = $1, poll_error_class = $2, poll_error_at = ${NOW} WHERE id = 1`, [message, errorClass]);
  }

  async claim(n: number, opts: ClaimOptions): Promise<ClaimedJob[]> {
    const token = newLeaseToken();
    // SKIP LOCKED: rows another replica is claiming right now are passed over, not waited for. The
    // outer UPDATE re-checks nothing: the CTE's row locks are ours until the statement commits.
    const r = await this.#q<ClaimRow>(
      `WITH t AS (SELECT ${NOW} AS now),
       c AS (
         SELECT id FROM jobs, t WHERE state = 'queued' AND run_at <= t.now
         ORDER BY ${ORDER_SQL[opts.order]} LIMIT $1 FOR UPDATE OF jobs SKIP LOCKED
       )
       UPDATE jobs j SET state = 'running', attempts = j.attempts + 1, lease_owner = $2, lease_token = $3,
         lease_until = t.now + $4::bigint, claimed_revision = j.revision, started_at = t.now, updated_at = t.now
       FROM c, t WHERE j.id = c.id
       RETURNING j.id, j.key, j.remote_modified_ms, j.remote_size, j.remote_etag, j.revision, j.attempts, j.lease_token, j.lease_until, j.local_path, j.locator`,
      [n, opts.owner, token, Math.max(0, Math.round(opts.leaseMs))],
    );
    return r.rows.map(rowToClaimed);
  }

  async heartbeat(id: number, token: string, leaseUntil: number, now: number): Promise<boolean> {
    const r = await this.#q(`UPDATE jobs SET lease_until = ${NOW} + $3::bigint, updated_at = ${NOW} WHERE id = $1 AND lease_token = $2 AND state = 'running'`, [
      id,
      token,
      Math.max(0, Math.round(leaseUntil - now)),
    ]);
    return r.rowCount === 1;
  }

  async complete(id: number, token: string, r: CompleteInput): Promise<CompleteOutcome> {
    const outcome = await this.#complete((sql, params) => this.#q(sql, params), id, token, r);
    if (outcome === 'requeued') await this.#notify();
    return outcome;
  }

  async commitPlaced(id: number, token: string, place: () => Promise<void>, r: CompleteInput & { leaseUntil: number }): Promise<PlacedOutcome> {
    // The row lock taken with the lease check is held across the rename and the commit: a sweep, a
    // claim by another replica or its commit waits for it, so a stall between check and rename can
    // no longer let a newer version land first and then be overwritten by this one.
    const res = await this.#tx(async (q) => {
      const held = await q(`SELECT id FROM jobs WHERE id = $1 AND lease_token = $2 AND state = 'running' FOR UPDATE`, [id, token]);
      if (held.rowCount !== 1) return { placed: false, outcome: 'lost' as const };
      await place();
      return { placed: true, outcome: await this.#complete(q, id, token, r) };
    });
    if (res.outcome === 'requeued') await this.#notify();
    return res;
  }

  async requeueStale(id: number, _now: number): Promise<boolean> {
    const r = await this.#q(
      `UPDATE jobs SET revision = revision + 1,
         state = CASE WHEN state = 'running' THEN 'running' ELSE 'queued' END,
         attempts = CASE WHEN state = 'running' THEN attempts ELSE 0 END,
         run_at = ${NOW}, updated_at = ${NOW},
         error_class = CASE WHEN state = 'running' THEN error_class ELSE 'stale_file' END,
         error_message = CASE WHEN state = 'running' THEN error_message
           ELSE 'a worker that had lost its lease renamed an older version into place; fetched again' END
       WHERE id = $1`,
      [id],
    );
    if (r.rowCount === 1) await this.#notify();
    return r.rowCount === 1;
  }

  async #complete(
    q: <R extends pg.QueryResultRow>(sql: string, params?: unknown[]) => Promise<pg.QueryResult<R>>,
    id: number,
    token: string,
    r: CompleteInput,
  ): Promise<CompleteOutcome> {
    const short = r.shortened === undefined ? null : r.shortened ? 1 : 0;
    // One statement: the done row and its notification rows (one per sink) commit together. Every CTE
    // sees the same snapshot, so `prior` is the row before the update (created vs updated).
    const sinks = r.localPath.endsWith('/') ? [] : this.#sinks;
    const res = await q<{ state: string }>(
      `WITH prior AS (SELECT key, remote_modified_ms, local_path FROM jobs WHERE id = $1 AND lease_token = $2),
       upd AS (
         UPDATE jobs SET
           state = CASE WHEN revision = claimed_revision THEN 'done' ELSE 'queued' END,
           attempts = CASE WHEN revision = claimed_revision THEN attempts ELSE 0 END,
           run_at = ${NOW}, finished_at = ${NOW}, updated_at = ${NOW},
           local_path = $3, local_modified_ms = remote_modified_ms, bytes_written = $4, sha256 = $5,
           mirror_path = $3, shortened = coalesce($6::integer, shortened),
           lease_owner = NULL, lease_token = NULL, lease_until = NULL,
           error_class = NULL, error_status = NULL, error_message = NULL
         WHERE id = $1 AND lease_token = $2 AND state = 'running'
         RETURNING state),
       ev AS (
         INSERT INTO outbox (sink, event, key, path, size, last_modified_ms, sha256, run_at, created_at, updated_at)
         SELECT s, CASE WHEN prior.local_path IS NULL THEN 'created' ELSE 'updated' END, prior.key, $3, $4,
                prior.remote_modified_ms, NULLIF($5, ''), ${NOW}, ${NOW}, ${NOW}
         FROM upd, prior, unnest($7::text[]) AS s WHERE upd.state = 'done')
       SELECT state FROM upd`,
      [id, token, r.localPath, r.bytes, r.sha256, short, sinks],
    );
    const row = res.rows[0];
    if (!row) return 'lost';
    return row.state === 'done' ? 'done' : 'requeued';
  }

  async retryLater(id: number, token: string, r: { runAt: number; error: JobError; now: number; consumeAttempt: boolean }): Promise<RetryOutcome> {
    const delay = Math.max(0, Math.round(r.runAt - r.now));
    const res = await this.#q<{ state: string }>(
      `UPDATE jobs SET
         attempts = CASE WHEN revision <> claimed_revision THEN 0
                         WHEN $3::boolean THEN attempts ELSE GREATEST(0, attempts - 1) END,
         state = CASE WHEN revision <> claimed_revision THEN 'queued'
                      WHEN $3::boolean AND attempts >= $4 THEN 'failed' ELSE 'queued' END,
         run_at = CASE WHEN revision <> claimed_revision THEN ${NOW} ELSE ${NOW} + $5::bigint END,
         finished_at = CASE WHEN $3::boolean AND attempts >= $4 AND revision = claimed_revision THEN ${NOW} ELSE finished_at END,
         error_class = $6, error_status = $7, error_message = $8, updated_at = ${NOW},
         lease_owner = NULL, lease_token = NULL, lease_until = NULL
       WHERE id = $1 AND lease_token = $2 AND state = 'running'
       RETURNING state`,
      [id, token, r.consumeAttempt, this.#o.maxAttempts, delay, r.error.errorClass, r.error.status ?? null, r.error.message],
    );
    const row = res.rows[0];
    if (!row) return 'lost';
    if (row.state === 'failed') return 'failed';
    if (delay === 0) await this.#notify();
    return 'queued';
  }

  async #final(state: 'failed' | 'gone', id: number, token: string, e: JobError): Promise<boolean> {
    const r = await this.#q(
      `UPDATE jobs SET
         state = CASE WHEN revision <> claimed_revision THEN 'queued' ELSE $3 END,
         attempts = CASE WHEN revision <> claimed_revision THEN 0 ELSE attempts END,
         run_at = ${NOW}, finished_at = ${NOW}, updated_at = ${NOW},
         error_class = $4, error_status = $5, error_message = $6,
         lease_owner = NULL, lease_token = NULL, lease_until = NULL
       WHERE id = $1 AND lease_token = $2 AND state = 'running'`,
      [id, token, state, e.errorClass, e.status ?? null, e.message],
    );
    return r.rowCount === 1;
  }

  async fail(id: number, token: string, error: JobError, _now: number): Promise<boolean> {
    return this.#final('failed', id, token, error);
  }

  async markGone(id: number, token: string, error: JobError, _now: number): Promise<boolean> {
    return this.#final('gone', id, token, error);
  }

  async release(id: number, token: string, _now: number): Promise<boolean> {
    const r = await this.#q(
      `UPDATE jobs SET state = 'queued', attempts = GREATEST(0, attempts - 1), run_at = ${NOW}, updated_at = ${NOW},
         lease_owner = NULL, lease_token = NULL, lease_until = NULL
       WHERE id = $1 AND lease_token = $2 AND state = 'running'`,
      [id, token],
    );
    if (r.rowCount === 1) await this.#notify();
    return r.rowCount === 1;
  }

  /**
   * SKIP LOCKED: a row locked by a worker committing its rename (commitPlaced) is passed over, never
   * waited for; if its lease really expired, a later sweep takes it once that commit is over.
   */
  async #requeueExpired(): Promise<number> {
    const r = await this.#q(
      `UPDATE jobs SET
         state = CASE WHEN attempts >= $1 THEN 'failed' ELSE 'queued' END,
         finished_at = CASE WHEN attempts >= $1 THEN ${NOW} ELSE finished_at END,
         error_class = CASE WHEN attempts >= $1 THEN 'interrupted' ELSE error_class END,
         error_message = CASE WHEN attempts >= $1
           THEN 'the download was interrupted ' || attempts || ' times (the process died or its lease expired each time)'
           ELSE error_message END,
         run_at = ${NOW}, updated_at = ${NOW}, lease_owner = NULL, lease_token = NULL, lease_until = NULL
       WHERE id IN (SELECT id FROM jobs WHERE state = 'running' AND lease_until < ${NOW} FOR UPDATE SKIP LOCKED)`,
      [this.#o.maxAttempts],
    );
    const n = r.rowCount ?? 0;
    if (n > 0) await this.#notify();
    return n;
  }

  /**
   * Start-up recovery. Unlike SQLite (one process owns the file), a running row here may belong to a
   * live replica, so only expired leases are requeued; a dead replica's jobs follow once theirs expire.
   */
  async requeueOrphans(_now: number): Promise<number> {
    return this.#requeueExpired();
  }

  async sweepExpiredLeases(_now: number): Promise<number> {
    return this.#requeueExpired();
  }

  async counts(): Promise<Record<JobState, number>> {
    const out = Object.fromEntries(JOB_STATES.map((s) => [s, 0])) as Record<JobState, number>;
    const r = await this.#q<{ state: JobState; n: number }>('SELECT state, count(*) AS n FROM jobs GROUP BY state');
    for (const row of r.rows) out[row.state] = row.n;
    return out;
  }

  async bytesByState(): Promise<Record<JobState, number>> {
    const out = Object.fromEntries(JOB_STATES.map((s) => [s, 0])) as Record<JobState, number>;
    const r = await this.#q<{ state: JobState; b: string | number }>('SELECT state, coalesce(sum(remote_size), 0) AS b FROM jobs GROUP BY state');
    for (const row of r.rows) out[row.state] = Number(row.b);
    return out;
  }

  async recentFailures(limit: number): Promise<Job[]> {
    const r = await this.#q<JobRow>("SELECT * FROM jobs WHERE state = 'failed' ORDER BY finished_at DESC, id DESC LIMIT $1", [limit]);
    return r.rows.map(rowToJob);
  }

  async problemJobs(limit: number): Promise<Job[]> {
    const now = this.#clock();
    const r = await this.#q<JobRow & { d: number }>(
      // index-friendly parts (see the SQLite store): failed, gone, and retrying among the newest run_at
      `SELECT *, run_at - ${NOW} AS d FROM (
         (SELECT * FROM jobs WHERE state = 'failed' ORDER BY finished_at DESC, id DESC LIMIT $1)
         UNION ALL (SELECT * FROM jobs WHERE state = 'gone' ORDER BY updated_at DESC, id DESC LIMIT $1)
         UNION ALL (SELECT * FROM (SELECT * FROM jobs WHERE state = 'queued' ORDER BY run_at DESC LIMIT 5000) q
                    WHERE attempts > 0 AND error_class IS NOT NULL ORDER BY updated_at DESC, id DESC LIMIT $1)
       ) p ORDER BY updated_at DESC, id DESC LIMIT $1`,
      [limit],
    );
    // run_at is in the database's time base; the caller's is the host clock
    return r.rows.map((row) => ({ ...rowToJob(row), runAt: now + Number(row.d) }));
  }

  async getJob(key: string): Promise<Job | null> {
    const r = await this.#q<JobRow>('SELECT * FROM jobs WHERE key = $1', [key]);
    return r.rows[0] ? rowToJob(r.rows[0]) : null;
  }

  /** In the caller's time base: the host clock plus how far the database says the next job is. */
  async nextRunAt(): Promise<number | null> {
    const r = await this.#q<{ d: number | null }>(`SELECT min(run_at) - ${NOW} AS d FROM jobs WHERE state = 'queued'`);
    const d = r.rows[0]?.d ?? null;
    return d === null ? null : this.#clock() + d;
  }

  async tryAcquirePollerLease(owner: string, ttlMs: number): Promise<boolean> {
    const r = await this.#q(
      `INSERT INTO leases AS l (name, owner, until_ms, acquired_at) VALUES ('poller', $1, ${NOW} + $2::bigint, ${NOW})
       ON CONFLICT (name) DO UPDATE SET
         owner = excluded.owner,
         until_ms = excluded.until_ms,
         acquired_at = CASE WHEN l.owner = excluded.owner THEN l.acquired_at ELSE excluded.acquired_at END,
         takeovers = l.takeovers + CASE WHEN l.owner = excluded.owner THEN 0 ELSE 1 END
       WHERE l.owner = excluded.owner OR l.until_ms < excluded.acquired_at`,
      [owner, Math.max(1, Math.round(ttlMs))],
    );
    return r.rowCount === 1;
  }

  async releasePollerLease(owner: string): Promise<void> {
    await this.#q("UPDATE leases SET until_ms = 0 WHERE name = 'poller' AND owner = $1", [owner]);
  }

  /** LISTEN on a dedicated connection; reconnects with backoff. Polling stays the fallback. */
  onJobsAvailable(fn: () => void): () => void {
    this.#wakeSubs.add(fn);
    if (!this.#listener && !this.#listenRetry) void this.#listen();
    return () => {
      this.#wakeSubs.delete(fn);
    };
  }

  async #listen(): Promise<void> {
    this.#listenRetry = null;
    if (this.#closed || this.#wakeSubs.size === 0) return;
    const client = new Client({ connectionString: this.#o.url, application_name: 'constellr-sync-listen', connectionTimeoutMillis: 10_000 });
    this.#listener = client;
    const retry = (e: unknown) => {
      if (this.#listener !== client) return;
      this.#listener = null;
      client.removeAllListeners('notification');
      void client.end().catch(() => undefined);
      if (this.#closed) return;
      this.#o.onError?.('LISTEN connection lost; falling back to polling until it is back', e);
      this.#listenRetry = setTimeout(() => void this.#listen(), this.#listenBackoff);
      this.#listenRetry.unref();
      this.#listenBackoff = Math.min(30_000, this.#listenBackoff * 2);
    };
    client.on('error', retry);
    client.on('end', () => retry(new Error('connection ended')));
    client.on('notification', (msg) => {
      if (msg.channel !== NOTIFY_CHANNEL || msg.payload !== this.schema) return;
      for (const f of this.#wakeSubs) f();
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${NOTIFY_CHANNEL}`);
      this.#listenBackoff = 500;
      // Anything queued while we were not listening is found by the pool's idle polling anyway.
      for (const f of this.#wakeSubs) f();
    } catch (e) {
      retry(e);
    }
  }

  // --- operator controls ---

  async requeueFailed(sel: RequeueSelection, _now: number): Promise<number> {
    // the error stays in the row until the next attempt overwrites it (status shows why it failed)
    const keys = sel.keys === undefined ? null : [...new Set(sel.keys)];
    const r = await this.#q(
      `UPDATE jobs SET state = 'queued', attempts = 0, run_at = ${NOW}, updated_at = ${NOW}, finished_at = NULL
       WHERE state = 'failed' AND ($1::text[] IS NULL OR key = ANY($1::text[])) AND ($2::text IS NULL OR error_class = $2)`,
      [keys, sel.errorClass ?? null],
    );
    if ((r.rowCount ?? 0) > 0) await this.#notify();
    return r.rowCount ?? 0;
  }

  async jobBriefs(states: readonly JobState[]): Promise<JobBrief[]> {
    const now = this.#clock();
    const r = await this.#q<{ key: string; state: JobState; remote_size: number; d: number; local_path: string | null }>(
      `SELECT key, state, remote_size, run_at - ${NOW} AS d, local_path FROM jobs WHERE state = ANY($1::text[]) ORDER BY state, id`,
      [[...new Set(states)]],
    );
    // grouped by state in the order asked, like SQLite
    const order = [...new Set(states)];
    return r.rows
      .sort((a, b) => order.indexOf(a.state) - order.indexOf(b.state))
      .map((x) => ({ key: x.key, state: x.state, remoteSize: x.remote_size, runAt: now + x.d, localPath: x.local_path }));
  }

  async backlog(): Promise<{ jobs: number; bytes: number }> {
    const r = await this.#q<{ n: number; b: string | number }>("SELECT count(*) AS n, coalesce(sum(greatest(remote_size, 0)), 0) AS b FROM jobs WHERE state IN ('queued', 'running')");
    return { jobs: r.rows[0]!.n, bytes: Number(r.rows[0]!.b) };
  }

  async mirrorTotals(): Promise<{ bytes: Record<JobState, number>; lastDoneAt: number | null }> {
    const bytes = Object.fromEntries(JOB_STATES.map((s) => [s, 0])) as Record<JobState, number>;
    let lastDoneAt: number | null = null;
    const r = await this.#q<{ state: JobState; b: string | number; f: string | number | null }>('SELECT state, coalesce(sum(remote_size), 0) AS b, max(finished_at) AS f FROM jobs GROUP BY state');
    for (const row of r.rows) {
      bytes[row.state] = Number(row.b);
      if (row.state === 'done') lastDoneAt = row.f === null ? null : Number(row.f);
    }
    return { bytes, lastDoneAt };
  }

  // --- notification outbox (leases on the database's clock, claims with SKIP LOCKED) ---

  async recordEvent(e: OutboxEventInput, _now: number): Promise<number> {
    const sinks = this.#sinks;
    if (sinks.length === 0) return 0;
    await this.#q(
      `INSERT INTO outbox (sink, event, key, path, size, last_modified_ms, sha256, run_at, created_at, updated_at)
       SELECT s, $1, $2, $3, $4, $5, $6, ${NOW}, ${NOW}, ${NOW} FROM unnest($7::text[]) AS s`,
      [e.event, e.key, e.path, e.size, e.lastModifiedMs, e.sha256, sinks],
    );
    return sinks.length;
  }

  async claimOutbox(sink: OutboxSink, n: number, now: number, leaseUntil: number): Promise<OutboxItem[]> {
    const r = await this.#q<{
      id: number;
      sink: OutboxSink;
      event: OutboxItem['event'];
      key: string;
      path: string | null;
      size: number | null;
      last_modified_ms: number | null;
      sha256: string | null;
      attempts: number;
      created_at: number;
    }>(
      `WITH t AS (SELECT ${NOW} AS now),
       c AS (SELECT id FROM outbox, t WHERE sink = $1 AND state = 'pending' AND run_at <= t.now
               AND (lease_until IS NULL OR lease_until <= t.now) ORDER BY id LIMIT $2 FOR UPDATE OF outbox SKIP LOCKED)
       UPDATE outbox o SET attempts = o.attempts + 1, lease_until = t.now + $3::bigint, updated_at = t.now
       FROM c, t WHERE o.id = c.id
       RETURNING o.id, o.sink, o.event, o.key, o.path, o.size, o.last_modified_ms, o.sha256, o.attempts, o.created_at`,
      [sink, n, Math.max(0, Math.round(leaseUntil - now))],
    );
    return r.rows
      .sort((a, b) => a.id - b.id)
      .map(rowToOutboxItem);
  }

  async ackOutbox(id: number): Promise<void> {
    await this.#q('DELETE FROM outbox WHERE id = $1', [id]);
  }

  async nackOutbox(id: number, r: { runAt: number; error: string; maxAttempts: number; now: number }): Promise<'retry' | 'failed'> {
    const res = await this.#q<{ state: string }>(
      `UPDATE outbox SET state = CASE WHEN attempts >= $2 THEN 'failed' ELSE 'pending' END,
         run_at = ${NOW} + $3::bigint, lease_until = NULL, last_error = $4, updated_at = ${NOW}
       WHERE id = $1 RETURNING state`,
      [id, r.maxAttempts, Math.max(0, Math.round(r.runAt - r.now)), r.error.slice(0, 2000)],
    );
    return res.rows[0]?.state === 'failed' ? 'failed' : 'retry';
  }

  /** Only expired leases: a delivery in flight may belong to a live replica. */
  async releaseOutboxLeases(_now: number): Promise<number> {
    const r = await this.#q(`UPDATE outbox SET lease_until = NULL WHERE state = 'pending' AND lease_until IS NOT NULL AND lease_until <= ${NOW}`);
    return r.rowCount ?? 0;
  }

  async nextOutboxAt(sink: OutboxSink): Promise<number | null> {
    const r = await this.#q<{ d: number | null }>(
      `SELECT min(GREATEST(run_at, coalesce(lease_until, 0))) - ${NOW} AS d FROM outbox WHERE sink = $1 AND state = 'pending'`,
      [sink],
    );
    const d = r.rows[0]?.d ?? null;
    return d === null ? null : this.#clock() + d;
  }

  async pruneOutbox(r: { failedRetentionMs: number; sinks: readonly OutboxSink[]; now: number }): Promise<OutboxPruned> {
    return this.#tx(async (q) => {
      const unconfigured: OutboxPruned['unconfigured'] = {};
      const gone = await q<{ sink: OutboxSink; n: number }>(
        `WITH d AS (DELETE FROM outbox WHERE NOT (sink = ANY($1::text[])) RETURNING sink) SELECT sink, count(*)::integer AS n FROM d GROUP BY sink`,
        [[...new Set(r.sinks)]],
      );
      for (const g of gone.rows) unconfigured[g.sink] = g.n;
      const failed = await q(`DELETE FROM outbox WHERE state = 'failed' AND updated_at < ${NOW} - $1::bigint`, [Math.max(0, Math.round(r.failedRetentionMs))]);
      return { failed: failed.rowCount ?? 0, unconfigured };
    });
  }

  async outboxCounts(): Promise<Record<OutboxSink, OutboxCounts>> {
    const out: Record<OutboxSink, OutboxCounts> = { hook: { pending: 0, failed: 0 }, webhook: { pending: 0, failed: 0 } };
    const r = await this.#q<{ sink: OutboxSink; state: 'pending' | 'failed'; n: number }>('SELECT sink, state, count(*) AS n FROM outbox GROUP BY sink, state');
    for (const x of r.rows) out[x.sink][x.state] = x.n;
    return out;
  }

  // --- mirror layout: path reservations, conflicts, reconcile, verify, manifest ---

  async reservePath(id: number, token: string, r: { mirrorPath: string; pathFold: string }): Promise<PathReservation> {
    return this.#tx(async (q) => {
      // Serialize reservations of one folded path across replicas (released at commit).
      await q('SELECT pg_advisory_xact_lock(hashtext($1))', [`constellr-sync/path/${this.schema}/${r.pathFold}`]);
      const holder = await q<{ key: string; mirror_path: string }>(
        `SELECT key, mirror_path FROM jobs
         WHERE path_fold = $1 AND id <> $2 AND (state IN ('done', 'running') OR local_path IS NOT NULL)
         ORDER BY (state = 'done') DESC, finished_at LIMIT 1`,
        [r.pathFold, id],
      );
      const h = holder.rows[0];
      if (h) return { ok: true, owner: { key: h.key, mirrorPath: h.mirror_path } };
      const u = await q(`UPDATE jobs SET mirror_path = $1, path_fold = $2 WHERE id = $3 AND lease_token = $4 AND state = 'running'`, [
        r.mirrorPath,
        r.pathFold,
        id,
        token,
      ]);
      return { ok: u.rowCount === 1, owner: null };
    });
  }

  async findPathOwner(r: { relPath: string; pathFold: string }, excludeKey: string): Promise<string | null> {
    const res = await this.#q<{ key: string }>(
      `SELECT key FROM jobs
       WHERE key <> $3 AND mirror_path IS NOT NULL AND (state IN ('done', 'running') OR local_path IS NOT NULL)
         AND (mirror_path = $1 OR mirror_path = $1 || '/' OR substr(mirror_path, 1, length($1) + 1) = $1 || '/'
              OR path_fold = $2 OR path_fold = $2 || '/' OR substr(path_fold, 1, length($2) + 1) = $2 || '/')
       ORDER BY (state = 'done') DESC, finished_at LIMIT 1`,
      [r.relPath, r.pathFold, excludeKey],
    );
    return res.rows[0]?.key ?? null;
  }

  async skip(id: number, token: string, error: JobError, _now: number): Promise<boolean> {
    const r = await this.#q(
      `UPDATE jobs SET
         state = CASE WHEN revision <> claimed_revision THEN 'queued' ELSE 'done' END,
         attempts = CASE WHEN revision <> claimed_revision THEN 0 ELSE attempts END,
         run_at = ${NOW}, finished_at = ${NOW}, updated_at = ${NOW},
         local_path = NULL, mirror_path = NULL, path_fold = NULL, bytes_written = NULL, sha256 = NULL,
         error_class = $3, error_status = NULL, error_message = $4,
         lease_owner = NULL, lease_token = NULL, lease_until = NULL
       WHERE id = $1 AND lease_token = $2 AND state = 'running'`,
      [id, token, error.errorClass, error.message],
    );
    return r.rowCount === 1;
  }

  async listJobs(afterId: number, limit: number): Promise<Job[]> {
    const r = await this.#q<JobRow>('SELECT * FROM jobs WHERE id > $1 ORDER BY id LIMIT $2', [afterId, limit]);
    return r.rows.map(rowToJob);
  }

  async requeue(ids: readonly number[], error: JobError, _now: number): Promise<number> {
    const r = await this.#q(
      `UPDATE jobs SET state = 'queued', attempts = 0, run_at = ${NOW}, updated_at = ${NOW},
         error_class = $2, error_status = NULL, error_message = $3
       WHERE id = ANY($1::bigint[]) AND state <> 'running'`,
      [[...new Set(ids)], error.errorClass, error.message],
    );
    if ((r.rowCount ?? 0) > 0) await this.#notify();
    return r.rowCount ?? 0;
  }

  async startReconcile(_now: number, policy: string): Promise<number> {
    const r = await this.#q<{ id: number }>(`INSERT INTO reconciles (started_at, policy) VALUES (${NOW}, $1) RETURNING id`, [policy]);
    return r.rows[0]!.id;
  }

  async markListed(keys: readonly string[], reconcileId: number, _now: number): Promise<void> {
    await this.#q(
      `UPDATE jobs SET seen_reconcile = $2,
         remote_deleted_at = CASE WHEN local_removed IS NULL THEN NULL ELSE remote_deleted_at END
       WHERE key = ANY($1::text[])`,
      [[...keys], reconcileId],
    );
  }

  async reconcileCandidates(reconcileId: number): Promise<Job[]> {
    // Rows created after the listing started may simply have appeared after it passed them.
    const r = await this.#q<JobRow>(
      `SELECT * FROM jobs
       WHERE (seen_reconcile IS NULL OR seen_reconcile <> $1) AND remote_deleted_at IS NULL AND state <> 'running'
         AND created_at < (SELECT started_at FROM reconciles WHERE id = $1)
       ORDER BY id`,
      [reconcileId],
    );
    return r.rows.map(rowToJob);
  }

  async trackedCount(): Promise<number> {
    return (await this.#q<{ n: number }>('SELECT count(*) AS n FROM jobs WHERE remote_deleted_at IS NULL')).rows[0]!.n;
  }

  async markRemoteDeleted(id: number, r: { now: number; removed: 'trash' | 'delete' | null }): Promise<boolean> {
    const res = await this.#q(
      `UPDATE jobs SET remote_deleted_at = ${NOW}, local_removed = $2::text,
         local_path = CASE WHEN $2::text IS NULL THEN local_path ELSE NULL END,
         mirror_path = CASE WHEN $2::text IS NULL THEN mirror_path ELSE NULL END,
         path_fold = CASE WHEN $2::text IS NULL THEN path_fold ELSE NULL END,
         error_class = CASE WHEN state IN ('queued', 'failed') THEN 'deleted_remote' ELSE error_class END,
         error_message = CASE WHEN state IN ('queued', 'failed') THEN 'no longer listed by the API (full reconciliation listing)' ELSE error_message END,
         state = CASE WHEN state IN ('queued', 'failed') THEN 'gone' ELSE state END,
         updated_at = ${NOW}
       WHERE id = $1 AND state <> 'running' AND remote_deleted_at IS NULL`,
      [id, r.removed],
    );
    return res.rowCount === 1;
  }

  async finishReconcile(
    id: number,
    r: { now: number; listed: number; queued: number; missing: number; applied: number; guarded: boolean; error?: { message: string; errorClass: string } },
  ): Promise<void> {
    await this.#q(
      `UPDATE reconciles SET finished_at = ${NOW}, listed = $2, queued = $3, missing = $4, applied = $5, guarded = $6, error = $7, error_class = $8 WHERE id = $1`,
      [id, r.listed, r.queued, r.missing, r.applied, r.guarded ? 1 : 0, r.error?.message ?? null, r.error?.errorClass ?? null],
    );
  }

  async lastReconcile(): Promise<ReconcileRecord | null> {
    const r = (
      await this.#q<ReconcileRow>('SELECT * FROM reconciles ORDER BY id DESC LIMIT 1')
    ).rows[0];
    return r ? rowToReconcile(r) : null;
  }

  async remoteDeletedCount(): Promise<number> {
    return (await this.#q<{ n: number }>('SELECT count(*) AS n FROM jobs WHERE remote_deleted_at IS NOT NULL')).rows[0]!.n;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#listenRetry) clearTimeout(this.#listenRetry);
    const l = this.#listener;
    this.#listener = null;
    if (l) await l.end().catch(() => undefined);
    await this.pool.end().catch(() => undefined);
  }
}
