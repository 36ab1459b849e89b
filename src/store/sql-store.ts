// The state machine over SQL, once for both backends: every method that runs statements of
// src/store/sql/* one at a time lives here. A backend supplies how a statement runs (SqlExec, in
// sql/dialect.ts), its time base (toHost), whether it is the state's only process (soleOwner) and
// its wake-up of other replicas; it keeps its connections, its transactions (the listing upsert,
// completions, path reservations, commits around a rename), its locks and its notifications.
import { JOB_STATES, type ClaimedJob, type ClaimOptions, type CompleteInput, type CompleteOutcome, type Cursor, type FinishPollOptions, type Job, type JobBrief, type JobError, type JobState, type OutboxCounts, type OutboxEventInput, type OutboxItem, type OutboxPruned, type OutboxSink, type ReconcileRecord, type RequeueSelection, type RetryOutcome, type BatchCompletion, type CompleteBatchRow, type LeaseRef } from './types.js';
import { rowToClaimed, rowToJob, rowToOutboxItem, rowToReconcile, sizeOfColumn, type ClaimedRow, type JobRow, type OutboxRow, type ReconcileRow } from './rows.js';
import { newLeaseToken } from './migrations.js';
import { SqlCatalogStore, type CatalogStore } from './catalog-store.js';
import type { Dialect, Params, SqlExec } from './sql/dialect.js';
import { claimedInOrder, claimJobsSql } from './sql/claim-jobs.js';
import { completeJobsSql } from './sql/complete-jobs.js';
import { cursorSql, type CursorRow } from './sql/cursor.js';
import { failJobsSql } from './sql/fail-jobs.js';
import { leaseJobsSql } from './sql/lease-jobs.js';
import { requeueJobsSql } from './sql/requeue-jobs.js';
import { MIRROR_PATHS } from './sql/mirror-paths.js';
import { outboxSql } from './sql/outbox.js';
import { pollerLeaseSql } from './sql/poller-lease.js';
import { reconcileSql } from './sql/reconcile.js';
import { statusSql } from './sql/status.js';
import { upsertListingSql } from './sql/upsert-listing.js';

export type { SqlExec };

export function queriesFor(d: Dialect) {
  return {
    lease: leaseJobsSql(d),
    fail: failJobsSql(d),
    requeue: requeueJobsSql(d),
    complete: completeJobsSql(d),
    paths: MIRROR_PATHS,
    listing: upsertListingSql(d),
    cursor: cursorSql(d),
    outbox: outboxSql(d),
    pollerLease: pollerLeaseSql(d),
    reconcile: reconcileSql(d),
    status: statusSql(d),
  };
}
export type Queries = ReturnType<typeof queriesFor>;

/** A delay in whole ms, never negative: what a statement adds to its backend's now. */
export function delayMs(ms: number): number {
  return Math.max(0, Math.round(ms));
}

const num = (v: unknown): number => Number(v);

export abstract class SqlStore {
  protected readonly q: Queries;
  protected readonly d: Dialect;
  protected readonly maxAttempts: number;
  protected readonly sinks: readonly OutboxSink[];
  #catalog: CatalogStore | null = null;

  protected constructor(d: Dialect, opts: { maxAttempts: number; outboxSinks?: readonly OutboxSink[] | undefined }) {
    this.d = d;
    this.q = queriesFor(d);
    this.maxAttempts = opts.maxAttempts;
    this.sinks = [...new Set(opts.outboxSinks ?? [])];
  }

  protected abstract get x(): SqlExec;
  /**
   * One process owns the state (SQLite, under the instance lock): every lease in it is this
   * process's own. False on PostgreSQL, where a lease may be a live replica's until it expires.
   */
  protected abstract readonly soleOwner: boolean;
  /** A `hostTime` result in the caller's time base. */
  protected abstract toHost(t: number): number;
  /** Tell other processes that work was queued (PostgreSQL NOTIFY); nothing for SQLite. */
  protected async wake(): Promise<void> {}

