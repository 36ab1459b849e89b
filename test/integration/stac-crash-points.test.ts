// Crash points against the STAC source: `sync` is SIGKILLed by itself at a named point
// (CONSTELLR_SYNC_CRASH_AT) and restarted after the pre-signed URLs it holds have expired. The restart
// must refresh them (fetch the item again), resume a partial with Range instead of starting over, and
// end with the mirror byte-identical to the STAC catalog and staging empty.
import { promises as fsp } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Simulator } from '../../src/simulator/index.js';
import { stagingDir } from '../../src/download/staging.js';
import { tempDirs, testSeed, waitUntil, type TempDirs } from '../helpers/harness.js';
import { configFlags, killAll, readState, runSyncChild } from '../helpers/fault-daemon.js';
import { STAC_KEY, expectedStacFiles, stacEndStateProblems, startStacSim } from '../helpers/stac.js';

const MiB = 1024 * 1024;
const seed = testSeed();
let sim: Simulator;
const cleanup: TempDirs[] = [];

beforeAll(async () => {
  sim = await startStacSim(seed, 3, { maxSize: 4 * MiB });
  // every LST raster resumable (≥ 1 MiB), URLs short-lived
  for (const r of sim.stac!.all())
    sim.stac!.put({ collection: r.collection, id: r.id, updated: r.updatedMs, assets: r.assets.map((a) => ({ key: a.key, fileType: a.fileType, fileName: a.fileName, mediaType: a.mediaType, roles: [...a.roles], size: a.key === 'lst' ? 3 * MiB + 1000 : undefined })) });
  sim.stac!.setKnobs({ urlTtlSeconds: 1 });
});
afterEach(async () => {
  await killAll();
});
afterAll(async () => {
  await sim.close();
  await Promise.all(cleanup.map((d) => d.cleanup()));
});

const runSync = (args: string[], crashAt?: string) => runSyncChild(args, { CONSTELLR_API_KEY: STAC_KEY }, crashAt);

async function partialBytes(mirror: string): Promise<number> {
  let n = 0;
  for (const f of await fsp.readdir(stagingDir(mirror)).catch(() => [] as string[])) if (f.endsWith('.partial')) n += (await fsp.stat(`${stagingDir(mirror)}/${f}`)).size;
  return n;
}

describe.each(['mid_body', 'after_fsync', 'after_rename', 'after_page_commit'])('STAC crash point %s', (point) => {
  it('restarts after the URLs expired, refreshes them, resumes, and ends byte-exact', async () => {
    const dirs = await tempDirs(`stac-crash-${point}`);
    cleanup.push(dirs);
    const args = await configFlags(dirs.root, {
      sim,
      mirror: dirs.mirror,
      state: dirs.state,
      config: { source: 'stac', sync: { concurrency: 1, order: 'newest-first' }, stac: { pageSize: 1 }, log: { level: 'info' } },
    });
    const first = await runSync(args, point);
    expect(first.signal, `first run should die at ${point}; stderr: ${first.stderr}`).toBe('SIGKILL');
    const held = await partialBytes(dirs.mirror);
    if (point === 'mid_body') expect(held).toBeGreaterThan(MiB);
    const crashed = await readState(dirs.state, []);
    const want = await expectedStacFiles(sim.stac!);
    const total = [...want.values()].reduce((a, f) => a + f.size, 0);
    // let every URL the first run stored expire (1 s lifetime), measured on the simulator's clock
    const t0 = Date.now();
    await waitUntil(() => Date.now() - t0 > 1100, 5000, 50, 'URL expiry');
    sim.resetStats();
    const second = await runSync(args);
    expect(second.code, `restart failed: ${second.stderr}`).toBe(0);
    expect(await stacEndStateProblems(dirs.mirror, dirs.state, sim.stac!)).toEqual([]);
    const refetches = [...sim.stats.stac.itemRequestsById.values()].reduce((a, b) => a + b, 0);
    if (crashed.counts.queued + crashed.counts.running > 0 && point !== 'after_fsync') expect(refetches, 'expired URLs refreshed').toBeGreaterThan(0);
    // nothing held was fetched again (after_rename: the renamed, uncommitted file is fetched once more)
    const doneBytes = crashed.counts.done === 0 ? 0 : total - (await remainingBytes(dirs.state, want));
    if (point === 'mid_body' || point === 'after_fsync') expect(sim.stats.bytesServed).toBe(total - doneBytes - held);
    else expect(sim.stats.bytesServed).toBeLessThanOrEqual(total - doneBytes);
  });
});

/** Bytes of the catalog not done in the state right after the crash. */
async function remainingBytes(state: string, want: Map<string, { size: number }>): Promise<number> {
  const st = await readState(state, want.keys());
  let n = 0;
  for (const [k, w] of want) if (st.jobs.get(k)?.state !== 'done') n += w.size;
  return n;
}
