// Opening the SQLite state file: WAL, synchronous set explicitly (better-sqlite3 connections on an
// existing WAL file would otherwise get NORMAL), busy_timeout, and numbered immutable migrations.
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { SyncError } from '../errors.js';
import { loadMigrations, MIGRATIONS_DIR, STATE_FILE, type Migration } from './migrations.js';

export { loadMigrations, MIGRATIONS_DIR, STATE_FILE, type Migration };

export type SqliteDb = Database.Database;

/**
 * SQLite's page cache outside polls, in KiB. It was 16 MiB at all times: after a first listing of 1M
 * keys, the first count of jobs by state (a scan of jobs_state) filled it and added ~10 MiB to the
 * peak RSS (bench/README.md, "Peak RSS on Node 24 (issue 23, second pass…)").
 */
export const IDLE_CACHE_KIB = 8192;

export interface OpenOptions {
  /**
   * 'NORMAL' (default): commits are durable at WAL checkpoints. Safe here because every transition
   * is idempotent and files are durable before their row says done; a power cut only loses the
   * newest transactions, in order (the WAL is a log), so they are redone. 'FULL' syncs every commit.
   */
  synchronous?: 'FULL' | 'NORMAL';
  readonly?: boolean;
}

/** Open (creating if needed) the state database in `stateDir` and bring it to the current schema. */
export function openSqlite(stateDir: string, opts: OpenOptions = {}): SqliteDb {
  if (!opts.readonly) mkdirSync(stateDir, { recursive: true });
  const file = path.join(stateDir, STATE_FILE);
  let db: SqliteDb;
  try {
    db = new Database(file, { readonly: opts.readonly ?? false, fileMustExist: opts.readonly ?? false, timeout: 10_000 });
  } catch (e) {
    throw new SyncError(`cannot open state database ${file}: ${(e as Error).message}`, {
      code: 'SYNC_STORE_OPEN',
      cause: e,
    });
  }
  if (!opts.readonly) db.pragma('journal_mode = WAL');
  db.pragma(`synchronous = ${opts.synchronous ?? 'NORMAL'}`);
  db.pragma('busy_timeout = 10000');
  // 8 MiB of page cache between polls (claims, completions and the status counts read the b-trees in
  // order); SqliteStore raises it to 16 MiB while a poll inserts keys (POLL_CACHE_KIB).
  db.pragma(`cache_size = -${IDLE_CACHE_KIB}`);
  // Checkpoint every 10,000 WAL frames (~40 MiB) rather than 1,000: a listing page of 1,000 new keys
  // dirties ~1,000 leaf pages of the claim-order index (keys arrive in key order, not date order), so
  // with the default every page's commit ran a checkpoint (two fsyncs and the pages written twice).
  // Measured on 1M keys: 21k → 40k keys/s. Costs up to ~40 MiB of WAL on disk, no memory.
  if (!opts.readonly) db.pragma('wal_autocheckpoint = 10000');
  db.pragma('foreign_keys = ON');
  migrate(db, loadMigrations(path.join(MIGRATIONS_DIR, 'sqlite')), opts.readonly ?? false);
  return db;
}

/** Apply pending migrations in order, each in its own BEGIN IMMEDIATE transaction. */
export function migrate(db: SqliteDb, migrations: Migration[], readonly = false): number {
  const latest = migrations.length === 0 ? 0 : migrations[migrations.length - 1]!.version;
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > latest) {
    db.close();
    throw new SyncError(
      `the state database has schema version ${current}, written by a newer constellr-sync (this one knows up to ${latest}); upgrade constellr-sync or use another state directory`,
      { code: 'SYNC_STORE_TOO_NEW' },
    );
  }
  if (current === latest) return 0;
  if (readonly) throw new SyncError(`the state database needs migration (version ${current} < ${latest}); run the daemon once`, { code: 'SYNC_STORE_OLD' });
  let applied = 0;
  for (const m of migrations.filter((x) => x.version > current)) {
    const apply = db.transaction(() => {
      // Re-check inside the write lock: another process may have migrated meanwhile.
      const v = db.pragma('user_version', { simple: true }) as number;
      if (v >= m.version) return;
      db.exec(m.sql);
      db.pragma(`user_version = ${m.version}`);
      applied++;
    });
    apply.immediate();
  }
  return applied;
}
