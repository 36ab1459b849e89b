// The STAC catalog with PostgreSQL and two `run` replicas sharing one mirror: both complete assets,
// whichever completes an item's last asset writes its JSON, both rewrite collection.json. The end state
// must still be exact (pystac, stac-pydantic, our verifier) and equal to the simulator's items, and the
// GeoParquet index (one writer at a time) must list exactly the catalog's items.
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Simulator } from '../../src/simulator/index.js';
import { verifyCatalog } from '../../src/mirror/stac-verify.js';
import { tempDirs, testSeed, waitUntil, type TempDirs } from '../helpers/harness.js';
import { configFlags, killAll, spawnCli, type Proc } from '../helpers/fault-daemon.js';
import { TEST_DATABASE_URL, dropSchema, requirePostgres, sql, uniqueSchema } from '../helpers/postgres.js';
import { catalogProblems } from '../helpers/stac-catalog.js';
import { indexProblems } from '../helpers/stac-index.js';
import { STAC_KEY, startStacSim } from '../helpers/stac.js';

const seed = testSeed();
console.log(`stac-catalog-replicas seed: ${seed} (reproduce with TEST_SEED=${seed})`);

let pgOk = false;
beforeAll(async () => {
  pgOk = await requirePostgres();
});

let sim: Simulator | undefined;
let dirs: TempDirs | undefined;
let schema: string | undefined;
afterEach(async () => {
  await killAll();
  await sim?.close();
  await dirs?.cleanup();
  if (schema) await dropSchema(schema);
  sim = undefined;
  dirs = undefined;
  schema = undefined;
});

describe('STAC catalog on PostgreSQL with replicas', () => {
  it('two replicas build one exact catalog; a deletion by reconcile takes the item out', async (ctx) => {
    if (!pgOk) return ctx.skip();
    sim = await startStacSim(seed, 24);
    dirs = await tempDirs('stac-catalog-pg');
    schema = uniqueSchema('stacc');
    const env = { CONSTELLR_API_KEY: STAC_KEY, CONSTELLR_SYNC_DATABASE_URL: TEST_DATABASE_URL, CONSTELLR_SYNC_DATABASE_SCHEMA: schema };
    const procs: Proc[] = [];
    for (const name of ['a', 'b']) {
      const args = await configFlags(dirs.root, {
        sim,
        mirror: dirs.mirror,
        state: path.join(dirs.root, `state-${name}`),
        name,
        config: { source: 'stac', sync: { concurrency: 2, reconcileSchedule: 'off' }, log: { level: 'info' } },
      });
      procs.push(spawnCli(['run', ...args], env));
    }
    const want = sim.stac!.size;
    await waitUntil(
      async () => {
        const done = await sql<{ n: string }>(`SELECT count(*) AS n FROM "${schema}".jobs WHERE state = 'done'`).catch(() => [{ n: '0' }]);
        if (Number(done[0]!.n) < want * 3) return false;
        return (await verifyCatalog(dirs!.mirror).catch(() => null))?.items === want;
      },
      120_000,
      250,
      'every item in the catalog',
    );
    for (const p of procs) p.kill('SIGTERM');
    for (const p of procs) expect((await p.exited).code, p.stderr().slice(-2000)).toBe(0);
    expect(await catalogProblems(dirs.mirror, sim.stac!)).toEqual([]);
    // one index writer at a time; the last rewrite read the state after every change
    expect(await indexProblems(dirs.mirror)).toEqual([]);
    const rows = await sql<{ n: string }>(`SELECT count(*) AS n FROM "${schema}".stac_items WHERE json_path IS NOT NULL`);
    expect(Number(rows[0]!.n)).toBe(want);

    // reconcile (delete policy) on PostgreSQL: the item leaves the catalog with its files
    const victim = sim.stac!.all()[0]!;
    sim.stac!.remove(victim.collection, victim.id);
    const args = await configFlags(dirs.root, { sim, mirror: dirs.mirror, state: path.join(dirs.root, 'state-a'), name: 'a', config: { source: 'stac' } });
    const rec = spawnCli(['reconcile', ...args, '--delete-policy', 'delete', '--max-delete', '100%'], env);
    expect((await rec.exited).code, rec.stderr()).toBe(0);
    expect(await catalogProblems(dirs.mirror, sim.stac!)).toEqual([]);
    expect(await indexProblems(dirs.mirror)).toEqual([]);
    expect(await fsp.readdir(path.join(dirs.mirror, victim.collection, victim.id)).catch(() => [])).toEqual([]);
  }, 180_000);
});
