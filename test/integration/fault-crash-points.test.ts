// Crash points (issue 3 §8): `sync` is SIGKILLed by itself at each named point
// (CONSTELLR_SYNC_CRASH_AT), restarted without it, and must end with an exact mirror, nothing partial
// outside staging, an empty staging, a consistent HWM, and no bytes fetched twice except the one file
// that was renamed but not yet committed.
import { spawnSync } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import { hostname } from 'node:os';
import { describe, expect, it } from 'vitest';
import { PID_SPACE, stagingPaths } from '../../src/download/staging.js';
import { present, tempDirs } from '../helpers/harness.js';
import { bytesHeld, configFlags, crashTestBed, endStateProblems, makeAssets, readState, stagingFiles } from '../helpers/fault-daemon.js';
import { COMMIT_KEYS } from '../../src/sync/poller.js';

const MiB = 1024 * 1024;
// newest first: the 3 MiB files are the newest, so they are claimed first (concurrency 1)
const SIZES = [10_000, 0, 20_000, 3 * MiB, 3 * MiB + 12345, 3 * MiB - 1];
const PAGE = 2;
const CONCURRENCY = 1;

const bed = crashTestBed(() => makeAssets('cp', SIZES));
const { cleanup, runSync } = bed;

describe('crash points: SIGKILL at a named point, then a clean restart', () => {
  const keys = () => [...bed.sim.inventory].map((a) => a.key);

  /** First run dies at `point`; `restart()` runs again without it and checks the end state. */
  async function crash(point: string, pageSize = 1000) {
    const dirs = await tempDirs(`crash-${point.replace(':', '-')}`);
    cleanup.push(dirs);
    const args = await configFlags(dirs.root, {
      sim: bed.sim,
      mirror: dirs.mirror,
      state: dirs.state,
      config: { sync: { concurrency: CONCURRENCY, order: 'newest-first' }, api: { pageSize }, log: { level: 'info' } },
    });
    bed.sim.resetStats();
    const first = await runSync(args, point);
    expect(first.signal, `first run should die at ${point}; stderr: ${first.stderr}`).toBe('SIGKILL');
    expect(first.stderr).toContain(`crash point ${point.split(':')[0]}: SIGKILL`);
    const afterCrash = await readState(dirs.state, keys());
    const held = await bytesHeld(dirs.mirror, afterCrash, bed.sim.inventory);
    const firstRun = { byKey: new Map(bed.sim.stats.completedDownloadsByKey) };
    // The lease bound (issue 23 §2): the job in flight, plus the unstarted part of its claim window,
    // at most 2 × concurrency. Newest first: the first claimed (the newest) is the one in flight.
    const running = [...afterCrash.jobs.values()].filter((j) => j.state === 'running').sort((a, b) => b.remoteModifiedMs - a.remoteModifiedMs);
    expect(running.length).toBeLessThanOrEqual(2 * CONCURRENCY);
    // `completedDownloadsByKey` counts bodies the server flushed into the socket, which a killed
    // client may not have read; `changedKey` may see one more (a stale claim's aborted 200).
    const restart = async (changedKey?: string) => {
      bed.sim.resetStats();
      const second = await runSync(args);
      expect(second.code, `restart failed: ${second.stderr}`).toBe(0);
      expect(await endStateProblems(dirs.mirror, dirs.state, bed.sim.inventory)).toEqual([]);
      // at most one duplicate download of any key over both runs
      for (const k of keys()) {
        const n = (firstRun.byKey.get(k) ?? 0) + (bed.sim.stats.completedDownloadsByKey.get(k) ?? 0);
        expect(n, `complete downloads of ${k}`).toBeLessThanOrEqual(k === changedKey ? 3 : 2);
      }
      return { final: await readState(dirs.state, keys()) };
    };
    return { dirs, afterCrash, held, total: bed.sim.inventory.totalBytes, firstRun, running, restart };
  }

  it('after_page_commit: the pages are committed, the HWM has not moved, the restart lists again', async () => {
    const c = await crash('after_page_commit', PAGE);
    expect(c.afterCrash.cursor.hwmMs).toBeNull();
    // the first commit group (COMMIT_KEYS keys, here every page) was committed; listing-commit.test.ts
    // checks the grouping itself
    expect(c.afterCrash.jobs.size).toBe(Math.min(SIZES.length, COMMIT_KEYS));
    const { final } = await c.restart();
    expect(bed.sim.stats.bytesServed).toBe(c.total - c.held);
    expect(bed.sim.stats.listRequests).toBe(Math.ceil(SIZES.length / PAGE));
    for (const j of final.jobs.values()) expect(j.attempts, j.key).toBeLessThanOrEqual(2);
  });

  it('after_claim: the job is left running with its attempt counted; the restart requeues it', async () => {
    const c = await crash('after_claim');
    expect(c.running.length).toBeGreaterThanOrEqual(1);
    const job = c.running[0]!;
    expect(job.attempts).toBe(1);
    expect(job.remoteSize).toBe(SIZES[SIZES.length - 1]); // the newest asset went first
    expect(await stagingFiles(c.dirs.mirror)).toEqual([]);
    const { final } = await c.restart();
    expect(c.held).toBe(0);
    expect(bed.sim.stats.bytesServed).toBe(c.total);
    // attempts are counted at claim: the crashed claim and the successful one
    expect(final.jobs.get(job.key)!.attempts).toBe(2);
  });

  it('mid_body: the partial is kept in staging and resumed with a 206 (no byte fetched twice)', async () => {
    const c = await crash('mid_body');
    expect(c.running.length).toBeGreaterThanOrEqual(1);
    const job = c.running[0]!;
    const p = stagingPaths(c.dirs.mirror, job.key, job.remoteModifiedMs, job.remoteSize);
    const files = await stagingFiles(c.dirs.mirror);
    // the partial, its record (and a cross-process claim marker, if any) belong to this version only
    expect(files).toEqual(expect.arrayContaining([p.name + '.json', p.name + '.partial']));
    for (const f of files) expect(f.startsWith(p.name), f).toBe(true);
    // about half of the file is in the partial
    const size = present(job.remoteSize, `the listed size of ${job.key}`);
    expect(c.held).toBeGreaterThanOrEqual(Math.floor(size / 2));
    expect(c.held).toBeLessThan(size);
    await c.restart();
    // the restart fetched exactly what was missing: resumed, not restarted from byte 0
    expect(bed.sim.stats.bytesServed).toBe(c.total - c.held);
    expect(bed.sim.stats.statusCounts['206']).toBe(1);
    expect(bed.sim.stats.downloadsByKey.get(job.key)).toBe(1);
  });

  it('after_fsync: the complete partial is renamed at restart without fetching it again', async () => {
    const c = await crash('after_fsync');
    expect(c.running.length).toBeGreaterThanOrEqual(1);
    const job = c.running[0]!;
    expect(c.held).toBe(job.remoteSize); // complete, fsynced, not yet renamed
    const p = stagingPaths(c.dirs.mirror, job.key, job.remoteModifiedMs, job.remoteSize);
    expect(await stagingFiles(c.dirs.mirror)).toEqual(expect.arrayContaining([p.name + '.json', p.name + '.partial']));
    const { final } = await c.restart();
    expect(bed.sim.stats.downloadsByKey.get(job.key) ?? 0).toBe(0);
    expect(bed.sim.stats.bytesServed).toBe(c.total - c.held);
    expect(final.jobs.get(job.key)!.attempts).toBe(2);
  });

  it('after_rename: the file is in place but not committed; the restart fetches it once more (the only duplicate)', async () => {
    const c = await crash('after_rename');
    expect(c.running.length).toBeGreaterThanOrEqual(1);
    const job = c.running[0]!;
    expect(c.firstRun.byKey.get(job.key)).toBe(1);
    expect(c.held).toBe(0); // the renamed file is not committed, so it does not count as held
    await c.restart();
    expect(bed.sim.stats.completedDownloadsByKey.get(job.key)).toBe(1);
    expect(bed.sim.stats.bytesServed).toBe(c.total);
    // no other key was fetched twice
    for (const k of bed.sim.stats.completedDownloadsByKey.keys()) if (k !== job.key) expect(c.firstRun.byKey.get(k) ?? 0, k).toBe(0);
  });

  it('mid_body, then the asset changes: the stale partial is swept and the new version fetched whole', async () => {
    const c = await crash('mid_body');
    const job = c.running[0]!;
    const old = stagingPaths(c.dirs.mirror, job.key, job.remoteModifiedMs, job.remoteSize);
    expect(await stagingFiles(c.dirs.mirror)).toContain(old.name + '.partial');
    const before = bed.sim.inventory.get(job.key)!;
    try {
      // a new version (new LastModified, new content) is uploaded while the daemon is down
      bed.sim.inventory.put({ key: job.key, size: before.size, lastModified: before.lastModifiedMs + 60_000, seed: `${before.seed}-v2` });
      const { final } = await c.restart(job.key);
      expect(final.jobs.get(job.key)).toMatchObject({ state: 'done', remoteModifiedMs: before.lastModifiedMs + 60_000, attempts: 1 });
      // the new version whole: never a 206 on top of the old version's bytes
      expect(bed.sim.stats.statusCounts['206'] ?? 0).toBe(0);
      expect(bed.sim.stats.completedDownloadsByKey.get(job.key)).toBeGreaterThanOrEqual(1);
    } finally {
      bed.sim.inventory.put({ key: job.key, size: before.size, lastModified: before.lastModifiedMs, seed: before.seed });
    }
  });

  it('a kill between the commit and the staging claim release leaves nothing behind after the next start', async () => {
    const dirs = await tempDirs('crash-claim');
    cleanup.push(dirs);
    const args = await configFlags(dirs.root, { sim: bed.sim, mirror: dirs.mirror, state: dirs.state });
    expect((await runSync(args)).code).toBe(0);
    // what that kill leaves: the claim marker of a dead process for a job that is done
    const a = [...bed.sim.inventory].find((x) => x.size > 0)!;
    const p = stagingPaths(dirs.mirror, a.key, a.lastModifiedMs, a.size);
    const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
    await fsp.writeFile(p.partial.replace(/\.partial$/, '.claim'), JSON.stringify({ instance: 'a-dead-process', space: PID_SPACE, host: hostname(), pid: dead, token: 'x', at: new Date().toISOString() }));
    expect(await stagingFiles(dirs.mirror)).toHaveLength(1);
    expect((await runSync(args)).code).toBe(0);
    expect(await stagingFiles(dirs.mirror)).toEqual([]);
  });

  it('after_rename:3 crashes on the third rename (counted crash points)', async () => {
    const c = await crash('after_rename:3');
    expect(c.afterCrash.counts.done).toBe(2);
    expect(c.running.length).toBeGreaterThanOrEqual(1);
    await c.restart();
  });
});
