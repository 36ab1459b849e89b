// The state database failing inside a job (its commit) is not the asset's: a full server (SQLSTATE
// 53100) closes the state-full gate as a full mirror closes its own, and a serialization failure
// (40001) is retried; neither costs the job an attempt. The real server answers both from a trigger on
// the completion of a job row, over the real pg driver and PostgresStore; one file is committed on its
// own (store.commitPlaced), the other in a group commit. With sync.maxAttempts 2, a job charged for
// these would end failed after two rounds; here it goes round until the trigger is dropped, then is mirrored.
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
const MiB = 1024 * KiB;
const pgOk = await requirePostgres();
const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

type Line = { msg?: string; reason?: string; err?: unknown; code?: unknown; errorClass?: unknown; attemptBurned?: unknown };

describe.skipIf(!pgOk)('the state database failing inside a job', () => {
  it('a full server pauses as state_full and a serialization failure is retried, neither costing the job an attempt', async () => {
    const sim: Simulator = await startSimulator({ port: 0, adminPort: false, inventory: new AssetInventory(makeAssets('sj', [8 * KiB])) });
    cleanups.push(() => sim.close());
    const d: TempDirs = await tempDirs('store-errors-in-job');
    cleanups.push(() => d.cleanup());
    const schema = uniqueSchema('sjob');
    cleanups.push(() => dropSchema(schema));
    const config = loadConfig({
      env: credentials(sim),
      flags: { 'api-url': sim.url, 'mirror-dir': d.mirror, 'state-dir': d.state },
      defaults: {
        'state.url': TEST_DATABASE_URL,
        'state.schema': schema,
        'http.enabled': false,
        'sync.schedule': '0 0 1 1 *',
        'sync.reconcileSchedule': 'off',
        'sync.leaseDuration': '2s',
        'sync.concurrency': 2,
        'sync.maxAttempts': 2,
        'sync.retryBaseDelay': '50ms',
        'sync.retryMaxDelay': '200ms',
      },
    });
    const lines: Line[] = [];
    const rt = await openRuntime(config, createLogger({ level: 'info', destination: { write: (l: string) => void lines.push(JSON.parse(l) as Line) } }));
    const engine = new Engine(rt, { mode: 'continuous', probeIntervalMs: 100, stateServerRetryMs: 200 });
    const handle = await engine.start();
    cleanups.push(async () => {
      await handle.stop();
      await rt.close();
    });
    const counts = () => rt.store.counts();
    await waitUntil(async () => (await counts()).done === 1, 20_000, 50, 'the first file');

    // Every completion of a job row fails on the server; claims and requeues (other states) go through.
    const failWith = async (errcode: string, message: string) => {
      await sql(`CREATE OR REPLACE FUNCTION "${schema}".fail_done() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION '${message}' USING ERRCODE = '${errcode}'; END $$`);
    };
    await failWith('disk_full', 'could not extend file "base/16384/16397": No space left on device');
    await sql(`CREATE TRIGGER fail_done BEFORE UPDATE ON "${schema}".jobs FOR EACH ROW WHEN (NEW.state = 'done') EXECUTE FUNCTION "${schema}".fail_done()`);
    // One file committed on its own (resumable size), one in a group commit.
    sim.inventory.putMany(makeAssets('sj-2', [2 * MiB, 8 * KiB], Date.now() - 60_000));
    void engine.poll();

    // A full server met by a job's own commit closes the gate, once per try, as a full mirror does.
    const pauses = () => lines.filter((l) => l.msg === 'pausing downloads until this clears' && l.reason === 'state_full');
    const fromJob = () => pauses().filter((l) => String(l.err).startsWith('download sj-2/f-0000.bin: no space left on the PostgreSQL server (SQLSTATE 53100'));
    await waitUntil(() => fromJob().length >= 3, 30_000, 20, 'three state_full pauses from the job committed on its own');
    expect(fromJob()[0]).toMatchObject({ code: 'SYNC_STORE_DISK_FULL' });
    expect((await counts()).failed).toBe(0);

    // A serialization failure: retried with backoff, no attempt charged, not a pause of everyone.
    await failWith('serialization_failure', 'could not serialize access due to concurrent update');
    const conflicts = () => lines.filter((l) => l.msg === 'download failed; will retry' && l.errorClass === 'store_conflict');
    await waitUntil(() => conflicts().length >= 6, 30_000, 20, 'six store_conflict retries');
    expect(conflicts().every((l) => l.attemptBurned === false)).toBe(true);
    expect((await counts()).failed).toBe(0);
    expect(engine.gate.apiDown).toBe(false);

    await sql(`DROP TRIGGER fail_done ON "${schema}".jobs`);
    await waitUntil(async () => (await counts()).done === 3, 30_000, 50, 'all three mirrored once the server takes the commits');
    expect(await counts()).toMatchObject({ done: 3, queued: 0, running: 0, failed: 0 });
    expect(await verifyMirror(d.mirror, sim.inventory.values())).toEqual([]);
  }, 120_000);
});
