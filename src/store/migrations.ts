// Numbered immutable migrations (migrations/sqlite, migrations/postgres) and where the SQLite state
// file lives. No database driver here: both backends (and status, migrate) read these.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';

/** migrations/ at the package root, from both src/store and dist/store. */
export const MIGRATIONS_DIR = fileURLToPath(new URL('../../migrations/', import.meta.url));

export const STATE_FILE = 'state.db';

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export function loadMigrations(dir: string): Migration[] {
  const files = readdirSync(dir)
    .filter((f) => /^\d{4}_[\w-]+\.sql$/.test(f))
    .sort();
  let prev = 0;
  return files.map((f) => {
    const version = Number(f.slice(0, 4));
    if (version <= prev) throw new Error(`migration ${f} repeats version ${version}`);
    prev = version;
    return { version, name: f, sql: readFileSync(path.join(dir, f), 'utf8') };
  });
}

/** A fresh lease token: it fences every write of the worker that holds the job. */
export function newLeaseToken(): string {
  return randomBytes(12).toString('base64url');
}
