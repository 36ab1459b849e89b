// One job, from claim to committed outcome. The file is fsynced and renamed into place before the
// row says done; every write is fenced by the lease token; the outcome is classified once.
import path from 'node:path';
import type { Source } from '../api/source.js';
import { SyncError, classifyError, isApiDown } from '../errors.js';
import type { JobOutcome, WorkerEvents } from './worker-events.js';
import { formatBytes } from '../config/duration.js';
import { type MirrorTarget } from '../mirror/paths.js';
import { DEFAULT_LAYOUT, foldPath, mirrorTarget, segmentRule, suffixedTarget, type MirrorLayoutSettings } from '../mirror/layout.js';
import { PathConflict } from '../mirror/fs-safe.js';
import { freeBytes } from '../lib/disk.js';
import { claimStaging, stagingPaths, type StagingClaim, type StagingPaths } from '../mirror/staging.js';
import { cleanupCommitted, discardStaging, isResumable, partialBytes, placeFile, placeFolder, RESUMABLE_MIN_BYTES, stagedBytes, type Placed } from '../mirror/commit.js';
import { crashPoint } from '../lib/crash-point.js';
import { repeat, timeoutSignal } from '../lib/timers.js';
import { retry } from '../lib/retry.js';
import type { Logger } from '../lib/logger.js';
import type { ClaimedJob, PlacedOutcome, WorkerStore } from '../store/types.js';
import { backoffDelay, type BackoffPolicy } from '../lib/backoff.js';
import { transferToStaging } from './transfer.js';
import { serverNamedTarget } from './server-name.js';
import type { CommitBatcher } from './commit-batch.js';

export type { JobOutcome, WorkerEvents };

export interface WorkerSettings {
  leaseMs: number;
  quickRetries: number;
  backoff: BackoffPolicy;
  freeSpaceReserve: number;
  minDownloadRate: number;
  /** Base delay of the quick in-run retries. */
  quickRetryMinMs?: number;
  /** Name rules of the mirror's filesystem, the case-conflict policy, previous versions. */
  layout?: MirrorLayoutSettings;
  /**
   * Other processes write into this mirror too (replicas on a shared state): staging names are then
   * claimed with an O_EXCL file. A single instance holds the instance lock, so activeStaging suffices.
   */
  sharedStaging?: boolean;
  /** Files of at least this many bytes are fetched as parallel ranges (sync.rangedThreshold). */
  rangedThreshold?: number;
  /** Ranges fetched at once for one such file; 1 = one stream (sync.rangedStreams). */
  rangedStreams?: number;
}

export interface WorkerContext {
  /** The source (asset API or STAC): it locates each job's bytes. */
  api: Source;
  store: WorkerStore;
  root: string;
  logger: Logger;
  clock: () => number;
  settings: WorkerSettings;
  /** Staging names being written in this process: two workers never share a partial. */
  activeStaging: Set<string>;
  events: WorkerEvents;
  /** Aborted on shutdown (after the grace period): in-flight downloads stop and keep their partials. */
  shutdownSignal: AbortSignal;
  /** Free bytes on the mirror filesystem (fresh = no cached reading); defaults to a statfs each time. */
  freeSpace?(fresh: boolean): Promise<number>;
  /** Waits until the pool may proceed (pauses for 429s, etc.). */
  waitForGate?(signal: AbortSignal): Promise<void>;
  /** True while the circuit breaker says the API is down: network failures then burn no attempt. */
  isApiDown?(): boolean;
  /** Subscribe to live settings changes (reload); returns the unsubscribe function. */
  onSettingsChange?(fn: () => void): () => void;
  /** Group commit of small files (the pool's); without it every file commits on its own. */
  commits?: CommitBatcher;
}

/** The free-space pre-check failed: nothing was written, so the partial is kept. */
const NO_ROOM_CODE = 'SYNC_MIRROR_NO_ROOM';

