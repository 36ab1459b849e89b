// A real PostgreSQL for tests: CONSTELLR_TEST_DATABASE_URL, or the local server that .ci/run starts
// (127.0.0.1:5432, trust auth, database test). Each test gets its own schema, dropped afterwards.
// Outside CI an unreachable server skips the PostgreSQL tests with a printed reason; in CI it fails.
import pg from 'pg';

export const TEST_DATABASE_URL = process.env.CONSTELLR_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export async function postgresAvailable(): Promise<{ ok: true } | { ok: false; reason: string }> {
  // generous: in CI an unreachable server fails the whole file, and a loaded machine can be slow to fork a backend
  const c = new pg.Client({ connectionString: TEST_DATABASE_URL, connectionTimeoutMillis: 15_000 });
  try {
    await c.connect();
    await c.query('SELECT 1');
    return { ok: true };
  } catch (e) {
    return { ok: false, reason: `PostgreSQL at ${TEST_DATABASE_URL} is unreachable: ${(e as Error).message}` };
  } finally {
    await c.end().catch(() => undefined);
  }
}

/** Decide once per file: run, skip (printed) outside CI, or fail in CI. */
export async function requirePostgres(): Promise<boolean> {
  const a = await postgresAvailable();
  if (a.ok) return true;
  if (process.env.CI) throw new Error(`${a.reason} (CI is set, so PostgreSQL tests must run; .ci/run starts the server)`);
  console.warn(`skipping PostgreSQL tests: ${a.reason}`);
  return false;
}

export function uniqueSchema(prefix = 't'): string {
  return `${prefix}_${process.pid}_${Math.random().toString(36).slice(2, 10)}`;
}

export async function dropSchema(schema: string): Promise<void> {
  const c = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await c.connect();
  try {
    await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await c.end();
  }
}

export async function sql<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, params: unknown[] = []): Promise<R[]> {
  const c = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await c.connect();
  try {
    return (await c.query<R>(text, params)).rows;
  } finally {
    await c.end();
  }
}
