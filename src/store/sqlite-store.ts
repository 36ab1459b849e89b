// The SQLite implementation of StateStore. All SQL for SQLite lives here. Every read-then-write
// transaction is BEGIN IMMEDIATE (a deferred one can fail with SQLITE_BUSY_SNAPSHOT whatever the
// busy_timeout). No network I/O ever happens inside a transaction.
import { randomBytes } from 'node:crypto';
import type { Statement } from 'better-sqlite3';
import type { RemoteAsset } from '../api/wire.js';
import type { ClaimOrder } from '../config/schema.js';
import { openSqlite, type SqliteDb, type OpenOptions } from './sqlite.js';
import {
  JOB_STATES,
  type ClaimOptions,
  type ClaimedJob,
  type CompleteOutcome,
  type Cursor,
  type Job,
  type JobError,
  type JobState,
  type RetryOutcome,
  type StateStore,
  type UpsertResult,
} from './types.js';

const ORDER_SQL: Record<ClaimOrder, string> = {
  'newest-first': 'remote_modified_ms DESC, id',
  'oldest-first': 'remote_modified_ms ASC, id',
  'smallest-first': 'remote_size ASC, id',
  key: 'key',
};

interface JobRow {
  id: number;
  key: string;
  remote_modified_ms: number;
  remote_size: number;
  remote_etag: string | null;
  revision: number;
  state: JobState;
  attempts: number;
  run_at: number;
  error_class: string | null;
  error_status: number | null;
  error_message: string | null;
  local_path: string | null;
  local_modified_ms: number | null;
  bytes_written: number | null;
  sha256: string | null;
  updated_at: number;
  finished_at: number | null;
}

export function rowToJob(r: JobRow): Job {
  return {
    id: r.id,
    key: r.key,
    remoteModifiedMs: r.remote_modified_ms,
    remoteSize: r.remote_size,
    remoteEtag: r.remote_etag,
    revision: r.revision,
    state: r.state,
    attempts: r.attempts,
    runAt: r.run_at,
    errorClass: r.error_class,
    errorStatus: r.error_status,
    errorMessage: r.error_message,
    localPath: r.local_path,
    localModifiedMs: r.local_modified_ms,
    bytesWritten: r.bytes_written,
    sha256: r.sha256,
    updatedAt: r.updated_at,
    finishedAt: r.finished_at,
  };
}

export function newLeaseToken(): string {
  return randomBytes(12).toString('base64url');
}

export interface SqliteStoreOptions extends OpenOptions {
  maxAttempts: number;
}

export class SqliteStore implements StateStore {
  readonly backend = 'sqlite' as const;
  readonly db: SqliteDb;
  readonly #maxAttempts: number;
  readonly #s: Record<string, Statement>;
  readonly #claimStmts = new Map<ClaimOrder, Statement>();