/** Process one claimed job to a committed outcome. Never throws. */
export async function processJob(ctx: WorkerContext, job: ClaimedJob): Promise<JobOutcome> {
  const log = ctx.logger.child({ jobId: job.id, key: job.key });
  const started = ctx.clock();
  const lease = new AbortController();
  const signal = AbortSignal.any([lease.signal, ctx.shutdownSignal]);
  let leaseLost = false;
  let stagingClaim: StagingClaim | null = null;
  // Heartbeat: extend the lease every third of its length; a failed heartbeat means someone else owns it.
  // The interval is re-read when settings change (a reload of sync.leaseDuration): a shorter lease
  // must be renewed sooner even for downloads already in flight, or it expires under them. One
  // heartbeat in flight at a time: a slow database, or the row lock held by this worker's own commit,
  // must not pile up statements (and pool connections) behind it.
  let beating = false;
  const hb = repeat(() => {
    if (beating) return;
    beating = true;
    const now = ctx.clock();
    ctx.store
      .heartbeat(job.id, job.leaseToken, ctx.settings.leaseMs, now)
      .finally(() => (beating = false))
      .then((ok) => {
        if (ok) void stagingClaim?.touch();
        if (!ok && !leaseLost) {
          leaseLost = true;
          lease.abort(new SyncError(`lease lost for ${job.key}`, { code: 'SYNC_LEASE_LOST', kind: 'aborted', errorClass: 'lease_lost' }));
        }
      })
      .catch((e: unknown) => log.warn({ err: e }, 'heartbeat failed'));
  }, () => Math.max(250, Math.floor(ctx.settings.leaseMs / 3)));
  const unwatch = ctx.onSettingsChange?.(() => hb.reschedule());

  const staging = stagingPaths(ctx.root, job.key, job.remoteModifiedMs, job.remoteSize);
  let holdsStaging = false;
  try {
    crashPoint('after_claim');
    let target = mirrorTarget(ctx.root, job.key, job.remoteSize, ctx.settings.layout ?? DEFAULT_LAYOUT);
    if (!target.isFolderMarker) {
      const named = await serverNamedTarget(ctx.api, ctx.root, job, signal, segmentRule(ctx.settings.layout ?? DEFAULT_LAYOUT));
      // The first key to reserve a path (as the filesystem compares names) keeps it. A name the server
      // gives that another key holds already falls back to this key's own name.
      let placed: MirrorTarget | 'skipped' | 'lost';
      try {
        placed = await reserveTarget(ctx, job, named ?? target, log);
      } catch (e) {
        if (!named || !(e instanceof PathConflict)) throw e;
        log.warn({ name: named.relPath }, "another key holds the file name the server gives; using the key's own name");
        placed = await reserveTarget(ctx, job, target, log);
      }
      if (placed === 'skipped' || placed === 'lost') return placed;
      target = placed;
    }
    if (target.isFolderMarker) {
      await placeFolder(ctx.root, target);
      const marker = { localPath: target.relPath + '/', bytes: 0, sha256: '', shortened: false };
      return await finish(ctx, job, log, { ...marker, path: marker.localPath, received: 0 }, started, () => false, async () => ({
        placed: true,
        outcome: await ctx.store.complete(job.id, job.leaseToken, { ...marker, now: ctx.clock() }),
      }));
    }
    if (ctx.activeStaging.has(staging.name)) {
      // Another worker of this process is writing the same version: try again shortly.
      await ctx.store.retryLater(job.id, job.leaseToken, {
        retryAfterMs: 2000,
        now: ctx.clock(),
        consumeAttempt: false,
        error: { errorClass: 'busy', message: 'the same version is being downloaded by another worker' },
      });
      return 'deferred';
    }
    ctx.activeStaging.add(staging.name);
    holdsStaging = true;
    // Between processes sharing the mirror (replicas), an O_EXCL claim file keeps a late ex-holder of
    // this version (its lease expired) away from the partial; a dead holder's claim is taken over.
    if (ctx.settings.sharedStaging) stagingClaim = await claimStaging(staging, { token: job.leaseToken, staleMs: 2 * ctx.settings.leaseMs, now: ctx.clock });
    if (ctx.settings.sharedStaging && !stagingClaim) {
      await ctx.store.retryLater(job.id, job.leaseToken, {
        retryAfterMs: Math.max(1000, Math.floor(ctx.settings.leaseMs / 2)),
        now: ctx.clock(),
        consumeAttempt: false,
        error: { errorClass: 'busy', message: 'another process still writes this version (staging claim)' },
      });
      return 'deferred';
    }

    // Enough room for the rest of this file plus the reserve?
    const have = await stagedBytes(staging, job.remoteSize);
    const needed = Math.max(0, job.remoteSize - have) + ctx.settings.freeSpaceReserve;
    // A fresh statfs for anything resumable; small files may reuse a reading up to a second old.
    const free = ctx.freeSpace ? await ctx.freeSpace(job.remoteSize >= RESUMABLE_MIN_BYTES) : await freeBytes(ctx.root);
    if (free < needed) {
      throw new SyncError(`not enough free space for ${job.key}: ${free} bytes free, ${needed} needed (size + reserve)`, {
        code: NO_ROOM_CODE,
        kind: 'disk_full',
        errorClass: 'disk_full',
      });
    }

    // Small single-stream files are committed in batches: their fsync is the batch's.
    const batcher = job.remoteSize >= 0 && !isResumable(job.remoteSize) ? ctx.commits : undefined;
    const deadlineMs = 5 * 60_000 + Math.ceil((job.remoteSize / ctx.settings.minDownloadRate) * 1000);
    // The error table decides what a failed attempt does (lib/retry.ts); a retry waits for the gate.
    const result = await retry(
      async (attempt) => {
        if (attempt > 1) await ctx.waitForGate?.(signal);
        return transferToStaging({
          api: ctx.api,
          root: ctx.root,
          job,
          staging,
          signal: AbortSignal.any([signal, timeoutSignal(deadlineMs)]),
          onBytes: ctx.events.onBytes && ((n: number) => ctx.events.onBytes!(n, job)),
          clock: ctx.clock,
          ranged: ctx.settings.rangedThreshold !== undefined ? { threshold: ctx.settings.rangedThreshold, streams: ctx.settings.rangedStreams ?? 1 } : undefined,
          deferSync: batcher !== undefined,
        });
      },
      {
        retries: ctx.settings.quickRetries,
        baseMs: ctx.settings.quickRetryMinMs ?? 500,
        maxMs: 10_000,
        maxRetryAfterMs: ctx.settings.backoff.maxRetryAfterMs,
        signal,
        onRetry: (e, turn) => {
          ctx.events.onRetry?.(job, e);
          log.info({ errorClass: e.errorClass, code: e.code, status: e.status, retriesLeft: turn.retriesLeft, err: e.message }, 'download attempt failed; retrying');
          if (turn.retryAfterMs !== undefined) ctx.events.onRateLimited?.(turn.retryAfterMs);
        },
      },
    );
    if (!batcher) crashPoint('after_fsync');

    // Fencing: only the lease holder may put a file in place, and the check holds until the commit
    // (store.commitPlaced): a worker that stalls after the check cannot overwrite a newer version.
    if (leaseLost) {
      log.warn('lease lost before the rename; leaving the file to the new owner');
      return 'lost';
    }
    let placed: Placed | null = null;
    const place = async (): Promise<void> => {
      placed = await placeFile(ctx.root, staging, target, { layout: ctx.settings.layout, previousPath: job.localPath });
      if (placed.kept) log.info({ version: placed.kept }, 'kept the previous version');
    };
    const r = { localPath: target.relPath, bytes: result.bytes, sha256: result.sha256, shortened: target.shortened };
    return await finish(
      ctx,
      job,
      log,
      { ...r, path: target.relPath, received: result.received, resumedFrom: result.resumedFrom },
      started,
      () => (placed as Placed | null)?.replaced ?? false,
      async () => {
        const now = ctx.clock();
        if (batcher) {
          const c = await batcher.commit({ id: job.id, token: job.leaseToken, staging, target, place: { layout: ctx.settings.layout, previousPath: job.localPath }, row: { ...r, now } });
          placed = c.file;
          if (c.file?.kept) log.info({ version: c.file.kept }, 'kept the previous version');
          return { placed: c.placed, outcome: c.outcome };
        }
        const c = await ctx.store.commitPlaced(job.id, job.leaseToken, place, { ...r, now, leaseMs: ctx.settings.leaseMs });
        if (c.placed) await cleanupCommitted(staging, job.remoteSize);
        return c;
      },
    );
  } catch (err) {
    const e = signal.aborted && signal.reason instanceof SyncError ? signal.reason : classifyError(await nameConflict(ctx, job, err), `download ${job.key}`);
    return await handleFailure(ctx, job, log, e, staging);
  } finally {
    hb.stop();
    unwatch?.();
    await stagingClaim?.release();
    if (holdsStaging) ctx.activeStaging.delete(staging.name);
  }
}

