// Placing a sealed partial in the mirror, one file or a group commit's batch. A file is fsynced
// before it is renamed into place, and its folder (plus any folder created for it) after, so a row
// that says `done` always names a durable file. A batch (group-commit.ts) issues its files' fsyncs
// at once (the filesystem folds them into few journal commits) and fsyncs each folder once for the
// whole batch instead of once per file.
import { promises as fsp } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { crashPoint, stallPoint } from '../lib/crash-point.js';
import type { ListedSize } from '../lib/size.js';
import { fsyncDir, PathConflict, syncCreatedDirs } from '../mirror/fs-safe.js';
import { preserveVersion, type MirrorLayoutSettings } from '../mirror/layout.js';
import type { MirrorTarget } from '../mirror/paths.js';
import { makeParentDirs, newFoldersDurable, settleNewFolders } from './new-folders.js';
import { isResumable } from './partial.js';
import type { StagingPaths } from './staging.js';

export interface PlaceOptions {
  layout: MirrorLayoutSettings | undefined;
  /** The job's committed mirror path: a file there is this key's previous version. */
  previousPath: string | null;
}

export interface Placed {
  /** A file was already at the target (this write replaced it). */
  replaced: boolean;
  /** Where the replaced version was kept (mirror.keepPreviousVersions), if it was. */
  kept: string | null;
}

/**
 * Rename the sealed partial into place: parent folders are created (never through a symlink), the
 * version being replaced is kept when the layout asks for it, and anything at the target that is not
 * a regular file is a path conflict (nothing existing is changed). The target's folder and every
 * folder created for it are fsynced after the rename, and any folder on the path that another commit
 * created is durable too (new-folders.ts) before this returns.
 */
export async function placeFile(root: string, staging: StagingPaths, target: MirrorTarget, o: PlaceOptions): Promise<Placed> {
  stallPoint('before_rename');
  const r = await renameIntoPlace(root, { staging, target, place: o });
  const dir = path.dirname(target.absPath);
  await Promise.all([syncNew(r.created, () => syncCreatedDirs(r.created, dir)), newFoldersDurable(root, dir, r.created)]);
  crashPoint('after_rename');
  return { replaced: r.replaced, kept: r.kept };
}

/** Run the fsyncs that make `created` durable, then tell the commits waiting on them (new-folders.ts). */
async function syncNew(created: readonly string[], sync: () => Promise<unknown>): Promise<void> {
  try {
    await sync();
  } catch (e) {
    settleNewFolders(created, false);
    throw e;
  }
  settleNewFolders(created, true);
}

/**
 * placeFile without the folder fsyncs (group commit syncs each folder once per batch): returns the
 * folders created for the file, which must be synced with the file's own folder before the commit.
 * `checked`: folders already made sure of (real folders, not symlinks); the file's own folder is
 * added to it when it was there already, so later files in it skip the checks.
 */
export async function renameIntoPlace(root: string, f: Omit<GroupFile, 'handle'>, checked?: Set<string>): Promise<Placed & { created: string[] }> {
  const { target } = f;
  const parent = path.dirname(target.absPath);
  const created = checked?.has(parent) ? [] : await makeParentDirs(root, target.segments.slice(0, -1));
  // A folder created here is not shared until a later check finds it (its entry is durable only
  // once this batch has fsynced its parent; until then new-folders.ts holds it).
  if (created.length === 0) checked?.add(parent);
  try {
    return await renameCreated(root, f, created);
  } catch (e) {
    // Nobody will fsync the parents of the folders made for this file: later commits through them do.
    settleNewFolders(created, false);
    throw e;
  }
}

async function renameCreated(root: string, f: Omit<GroupFile, 'handle'>, created: string[]): Promise<Placed & { created: string[] }> {
  const { staging, target, place: o } = f;
  const existing = await fsp.lstat(target.absPath).catch(() => null);
  let kept: string | null = null;
  if (existing?.isFile() && (o.layout?.keepPreviousVersions ?? 0) > 0 && o.previousPath === target.relPath) {
    // Keep the version being replaced (a hard link, so the mirror path never lacks a file).
    kept = await preserveVersion(root, o.layout!, target, existing.mtimeMs);
  }
  if (existing && !existing.isFile()) {
    throw new PathConflict(`${target.relPath} exists and is not a regular file`, target.absPath, 'not_a_file');
  }
  await fsp.rename(staging.partial, target.absPath);
  return { replaced: existing !== null, kept, created };
}

