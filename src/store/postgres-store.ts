// The PostgreSQL backend, for several replicas sharing one database. Every statement is in
// src/store/sql/*; SqlStore runs most of them as single autocommit statements (one round trip each).
// What PostgreSQL does differently is named once, here or in the dialect:
// - connections: a pool (poolConfig), and a dedicated LISTEN connection;
// - time: the database's clock (postgresDialect.now); callers pass delays, so host clock skew between
//   replicas cannot expire a lease early; toHost turns its instants into the caller's time base;
// - locks: claims lock candidate rows with FOR UPDATE SKIP LOCKED at READ COMMITTED (lockSkip), so
//   replicas never wait on each other's claims nor claim the same row; commitPlaced holds the job's
//   row lock across the rename (lockLeased); path reservations take an advisory lock, a claim after
//   its rows, reservePath after the job's row (a claim may be taking that row over: no circle);
// - transactions (#tx): a listing page (upsertPage), the commits around a rename, path reservations;
//   a completion batch is one statement (completeMany);
// - soleOwner false: start-up requeues only EXPIRED leases, a running row may be a live replica's;
// - notifications: queued work wakes the other replicas (NOTIFY, wake/onJobsAvailable), and the
//   poller lease elects one poller.
// It never loads better-sqlite3.
import pg from 'pg';
import { StoreFault, SyncError } from '../errors.js';
import type { RemoteAsset } from '../api/wire.js';
import { redactDatabaseUrl } from './database-url.js';
import { assertSchemaName, migratePostgres, poolConfig, postgresSchemaVersion, storeError, tooNew, POSTGRES_MIGRATIONS_DIR } from './postgres-migrate.js';
import { loadMigrations, newLeaseToken } from './migrations.js';
import { rowToClaimed, sizeColumn, type ClaimedRow } from './rows.js';
import { SqlStore, delayMs, type SqlExec } from './sql-store.js';
import { pgValues, postgresDialect, tableArrayParams, toPostgres, type Params, type PgStatement, type TableParam } from './sql/dialect.js';
import { claimedInOrder } from './sql/claim-jobs.js';
import type {
  BatchCompletion,
  ClaimedJob,
  CompleteBatchRow,
  LeaseRef,
  WindowOptions,
  PathWant,
  CompleteInput,
  OutboxSink,
  PathReservation,
  PlacedOutcome,
  StateStore,
  UpsertResult,
} from './types.js';

export { assertSchemaName, migratePostgres, postgresSchemaVersion, POSTGRES_MIGRATIONS_DIR, type MigrateResult } from './postgres-migrate.js';

const { Pool, Client } = pg;

/** One channel for every deployment; the payload is the schema, so listeners filter their own. */
export const NOTIFY_CHANNEL = 'constellr_sync_jobs';

type Query = <R extends pg.QueryResultRow>(sql: string, params?: Params) => Promise<pg.QueryResult<R>>;

const compiled = new Map<string, PgStatement>();
function compile(sql: string): PgStatement {
  let st = compiled.get(sql);
  if (!st) {
    st = toPostgres(sql);
    compiled.set(sql, st);
  }
  return st;
}

/**
 * The store's boundary: whatever the driver throws (a statement's SQLSTATE, a socket's ECONNREFUSED, a
 * connection that dropped) is tagged as the database's, so it is never taken for the API's (errors.ts).
 */
function fault(e: unknown): never {
  throw e instanceof SyncError || e instanceof StoreFault ? e : new StoreFault('PostgreSQL', e);
}

