// The SQLite backend. One process owns a SQLite state (the instance lock), so it is always the
// poller and every lease in the file is its own. The shared SQL (src/store/sql/*) runs through
// prepared statements; this file keeps the connection, the transactions (every read-then-write one
// is BEGIN IMMEDIATE: a deferred one can fail with SQLITE_BUSY_SNAPSHOT whatever the busy_timeout)
// and the claim-order indexes. No network I/O ever happens inside a transaction.
import type { Statement } from 'better-sqlite3';
import type { RemoteAsset } from '../api/wire.js';
import type { ClaimOrder } from '../config/schema.js';
import { openSqlite, type SqliteDb, type OpenOptions } from './sqlite.js';
import { newLeaseToken } from './migrations.js';
import { rowToClaimed, rowToOutboxItem, type ClaimedRow, type OutboxRow } from './rows.js';
import { SqlStore, delayMs, type SqlExec } from './sql-store.js';
import { sqliteDialect, toSqlite, type Params } from './sql/dialect.js';
import { claimedInOrder, claimJobsSql } from './sql/jobs.js';
import type {
  BatchCompletion,
  ClaimOptions,
  CompleteBatchRow,
  ClaimedJob,
  CompleteInput,
  CompleteOutcome,
  PlacedOutcome,
  OutboxEventInput,
  OutboxItem,
  OutboxPruned,
  OutboxSink,
  PathReservation,
  StateStore,
  UpsertResult,
} from './types.js';

export { newLeaseToken };

/**
 * Claim indexes of the non-default orders, created on demand for the order in use (and the others
 * dropped): each one costs every newly listed row an extra b-tree insert.
 */
const ORDER_INDEX: Record<ClaimOrder, { name: string; columns: string } | null> = {
  'newest-first': null, // jobs_queued_newest, always there (0001)
  'oldest-first': { name: 'jobs_queued_oldest', columns: 'remote_modified_ms ASC, id' },
  'smallest-first': { name: 'jobs_queued_smallest', columns: 'remote_size ASC, id' },
  key: { name: 'jobs_queued_key', columns: 'key' },
};

export interface SqliteStoreOptions extends OpenOptions {
  maxAttempts: number;
  /** Notification sinks configured: completed downloads and recordEvent() write one outbox row per sink. */
  outboxSinks?: readonly OutboxSink[];
}

export class SqliteStore extends SqlStore implements StateStore {
  readonly backend = 'sqlite' as const;
  readonly db: SqliteDb;
  readonly #stmts = new Map<string, Statement>();
  readonly #claimStmts = new Map<ClaimOrder, Statement>();
  readonly #x: SqlExec;