  constructor(db: SqliteDb, opts: { maxAttempts: number }) {
    this.db = db;
    this.#maxAttempts = opts.maxAttempts;
    const p = (sql: string) => db.prepare(sql);
    this.#s = {
      cursor: p('SELECT hwm_ms, poll_started_at, poll_finished_at, poll_error, poll_error_class, poll_error_at FROM cursor WHERE id = 1'),
      startPoll: p('UPDATE cursor SET poll_started_at = ? WHERE id = 1'),
      finishPoll: p(
        'UPDATE cursor SET hwm_ms = CASE WHEN @hwm IS NULL THEN hwm_ms WHEN hwm_ms IS NULL OR @hwm > hwm_ms THEN @hwm ELSE hwm_ms END, poll_finished_at = @now, poll_error = NULL, poll_error_class = NULL, poll_error_at = NULL WHERE id = 1',
      ),
      failPoll: p('UPDATE cursor SET poll_error = ?, poll_error_class = ?, poll_error_at = ? WHERE id = 1'),
      upsert: p(`
        INSERT INTO jobs (key, remote_modified_ms, remote_size, remote_etag, state, run_at, created_at, updated_at)
        VALUES (@key, @lm, @size, @etag, 'queued', @now, @now, @now)
        ON CONFLICT (key) DO UPDATE SET
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
      failures: p("SELECT * FROM jobs WHERE state = 'failed' ORDER BY finished_at DESC, id DESC LIMIT ?"),
      getJob: p('SELECT * FROM jobs WHERE key = ?'),
      nextRunAt: p("SELECT min(run_at) AS t FROM jobs WHERE state = 'queued'"),
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
    };
    return {
      hwmMs: r.hwm_ms,
      pollStartedAt: r.poll_started_at,
      pollFinishedAt: r.poll_finished_at,
      pollError: r.poll_error,
      pollErrorClass: r.poll_error_class,
      pollErrorAt: r.poll_error_at,
    };
  }

  async startPoll(now: number): Promise<void> {
    this.#s.startPoll!.run(now);
  }

  async upsertPage(items: readonly RemoteAsset[], now: number): Promise<UpsertResult> {
    const stmt = this.#s.upsert!;
    const result: UpsertResult = { inserted: 0, changed: 0, unchanged: 0 };
    const tx = this.db.transaction(() => {
      for (const it of items) {
        const row = stmt.get({ key: it.key, lm: it.lastModifiedMs, size: it.size, etag: it.etag, now }) as { revision: number } | undefined;
        if (!row) result.unchanged++;
        else if (row.revision === 0) result.inserted++;
        else result.changed++;
      }
    });
    tx.immediate();
    return result;
  }

  async finishPoll(hwmMs: number | null, now: number): Promise<void> {
    this.#s.finishPoll!.run({ hwm: hwmMs, now });
  }

  async failPoll(message: string, errorClass: string, now: number): Promise<void> {
    this.#s.failPoll!.run(message, errorClass, now);
  }

  #claimStmt(order: ClaimOrder): Statement {
    let s = this.#claimStmts.get(order);
    if (!s) {
      s = this.db.prepare(`
        UPDATE jobs SET state = 'running', attempts = attempts + 1, lease_owner = @owner, lease_token = @token,
          lease_until = @until, claimed_revision = revision, started_at = @now, updated_at = @now
        WHERE id IN (SELECT id FROM jobs WHERE state = 'queued' AND run_at <= @now ORDER BY ${ORDER_SQL[order]} LIMIT @n)
        RETURNING id, key, remote_modified_ms, remote_size, remote_etag, revision, attempts, lease_token, lease_until, local_path`);
      this.#claimStmts.set(order, s);
    }
    return s;
  }

  async claim(n: number, opts: ClaimOptions): Promise<ClaimedJob[]> {
    const stmt = this.#claimStmt(opts.order);
    const token = newLeaseToken();
    const rows = this.db
      .transaction(() => stmt.all({ owner: opts.owner, token, until: opts.now + opts.leaseMs, now: opts.now, n }))
      .immediate() as {
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
    }[];
    return rows.map((r) => ({
      id: r.id,
      key: r.key,
      remoteModifiedMs: r.remote_modified_ms,
      remoteSize: r.remote_size,
      remoteEtag: r.remote_etag,
      revision: r.revision,
      attempts: r.attempts,
      leaseToken: r.lease_token,
      leaseUntil: r.lease_until,
      localPath: r.local_path,
    }));
  }

  async heartbeat(id: number, token: string, leaseUntil: number, now: number): Promise<boolean> {
    return this.#s.heartbeat!.run(leaseUntil, now, id, token).changes === 1;
  }

  async complete(id: number, token: string, r: { localPath: string; bytes: number; sha256: string; now: number }): Promise<CompleteOutcome> {
    const row = this.#s.complete!.get({ id, token, path: r.localPath, bytes: r.bytes, sha: r.sha256, now: r.now }) as { state: string } | undefined;
    if (!row) return 'lost';
    return row.state === 'done' ? 'done' : 'requeued';
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

  async recentFailures(limit: number): Promise<Job[]> {
    return (this.#s.failures!.all(limit) as JobRow[]).map(rowToJob);
  }

  async getJob(key: string): Promise<Job | null> {
    const r = this.#s.getJob!.get(key) as JobRow | undefined;
    return r ? rowToJob(r) : null;
  }

  async nextRunAt(): Promise<number | null> {
    return (this.#s.nextRunAt!.get() as { t: number | null }).t;
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}
