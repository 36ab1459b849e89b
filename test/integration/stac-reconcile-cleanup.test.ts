// Issue 22 item 4: a reconcile that deletes an item leaves no empty folder behind, and keys a `keep`
// reconcile marked as deleted upstream are removed by a later `reconcile --delete-policy delete`.
import { existsSync, promises as fsp } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Simulator } from '../../src/simulator/index.js';
import { runCli, tempDirs, testSeed, type TempDirs } from '../helpers/harness.js';
import { catalogProblems } from '../helpers/stac-catalog.js';
import { STAC_KEY, startStacSim, verifyStacMirror } from '../helpers/stac.js';

const seed = testSeed();
console.log(`stac-reconcile-cleanup seed: ${seed} (reproduce with TEST_SEED=${seed})`);

let sim: Simulator | undefined;
let dirs: TempDirs | undefined;
afterEach(async () => {
  await sim?.close();
  await dirs?.cleanup();
  sim = undefined;
  dirs = undefined;
});

const env = { CONSTELLR_API_KEY: STAC_KEY, CONSTELLR_SYNC_RECONCILE_SCHEDULE: 'off' };

describe('reconcile of STAC items (issue 22 item 4)', () => {
  it('keep marks a deleted item; a later delete removes its files, its JSON and its folder', async () => {
    sim = await startStacSim(seed, 6);
    dirs = await tempDirs('stac-reconcile-cleanup');
    const base = ['--source', 'stac', '--api-url', sim.url, '--mirror-dir', dirs.mirror, '--state-dir', dirs.state];
    expect((await runCli(['sync', ...base], { env })).code).toBe(0);
    const victim = sim.stac!.all()[0]!;
    const folder = path.join(dirs.mirror, victim.collection, victim.id);
    expect(existsSync(folder)).toBe(true);
    sim.stac!.remove(victim.collection, victim.id);

    const keep = await runCli(['reconcile', ...base, '--delete-policy', 'keep', '--max-delete', '100%', '--json'], { env });
    expect(keep.code, keep.stderr).toBe(0);
    expect(JSON.parse(keep.stdout)).toMatchObject({ applied: 3, removedFiles: 0 });
    // The files stay (keep).
    expect((await fsp.readdir(folder)).length).toBeGreaterThanOrEqual(3);

    const del = await runCli(['reconcile', ...base, '--delete-policy', 'delete', '--max-delete', '100%', '--json'], { env });
    expect(del.code, del.stderr).toBe(0);
    expect(JSON.parse(del.stdout)).toMatchObject({ missing: 3, applied: 3, removedFiles: 3 });
    expect(existsSync(folder)).toBe(false);
    expect(existsSync(path.join(dirs.mirror, victim.collection))).toBe(sim.stac!.all().some((i) => i.collection === victim.collection));
    expect(await verifyStacMirror(dirs.mirror, sim.stac!)).toEqual([]);
    expect(await catalogProblems(dirs.mirror, sim.stac!)).toEqual([]);

    // Nothing left to do: a third reconcile finds nothing missing.
    const again = await runCli(['reconcile', ...base, '--delete-policy', 'delete', '--max-delete', '100%', '--json'], { env });
    expect(JSON.parse(again.stdout)).toMatchObject({ missing: 0, applied: 0 });
  });
});
