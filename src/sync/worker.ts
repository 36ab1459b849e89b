// One job, from claim to a recorded outcome: the worker holds the job's lease (a heartbeat), hands
// the file's whole life to download/ (downloadFile: target, staging, transfer, seal, place, commit)
// and records and reports what it came to. Every write is fenced by the lease token.
import { SyncError, isApiDown, isShared } from '../errors.js';
import type { JobOutcome, WorkerEvents } from './worker-events.js';
import { formatBytes } from '../config/duration.js';
import { repeat } from '../lib/timers.js';
import type { Logger } from '../lib/logger.js';
import type { ClaimedJob, JobError } from '../store/types.js';
import { backoffDelay } from '../lib/backoff.js';
import { downloadFile, type FileContext, type FileOutcome, type FileRun } from '../download/file.js';

export type { JobOutcome, WorkerEvents };
export type { WorkerSettings } from '../download/file.js';

export interface WorkerContext extends FileContext {
  events: WorkerEvents;
  /** Aborted on shutdown (after the grace period): in-flight downloads stop and keep their partials. */
  shutdownSignal: AbortSignal;
  /** True while the circuit breaker says the API is down: network failures then burn no attempt. */
  isApiDown?(): boolean;
  /** A full state disk closes the gate (daemon/state-full.ts); true when `e` was one. */
  pausedBy?(e: unknown, context: string): boolean;
  /** Subscribe to live settings changes (reload); returns the unsubscribe function. */
  onSettingsChange?(fn: () => void): () => void;
}

/**
 * One job's state, a plain object: its lease (the heartbeat sets leaseLost and aborts), its staging
 * claim, and a log made only when something is logged about the job (a pino child per file measured
 * as a cost of its own; the one line of a file that succeeds is written with its fields instead).
 */
class JobRun implements FileRun {
  readonly lease = new AbortController();
  readonly signal = this.lease.signal;
  leaseLost = false;
  stagingClaim: FileRun['stagingClaim'] = null;
  readonly job: ClaimedJob;
  readonly started: number;
  readonly #logger: Logger;
  #log: Logger | null = null;

  constructor(job: ClaimedJob, started: number, logger: Logger) {
    this.job = job;
    this.started = started;
    this.#logger = logger;
  }