/**
 * Reserve the key's mirror path. Another key already holding the same path (as this filesystem
 * compares names) makes this one a path_conflict (same spelling) or a case_conflict (differs only in
 * case or Unicode normalization), handled by mirror.caseConflict: error, skip, or suffix.
 */
async function reserveTarget(ctx: WorkerContext, job: ClaimedJob, target: MirrorTarget, log: Logger): Promise<MirrorTarget | 'skipped' | 'lost'> {
  const layout = ctx.settings.layout ?? DEFAULT_LAYOUT;
  let t = target;
  for (let round = 0; ; round++) {
    const r = await ctx.store.reservePath(job.id, job.leaseToken, { mirrorPath: t.relPath, pathFold: foldPath(t.relPath, layout.fs) });
    if (!r.ok) return 'lost';
    if (!r.owner) return t;
    const other = r.owner;
    if (other.mirrorPath === t.relPath || round > 0) {
      throw new PathConflict(
        `path_conflict: key ${JSON.stringify(job.key)} maps to ${JSON.stringify(t.relPath)}, which key ${JSON.stringify(other.key)} already holds; nothing was written`,
        t.absPath,
        'held',
      );
    }
    const message = `case_conflict: key ${JSON.stringify(job.key)} and key ${JSON.stringify(other.key)} differ only in case or Unicode normalization, which this filesystem does not distinguish; ${JSON.stringify(other.key)} was mirrored first`;
    if (layout.caseConflict === 'error') {
      throw new SyncError(`${message}; nothing was written`, { code: 'SYNC_MIRROR_CASE_CONFLICT', kind: 'permanent', errorClass: 'case_conflict' });
    }
    if (layout.caseConflict === 'skip') {
      const ok = await ctx.store.skip(job.id, job.leaseToken, { errorClass: 'case_conflict', message: `${message}; skipped (mirror.caseConflict: skip)` }, ctx.clock());
      if (!ok) return 'lost';
      log.warn({ other: other.key }, 'skipped: differs only in case or Unicode normalization from a key already mirrored');
      ctx.events.onOutcome?.(job, 'skipped');
      return 'skipped';
    }
    const next = suffixedTarget(ctx.root, job.key, t, layout);
    log.warn({ other: other.key, path: next.relPath }, 'case twin of a key already mirrored; writing under a suffixed name (mirror.caseConflict: suffix)');
    t = next;
  }
}

