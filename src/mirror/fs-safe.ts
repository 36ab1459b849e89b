// File-system primitives for the mirror: create parent directories without ever following a
// symlink, durable rename (fsync file, rename, fsync directory), and free-space checks.
import { promises as fsp, constants as C } from 'node:fs';
import path from 'node:path';
import { SyncError } from '../errors.js';

/** fsync a directory so a rename or creation inside it survives power loss. */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await fsp.open(dir, C.O_RDONLY | C.O_DIRECTORY);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Why a path is in conflict: another key already holds it (`held`, found in the state store), or
 * something on disk is in the way: a non-directory where a folder must be (`not_a_directory`), or a
 * non-file where the file must go (`not_a_file`).
 */
export type PathConflictReason = 'held' | 'not_a_directory' | 'not_a_file';

export class PathConflict extends SyncError {
  constructor(
    message: string,
    readonly conflictPath: string,
    readonly reason: PathConflictReason,
  ) {
    super(message, { code: 'SYNC_MIRROR_PATH_CONFLICT' });
  }
}

/** Told about each mkdir: before it (`creating`) and after it (`done`, whether it created the folder). */
export interface MkdirTracker {
  creating(dir: string): void;
  done(dir: string, created: boolean): void;
}

/**
 * Make sure every directory between root and the file exists and is a real directory (not a
 * symlink, not a file). Returns the directories created, deepest last, so their parents can be synced.
 */
export async function ensureParentDirs(root: string, segments: readonly string[], track?: MkdirTracker): Promise<string[]> {
  const created: string[] = [];
  let cur = root;
  for (const seg of segments) {
    cur = path.join(cur, seg);
    let st;
    try {
      st = await fsp.lstat(cur);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      track?.creating(cur);
      try {
        await fsp.mkdir(cur);
        track?.done(cur, true);
        created.push(cur);
        continue;
      } catch (e2) {
        track?.done(cur, false);
        if ((e2 as NodeJS.ErrnoException).code !== 'EEXIST') throw e2;
        st = await fsp.lstat(cur);
      }
    }
    if (st.isSymbolicLink())
      throw new SyncError(`refusing to write through the symlink ${cur}`, {
        code: 'SYNC_MIRROR_SYMLINK',
      });
    if (!st.isDirectory()) throw new PathConflict(`${cur} exists and is not a directory`, cur, 'not_a_directory');
  }
  return created;
}

/** Sync the parents of newly created directories, then the file's own directory. */
export async function syncCreatedDirs(created: readonly string[], fileDir: string): Promise<void> {
  const dirs = new Set<string>(created.map((d) => path.dirname(d)));
  dirs.add(fileDir);
  for (const d of dirs) await fsyncDir(d);
}

export async function lstatOrNull(p: string) {
  try {
    return await fsp.lstat(p);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}
