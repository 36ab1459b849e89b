// Where a job's file goes: its key's mirror path (mirror/layout.ts) or, when its key could not name it,
// the server's name for it: a STAC asset whose href is an opaque object
// id (or has no path) is keyed `<collection>/<item id>/<asset key><ext>`, and its file is named as the
// server names it (Content-Disposition, else the answering URL's last path segment), which is what
// Constellr's download script writes. The name is asked once, before the first download; every later
// version goes to the path the first one got, so a file keeps its name across versions.
//
// The first key to reserve a path (as the filesystem compares names) keeps it; the case-conflict
// policy decides for a later one.
import path from 'node:path';
import type { Source } from '../api/source.js';
import { SyncError } from '../errors.js';
import { isFolderPath } from '../lib/key-kind.js';
import type { ListedSize } from '../lib/size.js';
import { PathConflict } from '../mirror/fs-safe.js';
import { DEFAULT_LAYOUT, foldPath, mirrorTarget, segmentRule, suffixedTarget, type MirrorLayoutSettings } from '../mirror/layout.js';
import { resolveKey, type MirrorTarget, type SegmentRule } from '../mirror/paths.js';
import type { ClaimedJob, PathWant } from '../store/types.js';
import type { FileContext, FileRun } from './context.js';

/** The key's own target as claimPath worked it out for a claimed job: fileTarget does not map the key again. */
const claimedTargets = new WeakMap<ClaimedJob, { layout: MirrorLayoutSettings; root: string; target: MirrorTarget }>();

/** Where the job's file goes, reserved for it; 'skipped' (case-conflict policy) or 'lost' (the lease). */
export async function fileTarget(ctx: FileContext, run: FileRun): Promise<MirrorTarget | 'skipped' | 'lost'> {
  const { job } = run;
  const layout = ctx.settings.layout ?? DEFAULT_LAYOUT;
  const atClaim = claimedTargets.get(job);
  const own = atClaim?.layout === layout && atClaim.root === ctx.root ? atClaim.target : mirrorTarget(ctx.root, job.key, job.remoteSize, layout);
  if (own.isFolderMarker) return own;
  const named = await serverNamedTarget({ api: ctx.api, root: ctx.root, rule: segmentRule(layout) }, job, run.signal);
  // Reserved with the claim (claimPath): nobody held it then, and the reservation is this lease's.
  if (!named && job.reservedPath === own.relPath) return own;
  try {
    return await reserveTarget(ctx, run, named ?? own);
  } catch (e) {
    // A name the server gives that another key holds already falls back to this key's own name.
    if (!named || !(e instanceof PathConflict)) throw e;
    run.log.warn({ name: named.relPath }, "another key holds the file name the server gives; using the key's own name");
    return await reserveTarget(ctx, run, own);
  }
}

/** The server-named place of the job's file, or null when its key names it (or the server gives no usable name). */
export async function serverNamedTarget(at: { api: Source; root: string; rule?: SegmentRule }, job: ClaimedJob, signal: AbortSignal): Promise<MirrorTarget | null> {
  const { api, root, rule } = at;
  if (!api.fileName || !api.namedByServer?.(job)) return null;
  // The path the first version got (the layout's rule was applied then: not again).
  if (job.localPath !== null && !isFolderPath(job.localPath)) return resolveOrNull(root, job.localPath, job.remoteSize);
  // The name is one plain file name (api/file-name.ts): no `/` or `\`, no control character, not `..`.
  const name = await api.fileName(job, signal);
  if (name === null) return null;
  // The layout's rule applies to the server's name too: it never takes a catalog file's name.
  return resolveOrNull(root, `${job.key.slice(0, job.key.lastIndexOf('/') + 1)}${name}`, job.remoteSize, rule);
}

function resolveOrNull(root: string, key: string, size: ListedSize, rule?: SegmentRule): MirrorTarget | null {
  try {
    return resolveKey(root, key, size, rule);
  } catch {
    return null; // refused by the mirror's path rules: the key's own name is used
  }
}

/**
 * The path to reserve with the claim of a job (the store's claimWindow): the key's own, unless the
 * server names the file (asked later, over the network), it is a folder marker, or the mirror's
 * rules refuse the key (fileTarget reports that).
 */
export function claimPath(ctx: Pick<FileContext, 'api' | 'root' | 'settings'>, job: ClaimedJob): PathWant | null {
  if (ctx.api.fileName && ctx.api.namedByServer?.(job)) return null;
  const layout = ctx.settings.layout ?? DEFAULT_LAYOUT;
  try {
    const t = mirrorTarget(ctx.root, job.key, job.remoteSize, layout);
    claimedTargets.set(job, { layout, root: ctx.root, target: t });
    return t.isFolderMarker ? null : { mirrorPath: t.relPath, pathFold: foldPath(t.relPath, layout.fs) };
  } catch {
    return null;
  }
}

/**
 * Reserve the key's mirror path. Another key already holding the same path (as this filesystem
 * compares names) makes this one a path_conflict (same spelling) or a case_conflict (differs only in
 * case or Unicode normalization), handled by mirror.caseConflict: error, skip, or suffix.
 */
async function reserveTarget(ctx: FileContext, run: FileRun, target: MirrorTarget): Promise<MirrorTarget | 'skipped' | 'lost'> {
  const { job } = run;
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
      throw new SyncError(`${message}; nothing was written`, { code: 'SYNC_MIRROR_CASE_CONFLICT' });
    }
    if (layout.caseConflict === 'skip') {
      const ok = await ctx.store.skip(job.id, job.leaseToken, { errorClass: 'case_conflict', message: `${message}; skipped (mirror.caseConflict: skip)` }, ctx.clock());
      if (!ok) return 'lost';
      run.log.warn({ other: other.key }, 'skipped: differs only in case or Unicode normalization from a key already mirrored');
      return 'skipped';
    }
    t = suffixedTarget(ctx.root, job.key, t, layout);
    run.log.warn({ other: other.key, path: t.relPath }, 'case twin of a key already mirrored; writing under a suffixed name (mirror.caseConflict: suffix)');
  }
}

/** A PathConflict found on disk names both keys: this one, and the key whose path is in the way. */
export async function nameConflict(ctx: FileContext, job: ClaimedJob, err: unknown): Promise<unknown> {
  if (!(err instanceof PathConflict) || err.reason === 'held') return err;
  const rel = path.relative(ctx.root, err.conflictPath).split(path.sep).join('/');
  const fold = foldPath(rel, (ctx.settings.layout ?? DEFAULT_LAYOUT).fs);
  const owner = await ctx.store.findPathOwner({ relPath: rel, pathFold: fold }, job.key).catch(() => null);
  const who = owner ? `key ${JSON.stringify(owner)}` : 'a file or directory no key owns';
  return new PathConflict(
    `path_conflict: key ${JSON.stringify(job.key)} needs ${JSON.stringify(rel)} to be a ${err.reason === 'not_a_directory' ? 'directory' : 'file'}, but ${who} holds it; the first key mirrored wins, nothing existing was changed`,
    err.conflictPath,
    err.reason,
  );
}
