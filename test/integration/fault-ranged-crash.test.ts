// Crash points of ranged downloads (issue 13 §2): `sync` is SIGKILLed while a large file's ranges are
// in flight, or right after one part is recorded; the restart must fetch only the missing ranges and
// end with an exact mirror. No `done` row ever names a missing or short file.
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readRecord, stagingPaths } from '../../src/download/staging.js';
import { present, tempDirs } from '../helpers/harness.js';
import { configFlags, crashTestBed, endStateProblems, makeAssets, readState, type StateSnapshot } from '../helpers/fault-daemon.js';

const MiB = 1024 * 1024;
// newest first: the large files are claimed first (concurrency 1)
const SIZES = [10_000, 20_000, 3 * MiB + 12345, 3 * MiB - 1];

const bed = crashTestBed(() => makeAssets('rg', SIZES));
const { cleanup, runSync } = bed;

/** Bytes held for good: done jobs whole (their file must be there and complete), staged parts as recorded. */
async function held(mirror: string, state: StateSnapshot): Promise<number> {
  let n = 0;
  for (const a of bed.sim.inventory) {
    const j = state.jobs.get(a.key);
    if (j?.state === 'done') {
      const st = await fsp.stat(path.join(mirror, j.localPath!));
      expect(st.size, `done row of ${a.key} names a short file`).toBe(a.size);
      n += a.size;
      continue;
    }
    const rec = await readRecord(stagingPaths(mirror, a.key, a.lastModifiedMs, a.size).record);
    if (rec?.parts) n += rec.parts.reduce((m, p) => m + p.done, 0);
  }
  return n;
}

describe.each(['mid_ranges', 'after_part'])('ranged crash point %s', (point) => {
  it('the restart fetches only the missing ranges and ends with an exact mirror', async () => {
    const dirs = await tempDirs(`ranged-${point}`);
    cleanup.push(dirs);
    const args = await configFlags(dirs.root, {
      sim: bed.sim,
      mirror: dirs.mirror,
      state: dirs.state,
      config: { sync: { concurrency: 1, order: 'newest-first', rangedThreshold: '2MiB', rangedStreams: 4 }, log: { level: 'info' } },
    });
    const keys = [...bed.sim.inventory].map((a) => a.key);
    bed.sim.resetStats();
    const first = await runSync(args, point);
    expect(first.signal, `first run should die at ${point}; stderr: ${first.stderr}`).toBe('SIGKILL');
    expect(first.stderr).toContain(`crash point ${point}: SIGKILL`);
    expect(bed.sim.stats.statusCounts['206']).toBeGreaterThanOrEqual(4);
    const afterCrash = await readState(dirs.state, keys);
    // The lease bound (issue 23 §2): the job in flight (the newest, claimed first) and its claim
    // window's unstarted rest, at most 2 × concurrency (1).
    const running = [...afterCrash.jobs.values()].filter((j) => j.state === 'running').sort((a, b) => b.remoteModifiedMs - a.remoteModifiedMs);
    expect(running.length).toBeGreaterThanOrEqual(1);
    expect(running.length).toBeLessThanOrEqual(2);
    const job = running[0]!;
    const rec = await readRecord(stagingPaths(dirs.mirror, job.key, job.remoteModifiedMs, job.remoteSize).record);
    const done = rec!.parts!.reduce((m, p) => m + p.done, 0);
    const size = present(job.remoteSize, `the listed size of ${job.key}`);
    expect(done).toBeGreaterThan(0);
    expect(done).toBeLessThan(size);
    if (point === 'mid_ranges') expect(done).toBeGreaterThanOrEqual(size / 2);
    const have = await held(dirs.mirror, afterCrash);

    bed.sim.resetStats();
    const second = await runSync(args);
    expect(second.code, `restart failed: ${second.stderr}`).toBe(0);
    expect(await endStateProblems(dirs.mirror, dirs.state, bed.sim.inventory)).toEqual([]);
    // resumed: what was recorded is not fetched again
    expect(bed.sim.stats.bytesServed).toBe(bed.sim.inventory.totalBytes - have);
  });
});
