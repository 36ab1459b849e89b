// Both state backends for a test file that runs the same cases on each: a fresh SQLite state or
// PostgreSQL schema per call of `make`, opened with the given outbox sinks, closed and removed after
// the test. PostgreSQL is skipped (printed) outside CI when no server answers, as in postgres.ts.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach } from 'vitest';
import { PostgresStore } from '../../src/store/postgres-store.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import type { OutboxSink, StateStore } from '../../src/store/types.js';
import { dropSchema, requirePostgres, TEST_DATABASE_URL, uniqueSchema } from './postgres.js';

export type OpenStore = (sinks: OutboxSink[]) => Promise<StateStore>;
export interface StoreBackend {
  name: 'sqlite' | 'postgres';
  make: () => OpenStore;
  skip: boolean;
}

/** Call once at the top of a test file (it registers the file's cleanup). */
export async function storeBackends(prefix: string): Promise<StoreBackend[]> {
  const pgOk = await requirePostgres();
  const cleanups: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
  });
  const sqlite = (): OpenStore => {
    const dir = mkdtempSync(path.join(os.tmpdir(), `cs-${prefix}-`));
    cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
    return async (sinks) => {
      const s = SqliteStore.open(dir, { maxAttempts: 3, outboxSinks: sinks });
      cleanups.push(() => s.close());
      return s;
    };
  };
  const postgres = (): OpenStore => {
    const schema = uniqueSchema(prefix);
    cleanups.push(() => dropSchema(schema));
    return async (sinks) => {
      const s = (await PostgresStore.open({ url: TEST_DATABASE_URL, schema, maxAttempts: 3, poolSize: 2, outboxSinks: sinks }))!;
      cleanups.push(() => s.close());
      return s;
    };
  };
  return [
    { name: 'sqlite', make: sqlite, skip: false },
    { name: 'postgres', make: postgres, skip: !pgOk },
  ];
}