/** A runner of shared statements on a pool or on one client (a transaction). */
function queryOn(c: pg.Pool | pg.PoolClient): Query {
  return <R extends pg.QueryResultRow>(sql: string, params: Params = {}) => {
    const st = compile(sql);
    return c.query<R>(st.text, pgValues(st, params)).catch(fault);
  };
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


export class PostgresStore extends SqlStore implements StateStore {
  readonly backend = 'postgres' as const;
  protected readonly soleOwner = false;
  readonly pool: pg.Pool;
  readonly schema: string;
  readonly #o: PostgresStoreOptions;
  readonly #clock: () => number;
  readonly #q: Query;
  readonly #x: SqlExec;
  #wakeSubs = new Set<() => void>();
  #listener: pg.Client | null = null;
  #listenRetry: NodeJS.Timeout | null = null;
  #listenBackoff = 500;
  #closed = false;

  private constructor(pool: pg.Pool, o: PostgresStoreOptions) {
    super(postgresDialect, o);
    this.pool = pool;
    this.schema = o.schema;
    this.#o = o;
    this.#clock = o.clock ?? Date.now;
    this.#q = queryOn(pool);
    const all = async <R>(sql: string, params?: Params) => (await this.#q(sql, params)).rows as R[];
    const run = async (sql: string, params?: Params) => (await this.#q(sql, params)).rowCount ?? 0;
    const runTable = async (sql: string, t: TableParam, params: Params = {}) => run(sql, { ...params, ...tableArrayParams(t) });
    this.#x = { all, run, writing: { all, run }, runTable };
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

  protected get x(): SqlExec {
    return this.#x;
  }

  /** An offset from the database's now, in the caller's time base (the host clock). */
  protected toHost(t: number): number {
    return this.#clock() + t;
  }

  protected override async wake(): Promise<void> {
    await this.pool.query('SELECT pg_notify($1, $2)', [NOTIFY_CHANNEL, this.schema]).catch(fault);
  }

  /** Several statements in one READ COMMITTED transaction on one pooled connection. */
  async #tx<T>(fn: (q: Query) => Promise<T>): Promise<T> {
    const client = await this.pool.connect().catch(fault);
    // A checked-out client whose connection drops while no statement runs (fn renaming files between
    // two) emits 'error', and pg-pool listens only to idle clients: unheard, it is an uncaught
    // exception that ends the process. Heard here, the next statement fails (a StoreFault) and the
    // broken client is destroyed at release instead of going back to the pool.
    let lost: Error | undefined;
    const onLost = (e: Error) => {
      lost ??= e;
    };
    client.on('error', onLost);
    try {
      await client.query('BEGIN').catch(fault);
      // What fn throws itself (a rename between the statements) is not the database's: not tagged.
      const out = await fn(queryOn(client));
      await client.query('COMMIT').catch(fault);
      return out;
    } catch (e) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw e;
    } finally {
      client.off('error', onLost);
      client.release(lost);
    }
  }

  async upsertPage(items: readonly RemoteAsset[]): Promise<UpsertResult> {
    const result: UpsertResult = { inserted: 0, changed: 0, unchanged: 0 };
    if (items.length === 0) return result;
    // One statement per page (one transaction). ON CONFLICT cannot touch a row twice in one
    // statement, so a key repeated within the page keeps its last listing (counted unchanged).
    const byKey = new Map<string, RemoteAsset>();
    for (const it of items) byKey.set(it.key, it);
    result.unchanged += items.length - byKey.size;
    const list = [...byKey.values()];
    const r = await this.#tx(async (q) => {
      const l = this.q.listing;
      await q(l.undelete, { keys: list.map((i) => i.key) });
      const ins = await q<{ revision: number }>(l.insertMany, {
        keys: list.map((i) => i.key),
        lms: list.map((i) => i.lastModifiedMs),
        sizes: list.map((i) => sizeColumn(i.size)),
        etags: list.map((i) => i.etag),
        locs: list.map((i) => i.locator ?? null),
      });
      const located = list.filter((i) => i.locator);
      if (located.length > 0) await q(l.relocateMany, { keys: located.map((i) => i.key), locs: located.map((i) => i.locator) });
      return ins;
    });
    for (const row of r.rows) {
      if (row.revision === 0) result.inserted++;
      else result.changed++;
    }
    result.unchanged += list.length - r.rows.length;
    if (r.rows.length > 0) await this.wake();
    return result;
  }

  async completeBatch(rows: readonly CompleteBatchRow[]): Promise<BatchCompletion[]> {
    const out = await this.#completeBatch(this.#q, rows);
    if (out.some((r) => r.outcome === 'requeued')) await this.wake();
    return out;
  }

  async commitPlacedBatch(rows: readonly CompleteBatchRow[], place: (held: readonly number[]) => Promise<ReadonlySet<number>>, _leaseMs: number): Promise<PlacedOutcome[]> {
    // As commitPlaced, for many rows: the row locks taken with the lease checks are held across the
    // renames and the commit, so no other replica can sweep, claim or commit these jobs in between.
    const out = await this.#tx(async (q) => {
      const h = await q<{ id: number }>(this.q.complete.lockLeased, { ids: rows.map((r) => r.id), tokens: rows.map((r) => r.token) });
      const held = h.rows.map((r) => Number(r.id));
      const placed = held.length > 0 ? await place(held) : new Set<number>();
      const done = new Map((await this.#completeBatch(q, rows.filter((r) => placed.has(r.id)))).map((c) => [c.id, c.outcome]));
      return rows.map((r): PlacedOutcome => (placed.has(r.id) ? { placed: true, outcome: done.get(r.id)! } : { placed: false, outcome: 'lost' }));
    });
    if (out.some((r) => r.outcome === 'requeued')) await this.wake();
    return out;
  }

  /** The batched completion as one statement, on the pool or inside a transaction. */
  async #completeBatch(q: Query, rows: readonly CompleteBatchRow[]): Promise<BatchCompletion[]> {
    if (rows.length === 0) return [];
    // A job listed twice: only its first row can hold the lease (like completing it twice in a row).
    const first = new Map<number, CompleteBatchRow>();
    for (const r of rows) if (!first.has(r.id)) first.set(r.id, r);
    const list = [...first.values()];
    const res = await q<{ id: number; state: string }>(this.q.complete.completeMany, {
      ids: list.map((r) => r.id),
      tokens: list.map((r) => r.token),
      paths: list.map((r) => r.localPath),
      bytes: list.map((r) => r.bytes),
      shas: list.map((r) => r.sha256),
      shorts: list.map((r) => (r.shortened === undefined ? null : r.shortened ? 1 : 0)),
      sinks: this.sinks,
    });
    const state = new Map(res.rows.map((r) => [Number(r.id), r.state]));
    return rows.map((r): BatchCompletion => {
      const s = first.get(r.id) === r ? state.get(r.id) : undefined;
      return { id: r.id, outcome: s === undefined ? 'lost' : s === 'done' ? 'done' : 'requeued' };
    });
  }

  async commitPlaced(id: number, token: string, place: () => Promise<void>, r: CompleteInput & { leaseMs: number }): Promise<PlacedOutcome> {
    // The row lock taken with the lease check is held across the rename and the commit: a sweep, a
    // claim by another replica or its commit waits for it, so a stall between check and rename can
    // no longer let a newer version land first and then be overwritten by this one.
    const res = await this.#tx(async (q) => {
      const held = await q(this.q.complete.lockLeased, { ids: [id], tokens: [token] });
      if (held.rowCount !== 1) return { placed: false, outcome: 'lost' as const };
      await place();
      return { placed: true, outcome: (await this.#completeBatch(q, [{ ...r, id, token }]))[0]!.outcome };
    });
    if (res.outcome === 'requeued') await this.wake();
    return res;
  }

  async claimWindow(n: number, opts: WindowOptions, paths: (job: ClaimedJob) => PathWant | null): Promise<ClaimedJob[]> {
    const params = { n, owner: opts.owner, token: newLeaseToken(), leaseMs: delayMs(opts.leaseMs), max: this.maxAttempts };
    // One transaction of at most four statements, whatever the window's size: the claim, the marks
    // of the jobs that start at once, the path locks, the reservations.
    return this.#tx(async (q) => {
      const jobs = claimedInOrder((await q<ClaimedRow>(this.claimSql(opts.order, false), params)).rows.map(rowToClaimed), opts.order);
      const starting = jobs.slice(0, opts.start);
      if (starting.length > 0) await q(this.q.lease.markStartedMany, { ids: starting.map((j) => j.id), tokens: starting.map((j) => j.leaseToken) });
      // The first job of each folded path (a later one would find it the holder); locked in one order,
      // so two replicas' windows never wait for each other in a circle.
      const byFold = new Map<string, { job: ClaimedJob; p: PathWant }>();
      for (const job of jobs) {
        const p = paths(job);
        if (p && !byFold.has(p.pathFold)) byFold.set(p.pathFold, { job, p });
      }
      if (byFold.size === 0) return jobs;
      const wants = [...byFold.values()].sort((a, b) => (a.p.pathFold < b.p.pathFold ? -1 : a.p.pathFold > b.p.pathFold ? 1 : 0));
      await q(this.q.paths.lockMany, { locks: wants.map((w) => `constellr-sync/path/${this.schema}/${w.p.pathFold}`) });
      const reserved = await q<{ id: string | number }>(this.q.paths.reserveMany, {
        ids: wants.map((w) => w.job.id),
        tokens: wants.map((w) => w.job.leaseToken),
        paths: wants.map((w) => w.p.mirrorPath),
        folds: wants.map((w) => w.p.pathFold),
      });
      const ids = new Set(reserved.rows.map((r) => Number(r.id)));
      for (const w of wants) if (ids.has(w.job.id)) w.job.reservedPath = w.p.mirrorPath;
      return jobs;
    });
  }

  /** One statement and one commit for all of them (SqlStore's runs one per job). */
  override async markStartedMany(jobs: readonly LeaseRef[], _now: number): Promise<number[]> {
    if (jobs.length === 0) return [];
    const r = await this.#q<{ id: string | number }>(this.q.lease.markStartedMany, { ids: jobs.map((j) => j.id), tokens: jobs.map((j) => j.token) });
    const marked = new Set(r.rows.map((row) => Number(row.id)));
    return jobs.filter((j) => marked.has(j.id)).map((j) => j.id);
  }

  // One statement (one row lock) at a time, as each job's own heartbeat and release would: a
  // transaction holding one window row's lock while it waits for the next could meet a commit that
  // locks the same rows in another order (a job handed from the window to a worker meanwhile).
  async heartbeatMany(jobs: readonly LeaseRef[], leaseMs: number, now: number): Promise<number[]> {
    const held: number[] = [];
    for (const j of jobs) if (await this.heartbeat(j.id, j.token, leaseMs, now)) held.push(j.id);
    return held;
  }

  async releaseMany(jobs: readonly LeaseRef[], now: number): Promise<number> {
    let n = 0;
    for (const j of jobs) if ((await this.x.run(this.q.lease.release, { id: j.id, token: j.token, now })) === 1) n++;
    if (n > 0) await this.wake();
    return n;
  }

  async reservePath(id: number, token: string, r: { mirrorPath: string; pathFold: string }): Promise<PathReservation> {
    return this.#tx(async (q) => {
      // The job's row first, then the path: a claim taking this job over (its lease expired) holds
      // the row while it waits for the path's lock, and passes over a row held here.
      if ((await q(this.q.complete.lockLeased, { ids: [id], tokens: [token] })).rowCount !== 1) return { ok: false, owner: null };
      // Serialize reservations of one folded path across replicas (released at commit).
      await q(this.q.paths.lock, { lock: `constellr-sync/path/${this.schema}/${r.pathFold}` });
      const h = (await q<{ key: string; mirror_path: string }>(this.q.paths.pathHolder, { fold: r.pathFold, id })).rows[0];
      if (h) return { ok: true, owner: { key: h.key, mirrorPath: h.mirror_path } };
      const u = await q(this.q.paths.reservePath, { path: r.mirrorPath, fold: r.pathFold, id, token });
      return { ok: u.rowCount === 1, owner: null };
    });
  }

  // --- coordination between replicas ---

  async tryAcquirePollerLease(owner: string, ttlMs: number): Promise<boolean> {
    const r = await this.#q(this.q.pollerLease.acquire, { owner, ttlMs: Math.max(1, Math.round(ttlMs)) });
    return r.rowCount === 1;
  }

  async releasePollerLease(owner: string): Promise<void> {
    await this.#q(this.q.pollerLease.release, { owner });
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
