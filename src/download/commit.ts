// The last step of a file's life: put the sealed file in place and commit its row, fenced by the
// lease (store.commitPlaced); a small file joins the next group commit instead (group-commit.ts),
// whose fsyncs, folder fsyncs and row commits are the batch's. A folder marker key has no file:
// its folders are made durable and its row completes.
import { crashPoint } from '../lib/crash-point.js';
import type { MirrorTarget } from '../mirror/paths.js';
import type { PlacedOutcome } from '../store/types.js';
import { folderPath } from '../lib/key-kind.js';
import type { FileContext, FileOutcome, FileRun } from './context.js';
import { cleanupCommitted, placeFile, placeFolder, type Placed } from './place.js';
import type { StagingPaths } from './staging.js';
import type { TransferResult } from './transfer-parts.js';

/** A sealed file ready to be placed and committed. */
export interface Sealed {
  target: MirrorTarget;
  staging: StagingPaths;
  result: TransferResult;
  /** Joins a group commit (its fsync was left to the batch). */
  batched: boolean;
}

/** Place the file and commit its row; only the lease holder may do either. */
export async function commitFile(ctx: FileContext, run: FileRun, f: Sealed): Promise<FileOutcome> {
  if (!f.batched) crashPoint('after_fsync');
  // Fencing: only the lease holder may put a file in place, and the check holds until the commit
  // (store.commitPlaced): a worker that stalls after the check cannot overwrite a newer version.
  if (run.leaseLost) return { kind: 'lost', placed: false };
  const { job } = run;
  const { target, result } = f;
  const row = { localPath: target.relPath, bytes: result.bytes, sha256: result.sha256, shortened: target.shortened, now: ctx.clock() };
  const place = { layout: ctx.settings.layout, previousPath: job.localPath };
  let placed: Placed | null = null;
  let c: PlacedOutcome;
  if (f.batched && ctx.commits) {
    const b = await ctx.commits.commit({ id: job.id, token: job.leaseToken, staging: f.staging, handle: result.handle, target, place, row });
    placed = b.file;
    c = b;
  } else {
    c = await ctx.store.commitPlaced(job.id, job.leaseToken, async () => void (placed = await placeFile(ctx.root, f.staging, target, place)), { ...row, leaseMs: ctx.settings.leaseMs });
    if (c.placed) await cleanupCommitted(f.staging, job.remoteSize);
  }
  const p = placed as Placed | null;
  if (p?.kept) run.log.info({ version: p.kept }, 'kept the previous version');
  const file = { path: target.relPath, bytes: result.bytes, sha256: result.sha256, received: result.received, resumedFrom: result.resumedFrom };
  return committed(ctx, run, c, { file, replaced: p?.replaced ?? false });
}

/** A folder marker key ("a/b/"): its folders exist and are durable, and its row completes. */
export async function commitFolder(ctx: FileContext, run: FileRun, target: MirrorTarget): Promise<FileOutcome> {
  await placeFolder(ctx.root, target);
  const { job } = run;
  const marker = { localPath: folderPath(target.relPath), bytes: 0, sha256: '', shortened: false };
  const outcome = await ctx.store.complete(job.id, job.leaseToken, { ...marker, now: ctx.clock() });
  const file = { path: marker.localPath, bytes: 0, sha256: '', received: 0 };
  return committed(ctx, run, { placed: true, outcome }, { file, replaced: false });
}

function committed(ctx: FileContext, run: FileRun, c: PlacedOutcome, done: { file: Extract<FileOutcome, { kind: 'done' }>['file']; replaced: boolean }): FileOutcome {
  if (c.outcome === 'lost') return { kind: 'lost', placed: c.placed };
  if (c.outcome === 'requeued') return { kind: 'requeued' };
  return { kind: 'done', ...done, durationMs: ctx.clock() - run.started };
}