/** A PathConflict found on disk names both keys: this one, and the key whose path is in the way. */
async function nameConflict(ctx: WorkerContext, job: ClaimedJob, err: unknown): Promise<unknown> {
  if (!(err instanceof PathConflict) || err.reason === 'held') return err;
  const rel = path.relative(ctx.root, err.conflictPath).split(path.sep).join('/');
  const fold = foldPath(rel, (ctx.settings.layout ?? DEFAULT_LAYOUT).fs);
  const owner = await ctx.store.findPathOwner({ relPath: rel, pathFold: fold }, job.key).catch(() => null);
  const mine = job.key;
  const who = owner ? `key ${JSON.stringify(owner)}` : 'a file or directory no key owns';
  return new PathConflict(
    `path_conflict: key ${JSON.stringify(mine)} needs ${JSON.stringify(rel)} to be a ${err.reason === 'not_a_directory' ? 'directory' : 'file'}, but ${who} holds it; the first key mirrored wins, nothing existing was changed`,
    err.conflictPath,
    err.reason,
  );
}

async function finish(
  ctx: WorkerContext,
  job: ClaimedJob,
  log: Logger,
  r: { bytes: number; sha256: string; path: string; received: number; resumedFrom?: number },
  started: number,
  replacedFile: () => boolean,
  commit: () => Promise<PlacedOutcome>,
): Promise<JobOutcome> {
  const { placed, outcome } = await commit();
  const replaced = replacedFile();
  const durationMs = ctx.clock() - started;
  if (outcome === 'lost' && !placed) {
    log.warn('lease lost before the rename; leaving the file to the new owner');
    return 'lost';
  }
  if (outcome === 'lost') {
    // Renamed, then the commit found the lease gone: another worker may have committed a newer
    // version that this rename just replaced. Fetch the key again at once so the mirror converges.
    const again = await ctx.store.requeueStale(job.id, ctx.clock()).catch((e: unknown) => {
      log.error({ err: e }, 'could not queue the key again after a late rename');
      return false;
    });
    log.warn({ requeued: again }, 'lease lost before the commit; the file in place may be older than the committed version, so the key is fetched again');
    return 'lost';
  }
  if (outcome === 'requeued') {
    log.info('a newer version was listed while downloading; queued again');
    ctx.events.onOutcome?.(job, 'requeued');
    return 'requeued';
  }
  const resumed = r.resumedFrom ? { resumedAt: formatBytes(r.resumedFrom), resumedFrom: r.resumedFrom } : {};
  log.info({ bytes: r.bytes, sha256: r.sha256 || undefined, durationMs, replaced, ...resumed }, 'mirrored');
  ctx.events.onDone?.(job, { ...r, durationMs, replaced });
  ctx.events.onOutcome?.(job, 'done');
  return 'done';
}

