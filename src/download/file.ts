// One file's life, from its claimed job to a committed row: where it goes (target.ts), its staging
// name held against other workers and replicas, room on the disk, the transfer with its quick
// retries (transfer.ts: one stream or ranged, resumed when a partial of this version is staged),
// then placing and committing it (commit.ts). downloadFile is the one entry: the worker calls it
// and records and reports what it answers. It never throws.
import { SyncError, classifyError } from '../errors.js';
import { crashPoint } from '../lib/crash-point.js';
import { freeBytes } from '../lib/disk.js';
import { retry } from '../lib/retry.js';
import { withDeadline } from '../lib/timers.js';
import { NO_ROOM_CODE, type FileContext, type FileOutcome, type FileRun } from './context.js';
import { commitFile, commitFolder } from './commit.js';
import { discardStaging, isResumable, partialBytes, RESUMABLE_MIN_BYTES, stagedBytes } from './partial.js';
import { claimStaging, stagingPaths, type StagingPaths } from './staging.js';
import { fileTarget, nameConflict } from './target.js';
import { transferToStaging, type TransferResult } from './transfer.js';

export type { FileContext, FileOutcome, FileRun, WorkerSettings } from './context.js';

/** Download one claimed job's file and commit it. Never throws: a failure is an outcome. */
export async function downloadFile(ctx: FileContext, run: FileRun): Promise<FileOutcome> {
  let held: StagingPaths | null = null;
  let result: TransferResult | null = null;
  try {
    crashPoint('after_claim');
    const target = await fileTarget(ctx, run);
    if (target === 'skipped' || target === 'lost') return target === 'lost' ? { kind: 'lost', placed: false } : { kind: 'skipped' };
    if (target.isFolderMarker) return await commitFolder(ctx, run, target);
    const staging = stagingPaths(ctx.root, run.job.key, run.job.remoteModifiedMs, run.job.remoteSize);
    if (!(await holdStaging(ctx, run, staging))) return { kind: 'deferred' };
    held = staging;
    await checkRoom(ctx, run, staging);
    // Small single-stream files are committed in batches: their fsync is the batch's.
    const batched = ctx.commits !== undefined && run.job.remoteSize !== null && !isResumable(run.job.remoteSize);
    result = await transferWithRetries(ctx, run, staging, batched);
    return await commitFile(ctx, run, { target, staging, result, batched });
  } catch (err) {
    // Settled while the staging name is still held: nobody else writes this partial meanwhile.
    return await failed(ctx, run, err);
  } finally {
    // A batched partial left open for its fsync is closed by then, unless the commit never ran.
    await result?.handle?.close().catch(() => undefined);
    if (held) await letGo(ctx, run, held);
  }
}

/**
 * Hold the staging name: no other worker of this process, nor (shared staging) another process,
 * writes this version's partial meanwhile. False: someone does; the job was put back for later.
 */
async function holdStaging(ctx: FileContext, run: FileRun, staging: StagingPaths): Promise<boolean> {
  const { job } = run;
  if (ctx.activeStaging.has(staging.name)) {
    // Another worker of this process is writing the same version: try again shortly.
    await ctx.store.retryLater(job.id, job.leaseToken, {
      retryAfterMs: 2000,
      now: ctx.clock(),
      consumeAttempt: false,
      error: { errorClass: 'busy', message: 'the same version is being downloaded by another worker' },
    });
    return false;
  }
  ctx.activeStaging.add(staging.name);
  if (!ctx.settings.sharedStaging) return true;
  // Between processes sharing the mirror (replicas), an O_EXCL claim file keeps a late ex-holder of
  // this version (its lease expired) away from the partial; a dead holder's claim is taken over.
  try {
    run.stagingClaim = await claimStaging(staging, { token: job.leaseToken, staleMs: 2 * ctx.settings.leaseMs, now: ctx.clock });
  } finally {
    if (!run.stagingClaim) ctx.activeStaging.delete(staging.name);
  }
  if (run.stagingClaim) return true;
  await ctx.store.retryLater(job.id, job.leaseToken, {
    retryAfterMs: Math.max(1000, Math.floor(ctx.settings.leaseMs / 2)),
    now: ctx.clock(),
    consumeAttempt: false,
    error: { errorClass: 'busy', message: 'another process still writes this version (staging claim)' },
  });
  return false;
}

