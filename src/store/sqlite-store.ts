// The SQLite backend. Every statement is in src/store/sql/*, run here as prepared statements (#st).
// What SQLite does differently is named once, here or in the dialect:
// - connection: one, opened by sqlite.ts (WAL, pragmas, migrations);
// - time: the host clock (sqliteDialect.now is the caller's @now);
// - transactions: synchronous and BEGIN IMMEDIATE whenever one reads then writes (SqlExec.writing,
//   runTable, a listing page, a completion batch, path reservations): a deferred one can fail with
//   SQLITE_BUSY_SNAPSHOT whatever the busy_timeout. No network I/O ever happens inside one;
// - soleOwner true: one process owns the state (the instance lock), so it is always the poller,
//   every lease in the file is its own, and nothing needs waking;
// - the claim-order indexes, created for the order in use (claimSql, CLAIM_INDEX), and built at
//   the end of a long first listing rather than during it (#listed).
import type { Statement, Transaction } from 'better-sqlite3';
import type { RemoteAsset } from '../api/wire.js';
import type { ClaimOrder } from '../config/schema.js';
import type { ListedSize } from '../lib/size.js';
import { IDLE_CACHE_KIB, openSqlite, type SqliteDb, type OpenOptions } from './sqlite.js';
import { newLeaseToken } from './migrations.js';
import { rowToClaimed, sizeColumn, sizeOfColumn, type ClaimedRow } from './rows.js';
import { SqlStore, delayMs, type SqlExec } from './sql-store.js';
import { sqliteDialect, tableRowParams, toSqlite, type Params, type TableParam } from './sql/dialect.js';
import { CLAIM_INDEX, DROP_CLAIM_INDEXES, claimIndexDdl, claimJobsSql, claimOneSql, claimPickSql, claimedInOrder } from './sql/claim-jobs.js';
import type {
  ClaimedJob,
  LeaseRef,
  PathWant,
  WindowOptions,
  BatchCompletion,
  CompleteBatchRow,
  FinishPollOptions,
  CompleteInput,
  CompleteOutcome,
  PlacedOutcome,
  OutboxSink,
  PathReservation,
  StateStore,
  UpsertResult,
} from './types.js';

export { newLeaseToken };

/**
 * Rows per upsert statement: a held group of 5,000 keys goes in as 5 statements, so each JSON text
 * stays under V8's large-object size (~70 bytes a key) and is freed by a scavenge.
 */
const STATEMENT_ROWS = 1000;

/** Items [from, to) as sql/upsert-listing.ts insertPage reads them: one JSON array of [key, lm, size, etag, loc]. */
export function sqlitePageRows(items: readonly RemoteAsset[], from: number, to: number): string {
  return JSON.stringify(items.slice(from, to).map((it) => [it.key, it.lastModifiedMs, sizeColumn(it.size), it.etag ?? null, it.locator ?? null]));
}

/** The page's locators as relocatePage reads them ([key, loc], the last one of a key listed twice), or null: none. */
function sqliteLocatedRows(items: readonly RemoteAsset[]): string | null {
  let byKey: Map<string, string> | null = null;
  for (const it of items) if (it.locator) (byKey ??= new Map()).set(it.key, it.locator);
  return byKey === null ? null : JSON.stringify([...byKey]);
}

export interface SqliteStoreOptions extends OpenOptions {
  maxAttempts: number;
  /** Notification sinks configured: completed downloads and recordEvent() write one outbox row per sink. */
  outboxSinks?: readonly OutboxSink[];
  /** Tests: DEFER_ORDER_INDEX_KEYS. */
  deferOrderIndexKeys?: number;
}

/**
 * jobs_state (0001), a full index on state: a long first listing builds it at its end with the
 * claim-order indexes (1M keys: ~15% less CPU; the status counts scan the table meanwhile).
 */
const STATE_INDEX = 'jobs_state';

/** Keys of a first listing after which its claim-order indexes are built at its end (see #listed). */
export const DEFER_ORDER_INDEX_KEYS = 50_000;

/**
 * The page cache while a poll that is not a first listing runs, in KiB: its new keys go into the
 * claim-order index in date order, not key order, and a 2 MiB cache thrashed; 32 MiB ingested 1M
 * keys only ~6% faster than 16 (issue 13). Between polls the cache is IDLE_CACHE_KIB (sqlite.ts).
 */
