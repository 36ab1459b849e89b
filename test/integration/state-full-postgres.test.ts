// A full PostgreSQL server (SQLSTATE 53100, disk_full) is the same pause as a full SQLite state disk
// (state-full-writers.test.ts): the writer that meets it closes the gate once with reason state_full,
// nothing spins, and once the server takes writes again everything is mirrored. The server's disk is
// not filled: a trigger on the jobs table makes the real server answer 53100, over the real pg
// driver and PostgresStore, first to the poll's insert, then to a claim's update. A replica cannot see
// the server's disk, so the gate is reopened every stateServerRetryMs and the next write is the test.
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { Engine } from '../../src/daemon/engine.js';
import { openRuntime } from '../../src/daemon/runtime.js';
import { createLogger } from '../../src/lib/logger.js';
import { AssetInventory, startSimulator, type Simulator } from '../../src/simulator/index.js';
import { credentials, makeAssets } from '../helpers/fault-daemon.js';
import { tempDirs, verifyMirror, waitUntil, type TempDirs } from '../helpers/harness.js';
import { dropSchema, requirePostgres, sql, TEST_DATABASE_URL, uniqueSchema } from '../helpers/postgres.js';

const KiB = 1024;
const pgOk = await requirePostgres();
const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

type Line = { msg?: string; reason?: string; err?: unknown; code?: unknown };
const FULL = 'no space left on the PostgreSQL server (SQLSTATE 53100: could not extend file';

describe.skipIf(!pgOk)('a full PostgreSQL server', () => {
  it('pauses the poll and then the claims as state_full, and everything is mirrored once it takes writes again', async () => {
    const sim: Simulator = await startSimulator({ port: 0, adminPort: false, inventory: new AssetInventory(makeAssets('pf', [8 * KiB, 8 * KiB])) });
    cleanups.push(() => sim.close());
    const d: TempDirs = await tempDirs('state-full-postgres');
    cleanups.push(() => d.cleanup());
    const schema = uniqueSchema('sfull');
    cleanups.push(() => dropSchema(schema));
    const config = loadConfig({
      env: credentials(sim),
      flags: { 'api-url': sim.url, 'mirror-dir': d.mirror, 'state-dir': d.state },
      defaults: { 'state.url': TEST_DATABASE_URL, 'state.schema': schema, 'http.enabled': false, 'sync.schedule': '0 0 1 1 *', 'sync.reconcileSchedule': 'off', 'sync.leaseDuration': '2s', 'sync.concurrency': 2 },
    });
    const lines: Line[] = [];
    const rt = await openRuntime(config, createLogger({ level: 'info', destination: { write: (l: string) => void lines.push(JSON.parse(l) as Line) } }));
    const engine = new Engine(rt, { mode: 'continuous', probeIntervalMs: 100, stateServerRetryMs: 300 });
    const handle = await engine.start();
    cleanups.push(async () => {
      await handle.stop();
      await rt.close();
    });
    const done = async () => (await rt.store.counts()).done;
    await waitUntil(async () => (await done()) === 2, 20_000, 50, 'the first two files');

    // The server answers every insert (then every update) of a job row with SQLSTATE 53100, as it does
    // when it cannot extend a table's file.
    await sql(`CREATE FUNCTION "${schema}".disk_full() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'could not extend file "base/16384/16397": No space left on device' USING ERRCODE = 'disk_full'; END $$`);
    const pauses = (context: string) => lines.filter((l) => l.msg === 'pausing downloads until this clears' && l.reason === 'state_full' && String(l.err).startsWith(`${context}: ${FULL}`));
    let n = 2;
    for (const [context, op] of [
      ['poll', 'INSERT'],
      ['claim', 'UPDATE'],
    ] as const) {
      await sql(`CREATE TRIGGER full_disk BEFORE ${op} ON "${schema}".jobs FOR EACH ROW EXECUTE FUNCTION "${schema}".disk_full()`);
      sim.inventory.putMany(makeAssets(`pf-${n}`, [8 * KiB], Date.now() - 60_000));
      n++;
      void engine.poll();
      await waitUntil(() => pauses(context).length > 0, 20_000, 20, `a state_full pause from the ${context}`);
      expect(pauses(context)[0]).toMatchObject({ code: 'SYNC_STORE_DISK_FULL' });
      expect(engine.gate.state().open).toBe(false);
      await sql(`DROP TRIGGER full_disk ON "${schema}".jobs`);
      // The server takes writes again: the gate reopens (the next write is the test) and the new file is mirrored.
      await waitUntil(() => engine.gate.state().open, 10_000, 20, `the gate to reopen after the ${context}`);
      void engine.poll();
      await waitUntil(async () => (await done()) === n, 20_000, 50, `all ${n} mirrored after the ${context}`);
    }
    expect(lines.filter((l) => l.msg === 'worker loop error; backing off')).toEqual([]);
    expect(lines.filter((l) => l.msg === 'poll failed; the high-water mark was not moved')).toEqual([]);
    expect(await rt.store.counts()).toMatchObject({ done: n, queued: 0, running: 0, failed: 0 });
    expect(await verifyMirror(d.mirror, sim.inventory.values())).toEqual([]);
  }, 90_000);
});
