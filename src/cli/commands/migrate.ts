// `constellr-sync migrate [--json]`: bring the state schema to this version by hand. The daemon also
// migrates at start (under a lock); operators run this before a rolling upgrade of several replicas.
// Refuses a state written by a newer constellr-sync.
import { parseArgs } from 'node:util';
import { MIGRATE_OPTIONS, optionsHelp } from '../options.js';
import pg from 'pg';
import { SyncError } from '../../errors.js';
import { operatorFsError } from '../../lib/operator-errors.js';
import Database from 'better-sqlite3';
import { existsSync } from 'node:fs';
import { loadMigrations, MIGRATIONS_DIR, openSqlite, STATE_FILE } from '../../store/sqlite.js';
import { describeStore, storeTarget } from '../../store/open.js';
import { migratePostgres, POSTGRES_MIGRATIONS_DIR, redactDatabaseUrl } from '../../store/postgres-store.js';
import path from 'node:path';
import { configFromFlags, out } from '../common.js';
import { EXIT } from '../exit-codes.js';

export const MIGRATE_HELP = `Usage: constellr-sync migrate [--json] [config flags]

Apply pending state migrations (PostgreSQL: state.url / CONSTELLR_SYNC_DATABASE_URL in state.schema;
otherwise SQLite in state.dir) and print the schema version. Safe to run while replicas run: it takes
the same advisory lock the daemon takes at start.

${optionsHelp('migrate')}`;

export async function migrateCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: MIGRATE_OPTIONS, strict: true });
  if (values.help) {
    out(MIGRATE_HELP);
    return EXIT.OK;
  }
  const config = configFromFlags(values);
  const t = storeTarget(config);
  let result: { from: number; to: number; applied: string[] };
  if (t.backend === 'postgres') {
    const pool = new pg.Pool({ connectionString: t.url, max: 1, connectionTimeoutMillis: 10_000, application_name: 'constellr-sync-migrate' });
    pool.on('error', () => undefined);
    try {
      result = await migratePostgres(pool, t.schema, loadMigrations(POSTGRES_MIGRATIONS_DIR));
    } catch (e) {
      if (e instanceof SyncError) throw e;
      throw new SyncError(`cannot migrate ${redactDatabaseUrl(t.url)} (schema ${t.schema}): ${(e as Error).message}`, {
        code: 'SYNC_STORE_OPEN',
        cause: e,
      });
    } finally {
      await pool.end().catch(() => undefined);
    }
  } else {
    const migrations = loadMigrations(path.join(MIGRATIONS_DIR, 'sqlite'));
    const file = path.join(t.dir, STATE_FILE);
    let from = 0;
    try {
      if (existsSync(file)) {
        const ro = new Database(file, { readonly: true });
        try {
          from = ro.pragma('user_version', { simple: true }) as number;
        } finally {
          ro.close();
        }
      }
      const db = openSqlite(t.dir); // migrates (each step in BEGIN IMMEDIATE), refuses a newer file
      try {
        const to = db.pragma('user_version', { simple: true }) as number;
        result = { from, to, applied: migrations.filter((m) => m.version > from && m.version <= to).map((m) => m.name) };
      } finally {
        db.close();
      }
    } catch (e) {
      // A read-only or unusable state directory: one line, exit 2 (as sync and run say it).
      throw operatorFsError('the state directory', t.dir, e) ?? e;
    }

  }
  if (values.json) out(JSON.stringify({ backend: t.backend, store: describeStore(config), ...result }));
  else {
    for (const a of result.applied) out(`applied ${a}`);
    out(`${describeStore(config)}: schema version ${result.to}${result.applied.length === 0 ? ' (up to date)' : ''}`);
  }
  return EXIT.OK;
}