const POLL_CACHE_KIB = 16384;
/** A first listing puts its rows at the ends of the b-trees: 4 MiB ingests as fast as 16 (see startPoll). */
const FIRST_LISTING_CACHE_KIB = 4096;

export class SqliteStore extends SqlStore implements StateStore {
  readonly backend = 'sqlite' as const;
  readonly db: SqliteDb;
  protected readonly soleOwner = true;
  readonly #stmts = new Map<string, Statement>();
  /** The order whose claim index is there (the others' are dropped). */
  #indexedOrder: ClaimOrder | null = null;
  readonly #x: SqlExec;
  readonly #deferOrderIndexKeys: number;
  /**
   * One transaction function for the per-file path's statements (claims, starts, lease checks,
   * completions): `db.transaction(fn)` builds its wrappers anew each call, a cost per batch.
   */
  #txFn: Transaction<(fn: () => unknown) => unknown> | null = null;

  constructor(db: SqliteDb, opts: { maxAttempts: number; outboxSinks?: readonly OutboxSink[]; deferOrderIndexKeys?: number }) {
    super(sqliteDialect, opts);
    this.db = db;
    this.#deferOrderIndexKeys = opts.deferOrderIndexKeys ?? DEFER_ORDER_INDEX_KEYS;
    const immediate = <T>(fn: () => T): T => this.db.transaction(fn).immediate();
    this.#x = {
      all: async <R>(sql: string, params: Params = {}) => this.#st(sql).all(params) as R[],
      run: async (sql: string, params: Params = {}) => this.#st(sql).run(params).changes,
      writing: {
        all: async <R>(sql: string, params: Params = {}) => immediate(() => this.#st(sql).all(params) as R[]),
        run: async (sql: string, params: Params = {}) => immediate(() => this.#st(sql).run(params).changes),
      },
      runTable: async (sql: string, t: TableParam, params: Params = {}) => {
        const st = this.#st(sql);
        return immediate(() => t.rows.reduce((n, row) => n + st.run({ ...params, ...tableRowParams(t, row) }).changes, 0));
      },
    };
  }

  /** Run `fn` in a write transaction (BEGIN IMMEDIATE), or (`read`) a deferred one. */
  #tx<T>(fn: () => T, read = false): T {
    const t = (this.#txFn ??= this.db.transaction((f: () => unknown) => f()));
    return (read ? t(fn) : t.immediate(fn)) as T;
  }

  static open(stateDir: string, opts: SqliteStoreOptions): SqliteStore {
    return new SqliteStore(openSqlite(stateDir, opts), opts);
  }

  protected get x(): SqlExec {
    return this.#x;
  }

  /** SQLite's instants are the host clock already. */
  protected toHost(t: number): number {
    return t;
  }

  /** The prepared statement of a shared SQL text (prepared once). */
  #st(sql: string): Statement {
    let s = this.#stmts.get(sql);
    if (!s) {
      s = this.db.prepare(toSqlite(sql));
      this.#stmts.set(sql, s);
    }
    return s;
  }

