// N worker loops that claim and process jobs. In 'continuous' mode (run) they wait for work; in
// 'drain' mode (sync) they stop once the poll is done and nothing is due. Stopping is two-phase:
// stop claiming, let in-flight downloads finish within the grace period, then abort them (their
// partials are kept and their jobs released without consuming an attempt).
import { setMaxListeners } from 'node:events';
import { SyncError } from '../errors.js';
import type { ClaimOrder } from '../config/schema.js';
import type { Logger } from '../lib/logger.js';
import type { ClaimedJob, WorkerStore } from '../store/types.js';
import type { Gate } from './gate.js';
import { processJob, type JobOutcome, type WorkerContext } from './worker.js';
import { Wakeup, timerDelay } from '../lib/timers.js';
import { CommitBatcher } from '../download/group-commit.js';
import { claimPath } from '../download/target.js';
import { ClaimWindow } from './claim-window.js';

export interface PoolOptions {
  concurrency: number;
  mode: 'continuous' | 'drain';
  order: ClaimOrder;
  owner: string;
  /** In drain mode, keep waiting for queued jobs due within this horizon (job-level retries). */
  drainHorizonMs: number;
  idlePollMs?: number;
  /** Stop claiming once this returns true (transfer caps). */
  shouldStopClaiming?: () => boolean;
  /** An error that is a pause (a full state disk): the handler closed the gate; true means not to log it. */
  pausedBy?: (e: unknown, context: string) => boolean;
  /** Other processes write the mirror too (replicas on PostgreSQL): no folder handles kept (group-commit.ts). */
  mirrorShared?: boolean;
}

export interface PoolStats {
  done: number;
  failed: number;
  gone: number;
  retried: number;
  released: number;
  bytes: number;
  outcomes: Record<string, number>;
}

export class WorkerPool {
  readonly #ctx: Omit<WorkerContext, 'shutdownSignal'>;
  readonly #o: PoolOptions;
  readonly #store: WorkerStore;
  readonly #gate: Gate;
  readonly #log: Logger;
  readonly #shutdown = new AbortController();
  readonly #stopClaiming = new AbortController();
  readonly #wakeup = new Wakeup();
  #active = 0;
  #pollDone: () => boolean = () => true;
  #loops: Promise<void>[] = [];
  /** Indices of running worker loops (concurrency can change live). */
  readonly #live = new Set<number>();
  #runCtx: WorkerContext | null = null;
  readonly stats: PoolStats = { done: 0, failed: 0, gone: 0, retried: 0, released: 0, bytes: 0, outcomes: {} };
  readonly inFlight = new Map<number, ClaimedJob>();
  readonly #settingsWatchers = new Set<() => void>();
  /** Group commit of small files, shared by the workers. */
  readonly commits: CommitBatcher;
  /** Claims of a window of jobs, shared by the workers (claim-window.ts). */
  readonly claims: ClaimWindow;