  get log(): Logger {
    return (this.#log ??= this.#logger.child({ jobId: this.job.id, key: this.job.key }));
  }
}

/** Process one claimed job to a recorded outcome. Never throws. */
export async function processJob(ctx: WorkerContext, job: ClaimedJob): Promise<JobOutcome> {
  const run = new JobRun(job, ctx.clock(), ctx.logger);
  // One signal per job: the lease's, which shutdown aborts too (no composite signal per file).
  const shutdown = ctx.shutdownSignal;
  const onShutdown = (): void => run.lease.abort(shutdown.reason);
  if (shutdown.aborted) onShutdown();
  else shutdown.addEventListener('abort', onShutdown, { once: true });
  const hb = holdLease(ctx, run);
  try {
    const outcome = await downloadFile(ctx, run);
    return await record(ctx, run, outcome);
  } finally {
    hb.stop();
    shutdown.removeEventListener('abort', onShutdown);
  }
}

/**
 * Heartbeat: extend the lease every third of its length; a failed heartbeat means someone else owns
 * it. The interval is re-read when settings change (a reload of sync.leaseDuration): a shorter lease
 * must be renewed sooner even for downloads already in flight, or it expires under them. One
 * heartbeat in flight at a time: a slow database, or the row lock held by this worker's own commit,
 * must not pile up statements (and pool connections) behind it.
 */
function holdLease(ctx: WorkerContext, run: JobRun): { stop(): void } {
  const { job } = run;
  let beating = false;
  const hb = repeat(() => {
    if (beating) return;
    beating = true;
    ctx.store
      .heartbeat(job.id, job.leaseToken, ctx.settings.leaseMs, ctx.clock())
      .finally(() => (beating = false))
      .then((ok) => {
        if (ok) void run.stagingClaim?.touch();
        if (!ok && !run.leaseLost) {
          run.leaseLost = true;
          run.lease.abort(new SyncError(`lease lost for ${job.key}`, { code: 'SYNC_LEASE_LOST' }));
        }
      })
      .catch((e: unknown) => run.log.warn({ err: e }, 'heartbeat failed'));
  }, () => Math.max(250, Math.floor(ctx.settings.leaseMs / 3)));
  const unwatch = ctx.onSettingsChange?.(() => hb.reschedule());
  return {
    stop() {
      hb.stop();
      unwatch?.();
    },
  };
}

/** Record what the download came to (a failure's row; a late rename's requeue) and report it. */
async function record(ctx: WorkerContext, run: FileRun, o: FileOutcome): Promise<JobOutcome> {
  const { job } = run;
  switch (o.kind) {
    case 'done': {
      const resumed = o.file.resumedFrom ? { resumedAt: formatBytes(o.file.resumedFrom), resumedFrom: o.file.resumedFrom } : {};
      ctx.logger.info({ jobId: job.id, key: job.key, bytes: o.file.bytes, sha256: o.file.sha256 || undefined, durationMs: o.durationMs, replaced: o.replaced, ...resumed }, 'mirrored');
      ctx.events.onDone?.(job, { ...o.file, durationMs: o.durationMs, replaced: o.replaced });
      ctx.events.onOutcome?.(job, 'done');
      return 'done';
    }
    case 'requeued':
      run.log.info('a newer version was listed while downloading; queued again');
      ctx.events.onOutcome?.(job, 'requeued');
      return 'requeued';
    case 'skipped':
      ctx.events.onOutcome?.(job, 'skipped');
      return 'skipped';
    case 'deferred':
      return 'deferred';
    case 'lost':
      if (o.placed) await requeueLate(ctx, run);
      else run.log.warn('lease lost before the rename; leaving the file to the new owner');
      return 'lost';
    case 'failed':
      return await recordFailure(ctx, run, o.error, o.stagedBytes);
  }
}

/**
 * Renamed, then the commit found the lease gone: another worker may have committed a newer version
 * that this rename just replaced. Fetch the key again at once so the mirror converges.
 */
async function requeueLate(ctx: WorkerContext, run: FileRun): Promise<void> {
  const again = await ctx.store.requeueStale(run.job.id, ctx.clock()).catch((e: unknown) => {
    run.log.error({ err: e }, 'could not queue the key again after a late rename');
    return false;
  });
  run.log.warn({ requeued: again }, 'lease lost before the commit; the file in place may be older than the committed version, so the key is fetched again');
}

async function recordFailure(ctx: WorkerContext, run: FileRun, e: SyncError, stagedBytes: number): Promise<JobOutcome> {
  const { job, log } = run;
  const now = ctx.clock();
  const error: JobError = { errorClass: e.errorClass, status: e.status ?? null, message: e.message };
  try {
    switch (e.kind) {
      case 'aborted': {
        if (e.errorClass === 'lease_lost') {
          log.warn('lease lost; stopped');
          return 'lost';
        }
        // Shutdown: keep the partial, give the job back without consuming its attempt.
        await ctx.store.release(job.id, job.leaseToken, now);
        log.info('released at shutdown; the partial download is kept for resume');
        return reported(ctx, job, 'released', e);
      }
      case 'gone':
        await ctx.store.markGone(job.id, job.leaseToken, error, now);
        log.warn({ status: e.status }, 'asset is gone (listed, but the download answered 404/410)');
        return reported(ctx, job, 'gone', e);
      case 'permanent':
      case 'fatal':
        await ctx.store.fail(job.id, job.leaseToken, error, now);
        log.error({ errorClass: e.errorClass, status: e.status, err: e.message }, 'failed permanently');
        return reported(ctx, job, 'failed', e);
      case 'disk_full':
        // No attempt is burned and claiming pauses until there is room; the gate logs the episode
        // once, so nothing is logged per job here.
        await ctx.store.retryLater(job.id, job.leaseToken, { retryAfterMs: 0, now, consumeAttempt: false, error });
        ctx.events.onDiskFull?.(job, Math.max(0, (job.remoteSize ?? 0) - stagedBytes) + ctx.settings.freeSpaceReserve);
        return reported(ctx, job, 'paused', e);
      case 'state_full':
        // As a full mirror: the gate closes (once per episode) and the job goes back without an
        // attempt, if the state takes that write; else its lease expires (logged below).
        ctx.pausedBy?.(e, 'download');
        await ctx.store.retryLater(job.id, job.leaseToken, { retryAfterMs: 0, now, consumeAttempt: false, error });
        return reported(ctx, job, 'paused', e);
      case 'auth_rejected':
        await ctx.store.retryLater(job.id, job.leaseToken, { retryAfterMs: 0, now, consumeAttempt: false, error });
        ctx.events.onAuthRejected?.(e);
        return reported(ctx, job, 'paused', e);
      default:
        return await recordRetry(ctx, run, e, error);
    }
  } catch (dbErr) {
    log.error({ err: dbErr }, 'could not record the outcome; the lease will expire and the job will be retried');
    return 'lost';
  }
}

async function recordRetry(ctx: WorkerContext, run: FileRun, e: SyncError, error: JobError): Promise<JobOutcome> {
  const { job, log } = run;
  const retryAfterMs = backoffDelay(ctx.settings.backoff, job.attempts, e.retryAfterMs);
  // A 429 (the server pacing us: the gate pauses everyone) and the state database's troubles are
  // shared, and while the breaker is open a network failure is the API's: none burns an attempt.
  const notTheAssets = isShared(e) || (isApiDown(e) && (ctx.isApiDown?.() ?? false));
  if (e.errorClass === 'rate_limited' && e.retryAfterMs !== undefined) ctx.events.onRateLimited?.(e.retryAfterMs);
  const r = await ctx.store.retryLater(job.id, job.leaseToken, { retryAfterMs, now: ctx.clock(), consumeAttempt: !notTheAssets, error });
  if (r === 'failed') {
    log.error({ errorClass: e.errorClass, status: e.status, attempts: job.attempts, err: e.message }, 'failed after the last attempt');
    return reported(ctx, job, 'failed', e);
  }
  log.warn({ errorClass: e.errorClass, code: e.code, status: e.status, attempts: job.attempts, attemptBurned: !notTheAssets, retryInMs: retryAfterMs, err: e.message }, 'download failed; will retry');
  // A shared failure is a pause, not the asset's retry: it does not feed the circuit breaker.
  return reported(ctx, job, r === 'lost' ? 'lost' : isShared(e) ? 'paused' : 'retry', e);
}

function reported(ctx: WorkerContext, job: ClaimedJob, outcome: JobOutcome, e: SyncError): JobOutcome {
  ctx.events.onOutcome?.(job, outcome, e);
  return outcome;
}
