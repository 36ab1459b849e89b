// The SQLite implementation of StateStore. All SQL for SQLite lives here. Every read-then-write
// transaction is BEGIN IMMEDIATE (a deferred one can fail with SQLITE_BUSY_SNAPSHOT whatever the
// busy_timeout). No network I/O ever happens inside a transaction.
import { randomBytes } from 'node:crypto';
import type { Statement } from 'better-sqlite3';
import type { RemoteAsset } from '../api/wire.js';
import type { ClaimOrder } from '../config/schema.js';
import { openSqlite, type SqliteDb, type OpenOptions } from './sqlite.js';
import { rowToClaimed, rowToJob, rowToOutboxItem, rowToReconcile, type ClaimedRow, type JobRow, type OutboxRow, type ReconcileRow } from './rows.js';
import {
  JOB_STATES,
  type ClaimOptions,
  type ClaimedJob,
  type CompleteInput,
  type CompleteOutcome,
  type PlacedOutcome,
  type Cursor,
  type FinishPollOptions,
  type Job,
  type JobError,
  type JobState,
  type OutboxCounts,
  type OutboxEventInput,
  type OutboxItem,
  type OutboxPruned,
  type OutboxSink,
  type PathReservation,
  type ReconcileRecord,
  type RetryOutcome,
  type RequeueSelection,
  type JobBrief,
  type StateStore,
  type UpsertResult,
} from './types.js';

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

const ORDER_SQL: Record<ClaimOrder, string> = {
  'newest-first': 'remote_modified_ms DESC, id',
  'oldest-first': 'remote_modified_ms ASC, id',
  'smallest-first': 'remote_size ASC, id',
  key: 'key',
};

export function newLeaseToken(): string {
  return randomBytes(12).toString('base64url');
}

export interface SqliteStoreOptions extends OpenOptions {
  maxAttempts: number;
  /** Notification sinks configured: completed downloads and recordEvent() write one outbox row per sink. */
  outboxSinks?: readonly OutboxSink[];
}


export class SqliteStore implements StateStore {
  readonly backend = 'sqlite' as const;
  readonly db: SqliteDb;
  readonly #maxAttempts: number;
  readonly #s: Record<string, Statement>;
  readonly #claimStmts = new Map<ClaimOrder, Statement>();
  readonly #outboxSinks: readonly OutboxSink[];
  readonly #o: Record<string, Statement>;

