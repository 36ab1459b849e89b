// PostgreSQL connections and migrations: the pool settings every connection gets (search_path of
// the deployment's schema, READ COMMITTED), and migrating a schema under an advisory lock. No state
// machine here (src/store/sql/*), and nothing that loads SQLite.
import pg from 'pg';
import path from 'node:path';
import { SyncError, type FatalCode } from '../errors.js';
import { loadMigrations, MIGRATIONS_DIR, type Migration } from './migrations.js';

const SCHEMA_RE = /^[a-z_][a-z0-9_]{0,62}$/;

export function assertSchemaName(schema: string): void {
  if (!SCHEMA_RE.test(schema))
    throw new SyncError(`state.schema: "${schema}" is not a valid schema name (lower-case letters, digits and _, at most 63, not starting with a digit)`, {
      code: 'SYNC_CONFIG_INVALID',
    });
}

export function storeError(message: string, code: FatalCode, cause?: unknown): SyncError {
  return new SyncError(message, { code, cause });
}

// bigint (int8) columns hold epoch ms and sizes: well inside Number's exact range.
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === 20 ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
};

export function poolConfig(o: { url: string; schema: string; max?: number }): pg.PoolConfig {
  return {
    connectionString: o.url,
    max: o.max ?? 10,
    // search_path pins every statement to the deployment's schema; READ COMMITTED is what SKIP LOCKED
    // claims are designed for (and the server default, stated here so a changed default cannot bite).
    options: `-c search_path=${o.schema} -c default_transaction_isolation=read\\ committed`,
    types,
    connectionTimeoutMillis: 10_000,
    // Bounds a new connection only. No query_timeout (a migration or a large page may be slow and still
    // well) and no keepAlive (idle clients are closed after pg-pool's 10 s anyway, and TCP keepalive does
    // not cover a statement in flight): the gate's probe has its own bound (store-outage.ts).
    application_name: 'constellr-sync',
  };
}

export const POSTGRES_MIGRATIONS_DIR = path.join(MIGRATIONS_DIR, 'postgres');

export interface MigrateResult {
  from: number;
  to: number;
  applied: string[];
}

/**
 * Bring `schema` to the latest migration, under a session advisory lock keyed by the schema so that
 * replicas starting together migrate once. Refuses a schema migrated by a newer constellr-sync.
 */
export async function migratePostgres(pool: pg.Pool, schema: string, migrations: Migration[] = loadMigrations(POSTGRES_MIGRATIONS_DIR)): Promise<MigrateResult> {
  assertSchemaName(schema);
  const latest = migrations.length === 0 ? 0 : migrations[migrations.length - 1]!.version;
  const client = await pool.connect();
  try {
    await client.query('SELECT pg_advisory_lock(hashtext($1))', [`constellr-sync/migrate/${schema}`]);
    try {
      await client.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
      await client.query(
        `CREATE TABLE IF NOT EXISTS "${schema}".schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`,
      );
      const from = await currentVersion(client, schema);
      if (from > latest) throw tooNew(from, latest);
      const applied: string[] = [];
      for (const m of migrations.filter((x) => x.version > from)) {
        await client.query('BEGIN');
        try {
          await client.query(`SET LOCAL search_path = "${schema}"`);
          await client.query(m.sql);
          await client.query(`INSERT INTO "${schema}".schema_migrations (version, name) VALUES ($1, $2)`, [m.version, m.name]);
          await client.query('COMMIT');
        } catch (e) {
          await client.query('ROLLBACK').catch(() => undefined);
          throw storeError(`PostgreSQL migration ${m.name} failed: ${(e as Error).message}`, 'SYNC_STORE_MIGRATE', e);
        }
        applied.push(m.name);
      }
      return { from, to: Math.max(from, latest), applied };
    } finally {
      await client.query('SELECT pg_advisory_unlock(hashtext($1))', [`constellr-sync/migrate/${schema}`]).catch(() => undefined);
    }
  } finally {
    client.release();
  }
}

export function tooNew(current: number, latest: number): SyncError {
  return storeError(
    `the PostgreSQL state has schema version ${current}, written by a newer constellr-sync (this one knows up to ${latest}); upgrade constellr-sync or use another schema`,
    'SYNC_STORE_TOO_NEW',
  );
}

async function currentVersion(client: pg.PoolClient | pg.Pool, schema: string): Promise<number> {
  const r = await client.query<{ v: number | null }>(`SELECT max(version) AS v FROM "${schema}".schema_migrations`);
  return r.rows[0]?.v ?? 0;
}

/** Version of `schema`, or null when it was never migrated. */
export async function postgresSchemaVersion(pool: pg.Pool, schema: string): Promise<number | null> {
  const r = await pool.query<{ t: string | null }>('SELECT to_regclass($1) AS t', [`"${schema}".schema_migrations`]);
  if (!r.rows[0]?.t) return null;
  return currentVersion(pool, schema);
}