  async upsertPage(items: readonly RemoteAsset[], now: number): Promise<UpsertResult> {
    const l = this.q.listing;
    const result: UpsertResult = { inserted: 0, changed: 0, unchanged: 0 };
    this.#listed(items.length);
    if (items.length === 0) return result;
    const [upsert, undelete, anyDeleted] = [this.#st(l.insertPage), this.#st(l.undelete), this.#st(l.anyDeleted)];
    const located = sqliteLocatedRows(items);
    let written = 0;
    this.db
      .transaction(() => {
        if (anyDeleted.get() !== undefined) undelete.run({ keys: JSON.stringify(items.map((i) => i.key)), now });
        for (let i = 0; i < items.length; i += STATEMENT_ROWS) {
          const revisions = upsert.pluck().all({ rows: sqlitePageRows(items, i, i + STATEMENT_ROWS), now }) as number[];
          written += revisions.length;
          for (const rev of revisions) if (rev === 0) result.inserted++;
        }
        // A new locator of an unchanged version; the rows just written hold theirs already.
        if (located !== null) this.#st(l.relocatePage).run({ rows: located });
      })
      .immediate();
    result.changed = written - result.inserted;
    result.unchanged = items.length - written;
    return result;
  }

  /**
   * A first listing (no poll of this state has finished) that grows past DEFER_ORDER_INDEX_KEYS keys
   * drops the claim-order indexes (and jobs_state) and builds them once at its end, from the listed rows (a sort),
   * instead of inserting every further key into them: keys arrive in key order while their dates do
   * not, so each commit dirtied most of that index's leaf pages (1M keys: about 40% of the ingest's
   * CPU; bench/README.md). Until the listing ends the workers claim in listing order, through
   * jobs_queued_run_at (run_at is the listing's now). A crash in between leaves an index missing;
   * the next claim statement builds it.
   */
  #firstListing: { keys: number; deferred: boolean } | null = null;

  override async startPoll(now: number): Promise<void> {
    await super.startPoll(now);
    if (this.#firstListing) return;
    if ((await this.getCursor()).hwmMs !== null) return void this.#cacheKib(POLL_CACHE_KIB);
    // A first listing puts its rows at the ends of the b-trees (or, under the threshold, into small
    // ones): a 4 MiB page cache ingests as fast as 16 MiB (1M keys, store only: 17.2 s of CPU against
    // 19.6 s) and holds 12 MiB less.
    this.#firstListing = { keys: 0, deferred: false };
    this.#cacheKib(FIRST_LISTING_CACHE_KIB);
  }

  override async finishPoll(hwmMs: number | null, now: number, opts?: FinishPollOptions): Promise<void> {
    try {
      this.#orderIndexesBack();
    } finally {
      this.#cacheKib(IDLE_CACHE_KIB);
    }
    await super.finishPoll(hwmMs, now, opts);
  }

  override async failPoll(message: string, errorClass: string, now: number): Promise<void> {
    try {
      this.#orderIndexesBack();
    } finally {
      this.#cacheKib(IDLE_CACHE_KIB);
    }
    await super.failPoll(message, errorClass, now);
  }

  /** The page cache's size (SQLite frees the pages over a smaller size at once). */
  #cacheKib(kib: number): void {
    this.db.pragma(`cache_size = -${kib}`);
  }

  /** Counts a first listing's keys; past the threshold, drops the claim-order indexes until its end. */
  #listed(keys: number): void {
    const first = this.#firstListing;
    if (!first || first.deferred || (first.keys += keys) < this.#deferOrderIndexKeys) return;
    this.db
      .transaction(() => {
        for (const ddl of [...DROP_CLAIM_INDEXES, `DROP INDEX IF EXISTS ${STATE_INDEX}`]) this.db.exec(ddl);
      })
      .immediate();
    first.deferred = true;
    // Claim statements may have planned with a dropped index: prepare them again when it is back.
    for (const o of Object.keys(CLAIM_INDEX) as ClaimOrder[]) this.#forgetClaims(o);
  }

  #orderIndexesBack(): void {
    const first = this.#firstListing;
    this.#firstListing = null;
    if (!first?.deferred) return;
    const order = this.#indexedOrder ?? 'newest-first';
    this.#indexedOrder = null;
    // SQLite's sorter holds up to cache_size in memory: with 2 MiB the build takes no more time (1M
    // keys: ~0.5 s of CPU) and adds nothing to the peak RSS (16 MiB added ~17 MiB). The caller sets
    // the cache back.
    this.#cacheKib(2048);
    this.claimSql(order);
  }

  protected override claimSql(order: ClaimOrder, started = true): string {
    const walk = this.#claimWalk(order);
    return walk === 'listed' ? claimJobsSql(this.d, 'listed', started) : super.claimSql(order, started);
  }

  /** The order a claim walks now ('listed' during a long first listing), its index made sure of. */
  #claimWalk(order: ClaimOrder): ClaimOrder | 'listed' {
    if (this.#firstListing?.deferred) return 'listed';
    if (this.#indexedOrder !== order) {
      this.#ensureOrderIndex(order);
      // Statements prepared for other orders may have planned with a dropped index: prepare them again.
      for (const o of Object.keys(CLAIM_INDEX) as ClaimOrder[]) if (o !== order) this.#forgetClaims(o);
      this.#indexedOrder = order;
    }
    return order;
  }