  /** The STAC catalog's tables, in the same database. */
  get catalog(): CatalogStore {
    return (this.#catalog ??= new SqlCatalogStore(this.x, this.d));
  }

  async #one<R>(sql: string, params?: Params): Promise<R | undefined> {
    return (await this.x.all<R>(sql, params))[0];
  }

  // --- cursor ---

  async getCursor(): Promise<Cursor> {
    const r = (await this.#one<CursorRow>(this.q.cursor.get))!;
    return {
      hwmMs: r.hwm_ms === null ? null : num(r.hwm_ms),
      sourceInfo: r.source_info ?? null,
      pollStartedAt: r.poll_started_at,
      pollFinishedAt: r.poll_finished_at,
      pollError: r.poll_error,
      pollErrorClass: r.poll_error_class,
      pollErrorAt: r.poll_error_at,
      clockSkewMs: r.clock_skew_ms === null || r.clock_skew_ms === undefined ? null : num(r.clock_skew_ms),
      clockSkewAt: r.clock_skew_at === null || r.clock_skew_at === undefined ? null : num(r.clock_skew_at),
    };
  }

  async startPoll(now: number): Promise<void> {
    await this.x.run(this.q.cursor.startPoll, { now });
  }

  async setSourceInfo(info: string): Promise<void> {
    await this.x.run(this.q.cursor.setSourceInfo, { info });
  }

  async finishPoll(hwmMs: number | null, now: number, opts: FinishPollOptions = {}): Promise<void> {
    await this.x.run(this.q.cursor.finishPoll, { hwm: hwmMs, now, cap: opts.capMs ?? null, skew: opts.clockSkewMs ?? null });
  }

  async failPoll(message: string, errorClass: string, now: number): Promise<void> {
    await this.x.run(this.q.cursor.failPoll, { msg: message, cls: errorClass, now });
  }

  // --- claims and leased job transitions ---

  async claimJobs(n: number, opts: ClaimOptions): Promise<ClaimedJob[]> {
    const params = { n, owner: opts.owner, token: newLeaseToken(), leaseMs: delayMs(opts.leaseMs), now: opts.now, max: this.maxAttempts };
    const rows = await this.x.writing.all<ClaimedRow>(this.claimSql(opts.order), params);
    return claimedInOrder(rows.map(rowToClaimed), opts.order);
  }

  /** The claim statement of an order (SQLite first makes sure the order's index is there). */
  protected claimSql(order: ClaimOptions['order'], started = true): string {
    return claimJobsSql(this.d, order, started);
  }

  async complete(id: number, token: string, r: CompleteInput): Promise<CompleteOutcome> {
    return (await this.completeBatch([{ ...r, id, token }]))[0]!.outcome;
  }

  abstract completeBatch(rows: readonly CompleteBatchRow[]): Promise<BatchCompletion[]>;

  /** Start-up: running jobs of a dead process go back to the queue; only expired leases unless soleOwner. */
  async requeueOrphans(now: number): Promise<number> {
    return this.#requeueRunning(now, !this.soleOwner);
  }

  async sweepExpiredLeases(now: number): Promise<number> {
    return this.#requeueRunning(now, true);
  }

  async #requeueRunning(now: number, expiredOnly: boolean): Promise<number> {
    const n = await this.x.writing.run(this.q.lease.requeueRunning, { max: this.maxAttempts, now, expiredOnly: expiredOnly ? 1 : 0 });
    if (n > 0) await this.wake();
    return n;
  }

  /** Many in one transaction: SQLite one prepared statement per job, PostgreSQL one statement. */
  abstract markStartedMany(jobs: readonly LeaseRef[], now: number): Promise<number[]>;

  async heartbeat(id: number, token: string, leaseMs: number, now: number): Promise<boolean> {
    return (await this.x.run(this.q.lease.heartbeat, { id, token, leaseMs: delayMs(leaseMs), now })) === 1;
  }

