// Single-instance locks that the OS releases when the process dies (kill -9 included): an exclusive
// SQLite lock held on a small lock database for the life of the process. Node has no flock(), and
// SQLite's POSIX advisory locks are exactly that, portable and tested. The holder's pid is written
// next to it so a refused second instance can name it.
import Database from 'better-sqlite3';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { SyncError } from '../api/errors.js';

export interface HeldLock {
  readonly file: string;
  release(): void;
}

export class LockedError extends SyncError {
  constructor(
    message: string,
    readonly holderPid: number | null,
  ) {
    super(message, { code: 'SYNC_LOCKED', kind: 'fatal', errorClass: 'config' });
  }
}

/**
 * Take the exclusive lock `<dir>/<name>.lock`. Throws LockedError naming the holder when another
 * live process holds it.
 */
export function acquireLock(dir: string, name: string, what: string, info: Record<string, unknown> = {}): HeldLock {
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${name}.lock`);
  const pidFile = path.join(dir, `${name}.pid`);
  const db = new Database(file, { timeout: 0 });
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
    throw e;
  }
  writeFileSync(pidFile, JSON.stringify({ pid: process.pid, since: new Date().toISOString(), ...info }));
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
    },
  };
}