  constructor(ctx: Omit<WorkerContext, 'shutdownSignal'>, gate: Gate, o: PoolOptions) {
    this.#ctx = ctx;
    this.#o = o;
    this.#store = ctx.store;
    this.#gate = gate;
    this.#log = ctx.logger;
    // Each job in flight listens to the shutdown signal (sync/worker.ts): as many as the concurrency.
    setMaxListeners(0, this.#shutdown.signal);
    this.commits = new CommitBatcher({ store: ctx.store, root: ctx.root, logger: ctx.logger, leaseMs: () => ctx.settings.leaseMs, busy: () => this.#active, keepFolderHandles: o.mirrorShared !== true, onFailed: (e) => void o.pausedBy?.(e, 'group commit') });
    this.claims = new ClaimWindow({
      store: ctx.store,
      logger: ctx.logger,
      clock: ctx.clock,
      concurrency: () => this.#o.concurrency,
      claimOptions: () => ({ owner: `${this.#o.owner}/pool`, leaseMs: ctx.settings.leaseMs, now: ctx.clock(), order: this.#o.order }),
      pathOf: (job) => claimPath(ctx, job),
      pausedBy: o.pausedBy,
    });
  }

  /** Staging names of downloads in flight (the sweeper leaves them alone). */
  activeStagingNames(): ReadonlySet<string> {
    return this.#ctx.activeStaging;
  }

  get active(): number {
    return this.#active;
  }

  get stopping(): boolean {
    return this.#stopClaiming.signal.aborted;
  }

  /** In drain mode the pool ends only after this says the poll has finished. */
  setPollDone(fn: () => boolean): void {
    this.#pollDone = fn;
  }

  start(): Promise<void> {
    const events = this.#ctx.events;
    const ctx: WorkerContext = {
      commits: this.commits,
      ...this.#ctx,
      // Bytes downloaded are what was written, not the listed size (which may be unknown).
      events: {
        ...events,
        onDone: (job, r) => {
          this.stats.bytes += r.bytes;
          events.onDone?.(job, r);
        },
      },
      shutdownSignal: this.#shutdown.signal,
      waitForGate: (signal) => this.#gate.wait(AbortSignal.any([signal, this.#stopClaiming.signal])),
      isApiDown: () => this.#gate.apiDown,
      pausedBy: this.#o.pausedBy,
      onSettingsChange: (fn) => {
        this.#settingsWatchers.add(fn);
        return () => this.#settingsWatchers.delete(fn);
      },
    };
    this.#runCtx = ctx;
    for (let i = 0; i < this.#o.concurrency; i++) this.#loops.push(this.#loop(ctx, i));
    // Loops that stopped claiming (a transfer cap, a stop) leave the unstarted window: give it back.
    return Promise.all(this.#loops).then(() => this.#releaseWindow());
  }

  /** Change the number of workers live (reload): extra loops start now; surplus ones end after their job. */
  setConcurrency(n: number): void {
    this.#o.concurrency = n;
    const ctx = this.#runCtx;
    if (ctx && !this.#stopClaiming.signal.aborted) {
      for (let i = 0; i < n; i++) if (!this.#live.has(i)) this.#loops.push(this.#loop(ctx, i));
    }
    this.wake();
  }

  /** Change worker settings live (reload); each job reads them when it starts. */
  updateSettings(partial: Partial<WorkerContext['settings']>): void {
    Object.assign(this.#ctx.settings, partial);
    // Jobs in flight re-read what they hold a timer for (the heartbeat follows leaseMs).
    for (const w of [...this.#settingsWatchers]) w();
    this.claims.reschedule();
  }

  /** Change the claim order live (reload); the next claim uses it. */
  setOrder(order: ClaimOrder): void {
    this.#o.order = order;
  }

  get concurrency(): number {
    return this.#o.concurrency;
  }

  /** New work may be available. */
  wake(): void {
    this.#wakeup.wake();
  }

  #sleep(ms: number): Promise<void> {
    return this.#wakeup.sleep(ms, this.#stopClaiming.signal);
  }

  async #loop(ctx: WorkerContext, index: number): Promise<void> {
    const idle = this.#o.idlePollMs ?? 2000;
    this.#live.add(index);
    try {
      await this.#loopBody(ctx, index, idle);
    } finally {
      this.#live.delete(index);
    }
  }

  async #loopBody(ctx: WorkerContext, index: number, idle: number): Promise<void> {
    while (!this.#stopClaiming.signal.aborted && index < this.#o.concurrency) {
      try {
        // While the gate is closed nothing starts: the window's leases go back rather than wait with it.
        if (!this.#gate.state().open) await this.claims.giveBack();
        await this.#gate.wait(this.#stopClaiming.signal);
        if (this.#stopClaiming.signal.aborted || this.#o.shouldStopClaiming?.()) break;
        const now = ctx.clock();
        const job = await this.claims.next();
        if (!job) {
          const next = await this.#store.nextRunAt();
          if (this.#o.mode === 'drain' && this.#pollDone() && this.#active === 0) {
            if (next === null || next - now > this.#o.drainHorizonMs) break;
          }
          const waitMs = next === null ? idle : Math.min(idle, Math.max(5, next - now));
          await this.#sleep(waitMs);
          continue;
        }
        this.#active++;
        this.inFlight.set(job.id, job);
        let outcome: JobOutcome;
        try {
          outcome = await processJob(ctx, job);
        } finally {
          this.#active--;
          this.inFlight.delete(job.id);
          this.claims.finished();
        }
        this.#count(outcome, job);
        // Others in drain mode may be waiting to decide whether to finish.
        this.wake();
      } catch (e) {
        // A pause (a full state disk) closed the gate: the loop waits there, it does not retry each second.
        if (this.#o.pausedBy?.(e, 'claim')) continue;
        // The loop never dies: log, back off, go on.
        this.#log.error({ err: e, worker: index }, 'worker loop error; backing off');
        await this.#sleep(1000);
      }
    }
  }

  #count(outcome: JobOutcome, job: ClaimedJob): void {
    this.stats.outcomes[outcome] = (this.stats.outcomes[outcome] ?? 0) + 1;
    if (outcome === 'done') {
      this.stats.done++;
    } else if (outcome === 'failed') this.stats.failed++;
    else if (outcome === 'gone') this.stats.gone++;
    else if (outcome === 'retry') this.stats.retried++;
    else if (outcome === 'released') this.stats.released++;
    this.#gate.recordResult(outcome === 'done', outcome === 'retry');
  }

  /** Stop claiming new jobs; in-flight ones continue, the unstarted window is given back. */
  stopClaiming(): void {
    if (!this.#stopClaiming.signal.aborted) this.#stopClaiming.abort();
    this.wake();
    void this.#releaseWindow();
  }

  async #releaseWindow(): Promise<void> {
    await this.claims.close().catch((e: unknown) => this.#log.warn({ err: e }, 'could not release the claimed jobs not started; their leases expire'));
  }

  /** Abort in-flight downloads now (their jobs are released, partials kept). */
  abortInFlight(): void {
    if (!this.#shutdown.signal.aborted)
      this.#shutdown.abort(new SyncError('shutting down', { code: 'SYNC_ABORTED' }));
  }

  /** Graceful stop: stop claiming, wait up to graceMs for in-flight jobs, then abort them. */
  async stop(graceMs: number): Promise<void> {
    this.stopClaiming();
    await this.#releaseWindow();
    const all = Promise.all(this.#loops);
    let timer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<'timeout'>((r) => {
      timer = setTimeout(() => r('timeout'), timerDelay(graceMs));
    });
    const first = await Promise.race([all.then(() => 'done' as const), graceOver]);
    clearTimeout(timer);
    if (first === 'timeout') {
      this.#log.warn({ inFlight: this.#active, graceMs }, 'grace period over; aborting in-flight downloads (partials kept)');
      this.abortInFlight();
      await all;
    }
  }
}