/** A folder marker key ("a/b/"): the folders exist and are durable. */
export async function placeFolder(root: string, target: MirrorTarget): Promise<void> {
  const created = await makeParentDirs(root, target.segments);
  await Promise.all([syncNew(created, () => syncCreatedDirs(created, path.dirname(target.absPath))), newFoldersDurable(root, target.absPath, created)]);
}

/** After the commit: the partial was renamed away, so only its record is left to remove. */
export async function cleanupCommitted(staging: StagingPaths, size: ListedSize): Promise<void> {
  if (isResumable(size)) await fsp.rm(staging.record, { force: true });
}

/** One file of a batch: its staged partial (complete, not necessarily fsynced) and where it goes. */
export interface GroupFile {
  staging: StagingPaths;
  /** The partial, still open from its transfer: fsynced through it and closed (no second open). */
  handle?: FileHandle | undefined;
  target: MirrorTarget;
  place: PlaceOptions;
}

/** fsync a staged partial (its bytes and its metadata, the mtime included), then close it. */
async function syncPartial(f: GroupFile): Promise<void> {
  const fh = f.handle ?? (await fsp.open(f.staging.partial, 'r'));
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * fsync the staged files all at once (before their leases are checked, as a single file is fsynced
 * before commitPlaced, so no row lock is held while they sync). Returns, in input order, null or
 * that file's error.
 */
export async function syncGroup(files: readonly GroupFile[]): Promise<(Error | null)[]> {
  const out = await Promise.all(files.map((f) => syncPartial(f).then(() => null, (e: unknown) => toError(e))));
  crashPoint('batch_synced');
  return out;
}

/**
 * Place files that syncGroup made durable: each is renamed into place, then every folder they landed
 * in (and every parent of a folder created for them) is fsynced once. Returns, in input order, what
 * was placed or that file's error (it was not renamed). A failed folder fsync throws: the files may
 * be in place, but none of them is durable, so none may be committed. `checked`: folders already
 * made sure of (renameIntoPlace), by this batch or by recent ones (group-commit.ts). A folder on a
 * file's path that another commit created is durable too before this returns (new-folders.ts).
 * `syncDir`: how a folder is fsynced (group-commit.ts keeps the folders' handles open for a while;
 * `created` says the folder was made by this batch, so no handle opened before may stand for it).
 */
export async function placeGroup(
  root: string,
  files: readonly GroupFile[],
  checked = new Set<string>(),
  syncDir: (dir: string, created: boolean) => Promise<void> = fsyncDir,
): Promise<(Placed | Error)[]> {
  stallPoint('before_rename');
  const out: (Placed | Error)[] = [];
  const dirs = new Set<string>();
  const created = new Set<string>();
  // One at a time: two files of a batch may need the same new folder, and a conflict must see the
  // batch's earlier renames.
  for (const f of files) {
    try {
      const r = await renameIntoPlace(root, f, checked);
      for (const d of r.created) {
        created.add(d);
        dirs.add(path.dirname(d));
      }
      dirs.add(path.dirname(f.target.absPath));
      out.push({ replaced: r.replaced, kept: r.kept });
    } catch (e) {
      out.push(toError(e));
    }
  }
  crashPoint('batch_renamed');
  const own = [...created];
  const others = [...dirs].map((d) => newFoldersDurable(root, d, created));
  await Promise.all([syncNew(own, () => Promise.all([...dirs].map((d) => syncDir(d, created.has(d))))), ...others]);
  crashPoint('batch_dirs_synced');
  return out;
}

function toError(e: unknown): Error {
  return e instanceof Error ? e : new Error(String(e));
}
