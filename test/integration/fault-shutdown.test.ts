// Graceful shutdown and single-instance locks (issue 3 §2, §3), with the real `run` daemon as a child
// process: SIGTERM during slow downloads, a second signal, a second instance, kill -9.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startSimulator, type Simulator } from '../../src/simulator/index.js';
import { tempDirs, waitUntil, type TempDirs } from '../helpers/harness.js';
import {
  bytesHeld,
  configFlags,
  credentials,
  endStateProblems,
  killAll,
  linesWith,
  makeAssets,
  readState,
  spawnCli,
  stagingFiles,
} from '../helpers/fault-daemon.js';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { stagingDir } from '../../src/download/staging.js';

const MiB = 1024 * 1024;
const SIZES = [4 * MiB, 4 * MiB + 1, 4 * MiB + 2];
const SLOW = 512 * 1024; // bytes/s per download: a 4 MiB file takes 8 s

let sim: Simulator;
const cleanup: TempDirs[] = [];

beforeAll(async () => {
  sim = await startSimulator({ assets: makeAssets('sd', SIZES), adminPort: false });
});
afterEach(async () => {
  await killAll();
  sim.setFaults({ bodyBytesPerSecond: 0 });
});
afterAll(async () => {
  await sim.close();
  await Promise.all(cleanup.map((d) => d.cleanup()));
});

const keys = () => [...sim.inventory].map((a) => a.key);

async function setup(name: string, grace: string) {
  const dirs = await tempDirs(`shutdown-${name}`);
  cleanup.push(dirs);
  const args = await configFlags(dirs.root, {
    sim,
    mirror: dirs.mirror,
    state: dirs.state,
    config: { sync: { concurrency: 2, gracePeriod: grace }, log: { level: 'info' } },
  });
  return { dirs, args };
}

/** Sizes of the partials in staging. */
async function partialSizes(mirror: string): Promise<number[]> {
  const out: number[] = [];
  for (const f of await stagingFiles(mirror)) {
    if (!f.endsWith('.partial')) continue;
    const st = await fsp.stat(path.join(stagingDir(mirror), f)).catch(() => null);
    if (st) out.push(st.size);
  }
  return out;
}

/** Wait until two downloads are in flight with at least 1 MiB each written to staging. */
async function twoInFlight(mirror: string) {
  await waitUntil(async () => (await partialSizes(mirror)).filter((n) => n >= MiB).length === 2, 30_000, 50, 'two partials of ≥ 1 MiB');
}

async function resumeAndVerify(dirs: TempDirs, args: string[]) {
  const state = await readState(dirs.state, keys());
  const held = await bytesHeld(dirs.mirror, state, sim.inventory);
  sim.setFaults({ bodyBytesPerSecond: 0 });
  sim.resetStats();
  const p = spawnCli(['sync', ...args], credentials(sim));
  const r = await p.exited;
  expect(r.code, p.stderr()).toBe(0);
  expect(await endStateProblems(dirs.mirror, dirs.state, sim.inventory)).toEqual([]);
  // resumed: exactly the missing bytes were served, the two partials through 206s
  expect(sim.stats.bytesServed).toBe(sim.inventory.totalBytes - held);
  expect(sim.stats.statusCounts['206']).toBe(2);
  return held;
}

describe('graceful shutdown of run', () => {
  it('SIGTERM: stops claiming, aborts after the grace period, releases jobs without an attempt, keeps partials, exits 0', async () => {
    const { dirs, args } = await setup('term', '1s');
    sim.setFaults({ bodyBytesPerSecond: SLOW });
    const d = spawnCli(['run', ...args], credentials(sim));
    await twoInFlight(dirs.mirror);
    const sent = Date.now();
    d.kill('SIGTERM');
    const r = await d.exited;
    expect(r.code, d.stderr()).toBe(0);
    // grace period (1 s) + 5 s
    expect(r.at - sent).toBeLessThan(6000);
    expect(linesWith(d, 'grace period over')).toHaveLength(1);
    expect(linesWith(d, 'released at shutdown')).toHaveLength(2);
    expect(linesWith(d, 'stopped')).toHaveLength(1);
    const st = await readState(dirs.state, keys());
    expect(st.counts).toMatchObject({ queued: 3, running: 0, done: 0, failed: 0 });
    for (const j of st.jobs.values()) expect(j.attempts, `${j.key} attempts after release`).toBe(0);
    const partials = await partialSizes(dirs.mirror);
    expect(partials).toHaveLength(2);
    for (const n of partials) expect(n).toBeGreaterThanOrEqual(MiB);
    const held = await resumeAndVerify(dirs, args);
    expect(held).toBe(partials.reduce((a, b) => a + b, 0));
  });

  it('a second signal aborts in-flight downloads at once (long grace period), still consistent on disk', async () => {
    const { dirs, args } = await setup('force', '60s');
    sim.setFaults({ bodyBytesPerSecond: SLOW });
    const d = spawnCli(['run', ...args], credentials(sim));
    await twoInFlight(dirs.mirror);
    d.kill('SIGTERM');
    await d.waitLog((l) => l.msg === 'received signal; stopping gracefully', 10_000, 'the first signal');
    const sent = Date.now();
    d.kill('SIGINT');
    const r = await d.exited;
    expect(r.code, d.stderr()).toBe(0);
    // far below the 60 s grace period: the second signal forced the stop
    expect(r.at - sent).toBeLessThan(10_000);
    expect(linesWith(d, 'second signal')).toHaveLength(1);
    expect(linesWith(d, 'grace period over')).toHaveLength(0);
    const st = await readState(dirs.state, keys());
    expect(st.counts).toMatchObject({ queued: 3, running: 0, done: 0 });
    for (const j of st.jobs.values()) expect(j.attempts).toBe(0);
    expect(await partialSizes(dirs.mirror)).toHaveLength(2);
    await resumeAndVerify(dirs, args);
  });
});

describe('single instance', () => {
  it('a second instance exits 4 naming the holder pid; the mirror is locked too; kill -9 leaves no stale lock', async () => {
    const { dirs, args } = await setup('lock', '1s');
    sim.setFaults({ bodyBytesPerSecond: SLOW });
    const a = spawnCli(['run', ...args], credentials(sim));
    await a.waitLog((l) => l.msg === 'constellr-sync starting', 15_000, 'daemon start');

    // same state directory
    const b = spawnCli(['sync', ...args], credentials(sim));
    const rb = await b.exited;
    expect(rb.code).toBe(4);
    expect(b.stderr()).toContain('state directory');
    expect(b.stderr()).toContain(`(pid ${a.pid})`);

    // another state directory, same mirror
    const other = await tempDirs('shutdown-lock-other');
    cleanup.push(other);
    const args2 = await configFlags(other.root, { sim, mirror: dirs.mirror, state: other.state });
    const c = spawnCli(['sync', ...args2], credentials(sim));
    const rc = await c.exited;
    expect(rc.code).toBe(4);
    expect(c.stderr()).toContain('mirror directory');
    expect(c.stderr()).toContain(`(pid ${a.pid})`);

    // kill -9: the OS drops the locks; the next instance starts and finishes the job
    a.kill('SIGKILL');
    expect((await a.exited).signal).toBe('SIGKILL');
    sim.setFaults({ bodyBytesPerSecond: 0 });
    const d = spawnCli(['sync', ...args], credentials(sim));
    const rd = await d.exited;
    expect(rd.code, d.stderr()).toBe(0);
    expect(await endStateProblems(dirs.mirror, dirs.state, sim.inventory)).toEqual([]);
  });
});