async function letGo(ctx: FileContext, run: FileRun, staging: StagingPaths): Promise<void> {
  await run.stagingClaim?.release();
  run.stagingClaim = null;
  ctx.activeStaging.delete(staging.name);
}

/** Enough room for the rest of this file plus the reserve? */
async function checkRoom(ctx: FileContext, run: FileRun, staging: StagingPaths): Promise<void> {
  const { job } = run;
  const have = await stagedBytes(staging, job.remoteSize);
  const needed = Math.max(0, (job.remoteSize ?? 0) - have) + ctx.settings.freeSpaceReserve;
  // A fresh statfs for anything resumable; small files may reuse a reading up to a second old.
  const free = ctx.freeSpace ? await ctx.freeSpace(job.remoteSize !== null && job.remoteSize >= RESUMABLE_MIN_BYTES) : await freeBytes(ctx.root);
  if (free < needed) {
    throw new SyncError(`not enough free space for ${job.key}: ${free} bytes free, ${needed} needed (size + reserve)`, {
      code: NO_ROOM_CODE,
    });
  }
}

/** The transfer, retried quickly in this run for what may pass (a dropped connection, a 503). */
async function transferWithRetries(ctx: FileContext, run: FileRun, staging: StagingPaths, batched: boolean): Promise<TransferResult> {
  const { job, signal } = run;
  const deadlineMs = 5 * 60_000 + Math.ceil(((job.remoteSize ?? 0) / ctx.settings.minDownloadRate) * 1000);
  const onBytes = ctx.events.onBytes;
  // The error table decides what a failed attempt does (lib/retry.ts); a retry waits for the gate.
  let last: TransferResult | null = null;
  try {
    return await retry(async (attempt) => {
      if (attempt > 1) await ctx.waitForGate?.(signal);
      return (last = await withDeadline(signal, deadlineMs, (attemptSignal) =>
        transferToStaging({
          api: ctx.api,
          root: ctx.root,
          job,
          staging,
          signal: attemptSignal,
          onBytes: onBytes && ((n: number) => onBytes(n, job)),
          clock: ctx.clock,
          ranged: ctx.settings.rangedThreshold !== undefined ? { threshold: ctx.settings.rangedThreshold, streams: ctx.settings.rangedStreams ?? 1 } : undefined,
          deferSync: batched,
        }),
      ));
    }, {
      retries: ctx.settings.quickRetries,
      baseMs: ctx.settings.quickRetryMinMs ?? 500,
      maxMs: 10_000,
      maxRetryAfterMs: ctx.settings.backoff.maxRetryAfterMs,
      signal,
      onRetry: (e, turn) => {
        ctx.events.onRetry?.(job, e);
        run.log.info({ errorClass: e.errorClass, code: e.code, status: e.status, retriesLeft: turn.retriesLeft, err: e.message }, 'download attempt failed; retrying');
        if (turn.retryAfterMs !== undefined) ctx.events.onRateLimited?.(turn.retryAfterMs);
      },
    });
  } catch (e) {
    // retry throws the abort even when the try succeeded: close the partial it left open (deferSync).
    await (last as TransferResult | null)?.handle?.close().catch(() => undefined);
    throw e;
  }
}

/**
 * The error, classified once, with the staging settled as its kind asks: a partial of an asset that
 * is gone or failed for good is removed, as is one a disk-full write left (it frees the room); the
 * free-space pre-check (nothing written) and anything retried keep theirs for resume.
 */
async function failed(ctx: FileContext, run: FileRun, err: unknown): Promise<FileOutcome> {
  const { job, signal } = run;
  const error = signal.aborted && signal.reason instanceof SyncError ? signal.reason : classifyError(await nameConflict(ctx, job, err), `download ${job.key}`);
  const staging = stagingPaths(ctx.root, job.key, job.remoteModifiedMs, job.remoteSize);
  let kept = 0;
  try {
    if (error.kind === 'gone' || error.kind === 'permanent' || error.kind === 'fatal') await discardStaging(staging);
    else if (error.kind === 'disk_full' && error.code !== NO_ROOM_CODE) await discardStaging(staging);
    else if (error.kind === 'disk_full') kept = await partialBytes(staging);
  } catch (e) {
    run.log.warn({ err: e }, 'could not settle the staging files; the sweeper removes what is left');
  }
  return { kind: 'failed', error, stagedBytes: kept };
}
