// Single-instance locks that the OS releases when the process dies (kill -9 included): an exclusive
// SQLite lock held on a small lock database for the life of the process. Node has no flock(), and
// SQLite's POSIX advisory locks are exactly that, portable and tested. The holder's pid is written
// next to it so a refused second instance can name it.
import Database from 'better-sqlite3';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { SyncError } from '../errors.js';
import { operatorFsError } from './operator-errors.js';

export interface HeldLock {
  readonly file: string;
  release(): void;
}

export class LockedError extends SyncError {
  constructor(
    message: string,
    readonly holderPid: number | null,
  ) {
    super(message, { code: 'SYNC_LOCKED' });
  }
}

/**
 * Take the exclusive lock `<dir>/<name>.lock`. Throws LockedError naming the holder when another
 * live process holds it.
 */
export function acquireLock(dir: string, name: string, what: string, info: Record<string, unknown> = {}): HeldLock {
  const file = path.join(dir, `${name}.lock`);
  const pidFile = path.join(dir, `${name}.pid`);
  let db: Database.Database;
  try {
    mkdirSync(dir, { recursive: true });
    db = new Database(file, { timeout: 0 });
  } catch (e) {
    // A file in the way, no permission, read-only: the operator's to fix (exit 2, one line).
    throw operatorFsError(what, dir, e) ?? e;
  }
  try {
    db.pragma('journal_mode = DELETE');
    db.pragma('locking_mode = EXCLUSIVE');
    db.exec('CREATE TABLE IF NOT EXISTS holder (pid INTEGER)');
    db.exec('BEGIN EXCLUSIVE');
  } catch (e) {
    db.close();
    if ((e as { code?: string }).code === 'SQLITE_BUSY' || (e as { code?: string }).code === 'SQLITE_LOCKED') {
      let pid: number | null = null;
      try {
        const rec = JSON.parse(readFileSync(pidFile, 'utf8')) as { pid?: number };
        pid = typeof rec.pid === 'number' ? rec.pid : null;
      } catch {
        /* the holder may not have written it yet */
      }
      throw new LockedError(`${what} ${dir} is locked by another constellr-sync instance${pid ? ` (pid ${pid})` : ''}`, pid);
    }
    throw operatorFsError(what, dir, e) ?? e;
  }
  try {
    writeFileSync(pidFile, JSON.stringify({ pid: process.pid, since: new Date().toISOString(), ...info }));
  } catch (e) {
    db.close();
    throw operatorFsError(what, dir, e) ?? e;
  }
  let released = false;
  return {
    file,
    release() {
      if (released) return;
      released = true;
      try {
        db.exec('ROLLBACK');
      } catch {
        /* already gone */
      }
      db.close();
      // `status` reads the pid file to say whether a daemon runs; a clean stop removes it.
      rmSync(pidFile, { force: true });
    },
  };
}

/** Who holds (or last held) `<dir>/<name>.lock`, from its pid file: for `status`. Null when none. */
export interface LockHolder {
  pid: number;
  since: string | null;
  /** The pid is a live process (it may be another process after a reboot; rare). */
  alive: boolean;
}

export function readLockHolder(dir: string, name = 'instance'): LockHolder | null {
  let rec: { pid?: unknown; since?: unknown };
  try {
    rec = JSON.parse(readFileSync(path.join(dir, `${name}.pid`), 'utf8')) as typeof rec;
  } catch {
    return null;
  }
  if (typeof rec.pid !== 'number' || !Number.isInteger(rec.pid) || rec.pid <= 0) return null;
  let alive = true;
  try {
    process.kill(rec.pid, 0);
  } catch (e) {
    // EPERM: the process exists but belongs to another user.
    alive = (e as NodeJS.ErrnoException).code === 'EPERM';
  }
  return { pid: rec.pid, since: typeof rec.since === 'string' ? rec.since : null, alive };
}

