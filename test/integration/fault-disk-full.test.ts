// Disk full and unwritable mirrors (issue 3 §5, §9). The daemon runs in its own mount namespace
// (`unshare -rm`) with a 10 MiB tmpfs holding the mirror; the test reaches that filesystem through
// /proc/<pid>/root while the daemon lives. Skips (with the reason printed) only where unprivileged
// namespaces are unavailable.
import { spawnSync } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { freeBytes } from '../../src/lib/disk.js';
import { stagingDir } from '../../src/download/staging.js';
import { startSimulator, type Simulator } from '../../src/simulator/index.js';
import { CLI_MAIN, tempDirs, waitUntil, type TempDirs } from '../helpers/harness.js';
import { configFlags, credentials, endStateProblems, killAll, linesWith, makeAssets, readState, spawnProc } from '../helpers/fault-daemon.js';

const MiB = 1024 * 1024;
const probe = spawnSync('unshare', ['-rm', 'true'], { encoding: 'utf8' });
const noNamespaces = probe.status !== 0 ? `unshare -rm is unavailable here (${probe.error?.message ?? probe.stderr.trim()})` : null;
if (noNamespaces) console.log(`SKIP fault-disk-full: ${noNamespaces}`);

let sim: Simulator;
const cleanup: TempDirs[] = [];
beforeAll(async () => {
  sim = await startSimulator({ assets: makeAssets('df', [2 * MiB, 2 * MiB, 2 * MiB, 2 * MiB]), adminPort: false });
});
afterEach(async () => {
  await killAll();
  sim.setFaults({ bodyBytesPerSecond: 0 });
});
afterAll(async () => {
  await sim.close();
  await Promise.all(cleanup.map((d) => d.cleanup()));
});

const sh = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

