// A pooled PostgreSQL connection lost in the middle of a transaction, while no statement runs (the
// group commit renames files between its statements): the transaction fails as the database's
// (store_unavailable, retried), never as an uncaught exception that ends the daemon, and the store
// goes on with a new connection. (Seen in CI: "Connection terminated unexpectedly", uncaught, while
// store-unreachable-postgres cut its relay.)
import { describe, expect, it } from 'vitest';
import type pg from 'pg';
import { classifyError } from '../../src/errors.js';
import { PostgresStore } from '../../src/store/postgres-store.js';
import { TEST_DATABASE_URL, dropSchema, requirePostgres, sql, uniqueSchema } from '../helpers/postgres.js';

const pgOk = await requirePostgres();

describe.skipIf(!pgOk)('a pooled connection lost inside a transaction', () => {
  it("fails the transaction as the database's (store_unavailable), not as an uncaught exception, and the store goes on", async () => {
    const schema = uniqueSchema('txlost');
    const store = (await PostgresStore.open({ url: TEST_DATABASE_URL, schema, maxAttempts: 3, poolSize: 1 }))!;
    try {
      await store.upsertPage([{ key: 'a/one', lastModifiedMs: 1_700_000_000_000, size: 1, etag: null }]);
      const [job] = await store.claimJobs(1, { owner: 't/w0', leaseMs: 60_000, now: Date.now(), order: 'key' });
      expect(job).toBeDefined();
      let checkedOut: pg.PoolClient | undefined;
      store.pool.on('acquire', (c) => (checkedOut = c));
      const row = { id: job!.id, token: job!.leaseToken, localPath: 'a/one', bytes: 1, sha256: 'x', now: Date.now() };
      const commit = store.commitPlacedBatch([row], async (held) => {
        // Between the transaction's statements: its server process is ended from outside, and the
        // connection's end reaches the client while no statement of it runs.
        const client = checkedOut!;
        const processID = (client as unknown as { processID: number }).processID; // pg sets it at connect; not in its types
        const ended = new Promise<void>((resolve) => client.once('end', () => resolve()));
        const pid = (await sql<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE pid = $1', [processID]))[0]?.pid;
        expect(pid).toBe(processID);
        await sql('SELECT pg_terminate_backend($1)', [pid]);
        await Promise.race([ended, new Promise((_, reject) => setTimeout(() => reject(new Error('the connection did not end within 10 s')), 10_000))]);
        return new Set(held);
      }, 60_000);
      const err = await commit.then(() => null, (e: unknown) => e);
      expect(err, 'the commit must fail').not.toBeNull();
      expect(classifyError(err).errorClass).toBe('store_unavailable');
      // a new connection: the job is still running under its lease, not done
      expect(await store.counts()).toMatchObject({ running: 1, done: 0 });
    } finally {
      await store.close();
      await dropSchema(schema);
    }
  }, 60_000);
});
