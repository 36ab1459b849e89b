// A real PostgreSQL for tests: CONSTELLR_TEST_DATABASE_URL, or the local server that .ci/run starts
// (127.0.0.1:5432, trust auth, database test). Each test gets its own schema, dropped afterwards.
// Outside CI an unreachable server skips the PostgreSQL tests with a printed reason; in CI it fails.
// postgresBed() and startPostgresEngine() set up the simulator, dirs, schema and a `run` engine of one test.
import pg from 'pg';
import { loadConfig } from '../../src/config/load.js';
import { Engine, type EngineOptions } from '../../src/daemon/engine.js';
import { openRuntime, type Runtime } from '../../src/daemon/runtime.js';
import { createLogger } from '../../src/lib/logger.js';
import { startSimulator, type Simulator, type SimulatorOptions } from '../../src/simulator/index.js';
import { credentials } from './fault-daemon.js';
import { tempDirs, waitUntil, type TempDirs } from './harness.js';

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

// ---- a `run` engine in this process on a schema of its own ------------------------------------------

/** Closers run by the file's afterAll, last first. */
export type Cleanups = (() => Promise<unknown>)[];

export interface PostgresBed {
  sim: Simulator;
  dirs: TempDirs;
  /** A fresh schema, dropped by the cleanups. */
  schema: string;
}

/** A simulator, temp dirs and a schema of its own for one test; `cleanups` closes, removes and drops them. */
export async function postgresBed(cleanups: Cleanups, name: string, schemaPrefix: string, sim: SimulatorOptions): Promise<PostgresBed> {
  const s = await startSimulator({ port: 0, adminPort: false, ...sim });
  cleanups.push(() => s.close());
  const dirs = await tempDirs(name);
  cleanups.push(() => dirs.cleanup());
  const schema = uniqueSchema(schemaPrefix);
  cleanups.push(() => dropSchema(schema));
  return { sim: s, dirs, schema };
}

export interface PostgresEngine<L> {
  rt: Runtime;
  engine: Engine;
  /** Every log line (level info), parsed. */
  lines: L[];
  /** Wait until `n` jobs are done. */
  waitDone(n: number, what: string, timeoutMs?: number): Promise<void>;
}

/**
 * A continuous engine (as `run` wires it, without signals and the ops endpoint) on the bed's schema:
 * no ops endpoint, no scheduled poll or reconcile, 2 workers, 2 s leases; `config` (dotted keys) and
 * `engine` add to or replace these. `cleanups` stops it and closes the runtime.
 */
export async function startPostgresEngine<L>(
  cleanups: Cleanups,
  bed: PostgresBed,
  o: { url?: string; config?: Record<string, unknown>; engine?: Omit<EngineOptions, 'mode'> } = {},
): Promise<PostgresEngine<L>> {
  const config = loadConfig({
    env: credentials(bed.sim),
    flags: { 'api-url': bed.sim.url, 'mirror-dir': bed.dirs.mirror, 'state-dir': bed.dirs.state },
    defaults: {
      'state.url': o.url ?? TEST_DATABASE_URL,
      'state.schema': bed.schema,
      'http.enabled': false,
      'sync.schedule': '0 0 1 1 *',
      'sync.reconcileSchedule': 'off',
      'sync.leaseDuration': '2s',
      'sync.concurrency': 2,
      ...o.config,
    },
  });
  const lines: L[] = [];
  const rt = await openRuntime(config, createLogger({ level: 'info', destination: { write: (l: string) => void lines.push(JSON.parse(l) as L) } }));
  const engine = new Engine(rt, { mode: 'continuous', probeIntervalMs: 100, ...o.engine });
  const handle = await engine.start();
  cleanups.push(async () => {
    await handle.stop();
    await rt.close();
  });
  const waitDone = async (n: number, what: string, timeoutMs = 20_000) => {
    await waitUntil(async () => (await rt.store.counts()).done === n, timeoutMs, 50, what);
  };
  return { rt, engine, lines, waitDone };
}