describe.skipIf(noNamespaces !== null)('disk full on a small filesystem', () => {
  it('ENOSPC releases the job (no attempt burned, space freed), pauses once, and claiming resumes when space is freed', async () => {
    const dirs = await tempDirs('diskfull');
    cleanup.push(dirs);
    const fsRoot = path.join(dirs.root, 'small');
    const mirror = path.join(fsRoot, 'mirror');
    await fsp.mkdir(fsRoot);
    const args = await configFlags(dirs.root, {
      sim,
      mirror,
      state: dirs.state,
      config: { mirror: { freeSpaceReserve: '64KiB' }, sync: { concurrency: 2 }, log: { level: 'info' } },
    });
    // 10 MiB, 6.5 MiB taken by a filler: two concurrent 2 MiB downloads each pass the free-space
    // pre-check, but together they do not fit, so one of them meets ENOSPC mid-body.
    sim.setFaults({ bodyBytesPerSecond: MiB });
    const script = [
      `mount -t tmpfs -o size=10m none ${sh(fsRoot)}`,
      `head -c ${Math.round(6.5 * MiB)} /dev/zero > ${sh(path.join(fsRoot, 'filler'))}`,
      `exec ${sh(process.execPath)} ${sh(CLI_MAIN)} run ${args.map(sh).join(' ')}`,
    ].join(' && ');
    const d = spawnProc('unshare', ['-rm', 'sh', '-c', script], credentials(sim));
    const inNs = (p: string) => path.join(`/proc/${d.pid}/root`, p);
    await d.waitLog((l) => l.msg === 'constellr-sync starting', 20_000, 'daemon start');
    expect(await freeBytes(inNs(fsRoot))).toBeLessThan(4 * MiB); // we really see the namespace's tmpfs

    // Wait for the stable pause: one file done, nothing running, the last disk_full episode still open.
    const keys = [...sim.inventory].map((a) => a.key);
    await waitUntil(
      async () => {
        const st = await readState(dirs.state, []);
        const open = linesWith(d, 'pausing downloads until this clears', 'disk_full').length > linesWith(d, 'condition cleared', 'disk_full').length;
        return st.counts.done === 1 && st.counts.running === 0 && open;
      },
      30_000,
      100,
      'a disk_full pause with one file mirrored',
    ).catch(async (e: unknown) => {
      console.log('state at timeout:', JSON.stringify(await readState(dirs.state, [])), await freeBytes(inNs(fsRoot)), spawnSync('ls', ['-laR', inNs(fsRoot)], { encoding: 'utf8' }).stdout);
      throw e;
    });
    const paused = await readState(dirs.state, keys);
    expect(paused.counts).toMatchObject({ done: 1, queued: 3, running: 0, failed: 0 });
    const released = [...paused.jobs.values()].filter((j) => j.errorClass === 'disk_full');
    expect(released.length).toBeGreaterThanOrEqual(1);
    for (const j of released) expect(j).toMatchObject({ state: 'queued', attempts: 0 });
    expect(released.some((j) => (j.errorMessage ?? '').includes('ENOSPC'))).toBe(true); // it hit ENOSPC, not only the pre-check
    // the space the failed download held is free again: no partial left in staging
    const staged = await fsp.readdir(inNs(stagingDir(mirror))).catch(() => [] as string[]);
    expect(staged.filter((f) => f.endsWith('.partial'))).toEqual([]);
    // once per episode, and no per-job error lines
    const episodes = linesWith(d, 'pausing downloads until this clears', 'disk_full').length;
    expect(episodes).toBe(linesWith(d, 'condition cleared', 'disk_full').length + 1);
    expect(d.logs().filter((l) => l.errorClass === 'disk_full')).toEqual([]);

    // The operator frees space; claiming resumes by itself.
    await fsp.rm(inNs(path.join(fsRoot, 'filler')));
    await d.waitLog((l) => l.msg === 'condition cleared; downloads resume' && l.reason === 'disk_full' && linesWith(d, 'condition cleared', 'disk_full').length === episodes, 20_000, 'the disk_full pause to clear');
    await waitUntil(async () => (await readState(dirs.state, [])).counts.done === 4, 30_000, 100, 'all four mirrored');
    expect(await endStateProblems(inNs(mirror), dirs.state, sim.inventory)).toEqual([]);
    const end = await readState(dirs.state, keys);
    for (const j of end.jobs.values()) expect(j.attempts, `${j.key}: disk full burns no attempt`).toBe(1);
    d.kill('SIGTERM');
    expect((await d.exited).code, d.stderr()).toBe(0);
  });

  it('a read-only mirror filesystem (EROFS) is fatal at start-up with a clear message', async () => {
    const dirs = await tempDirs('erofs');
    cleanup.push(dirs);
    const mirror = path.join(dirs.root, 'ro');
    await fsp.mkdir(mirror);
    const args = await configFlags(dirs.root, { sim, mirror, state: dirs.state });
    sim.resetStats();
    const script = `mount -t tmpfs -o ro,size=1m none ${sh(mirror)} && exec ${sh(process.execPath)} ${sh(CLI_MAIN)} sync ${args.map(sh).join(' ')}`;
    const p = spawnProc('unshare', ['-rm', 'sh', '-c', script], credentials(sim));
    const r = await p.exited;
    expect(r.code).toBe(2);
    expect(p.stderr()).toContain('read-only filesystem (EROFS)');
    expect(sim.stats.downloadRequests).toBe(0);
  });

  for (const cmd of ['run', 'sync'] as const) {
    it(`${cmd} with the state directory on a full filesystem (SQLITE_FULL) says so in one line, exit 2`, async () => {
      const dirs = await tempDirs(`statefull-${cmd}`);
      cleanup.push(dirs);
      const fsRoot = path.join(dirs.root, 'small');
      const state = path.join(fsRoot, 'state');
      await fsp.mkdir(fsRoot);
      const args = await configFlags(dirs.root, { sim, mirror: dirs.mirror, state });
      // A 1 MiB tmpfs filled to the last byte: SQLite cannot write its journal or first pages.
      const script = [
        `mount -t tmpfs -o size=1m none ${sh(fsRoot)}`,
        `mkdir ${sh(state)}`,
        `(head -c 2097152 /dev/zero > ${sh(path.join(fsRoot, 'filler'))} 2>/dev/null || true)`,
        `exec ${sh(process.execPath)} ${sh(CLI_MAIN)} ${cmd} ${args.map(sh).join(' ')}`,
      ].join(' && ');
      const p = spawnProc('unshare', ['-rm', 'sh', '-c', script], credentials(sim));
      const r = await p.exited;
      const err = p.stderr();
      expect(err).not.toContain('SqliteError');
      expect(err).not.toMatch(/\n\s+at /); // no stack trace
      expect(err).toContain(`cannot use the state directory ${state}: no space left on the device`);
      expect(r.code, err).toBe(2);
    });
  }
});

describe.skipIf(process.getuid?.() !== 0)('unwritable mirror', () => {
  it('EACCES on the mirror root is fatal at start-up with a clear message', async () => {
    const dirs = await tempDirs('eacces');
    cleanup.push(dirs);
    const mirror = path.join(dirs.root, 'mirror');
    await fsp.mkdir(mirror, { mode: 0o755 }); // owned by root; the daemon runs as nobody
    await fsp.mkdir(dirs.state, { mode: 0o777 });
    await fsp.chmod(dirs.state, 0o777);
    await fsp.chmod(dirs.root, 0o755);
    const args = await configFlags(dirs.root, { sim, mirror, state: dirs.state });
    const r = spawnSync(process.execPath, [CLI_MAIN, 'sync', ...args], {
      uid: 65534,
      gid: 65534,
      encoding: 'utf8',
      env: { PATH: process.env.PATH ?? '', HOME: '/tmp', ...credentials(sim) },
    });
    expect(r.status, r.stderr).toBe(2);
    expect(r.stderr).toContain('no permission to write in the mirror directory');
    expect(r.stderr).toContain('EACCES');
  });
});