/** A lock file held in SQLite SHARED mode: any number of holders, and an exclusive probe fails. */
function openShared(file: string): Database.Database {
  const db = new Database(file, { timeout: 0 });
  try {
    db.pragma('journal_mode = DELETE');
    db.exec('BEGIN');
    db.prepare('SELECT count(*) FROM sqlite_master').get();
    return db;
  } catch (e) {
    db.close();
    throw e;
  }
}

/** True when some live process holds `file` (shared or exclusive); a free file is left unlocked. */
function isHeld(file: string): boolean {
  const db = new Database(file, { timeout: 0 });
  try {
    db.exec('BEGIN EXCLUSIVE');
    db.exec('ROLLBACK');
    return false;
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED') return true;
    throw e;
  } finally {
    db.close();
  }
}

const MIRROR_LOCK_RE = /^mirror-([0-9a-f]{8,64})\.lock$/;

/**
 * The mirror lock for a deployment. Replicas of one deployment (same `deploymentId`: the same
 * PostgreSQL database and schema) share the mirror; any other daemon is refused. Each holder keeps a
 * SHARED lock on `<dir>/mirror-<id>.lock`, which the OS drops when the process dies (kill -9 too).
 * A newcomer takes the exclusive gate lock, probes every other deployment's lock file (a held one
 * means a live foreign daemon: refused; a free one is stale and removed) and the legacy exclusive
 * `mirror.lock`, then takes its own shared lock and lets the gate go. The gate makes check-then-lock
 * atomic between two foreign daemons starting together.
 */
export function acquireMirrorLock(dir: string, deploymentId: string, what: string, info: Record<string, unknown> = {}): HeldLock {
  if (!/^[0-9a-f]{8,64}$/.test(deploymentId)) throw new Error(`invalid deployment id ${deploymentId}`);
  mkdirSync(dir, { recursive: true });
  const gate = new Database(path.join(dir, 'mirror-gate.lock'), { timeout: 10_000 });
  let own: Database.Database | undefined;
  try {
    gate.pragma('journal_mode = DELETE');
    gate.exec('BEGIN EXCLUSIVE');
    for (const f of readdirSync(dir)) {
      const m = MIRROR_LOCK_RE.exec(f);
      const foreign = f === 'mirror.lock' || (m !== null && m[1] !== deploymentId);
      if (!foreign) continue;
      const file = path.join(dir, f);
      const infoFile = file.replace(/\.lock$/, '.json');
      if (isHeld(file)) {
        let holder: { pid?: number; deployment?: string } = {};
        try {
          holder = JSON.parse(readFileSync(f === 'mirror.lock' ? path.join(dir, 'mirror.pid') : infoFile, 'utf8')) as typeof holder;
        } catch {
          /* not written yet */
        }
        const pid = typeof holder.pid === 'number' ? holder.pid : null;
        throw new LockedError(
          `${what} ${dir} is in use by another constellr-sync deployment${holder.deployment ? ` (${holder.deployment})` : ''}${pid ? ` (pid ${pid})` : ''}; replicas may share a mirror only with the same state database and schema`,
          pid,
        );
      }
      if (m) {
        rmSync(file, { force: true });
        rmSync(infoFile, { force: true });
      }
    }
    const file = path.join(dir, `mirror-${deploymentId}.lock`);
    own = openShared(file);
    writeFileSync(file.replace(/\.lock$/, '.json'), JSON.stringify({ pid: process.pid, since: new Date().toISOString(), ...info }));
  } catch (e) {
    own?.close();
    throw e;
  } finally {
    try {
      gate.exec('ROLLBACK');
    } catch {
      /* not begun */
    }
    gate.close();
  }
  const held = own;
  let released = false;
  return {
    file: path.join(dir, `mirror-${deploymentId}.lock`),
    release() {
      if (released) return;
      released = true;
      try {
        held.exec('COMMIT');
      } catch {
        /* already gone */
      }
      held.close();
    },
  };
}