  /** Forget the prepared claims of an order (both kinds: started at once, and a window's pick). */
  #forgetClaims(order: ClaimOrder): void {
    for (const started of [true, false]) this.#stmts.delete(super.claimSql(order, started));
    this.#stmts.delete(claimPickSql(this.d, order));
  }

  #ensureOrderIndex(order: ClaimOrder): void {
    this.db
      .transaction(() => {
        for (const ddl of [`CREATE INDEX IF NOT EXISTS ${STATE_INDEX} ON jobs (state)`, ...claimIndexDdl(order)]) this.db.exec(ddl);
      })
      .immediate();
  }

  async commitPlaced(id: number, token: string, place: () => Promise<void>, r: CompleteInput & { leaseMs: number }): Promise<PlacedOutcome> {
    // One process owns this state: no other replica can take the job over, and the heartbeat keeps
    // the lease while the rename runs. The check extends the lease; a commit that still finds it
    // lost after the rename is reported (placed: true) so the worker queues the key again.
    if (!(await this.heartbeat(id, token, r.leaseMs, r.now))) return { placed: false, outcome: 'lost' };
    await place();
    return { placed: true, outcome: await this.complete(id, token, r) };
  }

  async commitPlacedBatch(rows: readonly CompleteBatchRow[], place: (held: readonly number[]) => Promise<ReadonlySet<number>>, leaseMs: number): Promise<PlacedOutcome[]> {
    // As commitPlaced, for many rows: the leases are checked, `place` renames the held ones, one
    // transaction completes what was placed (fenced again: a lease lost in between is reported).
    const held = this.#leasesHeld(rows, delayMs(leaseMs));
    const placed = held.length > 0 ? await place(held.map((r) => r.id)) : new Set<number>();
    const done = new Map((await this.completeBatch(rows.filter((r) => placed.has(r.id)))).map((c) => [c.id, c.outcome]));
    return rows.map((r): PlacedOutcome => (placed.has(r.id) ? { placed: true, outcome: done.get(r.id)! } : { placed: false, outcome: 'lost' }));
  }

  /**
   * The rows whose lease is held, each with at least half its length left: one read (no write
   * transaction, no WAL pages) finds them; only a lease with less left is extended, as the
   * heartbeat would, in a write transaction of its own.
   */
  #leasesHeld(rows: readonly CompleteBatchRow[], leaseMs: number): CompleteBatchRow[] {
    const left = this.#st(this.q.lease.leaseLeft);
    // One read transaction (BEGIN DEFERRED) for all of them.
    const ms = this.#tx(() => rows.map((r) => (left.get({ id: r.id, token: r.token, now: r.now }) as { left_ms: number } | undefined)?.left_ms ?? null), true);
    const short = rows.filter((r, i) => ms[i] !== null && ms[i]! < leaseMs / 2);
    if (short.length === 0) return rows.filter((_, i) => ms[i] !== null);
    const hb = this.#st(this.q.lease.heartbeat);
    const extended = new Set(this.#tx(() => short.filter((r) => hb.run({ id: r.id, token: r.token, leaseMs, now: r.now }).changes === 1).map((r) => r.id)));
    return rows.filter((r, i) => ms[i] !== null && (ms[i]! >= leaseMs / 2 || extended.has(r.id)));
  }

  async completeBatch(rows: readonly CompleteBatchRow[]): Promise<BatchCompletion[]> {
    if (rows.length === 0) return [];
    return this.#tx(() => rows.map((r) => ({ id: r.id, outcome: this.#completeSync(r.id, r.token, r) })));
  }

  /** One completion and its events (sql/complete-jobs.ts), inside the caller's write transaction. */
  #completeSync(id: number, token: string, r: CompleteInput): CompleteOutcome {
    const c = this.q.complete;
    const p = { id, token, path: r.localPath, bytes: r.bytes, sha: r.sha256, now: r.now, short: r.shortened === undefined ? null : r.shortened ? 1 : 0 };
    if (this.sinks.length > 0) this.#st(c.eventsIfDone).run({ ...p, sinks: this.d.listParam(this.sinks) });
    const row = this.#st(c.complete).get(p) as { state: string } | undefined;
    if (!row) return 'lost';
    return row.state === 'done' ? 'done' : 'requeued';
  }

  async claimWindow(n: number, opts: WindowOptions, paths: (job: ClaimedJob) => PathWant | null): Promise<ClaimedJob[]> {
    const pick = this.#st(claimPickSql(this.d, this.#claimWalk(opts.order)));
    const claim = this.#st(claimOneSql(this.d));
    const held = this.#st(this.q.paths.pathHeld);
    const reserve = this.#st(this.q.paths.reservePath);
    const token = newLeaseToken();
    const params = { owner: opts.owner, token, leaseMs: delayMs(opts.leaseMs), now: opts.now, max: this.maxAttempts };
    // One write transaction (one WAL commit) for the claim and every reservation of the window. The
    // picked jobs are put in the order workers take them (claimedInOrder: the pick walks the listing
    // order during a long first listing) and taken one row at a time in it (claimOneSql); the first
    // opts.start, which workers take at once, are started in the same UPDATE.
    return this.#tx((): ClaimedJob[] => {
      const picked = claimedInOrder((pick.all({ n, now: opts.now, max: this.maxAttempts }) as PickedRow[]).map(pickedJob), opts.order);
      const jobs = picked.map((p, i) => rowToClaimed({ ...(claim.get({ ...params, id: p.id, started: i < opts.start ? opts.now : null }) as ClaimedRow), lease_expired: p.expired }));
      for (const job of jobs) {
        const p = paths(job);
        if (!p || held.get({ fold: p.pathFold, id: job.id }) !== undefined) continue;
        if (reserve.run({ path: p.mirrorPath, fold: p.pathFold, id: job.id, token: job.leaseToken }).changes === 1) job.reservedPath = p.mirrorPath;
      }
      return jobs;
    });
  }

  async heartbeatMany(jobs: readonly LeaseRef[], leaseMs: number, now: number): Promise<number[]> {
    const hb = this.#st(this.q.lease.heartbeat);
    const ms = delayMs(leaseMs);
    return this.#tx(() => jobs.filter((j) => hb.run({ id: j.id, token: j.token, leaseMs: ms, now }).changes === 1).map((j) => j.id));
  }

  override async markStartedMany(jobs: readonly LeaseRef[], now: number): Promise<number[]> {
    const started = this.#st(this.q.lease.markStarted);
    return this.#tx(() => jobs.filter((j) => started.run({ id: j.id, token: j.token, now }).changes === 1).map((j) => j.id));
  }

  async releaseMany(jobs: readonly LeaseRef[], now: number): Promise<number> {
    const release = this.#st(this.q.lease.release);
    return this.#tx(() => jobs.filter((j) => release.run({ id: j.id, token: j.token, now }).changes === 1).length);
  }

  async reservePath(id: number, token: string, r: { mirrorPath: string; pathFold: string }): Promise<PathReservation> {
    return this.db
      .transaction((): PathReservation => {
        const holder = this.#st(this.q.paths.pathHolder).get({ fold: r.pathFold, id }) as { key: string; mirror_path: string } | undefined;
        if (holder) return { ok: true, owner: { key: holder.key, mirrorPath: holder.mirror_path } };
        const ok = this.#st(this.q.paths.reservePath).run({ path: r.mirrorPath, fold: r.pathFold, id, token }).changes === 1;
        return { ok, owner: null };
      })
      .immediate();
  }

  // One process owns a SQLite state (the instance lock), so it is always the poller, and every
  // queued job was queued by this process (which wakes its own workers).
  async tryAcquirePollerLease(_owner: string, _ttlMs: number): Promise<boolean> {
    return true;
  }

  async releasePollerLease(_owner: string): Promise<void> {}

  onJobsAvailable(_fn: () => void): () => void {
    return () => undefined;
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}

/** A row of a claim window's pick (claimPickSql): what claimedInOrder sorts by. */
interface PickedRow {
  id: number;
  key: string;
  remote_modified_ms: number;
  remote_size: number;
  expired: number;
}

function pickedJob(r: PickedRow): { id: number; key: string; remoteModifiedMs: number; remoteSize: ListedSize; expired: number } {
  return { id: r.id, key: r.key, remoteModifiedMs: Number(r.remote_modified_ms), remoteSize: sizeOfColumn(r.remote_size), expired: r.expired };
}