  constructor(db: SqliteDb, opts: { maxAttempts: number; outboxSinks?: readonly OutboxSink[] }) {
    this.db = db;
    this.#maxAttempts = opts.maxAttempts;
    this.#outboxSinks = [...new Set(opts.outboxSinks ?? [])];
    this.#o = {
      insert: db.prepare(`
        INSERT INTO outbox (sink, event, key, path, size, last_modified_ms, sha256, run_at, created_at, updated_at)
        VALUES (@sink, @event, @key, @path, @size, @lm, @sha, @now, @now, @now)`),
      prior: db.prepare('SELECT key, remote_modified_ms, local_path FROM jobs WHERE id = ? AND lease_token = ?'),
      claim: db.prepare(`
        UPDATE outbox SET attempts = attempts + 1, lease_until = @until, updated_at = @now
        WHERE id IN (SELECT id FROM outbox WHERE sink = @sink AND state = 'pending' AND run_at <= @now
                       AND (lease_until IS NULL OR lease_until <= @now) ORDER BY id LIMIT @n)
        RETURNING id, sink, event, key, path, size, last_modified_ms, sha256, attempts, created_at`),
      ack: db.prepare('DELETE FROM outbox WHERE id = ?'),
      nack: db.prepare(`
        UPDATE outbox SET
          state = CASE WHEN attempts >= @max THEN 'failed' ELSE 'pending' END,
          run_at = @runAt, lease_until = NULL, last_error = @err, updated_at = @now
        WHERE id = @id
        RETURNING state`),
      release: db.prepare("UPDATE outbox SET lease_until = NULL, run_at = min(run_at, @now) WHERE state = 'pending' AND lease_until IS NOT NULL"),
      next: db.prepare("SELECT min(max(run_at, coalesce(lease_until, 0))) AS t FROM outbox WHERE sink = ? AND state = 'pending'"),
      counts: db.prepare('SELECT sink, state, count(*) AS n FROM outbox GROUP BY sink, state'),
      backlog: db.prepare("SELECT count(*) AS n, coalesce(sum(max(remote_size, 0)), 0) AS b FROM jobs WHERE state IN ('queued', 'running')"),
    };
    const p = (sql: string) => db.prepare(sql);
    this.#s = {
      cursor: p('SELECT hwm_ms, poll_started_at, poll_finished_at, poll_error, poll_error_class, poll_error_at, clock_skew_ms, clock_skew_at, source_info FROM cursor WHERE id = 1'),
      setSourceInfo: p('UPDATE cursor SET source_info = ? WHERE id = 1'),
      // A new pre-signed href (or expiry) of an unchanged version is no new version: only the locator moves.
      relocate: p('UPDATE jobs SET locator = @loc WHERE key = @key AND locator IS NOT @loc'),
      startPoll: p('UPDATE cursor SET poll_started_at = ? WHERE id = 1'),
      finishPoll: p(
        // The mark only moves forward, except down to @cap (the server's clock): a mark in the future is a bug to repair.
        `UPDATE cursor SET hwm_ms = min(coalesce(@cap, 9e18), CASE WHEN @hwm IS NULL THEN hwm_ms WHEN hwm_ms IS NULL OR @hwm > hwm_ms THEN @hwm ELSE hwm_ms END),
           clock_skew_ms = coalesce(@skew, clock_skew_ms), clock_skew_at = CASE WHEN @skew IS NULL THEN clock_skew_at ELSE @now END,
           poll_finished_at = @now, poll_error = NULL, poll_error_class = NULL, poll_error_at = NULL WHERE id = 1`,
      ),
      failPoll: p('UPDATE cursor SET poll_error = ?, poll_error_class = ?, poll_error_at = ? WHERE id = 1'),
      upsert: p(`
        INSERT INTO jobs (key, remote_modified_ms, remote_size, remote_etag, locator, state, run_at, created_at, updated_at)
        VALUES (@key, @lm, @size, @etag, @loc, 'queued', @now, @now, @now)
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
        WHERE jobs.remote_modified_ms IS NOT excluded.remote_modified_ms
           OR jobs.remote_size IS NOT excluded.remote_size
           OR (excluded.remote_etag IS NOT NULL AND jobs.remote_etag IS NOT NULL AND excluded.remote_etag IS NOT jobs.remote_etag)
           OR jobs.state = 'gone'
        RETURNING revision`),
      heartbeat: p("UPDATE jobs SET lease_until = ?, updated_at = ? WHERE id = ? AND lease_token = ? AND state = 'running'"),
      complete: p(`
        UPDATE jobs SET
          state = CASE WHEN revision = claimed_revision THEN 'done' ELSE 'queued' END,
          attempts = CASE WHEN revision = claimed_revision THEN attempts ELSE 0 END,
          run_at = @now, finished_at = @now, updated_at = @now,
          local_path = @path, local_modified_ms = remote_modified_ms, bytes_written = @bytes, sha256 = @sha,
          mirror_path = @path, shortened = coalesce(@short, shortened),
          lease_owner = NULL, lease_token = NULL, lease_until = NULL,
          error_class = NULL, error_status = NULL, error_message = NULL
        WHERE id = @id AND lease_token = @token AND state = 'running'
        RETURNING state`),
      retryLater: p(`
        UPDATE jobs SET
          attempts = CASE WHEN revision <> claimed_revision THEN 0
                          WHEN @consume = 1 THEN attempts ELSE max(0, attempts - 1) END,
          state = CASE WHEN revision <> claimed_revision THEN 'queued'
                       WHEN @consume = 1 AND attempts >= @max THEN 'failed' ELSE 'queued' END,
          run_at = CASE WHEN revision <> claimed_revision THEN @now ELSE @runAt END,
          finished_at = CASE WHEN @consume = 1 AND attempts >= @max AND revision = claimed_revision THEN @now ELSE finished_at END,
          error_class = @cls, error_status = @status, error_message = @msg, updated_at = @now,
          lease_owner = NULL, lease_token = NULL, lease_until = NULL
        WHERE id = @id AND lease_token = @token AND state = 'running'
        RETURNING state`),
      finalState: p(`
        UPDATE jobs SET
          state = CASE WHEN revision <> claimed_revision THEN 'queued' ELSE @state END,
          attempts = CASE WHEN revision <> claimed_revision THEN 0 ELSE attempts END,
          run_at = @now, finished_at = @now, updated_at = @now,
          error_class = @cls, error_status = @status, error_message = @msg,
          lease_owner = NULL, lease_token = NULL, lease_until = NULL
        WHERE id = @id AND lease_token = @token AND state = 'running'`),
      release: p(`
        UPDATE jobs SET state = 'queued', attempts = max(0, attempts - 1), run_at = @now, updated_at = @now,
          lease_owner = NULL, lease_token = NULL, lease_until = NULL
        WHERE id = @id AND lease_token = @token AND state = 'running'`),
      requeueRunning: p(`
        UPDATE jobs SET
          state = CASE WHEN attempts >= @max THEN 'failed' ELSE 'queued' END,
          finished_at = CASE WHEN attempts >= @max THEN @now ELSE finished_at END,
          error_class = CASE WHEN attempts >= @max THEN 'interrupted' ELSE error_class END,
          error_message = CASE WHEN attempts >= @max
            THEN 'the download was interrupted ' || attempts || ' times (the process died or its lease expired each time)'
            ELSE error_message END,
          run_at = @now, updated_at = @now, lease_owner = NULL, lease_token = NULL, lease_until = NULL
        WHERE state = 'running' AND (@expiredOnly = 0 OR lease_until < @now)`),
      counts: p('SELECT state, count(*) AS n FROM jobs GROUP BY state'),
      bytesByState: p('SELECT state, coalesce(sum(remote_size), 0) AS b FROM jobs GROUP BY state'),
      failures: p("SELECT * FROM jobs INDEXED BY jobs_failed WHERE state = 'failed' ORDER BY finished_at DESC, id DESC LIMIT ?"),
      // three index-friendly parts (a single OR would scan and sort the whole table on every refresh
      // of the status page); retrying jobs wait for a later run_at than fresh ones, so the newest
      // 5000 run_at values of the queue hold them
      problemsFailed: p("SELECT * FROM jobs INDEXED BY jobs_failed WHERE state = 'failed' ORDER BY finished_at DESC, id DESC LIMIT ?"),
      problemsGone: p("SELECT * FROM jobs WHERE state = 'gone' ORDER BY updated_at DESC, id DESC LIMIT ?"),
      problemsRetrying: p(
        "SELECT * FROM (SELECT * FROM jobs INDEXED BY jobs_queued_run_at WHERE state = 'queued' ORDER BY run_at DESC LIMIT 5000) WHERE attempts > 0 AND error_class IS NOT NULL ORDER BY updated_at DESC, id DESC LIMIT ?",
      ),
      getJob: p('SELECT * FROM jobs WHERE key = ?'),
      nextRunAt: p("SELECT min(run_at) AS t FROM jobs WHERE state = 'queued'"),
      ...this.#layoutStatements(p),
      // retry: the error stays in the row until the next attempt overwrites it (status shows why it failed)
      requeueFailed: p(`
        UPDATE jobs SET state = 'queued', attempts = 0, run_at = @now, updated_at = @now, finished_at = NULL
        WHERE state = 'failed' AND (@key IS NULL OR key = @key) AND (@cls IS NULL OR error_class = @cls)`),
      jobBriefs: p('SELECT key, remote_size, run_at, local_path FROM jobs WHERE state = ? ORDER BY id'),
    };
  }

  static open(stateDir: string, opts: SqliteStoreOptions): SqliteStore {
    return new SqliteStore(openSqlite(stateDir, opts), opts);
  }

  async getCursor(): Promise<Cursor> {
    const r = this.#s.cursor!.get() as {
      hwm_ms: number | null;
      poll_started_at: number | null;
      poll_finished_at: number | null;
      poll_error: string | null;
      poll_error_class: string | null;
      poll_error_at: number | null;
      clock_skew_ms: number | null;
      clock_skew_at: number | null;
      source_info: string | null;
    };
    return {
      hwmMs: r.hwm_ms,
      sourceInfo: r.source_info,
      pollStartedAt: r.poll_started_at,
      pollFinishedAt: r.poll_finished_at,
      pollError: r.poll_error,
      pollErrorClass: r.poll_error_class,
      pollErrorAt: r.poll_error_at,
      clockSkewMs: r.clock_skew_ms,
      clockSkewAt: r.clock_skew_at,
    };
  }

  async startPoll(now: number): Promise<void> {
    this.#s.startPoll!.run(now);
  }

  async upsertPage(items: readonly RemoteAsset[], now: number): Promise<UpsertResult> {
    const stmt = this.#s.upsert!;
    const undelete = this.#s.undelete!;
    const relocate = this.#s.relocate!;
    const result: UpsertResult = { inserted: 0, changed: 0, unchanged: 0 };
    const tx = this.db.transaction(() => {
      for (const it of items) {
        // A key marked deleted_remote that is listed again is tracked again (and fetched again if its file was removed).
        undelete.run({ key: it.key, now });
        const row = stmt.get({ key: it.key, lm: it.lastModifiedMs, size: it.size, etag: it.etag, loc: it.locator ?? null, now }) as { revision: number } | undefined;
        if (!row) {
          result.unchanged++;
          if (it.locator) relocate.run({ key: it.key, loc: it.locator });
        }
        else if (row.revision === 0) result.inserted++;
        else result.changed++;
      }
    });
    tx.immediate();
    return result;
  }

  async setSourceInfo(info: string): Promise<void> {
    this.#s.setSourceInfo!.run(info);
  }

  async finishPoll(hwmMs: number | null, now: number, opts: FinishPollOptions = {}): Promise<void> {
    this.#s.finishPoll!.run({ hwm: hwmMs, now, cap: opts.capMs ?? null, skew: opts.clockSkewMs ?? null });
  }

  async failPoll(message: string, errorClass: string, now: number): Promise<void> {
    this.#s.failPoll!.run(message, errorClass, now);
  }

  #claimStmt(order: ClaimOrder): Statement {
    let s = this.#claimStmts.get(order);
    if (!s) {
      this.#ensureOrderIndex(order);
      // INDEXED BY: without statistics the planner picks jobs_state or jobs_queued_run_at and sorts
      // the whole queue for every claim (quadratic on a first sync); the order's index walks it.
      s = this.db.prepare(`
        UPDATE jobs SET state = 'running', attempts = attempts + 1, lease_owner = @owner, lease_token = @token,
          lease_until = @until, claimed_revision = revision, started_at = @now, updated_at = @now
        WHERE id IN (SELECT id FROM jobs INDEXED BY ${ORDER_INDEX[order]?.name ?? 'jobs_queued_newest'}
                     WHERE state = 'queued' AND run_at <= @now ORDER BY ${ORDER_SQL[order]} LIMIT @n)
        RETURNING id, key, remote_modified_ms, remote_size, remote_etag, revision, attempts, lease_token, lease_until, local_path, locator`);
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

  async claim(n: number, opts: ClaimOptions): Promise<ClaimedJob[]> {
    const stmt = this.#claimStmt(opts.order);
    const token = newLeaseToken();
    const rows = this.db
      .transaction(() => stmt.all({ owner: opts.owner, token, until: opts.now + opts.leaseMs, now: opts.now, n }))
      .immediate() as ClaimedRow[];
    return rows.map(rowToClaimed);
  }

  async heartbeat(id: number, token: string, leaseUntil: number, now: number): Promise<boolean> {
    return this.#s.heartbeat!.run(leaseUntil, now, id, token).changes === 1;
  }

  async commitPlaced(id: number, token: string, place: () => Promise<void>, r: CompleteInput & { leaseUntil: number }): Promise<PlacedOutcome> {
    // One process owns this state: no other replica can take the job over, and the heartbeat keeps
    // the lease while the rename runs. The check extends the lease; a commit that still finds it
    // lost after the rename is reported (placed: true) so the worker queues the key again.
    if (!(await this.heartbeat(id, token, r.leaseUntil, r.now))) return { placed: false, outcome: 'lost' };
    await place();
    return { placed: true, outcome: await this.complete(id, token, r) };
  }

  async requeueStale(id: number, now: number): Promise<boolean> {
    const r = this.db
      .prepare(
        `UPDATE jobs SET revision = revision + 1,
           state = CASE WHEN state = 'running' THEN 'running' ELSE 'queued' END,
           attempts = CASE WHEN state = 'running' THEN attempts ELSE 0 END,
           run_at = @now, updated_at = @now,
           error_class = CASE WHEN state = 'running' THEN error_class ELSE 'stale_file' END,
           error_message = CASE WHEN state = 'running' THEN error_message
             ELSE 'a worker that had lost its lease renamed an older version into place; fetched again' END
         WHERE id = @id`,
      )
      .run({ id, now });
    return r.changes === 1;
  }

  async complete(id: number, token: string, r: CompleteInput): Promise<CompleteOutcome> {
    const short = r.shortened === undefined ? null : r.shortened ? 1 : 0;
    const run = () => {
      // What the mirror held before decides created vs updated (read under the same write lock).
      const prior =
        this.#outboxSinks.length > 0
          ? (this.#o.prior!.get(id, token) as { key: string; remote_modified_ms: number; local_path: string | null } | undefined)
          : undefined;
      const row = this.#s.complete!.get({ id, token, path: r.localPath, bytes: r.bytes, sha: r.sha256, now: r.now, short }) as { state: string } | undefined;
      if (!row) return 'lost' as const;
      if (row.state !== 'done') return 'requeued' as const;
      // Folder markers are not files; downstream pipelines are told about files only.
      if (prior && !r.localPath.endsWith('/')) {
        this.#insertEvents(
          {
            event: prior.local_path ? 'updated' : 'created',
            key: prior.key,
            path: r.localPath,
            size: r.bytes,
            lastModifiedMs: prior.remote_modified_ms,
            sha256: r.sha256 || null,
          },
          r.now,
        );
      }
      return 'done' as const;
    };
    // One transaction: the done row and its notification rows commit together (or not at all).
    return this.#outboxSinks.length > 0 ? this.db.transaction(run).immediate() : run();
  }

  /** Insert one outbox row per configured sink. Synchronous, so it can join a caller's transaction. */
  #insertEvents(e: OutboxEventInput, now: number): number {
    for (const sink of this.#outboxSinks) {
      this.#o.insert!.run({ sink, event: e.event, key: e.key, path: e.path, size: e.size, lm: e.lastModifiedMs, sha: e.sha256, now });
    }
    return this.#outboxSinks.length;
  }

  /**
   * The same as recordEvent, synchronously, for SQLite code that records a deletion inside its own
   * transaction (so the deletion and its event commit together).
   */
  recordEventSync(e: OutboxEventInput, now: number): number {
    return this.#insertEvents(e, now);
  }

  async recordEvent(e: OutboxEventInput, now: number): Promise<number> {
    if (this.#outboxSinks.length === 0) return 0;
    return this.db.transaction(() => this.#insertEvents(e, now)).immediate();
  }

  async claimOutbox(sink: OutboxSink, n: number, now: number, leaseUntil: number): Promise<OutboxItem[]> {
    const rows = this.db.transaction(() => this.#o.claim!.all({ sink, n, now, until: leaseUntil })).immediate() as OutboxRow[];
    return rows
      .sort((a, b) => a.id - b.id)
      .map(rowToOutboxItem);
  }

  async ackOutbox(id: number): Promise<void> {
    this.#o.ack!.run(id);
  }

  async nackOutbox(id: number, r: { runAt: number; error: string; maxAttempts: number; now: number }): Promise<'retry' | 'failed'> {
    const row = this.#o.nack!.get({ id, runAt: r.runAt, err: r.error.slice(0, 2000), max: r.maxAttempts, now: r.now }) as { state: string } | undefined;
    return row?.state === 'failed' ? 'failed' : 'retry';
  }

  async releaseOutboxLeases(now: number): Promise<number> {
    return this.#o.release!.run({ now }).changes;
  }

  async nextOutboxAt(sink: OutboxSink): Promise<number | null> {
    return (this.#o.next!.get(sink) as { t: number | null }).t;
  }

  async pruneOutbox(r: { failedRetentionMs: number; sinks: readonly OutboxSink[]; now: number }): Promise<OutboxPruned> {
    const keep = JSON.stringify([...new Set(r.sinks)]);
    return this.db
      .transaction((): OutboxPruned => {
        const unconfigured: OutboxPruned['unconfigured'] = {};
        const gone = this.db.prepare('SELECT sink, count(*) AS n FROM outbox WHERE sink NOT IN (SELECT value FROM json_each(?)) GROUP BY sink').all(keep) as { sink: OutboxSink; n: number }[];
        for (const g of gone) unconfigured[g.sink] = g.n;
        if (gone.length > 0) this.db.prepare('DELETE FROM outbox WHERE sink NOT IN (SELECT value FROM json_each(?))').run(keep);
        const failed = this.db.prepare("DELETE FROM outbox WHERE state = 'failed' AND updated_at < ?").run(r.now - r.failedRetentionMs).changes;
        return { failed, unconfigured };
      })
      .immediate();
  }

  async outboxCounts(): Promise<Record<OutboxSink, OutboxCounts>> {
    const out: Record<OutboxSink, OutboxCounts> = { hook: { pending: 0, failed: 0 }, webhook: { pending: 0, failed: 0 } };
    for (const r of this.#o.counts!.all() as { sink: OutboxSink; state: 'pending' | 'failed'; n: number }[]) out[r.sink][r.state] = r.n;
    return out;
  }

  async backlog(): Promise<{ jobs: number; bytes: number }> {
    const r = this.#o.backlog!.get() as { n: number; b: number };
    return { jobs: r.n, bytes: r.b };
  }

  async mirrorTotals(): Promise<{ bytes: Record<JobState, number>; lastDoneAt: number | null }> {
    const bytes = Object.fromEntries(JOB_STATES.map((s) => [s, 0])) as Record<JobState, number>;
    let lastDoneAt: number | null = null;
    const rows = this.db.prepare('SELECT state, coalesce(sum(remote_size), 0) AS b, max(finished_at) AS f FROM jobs GROUP BY state').all() as { state: JobState; b: number; f: number | null }[];
    for (const r of rows) {
      bytes[r.state] = r.b;
      if (r.state === 'done') lastDoneAt = r.f;
    }
    return { bytes, lastDoneAt };
  }

  async retryLater(id: number, token: string, r: { runAt: number; error: JobError; now: number; consumeAttempt: boolean }): Promise<RetryOutcome> {
    const row = this.#s.retryLater!.get({
      id,
      token,
      consume: r.consumeAttempt ? 1 : 0,
      max: this.#maxAttempts,
      runAt: r.runAt,
      now: r.now,
      cls: r.error.errorClass,
      status: r.error.status ?? null,
      msg: r.error.message,
    }) as { state: string } | undefined;
    if (!row) return 'lost';
    return row.state === 'failed' ? 'failed' : 'queued';
  }

  #final(state: 'failed' | 'gone', id: number, token: string, e: JobError, now: number): boolean {
    return this.#s.finalState!.run({ id, token, state, now, cls: e.errorClass, status: e.status ?? null, msg: e.message }).changes === 1;
  }

  async fail(id: number, token: string, error: JobError, now: number): Promise<boolean> {
    return this.#final('failed', id, token, error, now);
  }

  async markGone(id: number, token: string, error: JobError, now: number): Promise<boolean> {
    return this.#final('gone', id, token, error, now);
  }

  async release(id: number, token: string, now: number): Promise<boolean> {
    return this.#s.release!.run({ id, token, now }).changes === 1;
  }

  async requeueOrphans(now: number): Promise<number> {
    return this.db.transaction(() => this.#s.requeueRunning!.run({ max: this.#maxAttempts, now, expiredOnly: 0 }).changes).immediate();
  }

  async sweepExpiredLeases(now: number): Promise<number> {
    return this.db.transaction(() => this.#s.requeueRunning!.run({ max: this.#maxAttempts, now, expiredOnly: 1 }).changes).immediate();
  }

  async counts(): Promise<Record<JobState, number>> {
    const out = Object.fromEntries(JOB_STATES.map((s) => [s, 0])) as Record<JobState, number>;
    for (const r of this.#s.counts!.all() as { state: JobState; n: number }[]) out[r.state] = r.n;
    return out;
  }

  async bytesByState(): Promise<Record<JobState, number>> {
    const out = Object.fromEntries(JOB_STATES.map((s) => [s, 0])) as Record<JobState, number>;
    for (const r of this.#s.bytesByState!.all() as { state: JobState; b: number }[]) out[r.state] = r.b;
    return out;
  }

  async recentFailures(limit: number): Promise<Job[]> {
    return (this.#s.failures!.all(limit) as JobRow[]).map(rowToJob);
  }

  async problemJobs(limit: number): Promise<Job[]> {
    const rows = [this.#s.problemsFailed!, this.#s.problemsGone!, this.#s.problemsRetrying!].flatMap((st) => st.all(limit) as JobRow[]);
    return rows
      .map(rowToJob)
      .sort((a, b) => b.updatedAt - a.updatedAt || b.id - a.id)
      .slice(0, limit);
  }

  async getJob(key: string): Promise<Job | null> {
    const r = this.#s.getJob!.get(key) as JobRow | undefined;
    return r ? rowToJob(r) : null;
  }

  async nextRunAt(): Promise<number | null> {
    return (this.#s.nextRunAt!.get() as { t: number | null }).t;
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

  async requeueFailed(sel: RequeueSelection, now: number): Promise<number> {
    const stmt = this.#s.requeueFailed!;
    const cls = sel.errorClass ?? null;
    return this.db
      .transaction(() => {
        if (sel.keys === undefined) return stmt.run({ key: null, cls, now }).changes;
        let n = 0;
        for (const key of new Set(sel.keys)) n += stmt.run({ key, cls, now }).changes;
        return n;
      })
      .immediate();
  }

  async jobBriefs(states: readonly JobState[]): Promise<JobBrief[]> {
    const out: JobBrief[] = [];
    for (const state of new Set(states)) {
      for (const r of this.#s.jobBriefs!.iterate(state) as Iterable<{ key: string; remote_size: number; run_at: number; local_path: string | null }>)
        out.push({ key: r.key, state, remoteSize: r.remote_size, runAt: r.run_at, localPath: r.local_path });
    }
    return out;
  }

  // --- mirror layout: path reservations, conflicts, reconcile, verify, manifest ---

  #layoutStatements(p: (sql: string) => Statement): Record<string, Statement> {
    return {
      undelete: p(`
        UPDATE jobs SET remote_deleted_at = NULL, local_removed = NULL,
          state = CASE WHEN local_removed IS NOT NULL AND state = 'done' THEN 'queued' ELSE state END,
          attempts = CASE WHEN local_removed IS NOT NULL AND state = 'done' THEN 0 ELSE attempts END,
          run_at = CASE WHEN local_removed IS NOT NULL AND state = 'done' THEN @now ELSE run_at END,
          updated_at = @now
        WHERE key = @key AND remote_deleted_at IS NOT NULL`),
      // Who already holds a folded path: a key that is done, running, or still has a file there.
      pathHolder: p(`
        SELECT key, mirror_path FROM jobs
        WHERE path_fold = @fold AND id <> @id AND (state IN ('done', 'running') OR local_path IS NOT NULL)
        ORDER BY (state = 'done') DESC, finished_at LIMIT 1`),
      reservePath: p("UPDATE jobs SET mirror_path = @path, path_fold = @fold WHERE id = @id AND lease_token = @token AND state = 'running'"),
      pathOwner: p(`
        SELECT key FROM jobs
        WHERE key <> @ex AND mirror_path IS NOT NULL AND (state IN ('done', 'running') OR local_path IS NOT NULL)
          AND (mirror_path = @p OR mirror_path = @p || '/' OR substr(mirror_path, 1, length(@p) + 1) = @p || '/'
               OR path_fold = @f OR path_fold = @f || '/' OR substr(path_fold, 1, length(@f) + 1) = @f || '/')
        ORDER BY (state = 'done') DESC, finished_at LIMIT 1`),
      skip: p(`
        UPDATE jobs SET
          state = CASE WHEN revision <> claimed_revision THEN 'queued' ELSE 'done' END,
          attempts = CASE WHEN revision <> claimed_revision THEN 0 ELSE attempts END,
          run_at = @now, finished_at = @now, updated_at = @now,
          local_path = NULL, mirror_path = NULL, path_fold = NULL, bytes_written = NULL, sha256 = NULL,
          error_class = @cls, error_status = NULL, error_message = @msg,
          lease_owner = NULL, lease_token = NULL, lease_until = NULL
        WHERE id = @id AND lease_token = @token AND state = 'running'`),
      listJobs: p('SELECT * FROM jobs WHERE id > ? ORDER BY id LIMIT ?'),
      requeue: p(`
        UPDATE jobs SET state = 'queued', attempts = 0, run_at = @now, updated_at = @now,
          error_class = @cls, error_status = NULL, error_message = @msg
        WHERE id = @id AND state <> 'running'`),
      startReconcile: p('INSERT INTO reconciles (started_at, policy) VALUES (?, ?) RETURNING id'),
      markListed: p(`
        UPDATE jobs SET seen_reconcile = @rid,
          remote_deleted_at = CASE WHEN local_removed IS NULL THEN NULL ELSE remote_deleted_at END
        WHERE key = @key`),
      // Rows created after the listing started may simply have appeared after it passed them.
      candidates: p(`
        SELECT * FROM jobs
        WHERE (seen_reconcile IS NULL OR seen_reconcile <> @rid) AND remote_deleted_at IS NULL AND state <> 'running'
          AND created_at < (SELECT started_at FROM reconciles WHERE id = @rid)
        ORDER BY id`),
      tracked: p('SELECT count(*) AS n FROM jobs WHERE remote_deleted_at IS NULL'),
      markRemoteDeleted: p(`
        UPDATE jobs SET remote_deleted_at = @now, local_removed = @removed,
          local_path = CASE WHEN @removed IS NULL THEN local_path ELSE NULL END,
          mirror_path = CASE WHEN @removed IS NULL THEN mirror_path ELSE NULL END,
          path_fold = CASE WHEN @removed IS NULL THEN path_fold ELSE NULL END,
          error_class = CASE WHEN state IN ('queued', 'failed') THEN 'deleted_remote' ELSE error_class END,
          error_message = CASE WHEN state IN ('queued', 'failed') THEN 'no longer listed by the API (full reconciliation listing)' ELSE error_message END,
          state = CASE WHEN state IN ('queued', 'failed') THEN 'gone' ELSE state END,
          updated_at = @now
        WHERE id = @id AND state <> 'running' AND remote_deleted_at IS NULL`),
      finishReconcile: p(`
        UPDATE reconciles SET finished_at = @now, listed = @listed, queued = @queued, missing = @missing, applied = @applied,
          guarded = @guarded, error = @error, error_class = @cls
        WHERE id = @id`),
      lastReconcile: p('SELECT * FROM reconciles ORDER BY id DESC LIMIT 1'),
      remoteDeleted: p('SELECT count(*) AS n FROM jobs WHERE remote_deleted_at IS NOT NULL'),
    };
  }

  async reservePath(id: number, token: string, r: { mirrorPath: string; pathFold: string }): Promise<PathReservation> {
    return this.db
      .transaction((): PathReservation => {
        const holder = this.#s.pathHolder!.get({ fold: r.pathFold, id }) as { key: string; mirror_path: string } | undefined;
        if (holder) return { ok: true, owner: { key: holder.key, mirrorPath: holder.mirror_path } };
        const ok = this.#s.reservePath!.run({ path: r.mirrorPath, fold: r.pathFold, id, token }).changes === 1;
        return { ok, owner: null };
      })
      .immediate();
  }

  async findPathOwner(r: { relPath: string; pathFold: string }, excludeKey: string): Promise<string | null> {
    const row = this.#s.pathOwner!.get({ p: r.relPath, f: r.pathFold, ex: excludeKey }) as { key: string } | undefined;
    return row?.key ?? null;
  }

  async skip(id: number, token: string, error: JobError, now: number): Promise<boolean> {
    return this.#s.skip!.run({ id, token, now, cls: error.errorClass, msg: error.message }).changes === 1;
  }

  async listJobs(afterId: number, limit: number): Promise<Job[]> {
    return (this.#s.listJobs!.all(afterId, limit) as JobRow[]).map(rowToJob);
  }

  async requeue(ids: readonly number[], error: JobError, now: number): Promise<number> {
    const stmt = this.#s.requeue!;
    return this.db
      .transaction(() => {
        let n = 0;
        for (const id of ids) n += stmt.run({ id, now, cls: error.errorClass, msg: error.message }).changes;
        return n;
      })
      .immediate();
  }

  async startReconcile(now: number, policy: string): Promise<number> {
    return (this.#s.startReconcile!.get(now, policy) as { id: number }).id;
  }

  async markListed(keys: readonly string[], reconcileId: number, _now: number): Promise<void> {
    const stmt = this.#s.markListed!;
    this.db
      .transaction(() => {
        for (const key of keys) stmt.run({ key, rid: reconcileId });
      })
      .immediate();
  }

  async reconcileCandidates(reconcileId: number): Promise<Job[]> {
    return (this.#s.candidates!.all({ rid: reconcileId }) as JobRow[]).map(rowToJob);
  }

  async trackedCount(): Promise<number> {
    return (this.#s.tracked!.get() as { n: number }).n;
  }

  async markRemoteDeleted(id: number, r: { now: number; removed: 'trash' | 'delete' | null }): Promise<boolean> {
    return this.#s.markRemoteDeleted!.run({ id, now: r.now, removed: r.removed }).changes === 1;
  }

  async finishReconcile(
    id: number,
    r: { now: number; listed: number; queued: number; missing: number; applied: number; guarded: boolean; error?: { message: string; errorClass: string } },
  ): Promise<void> {
    this.#s.finishReconcile!.run({
      id,
      now: r.now,
      listed: r.listed,
      queued: r.queued,
      missing: r.missing,
      applied: r.applied,
      guarded: r.guarded ? 1 : 0,
      error: r.error?.message ?? null,
      cls: r.error?.errorClass ?? null,
    });
  }

  async lastReconcile(): Promise<ReconcileRecord | null> {
    const r = this.#s.lastReconcile!.get() as ReconcileRow | undefined;
    return r ? rowToReconcile(r) : null;
  }

  async remoteDeletedCount(): Promise<number> {
    return (this.#s.remoteDeleted!.get() as { n: number }).n;
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}