async function handleFailure(ctx: WorkerContext, job: ClaimedJob, log: Logger, e: SyncError, staging: StagingPaths): Promise<JobOutcome> {
  const now = ctx.clock();
  const error = { errorClass: e.errorClass, status: e.status ?? null, message: e.message };
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
        ctx.events.onOutcome?.(job, 'released', e);
        return 'released';
      }
      case 'gone':
        await discardStaging(staging);
        await ctx.store.markGone(job.id, job.leaseToken, error, now);
        log.warn({ status: e.status }, 'asset is gone (listed, but the download answered 404/410)');
        ctx.events.onOutcome?.(job, 'gone', e);
        return 'gone';
      case 'permanent':
      case 'fatal':
        await discardStaging(staging);
        await ctx.store.fail(job.id, job.leaseToken, error, now);
        log.error({ errorClass: e.errorClass, status: e.status, err: e.message }, 'failed permanently');
        ctx.events.onOutcome?.(job, 'failed', e);
        return 'failed';
      case 'disk_full': {
        // ENOSPC/EDQUOT mid-download: free what this download held. The pre-check (nothing written
        // yet) keeps a resumable partial. Either way no attempt is burned and claiming pauses until
        // there is room; the gate logs the episode once, so nothing is logged per job here.
        const precheck = e.code === NO_ROOM_CODE;
        if (!precheck) await discardStaging(staging);
        const have = precheck ? await partialBytes(staging) : 0;
        await ctx.store.retryLater(job.id, job.leaseToken, { retryAfterMs: 0, now, consumeAttempt: false, error });
        ctx.events.onDiskFull?.(job, Math.max(0, job.remoteSize - have) + ctx.settings.freeSpaceReserve);
        ctx.events.onOutcome?.(job, 'paused', e);
        return 'paused';
      }
      case 'auth_rejected':
        await ctx.store.retryLater(job.id, job.leaseToken, { retryAfterMs: 0, now, consumeAttempt: false, error });
        ctx.events.onAuthRejected?.(e);
        ctx.events.onOutcome?.(job, 'paused', e);
        return 'paused';
      default: {
        const retryAfterMs = backoffDelay(ctx.settings.backoff, job.attempts, e.retryAfterMs);
        // A 429 is the server pacing us (the gate pauses everyone), and while the breaker is open a
        // network failure is the API's, not the asset's: neither burns an attempt.
        const notTheAssets = e.errorClass === 'rate_limited' || (isApiDown(e) && (ctx.isApiDown?.() ?? false));
        if (e.errorClass === 'rate_limited' && e.retryAfterMs !== undefined) ctx.events.onRateLimited?.(e.retryAfterMs);
        const r = await ctx.store.retryLater(job.id, job.leaseToken, { retryAfterMs, now, consumeAttempt: !notTheAssets, error });
        if (r === 'failed') {
          log.error({ errorClass: e.errorClass, status: e.status, attempts: job.attempts, err: e.message }, 'failed after the last attempt');
          ctx.events.onOutcome?.(job, 'failed', e);
          return 'failed';
        }
        log.warn({ errorClass: e.errorClass, code: e.code, status: e.status, attempts: job.attempts, attemptBurned: !notTheAssets, retryInMs: retryAfterMs, err: e.message }, 'download failed; will retry');
        const outcome: JobOutcome = r === 'lost' ? 'lost' : e.errorClass === 'rate_limited' ? 'paused' : 'retry';
        ctx.events.onOutcome?.(job, outcome, e);
        return outcome;
      }
    }
  } catch (dbErr) {
    log.error({ err: dbErr }, 'could not record the outcome; the lease will expire and the job will be retried');
    return 'lost';
  }
}
