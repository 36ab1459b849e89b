// Folders this process created in the mirror whose name in their parent is not durable yet. A
// commit that creates a folder fsyncs the folder's parent before its rows commit; another commit
// (a second batch, a single file, a folder marker) can meanwhile find the folder already there,
// put its file in it and fsync only the file's own folder. Before it commits rows, such a commit
// waits here until the creator's parent fsync is done (or fsyncs the parent itself when the creator
// could not, after which the folder is durable and leaves the map), so no `done` row names a file
// whose folder a power cut could take away.
// A folder is registered before its mkdir, so a commit that sees the folder also sees the entry.
// Folders that existed before the run are never here: the common case costs no syscall, and no
// Map lookup at all while nothing is pending.
import path from 'node:path';
import { ensureParentDirs, fsyncDir } from '../mirror/fs-safe.js';

interface Pending {
  /** True once the creator fsynced the parent; false if it could not (waiters fsync it themselves). */
  durable: Promise<boolean>;
  settle: (durable: boolean) => void;
  /** Commits between lstat and mkdir for this folder; one at most succeeds. */
  creating: number;
  made: boolean;
}

const pending = new Map<string, Pending>();

function creating(dir: string): void {
  let e = pending.get(dir);
  if (!e) {
    let settle!: (durable: boolean) => void;
    const durable = new Promise<boolean>((resolve) => (settle = resolve));
    e = { durable, settle, creating: 0, made: false };
    pending.set(dir, e);
  }
  e.creating++;
}

function mkdirDone(dir: string, made: boolean): void {
  const e = pending.get(dir);
  if (!e) return;
  if (made) e.made = true;
  else if (--e.creating === 0 && !e.made) {
    // Nobody here created it (another process did, or mkdir failed): nothing to wait for.
    pending.delete(dir);
    e.settle(true);
  }
}

/**
 * ensureParentDirs, with every folder it creates registered as not yet durable until the caller
 * settles it (settleNewFolders) after fsyncing the folder's parent.
 */
export async function makeParentDirs(root: string, segments: readonly string[]): Promise<string[]> {
  const made: string[] = [];
  try {
    return await ensureParentDirs(root, segments, {
      creating,
      done: (dir, ok) => {
        if (ok) made.push(dir);
        mkdirDone(dir, ok);
      },
    });
  } catch (e) {
    settleNewFolders(made, false);
    throw e;
  }
}

/**
 * The creator of these folders fsynced their parents (`durable`) or will not: a folder settled not
 * durable stays registered until a later commit through it has fsynced its parent itself.
 */
export function settleNewFolders(dirs: readonly string[], durable: boolean): void {
  for (const d of dirs) {
    const e = pending.get(d);
    if (!e?.made) continue;
    if (durable) pending.delete(d);
    e.settle(durable);
  }
}

/**
 * Before a commit's rows: wait until every folder on the path from `dir` up to `root` that another
 * commit created (not one of `own`, which this commit fsyncs itself) has a durable name in its
 * parent. Null when there is nothing to wait for (no syscall, no promise).
 */
export function newFoldersDurable(root: string, dir: string, own: ReadonlySet<string> | readonly string[]): Promise<void> | null {
  if (pending.size === 0) return null;
  const mine = own instanceof Set ? own : new Set(own as readonly string[]);
  const waits: Promise<void>[] = [];
  for (let d = dir; d.length > root.length; d = path.dirname(d)) {
    const e = pending.get(d);
    if (!e || mine.has(d)) continue;
    const parent = path.dirname(d);
    waits.push(
      e.durable.then(async (ok) => {
        if (ok) return;
        await fsyncDir(parent);
        // Its name is durable now: later commits through it need not fsync the parent again.
        if (pending.get(d) === e) pending.delete(d);
      }),
    );
  }
  return waits.length === 0 ? null : Promise.all(waits).then(() => undefined);
}

/** Folders registered and not yet durable (tests read this). */
export function pendingNewFolders(): string[] {
  return [...pending.keys()];
}
