// Group commit's file side: a batch of sealed small files is made durable and put in place together.
// The contract of placeFile holds for each file (fsync the file, rename it, fsync its folder and any
// folder created for it, all before its row may say `done`), but the fsyncs of the files are issued
// at once (the filesystem folds them into few journal commits) and each folder is fsynced once for
// the whole batch instead of once per file.
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { crashPoint, stallPoint } from '../lib/crash-point.js';
import { fsyncDir } from './fs-safe.js';
import { renameIntoPlace, type Placed, type PlaceOptions } from './commit.js';
import type { MirrorTarget } from './paths.js';
import type { StagingPaths } from './staging.js';

/** One file of a batch: its staged partial (complete, not necessarily fsynced) and where it goes. */
export interface GroupFile {
  staging: StagingPaths;
  target: MirrorTarget;
  place: PlaceOptions;
}

/** fsync a staged partial (its bytes and its metadata, the mtime included). */
async function syncPartial(staging: StagingPaths): Promise<void> {
  const fh = await fsp.open(staging.partial, 'r');
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
  const out = await Promise.all(files.map((f) => syncPartial(f.staging).then(() => null, (e: unknown) => toError(e))));
  crashPoint('batch_synced');
  return out;
}

/**
 * Place files that syncGroup made durable: each is renamed into place, then every folder they landed
 * in (and every parent of a folder created for them) is fsynced once. Returns, in input order, what
 * was placed or that file's error (it was not renamed). A failed folder fsync throws: the files may
 * be in place, but none of them is durable, so none may be committed.
 */
export async function placeGroup(root: string, files: readonly GroupFile[]): Promise<(Placed | Error)[]> {
  stallPoint('before_rename');
  const out: (Placed | Error)[] = [];
  const dirs = new Set<string>();
  // One at a time: two files of a batch may need the same new folder, and a conflict must see the
  // batch's earlier renames.
  for (const f of files) {
    try {
      const r = await renameIntoPlace(root, f.staging, f.target, f.place);
      for (const d of r.created) dirs.add(path.dirname(d));
      dirs.add(path.dirname(f.target.absPath));
      out.push({ replaced: r.replaced, kept: r.kept });
    } catch (e) {
      out.push(toError(e));
    }
  }
  crashPoint('batch_renamed');
  await Promise.all([...dirs].map((d) => fsyncDir(d)));
  crashPoint('batch_dirs_synced');
  return out;
}

function toError(e: unknown): Error {
  return e instanceof Error ? e : new Error(String(e));
}
