// A full PostgreSQL server (SQLSTATE 53100, disk_full) is the same pause as a full SQLite state disk
// (state-full-writers.test.ts): the writer that meets it closes the gate once with reason state_full,
// nothing spins, and once the server takes writes again everything is mirrored. The server's disk is
// not filled: a trigger on the jobs table makes the real server answer 53100, over the real pg
// driver and PostgresStore, first to the poll's insert, then to a claim's update. A replica cannot see
// the server's disk, so the gate is reopened every stateServerRetryMs and the next write is the test.
import { afterAll, describe, expect, it } from 'vitest';
import { AssetInventory } from '../../src/simulator/index.js';
import { makeAssets } from '../helpers/fault-daemon.js';
import { verifyMirror, waitUntil } from '../helpers/harness.js';
import { postgresBed, requirePostgres, sql, startPostgresEngine, type Cleanups } from '../helpers/postgres.js';

const KiB = 1024;
const pgOk = await requirePostgres();
const cleanups: Cleanups = [];
afterAll(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

type Line = { msg?: string; reason?: string; err?: unknown; code?: unknown };
const FULL = 'no space left on the PostgreSQL server (SQLSTATE 53100: could not extend file';

describe.skipIf(!pgOk)('a full PostgreSQL server', () => {
  it('pauses the poll and then the claims as state_full, and everything is mirrored once it takes writes again', async () => {
    const bed = await postgresBed(cleanups, 'state-full-postgres', 'sfull', { inventory: new AssetInventory(makeAssets('pf', [8 * KiB, 8 * KiB])) });
    const { sim, dirs: d, schema } = bed;
    const { rt, engine, lines, waitDone } = await startPostgresEngine<Line>(cleanups, bed, { engine: { stateServerRetryMs: 300 } });
    await waitDone(2, 'the first two files');

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
      await waitDone(n, `all ${n} mirrored after the ${context}`);
    }
    expect(lines.filter((l) => l.msg === 'worker loop error; backing off')).toEqual([]);
    expect(lines.filter((l) => l.msg === 'poll failed; the high-water mark was not moved')).toEqual([]);
    expect(await rt.store.counts()).toMatchObject({ done: n, queued: 0, running: 0, failed: 0 });
    expect(await verifyMirror(d.mirror, sim.inventory.values())).toEqual([]);
  }, 90_000);
});
