// The STATE disk fills while `run` runs (the SQLite database's filesystem; the mirror has room). The
// daemon runs in its own mount namespace (`unshare -rm`) with its state directory on a small tmpfs; the
// test fills that filesystem through /proc/<pid>/root with a filler file while downloads are under way.
// Expected as for a full mirror: one classified pause (reason state_full) shown in /readyz and
// /api/status, no worker loop spinning on errors, a resume by itself once the filler is gone, every
// asset mirrored, `verify` clean and the database intact. Skips only where namespaces are unavailable.
import { spawnSync } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { startSimulator, type Simulator } from '../../src/simulator/index.js';
import { CLI_MAIN, closedPort, runCli, tempDirs, verifyMirror, waitUntil, type TempDirs } from '../helpers/harness.js';
import { configFlags, credentials, killAll, linesWith, makeAssets, readState, spawnProc } from '../helpers/fault-daemon.js';

const KiB = 1024;
const probe = spawnSync('unshare', ['-rm', 'true'], { encoding: 'utf8' });
const noNamespaces = probe.status !== 0 ? `unshare -rm is unavailable here (${probe.error?.message ?? probe.stderr.trim()})` : null;
if (noNamespaces) console.log(`SKIP fault-state-disk-full: ${noNamespaces}`);

let sim: Simulator | undefined;
const cleanup: TempDirs[] = [];
/** The `run` process inside the namespace: a child of its shell, so killAll (which ends the shell) misses it. */
let runPid: number | null = null;
afterEach(async () => {
  try {
    if (runPid !== null) process.kill(runPid, 'SIGKILL');
  } catch {
    /* already gone */
  }
  runPid = null;
  await killAll();
});
afterAll(async () => {
  await sim?.close();
  await Promise.all(cleanup.map((d) => d.cleanup()));
});

const sh = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** Write zeros until the filesystem refuses (ENOSPC): it is full to the last block. */
async function fill(file: string): Promise<void> {
  const fh = await fsp.open(file, 'w');
  const chunk = Buffer.alloc(256 * KiB);
  try {
    for (;;) await fh.write(chunk);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
  } finally {
    await fh.close().catch(() => undefined);
  }
}

describe.skipIf(noNamespaces !== null)('the state disk fills while run runs', () => {
  it('pauses with a classified state_full, shows it in /readyz and /api/status, resumes by itself, loses nothing', async () => {
    const dirs = await tempDirs('statefull-run');
    cleanup.push(dirs);
    const fsRoot = path.join(dirs.root, 'small');
    const state = path.join(fsRoot, 'state');
    const copy = path.join(dirs.root, 'state-after');
    const pidFile = path.join(dirs.root, 'run.pid');
    await fsp.mkdir(fsRoot);
    // 24 assets of 256 KiB at 512 KiB/s per body, two at a time: downloads are under way when the disk fills.
    const first = makeAssets('sf', Array.from({ length: 24 }, () => 256 * KiB));
    sim = await startSimulator({ assets: first, adminPort: false, faults: { bodyBytesPerSecond: 512 * KiB } });
    const port = await closedPort();
    const args = await configFlags(dirs.root, {
      sim,
      mirror: dirs.mirror,
      state,
      config: {
        http: { enabled: true, listen: `127.0.0.1:${port}` },
        sync: { concurrency: 2, schedule: '*/2 * * * * *', leaseDuration: '3s', retryBaseDelay: '200ms', reconcileSchedule: 'off' },
        log: { level: 'info' },
      },
    });
    // The state lives on a 24 MiB tmpfs of the daemon's namespace; when `run` ends, its state is copied
    // out (the tmpfs goes with the namespace) for `verify` and an integrity check.
    const script = [
      `mount -t tmpfs -o size=24m none ${sh(fsRoot)}`,
      `mkdir ${sh(state)}`,
      `{ ${sh(process.execPath)} ${sh(CLI_MAIN)} run ${args.map(sh).join(' ')} & echo $! > ${sh(pidFile)}; wait $!; code=$?; cp -a ${sh(state)} ${sh(copy)}; exit $code; }`,
    ].join(' && ');
    const d = spawnProc('unshare', ['-rm', 'sh', '-c', script], credentials(sim));
    const inNs = (p: string) => path.join(`/proc/${d.pid}/root`, p);
    const filler = inNs(path.join(fsRoot, 'filler'));
    await d.waitLog((l) => l.msg === 'constellr-sync starting', 20_000, 'daemon start');
    const pid = Number((await fsp.readFile(pidFile, 'utf8')).trim());
    runPid = pid;
    const get = async (p: string) => (await fetch(`http://127.0.0.1:${port}${p}`)).json() as Promise<Record<string, unknown>>;

    // A few files are mirrored, more are queued or in flight; then the state filesystem fills.
    await d.waitLog((l) => l.msg === 'mirrored', 30_000, 'a first file mirrored');
    await fill(filler);
    // New assets make the poll write too (every 2 s): all three writers meet the full disk.
    sim.inventory.putMany(makeAssets('sg', Array.from({ length: 200 }, () => 2 * KiB), Date.now() - 60_000));

    const pausedLine = await d.waitLog((l) => l.msg === 'pausing downloads until this clears' && l.reason === 'state_full', 30_000, 'a state_full pause');
    expect(String(pausedLine.err ?? '')).toContain('SQLITE_FULL');
    await waitUntil(async () => ((await get('/readyz')).paused as string[]).includes('state_full'), 10_000, 100, '/readyz to name state_full');
    const status = await get('/api/status');
    const pause = (status.pauses as { reason: string; detail: string }[]).find((p) => p.reason === 'state_full');
    expect(pause?.detail).toMatch(/state .*filesystem/);

    // The operator frees space: the pause clears by itself, and everything (old and new) is mirrored.
    await fsp.rm(filler);
    await d.waitLog((l) => l.msg === 'condition cleared; downloads resume' && l.reason === 'state_full', 30_000, 'the state_full pause to clear');
    const all = [...sim.inventory];
    // (SQLite cannot open a database through /proc/<pid>/root: the status API reads it for us.)
    const assets = async () => ((await get('/api/status')).overall as { assets: { done: number; total: number } }).assets;
    await waitUntil(async () => (await assets()).done === all.length, 60_000, 200, `all ${all.length} mirrored`);
    expect(await assets()).toEqual({ done: all.length, total: all.length });
    // One episode (or a few, if the first writes after the clear filled it again), each cleared; the
    // worker loops never spun on the error, and nothing was logged as an unexpected error.
    const episodes = linesWith(d, 'pausing downloads until this clears', 'state_full').length;
    expect(episodes).toBeGreaterThanOrEqual(1);
    expect(linesWith(d, 'condition cleared', 'state_full').length).toBe(episodes);
    expect(d.logs().filter((l) => l.msg === 'worker loop error; backing off')).toEqual([]);

    process.kill(pid, 'SIGTERM');
    expect((await d.exited).code, d.stderr()).toBe(0);
    runPid = null;
    expect(await readState(copy, [])).toMatchObject({ counts: { done: all.length, queued: 0, running: 0, failed: 0 } });
    const db = new Database(path.join(copy, 'state.db'), { readonly: true });
    try {
      expect(db.pragma('integrity_check')).toEqual([{ integrity_check: 'ok' }]);
    } finally {
      db.close();
    }
    expect(await verifyMirror(dirs.mirror, sim.inventory.values())).toEqual([]);
    const verify = await runCli(['verify', ...args.map((a) => (a === state ? copy : a))], { env: credentials(sim) });
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
  });
});