  constructor(db: SqliteDb, opts: { maxAttempts: number; outboxSinks?: readonly OutboxSink[] }) {
    super(sqliteDialect, opts);
    this.db = db;
    this.#x = {
      all: async <R>(sql: string, params: Params = {}) => this.#st(sql).all(params) as R[],
      run: async (sql: string, params: Params = {}) => this.#st(sql).run(params).changes,
    };
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
    const upsert = this.#st(`
      INSERT INTO jobs (key, remote_modified_ms, remote_size, remote_etag, locator, state, run_at, created_at, updated_at)
      VALUES (@key, @lm, @size, @etag, @loc, 'queued', @now, @now, @now)
      ${this.q.cursor.upsertConflict}`);
    const undelete = this.#st(this.q.cursor.undelete);
    const anyDeleted = this.#st('SELECT 1 FROM jobs WHERE remote_deleted_at IS NOT NULL LIMIT 1').pluck();
    // A new pre-signed href (or expiry) of an unchanged version is no new version: only the locator
    // moves, and only while a download may need it (a settled job keeps none; api/wire.ts).
    const relocate = this.#st("UPDATE jobs SET locator = @loc WHERE key = @key AND locator IS NOT @loc AND state IN ('queued', 'running')");
    const result: UpsertResult = { inserted: 0, changed: 0, unchanged: 0 };
    const tx = this.db.transaction(() => {
      // Most states hold no deleted key: one probe of the partial index jobs_remote_deleted spares
      // the page its per-key lookups.
      if (items.length > 0 && anyDeleted.get() !== undefined) undelete.run({ keys: JSON.stringify(items.map((i) => i.key)), now });
      for (const it of items) {
        const row = upsert.get({ key: it.key, lm: it.lastModifiedMs, size: it.size, etag: it.etag, loc: it.locator ?? null, now }) as { revision: number } | undefined;
        if (!row) {
          result.unchanged++;
          if (it.locator) relocate.run({ key: it.key, loc: it.locator });
        } else if (row.revision === 0) result.inserted++;
        else result.changed++;
      }
    });
    tx.immediate();
    return result;
  }

  #claimStmt(order: ClaimOrder): Statement {
    let s = this.#claimStmts.get(order);
    if (!s) {
      this.#ensureOrderIndex(order);
      // INDEXED BY: without statistics the planner picks jobs_state or jobs_queued_run_at and sorts
      // the whole queue for every claim (quadratic on a first sync); the order's index walks it.
      s = this.db.prepare(toSqlite(claimJobsSql(this.d, order, ORDER_INDEX[order]?.name ?? 'jobs_queued_newest')));
      this.#claimStmts.set(order, s);
    }
    return s;
  }

  #ensureOrderIndex(order: ClaimOrder): void {
    this.db
      .transaction(() => {
        for (const [o, idx] of Object.entries(ORDER_INDEX)) {
          if (!idx) continue;
          if (o === order) this.db.exec(`CREATE INDEX IF NOT EXISTS ${idx.name} ON jobs (${idx.columns}) WHERE state = 'queued'`);
          else this.db.exec(`DROP INDEX IF EXISTS ${idx.name}`);
        }
      })
      .immediate();
    // Statements prepared for other orders may have planned with a dropped index: prepare them again.
    for (const o of [...this.#claimStmts.keys()]) if (o !== order) this.#claimStmts.delete(o);
  }

  async claimJobs(n: number, opts: ClaimOptions): Promise<ClaimedJob[]> {
    const stmt = this.#claimStmt(opts.order);
    const token = newLeaseToken();
    const rows = this.db.transaction(() => stmt.all({ owner: opts.owner, token, leaseMs: opts.leaseMs, now: opts.now, n })).immediate() as ClaimedRow[];
    return claimedInOrder(rows.map(rowToClaimed), opts.order);
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
    // As commitPlaced, for many rows: one transaction checks and extends every lease, `place` renames
    // the held ones, one transaction completes what was placed.
    const hb = this.#st(this.q.jobs.heartbeat);
    const held = this.db.transaction(() => rows.filter((r) => hb.run({ id: r.id, token: r.token, leaseMs: delayMs(leaseMs), now: r.now }).changes === 1)).immediate();
    const placed = held.length > 0 ? await place(held.map((r) => r.id)) : new Set<number>();
    const done = new Map((await this.completeBatch(rows.filter((r) => placed.has(r.id)))).map((c) => [c.id, c.outcome]));
    return rows.map((r): PlacedOutcome => (placed.has(r.id) ? { placed: true, outcome: done.get(r.id)! } : { placed: false, outcome: 'lost' }));
  }

  async complete(id: number, token: string, r: CompleteInput): Promise<CompleteOutcome> {
    const run = () => this.#completeSync(id, token, r);
    // One transaction: the done row and its notification rows commit together (or not at all).
    return this.sinks.length > 0 ? this.db.transaction(run).immediate() : run();
  }

  async completeBatch(rows: readonly CompleteBatchRow[]): Promise<BatchCompletion[]> {
    if (rows.length === 0) return [];
    return this.db.transaction(() => rows.map((r) => ({ id: r.id, outcome: this.#completeSync(r.id, r.token, r) }))).immediate();
  }

  /** Synchronous, so that it joins the caller's transaction. */
  #completeSync(id: number, token: string, r: CompleteInput): CompleteOutcome {
    const short = r.shortened === undefined ? null : r.shortened ? 1 : 0;
    // What the mirror held before decides created vs updated (read under the same write lock).
    const prior =
      this.sinks.length > 0
        ? (this.#st(this.q.jobs.prior).get({ id, token }) as { key: string; remote_modified_ms: number; local_path: string | null } | undefined)
        : undefined;
    const row = this.#st(this.q.jobs.complete).get({ id, token, path: r.localPath, bytes: r.bytes, sha: r.sha256, now: r.now, short }) as { state: string } | undefined;
    if (!row) return 'lost';
    if (row.state !== 'done') return 'requeued';
    // Folder markers are not files; downstream pipelines are told about files only.
    if (prior && !r.localPath.endsWith('/')) {
      this.recordEventSync(
        { event: prior.local_path ? 'updated' : 'created', key: prior.key, path: r.localPath, size: r.bytes, lastModifiedMs: prior.remote_modified_ms, sha256: r.sha256 || null },
        r.now,
      );
    }
    return 'done';
  }

  /**
   * recordEvent, synchronously, for SQLite code that records a deletion inside its own transaction
   * (so the deletion and its event commit together).
   */
  recordEventSync(e: OutboxEventInput, now: number): number {
    if (this.sinks.length === 0) return 0;
    this.#st(this.q.outbox.insert).run(this.outboxParams(e, now));
    return this.sinks.length;
  }

  async reservePath(id: number, token: string, r: { mirrorPath: string; pathFold: string }): Promise<PathReservation> {
    return this.db
      .transaction((): PathReservation => {
        const holder = this.#st(this.q.jobs.pathHolder).get({ fold: r.pathFold, id }) as { key: string; mirror_path: string } | undefined;
        if (holder) return { ok: true, owner: { key: holder.key, mirrorPath: holder.mirror_path } };
        const ok = this.#st(this.q.jobs.reservePath).run({ path: r.mirrorPath, fold: r.pathFold, id, token }).changes === 1;
        return { ok, owner: null };
      })
      .immediate();
  }

  #requeueRunning(now: number, expiredOnly: boolean): number {
    const st = this.#st(this.q.jobs.requeueRunning);
    return this.db.transaction(() => st.run({ max: this.maxAttempts, now, expiredOnly: expiredOnly ? 1 : 0 }).changes).immediate();
  }

  /** Start-up: every running row is a dead process's (this one owns the state). */
  async requeueOrphans(now: number): Promise<number> {
    return this.#requeueRunning(now, false);
  }

  async sweepExpiredLeases(now: number): Promise<number> {
    return this.#requeueRunning(now, true);
  }

  async claimOutbox(sink: OutboxSink, n: number, now: number, leaseMs: number): Promise<OutboxItem[]> {
    const st = this.#st(this.q.outbox.claim);
    const rows = this.db.transaction(() => st.all({ sink, n, now, leaseMs: delayMs(leaseMs) })).immediate() as OutboxRow[];
    return rows.sort((a, b) => a.id - b.id).map(rowToOutboxItem);
  }

  async releaseOutboxLeases(now: number): Promise<number> {
    return this.#st(this.q.outbox.releaseAll).run({ now }).changes;
  }

  async pruneOutbox(r: { failedRetentionMs: number; sinks: readonly OutboxSink[]; now: number }): Promise<OutboxPruned> {
    const unconfiguredSt = this.#st(this.q.outbox.pruneUnconfigured);
    const failedSt = this.#st(this.q.outbox.pruneFailed);
    return this.db
      .transaction((): OutboxPruned => {
        const unconfigured: OutboxPruned['unconfigured'] = {};
        for (const g of unconfiguredSt.all({ sinks: JSON.stringify([...new Set(r.sinks)]) }) as { sink: OutboxSink }[]) unconfigured[g.sink] = (unconfigured[g.sink] ?? 0) + 1;
        const failed = failedSt.run({ now: r.now, retentionMs: r.failedRetentionMs }).changes;
        return { failed, unconfigured };
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