  async requeueStale(id: number, now: number): Promise<boolean> {
    const ok = (await this.x.run(this.q.requeue.requeueStale, { id, now })) === 1;
    if (ok) await this.wake();
    return ok;
  }

  async retryLater(id: number, token: string, r: { retryAfterMs: number; error: JobError; now: number; consumeAttempt: boolean }): Promise<RetryOutcome> {
    const delay = delayMs(r.retryAfterMs);
    const row = await this.#one<{ state: string }>(this.q.fail.retryLater, {
      id,
      token,
      consume: r.consumeAttempt ? 1 : 0,
      max: this.maxAttempts,
      delayMs: delay,
      now: r.now,
      cls: r.error.errorClass,
      status: r.error.status ?? null,
      msg: r.error.message,
    });
    if (!row) return 'lost';
    if (row.state === 'failed') return 'failed';
    if (delay === 0) await this.wake();
    return 'queued';
  }

  async #final(state: 'failed' | 'gone', id: number, token: string, e: JobError, now: number): Promise<boolean> {
    return (await this.x.run(this.q.fail.finalState, { id, token, state, now, cls: e.errorClass, status: e.status ?? null, msg: e.message })) === 1;
  }

  async fail(id: number, token: string, error: JobError, now: number): Promise<boolean> {
    return this.#final('failed', id, token, error, now);
  }

  async markGone(id: number, token: string, error: JobError, now: number): Promise<boolean> {
    return this.#final('gone', id, token, error, now);
  }

  async skip(id: number, token: string, error: JobError, now: number): Promise<boolean> {
    return (await this.x.run(this.q.fail.skip, { id, token, now, cls: error.errorClass, msg: error.message })) === 1;
  }

  async release(id: number, token: string, now: number): Promise<boolean> {
    const ok = (await this.x.run(this.q.lease.release, { id, token, now })) === 1;
    if (ok) await this.wake();
    return ok;
  }

  async findPathOwner(r: { relPath: string; pathFold: string }, excludeKey: string): Promise<string | null> {
    return (await this.#one<{ key: string }>(this.q.paths.pathOwner, { p: r.relPath, f: r.pathFold, ex: excludeKey }))?.key ?? null;
  }

  // --- operator controls ---

  async requeueFailed(sel: RequeueSelection, now: number): Promise<number> {
    const keys = sel.keys === undefined ? null : this.d.listParam([...new Set(sel.keys)]);
    const n = await this.x.run(this.q.requeue.requeueFailed, { keys, cls: sel.errorClass ?? null, now });
    if (n > 0) await this.wake();
    return n;
  }

  async requeue(ids: readonly number[], error: JobError, now: number): Promise<number> {
    const n = await this.x.run(this.q.requeue.requeue, { ids: this.d.listParam([...new Set(ids)]), now, cls: error.errorClass, msg: error.message });
    if (n > 0) await this.wake();
    return n;
  }

  // --- status ---

  async counts(): Promise<Record<JobState, number>> {
    const out = Object.fromEntries(JOB_STATES.map((s) => [s, 0])) as Record<JobState, number>;
    for (const r of await this.x.all<{ state: JobState; n: number }>(this.q.status.counts)) out[r.state] = num(r.n);
    return out;
  }

  async bytesByState(): Promise<Record<JobState, number>> {
    const out = Object.fromEntries(JOB_STATES.map((s) => [s, 0])) as Record<JobState, number>;
    for (const r of await this.x.all<{ state: JobState; b: number }>(this.q.status.bytesByState)) out[r.state] = num(r.b);
    return out;
  }

  async recentFailures(limit: number): Promise<Job[]> {
    return (await this.x.all<JobRow>(this.q.status.failures, { limit })).map(rowToJob);
  }

  async problemJobs(limit: number): Promise<Job[]> {
    const s = this.q.status;
    const rows: (JobRow & { t: number })[] = [];
    for (const sql of [s.problemsFailed, s.problemsGone, s.problemsRetrying]) rows.push(...(await this.x.all<JobRow & { t: number }>(sql, { limit })));
    // run_at in the caller's time base (next retry)
    return rows
      .map((r) => ({ ...rowToJob(r), runAt: this.toHost(num(r.t)) }))
      .sort((a, b) => b.updatedAt - a.updatedAt || b.id - a.id)
      .slice(0, limit);
  }

  async getJob(key: string): Promise<Job | null> {
    const r = await this.#one<JobRow>(this.q.status.getJob, { key });
    return r ? rowToJob(r) : null;
  }

  async getJobs(keys: readonly string[]): Promise<Map<string, Job>> {
    const out = new Map<string, Job>();
    if (keys.length === 0) return out;
    for (const r of await this.x.all<JobRow>(this.q.status.getJobs, { keys: this.d.listParam(keys) })) out.set(r.key, rowToJob(r));
    return out;
  }

  async nextRunAt(): Promise<number | null> {
    const t = (await this.#one<{ t: number | null }>(this.q.status.nextRunAt))?.t ?? null;
    return t === null ? null : this.toHost(num(t));
  }

  async jobBriefs(states: readonly JobState[]): Promise<JobBrief[]> {
    const order = [...new Set(states)];
    const rows = await this.x.all<{ key: string; state: JobState; remote_size: number; t: number; local_path: string | null }>(this.q.status.jobBriefs, {
      states: this.d.listParam(order),
    });
    // grouped by state in the order asked, by id within a state
    return rows
      .sort((a, b) => order.indexOf(a.state) - order.indexOf(b.state))
      .map((r) => ({ key: r.key, state: r.state, remoteSize: sizeOfColumn(r.remote_size), runAt: this.toHost(num(r.t)), localPath: r.local_path }));
  }

  async backlog(): Promise<{ jobs: number; bytes: number }> {
    const r = (await this.#one<{ n: number; b: number }>(this.q.status.backlog))!;
    return { jobs: num(r.n), bytes: num(r.b) };
  }

  async mirrorTotals(): Promise<{ bytes: Record<JobState, number>; unknown: Record<JobState, number>; lastDoneAt: number | null }> {
    const bytes = Object.fromEntries(JOB_STATES.map((s) => [s, 0])) as Record<JobState, number>;
    const unknown = { ...bytes };
    let lastDoneAt: number | null = null;
    for (const r of await this.x.all<{ state: JobState; b: number; u: number; f: number | null }>(this.q.status.mirrorTotals)) {
      bytes[r.state] = num(r.b);
      unknown[r.state] = num(r.u);
      if (r.state === 'done') lastDoneAt = r.f === null ? null : num(r.f);
    }
    return { bytes, unknown, lastDoneAt };
  }

  async listJobs(afterId: number, limit: number): Promise<Job[]> {
    return (await this.x.all<JobRow>(this.q.status.listJobs, { after: afterId, limit })).map(rowToJob);
  }

  // --- notification outbox ---

  #outboxParams(e: OutboxEventInput, now: number): Params {
    return { sinks: this.d.listParam(this.sinks), event: e.event, key: e.key, path: e.path, size: e.size, lm: e.lastModifiedMs, sha: e.sha256, now };
  }

  async recordEvent(e: OutboxEventInput, now: number): Promise<number> {
    if (this.sinks.length === 0) return 0;
    await this.x.run(this.q.outbox.insert, this.#outboxParams(e, now));
    return this.sinks.length;
  }

  async claimOutbox(sink: OutboxSink, n: number, now: number, leaseMs: number): Promise<OutboxItem[]> {
    const rows = await this.x.writing.all<OutboxRow>(this.q.outbox.claim, { sink, n, now, leaseMs: delayMs(leaseMs) });
    return rows.sort((a, b) => a.id - b.id).map(rowToOutboxItem);
  }

  /** Start-up: leases of a dead process's deliveries; only expired ones unless soleOwner (a delivery in flight may be a live replica's). */
  async releaseOutboxLeases(now: number): Promise<number> {
    return this.x.run(this.soleOwner ? this.q.outbox.releaseAll : this.q.outbox.releaseExpired, { now });
  }

  /** Two independent deletes: a prune cut short between them leaves the rest to the next one. */
  async pruneOutbox(r: { failedRetentionMs: number; sinks: readonly OutboxSink[]; now: number }): Promise<OutboxPruned> {
    const unconfigured: OutboxPruned['unconfigured'] = {};
    const gone = await this.x.writing.all<{ sink: OutboxSink }>(this.q.outbox.pruneUnconfigured, { sinks: this.d.listParam([...new Set(r.sinks)]) });
    for (const g of gone) unconfigured[g.sink] = (unconfigured[g.sink] ?? 0) + 1;
    const failed = await this.x.writing.run(this.q.outbox.pruneFailed, { now: r.now, retentionMs: delayMs(r.failedRetentionMs) });
    return { failed, unconfigured };
  }

  async ackOutbox(id: number): Promise<void> {
    await this.x.run(this.q.outbox.ack, { id });
  }

  async nackOutbox(id: number, r: { retryAfterMs: number; error: string; maxAttempts: number; now: number }): Promise<'retry' | 'failed'> {
    const row = await this.#one<{ state: string }>(this.q.outbox.nack, { id, delayMs: delayMs(r.retryAfterMs), err: r.error.slice(0, 2000), max: r.maxAttempts, now: r.now });
    return row?.state === 'failed' ? 'failed' : 'retry';
  }

  async nextOutboxAt(sink: OutboxSink): Promise<number | null> {
    const t = (await this.#one<{ t: number | null }>(this.q.outbox.next, { sink }))?.t ?? null;
    return t === null ? null : this.toHost(num(t));
  }

  async outboxCounts(): Promise<Record<OutboxSink, OutboxCounts>> {
    const out: Record<OutboxSink, OutboxCounts> = { hook: { pending: 0, failed: 0 }, webhook: { pending: 0, failed: 0 } };
    for (const r of await this.x.all<{ sink: OutboxSink; state: 'pending' | 'failed'; n: number }>(this.q.outbox.counts)) out[r.sink][r.state] = num(r.n);
    return out;
  }

  // --- reconcile ---

  async startReconcile(now: number, policy: string): Promise<number> {
    return num((await this.#one<{ id: number }>(this.q.reconcile.start, { now, policy }))!.id);
  }

  async markListed(keys: readonly string[], reconcileId: number): Promise<void> {
    await this.x.run(this.q.reconcile.markListed, { keys: this.d.listParam(keys), rid: reconcileId });
  }

  async reconcileCandidates(reconcileId: number): Promise<Job[]> {
    return (await this.x.all<JobRow>(this.q.reconcile.candidates, { rid: reconcileId })).map(rowToJob);
  }

  async trackedCount(): Promise<number> {
    return num((await this.#one<{ n: number }>(this.q.reconcile.tracked))!.n);
  }

  async markRemoteDeleted(id: number, r: { now: number; removed: 'trash' | 'delete' | null }): Promise<boolean> {
    return (await this.x.run(this.q.reconcile.markRemoteDeleted, { id, now: r.now, removed: r.removed })) === 1;
  }

  async finishReconcile(
    id: number,
    r: { now: number; listed: number; queued: number; missing: number; applied: number; guarded: boolean; error?: { message: string; errorClass: string } },
  ): Promise<void> {
    await this.x.run(this.q.reconcile.finish, {
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
    const r = await this.#one<ReconcileRow>(this.q.reconcile.last);
    return r ? rowToReconcile(r) : null;
  }

  async remoteDeletedCount(): Promise<number> {
    return num((await this.#one<{ n: number }>(this.q.reconcile.remoteDeleted))!.n);
  }
}
