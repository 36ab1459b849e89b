// The mirror layout end to end against the simulator: hostile keys and a planted symlink, file vs
// directory conflicts, case twins, same-size updates replaced atomically, previous versions, each
// delete policy and the maxDelete guard, filters and --rescan, verify/repair, export and ls.
// CLI cases spawn the built binary: run `npx tsc -p .` first.
import { createHash } from 'node:crypto';
import { existsSync, promises as fsp } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { openRuntime, type Runtime } from '../../src/daemon/runtime.js';
import { Engine } from '../../src/daemon/engine.js';
import { RESERVED_DIR, resolveKey } from '../../src/mirror/paths.js';
import { verifyMirror as verifyLocal } from '../../src/mirror/verify.js';
import { createLogger } from '../../src/lib/logger.js';
import { contentSha256, startSimulator, type AssetInput, type Simulator, type SimulatorOptions } from '../../src/simulator/index.js';
import { compileFilter } from '../../src/config/filters.js';
import { reconcileOnce, type DeletePolicy, type ReconcileResult } from '../../src/sync/reconcile-listing.js';
import { CLI_MAIN, waitUntil, jobOf, mirrorFiles, openStore, runCli, sha256File, syncInProcess, tempDirs, testSeed, verifyMirror, type TempDirs } from '../helpers/harness.js';

const SEED = testSeed();
const T0 = Date.UTC(2025, 2, 1, 8, 0, 0);
const at = (i: number) => T0 + i * 1000;

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

beforeAll(() => {
  if (!existsSync(CLI_MAIN)) throw new Error(`build first: npx tsc -p . (${CLI_MAIN} is missing)`);
});

async function setup(assets: AssetInput[], opts: SimulatorOptions = {}): Promise<{ sim: Simulator; dirs: TempDirs }> {
  const sim = await startSimulator({ adminPort: false, seed: SEED, assets, ...opts });
  cleanups.push(() => sim.close());
  const dirs = await tempDirs('mirror-layout');
  cleanups.push(() => dirs.cleanup());
  return { sim, dirs };
}

const seedMsg = (m: string) => `${m} (TEST_SEED=${SEED})`;

function cliEnv(sim: Simulator, dirs: TempDirs): Record<string, string> {
  return {
    CONSTELLR_USERNAME: sim.username,
    CONSTELLR_PASSWORD: sim.password,
    CONSTELLR_API_URL: sim.url,
    CONSTELLR_SYNC_MIRROR_DIR: dirs.mirror,
    CONSTELLR_SYNC_STATE_DIR: dirs.state,
    CONSTELLR_SYNC_LOG_LEVEL: 'warn',
  };
}

/** Open the runtime like a command does, run fn, close. */
async function withRuntime<T>(sim: Simulator, dirs: TempDirs, config: Record<string, unknown>, fn: (rt: Runtime) => Promise<T>): Promise<T> {
  const cfg = loadConfig({
    env: { CONSTELLR_USERNAME: sim.username, CONSTELLR_PASSWORD: sim.password },
    flags: { 'api-url': sim.url, 'mirror-dir': dirs.mirror, 'state-dir': dirs.state },
    defaults: config,
  });
  const rt = await openRuntime(cfg, createLogger({ level: 'silent' }));
  try {
    return await fn(rt);
  } finally {
    await rt.close();
  }
}

function reconcile(sim: Simulator, dirs: TempDirs, policy: DeletePolicy, maxDelete: { count: number } | { percent: number }, pageRetries = 2): Promise<ReconcileResult> {
  return withRuntime(sim, dirs, {}, (rt) =>
    reconcileOnce({ api: rt.api, store: rt.store, logger: rt.logger, clock: rt.clock, root: rt.root, settings: { pageSize: 7, pageRetries, pageRetryMinMs: 10, deletePolicy: policy, maxDelete } }),
  );
}

describe('key to path', () => {
  it('refuses hostile keys, never writes through a planted symlink, and mirrors the rest', async () => {
    const hostile = ['../escape.bin', 'a/../../escape.bin', '/abs.bin', 'a//b.bin', `${RESERVED_DIR}/staging/x`, 'nul\u0000.bin', 'ctl\u001b.bin', './dot.bin'];
    const fine = ['%2e%2e/literal.bin', '...', 'ok/one.bin', 'caf\u00e9/\u00e9t\u00e9.bin', `long/${'n'.repeat(300)}.tif`];
    const assets = [...hostile, ...fine, 'orders/secret.bin', 'orders/deep/more.bin'].map((key, i) => ({ key, size: 100 + i, lastModified: at(i) }));
    const { sim, dirs } = await setup(assets);
    // A symlink planted inside the mirror, pointing outside it.
    const outside = path.join(dirs.root, 'outside');
    await fsp.mkdir(outside);
    await fsp.mkdir(dirs.mirror, { recursive: true });
    await fsp.symlink(outside, path.join(dirs.mirror, 'orders'));

    const r = await syncInProcess({ sim, dirs, concurrency: 3 });
    expect(r.summary.pollError).toBeNull();
    expect(await fsp.readdir(outside), 'nothing written outside the mirror').toEqual([]);
    expect(await fsp.readdir(dirs.root)).toEqual(expect.not.arrayContaining(['escape.bin']));
    for (const key of [...hostile, 'orders/secret.bin', 'orders/deep/more.bin']) {
      const j = await jobOf(dirs.state, key);
      expect(j?.state, key).toBe('failed');
      expect(j?.errorClass, key).toBe('unsafe_key');
      expect(j?.localPath, key).toBeNull();
    }
    // no request was ever made for a refused key
    for (const key of hostile) expect(sim.stats.downloadsByKey.get(key) ?? 0, key).toBe(0);
    for (const key of fine) {
      const j = await jobOf(dirs.state, key);
      expect(j?.state, key).toBe('done');
    }
    expect((await fsp.lstat(path.join(dirs.mirror, '%2e%2e', 'literal.bin'))).isFile()).toBe(true);
    // long name: shortened deterministically, recorded in the state and the manifest
    const longKey = fine[4]!;
    const lj = await jobOf(dirs.state, longKey);
    expect(lj?.shortened).toBe(true);
    expect(lj?.localPath).toBe(resolveKey(dirs.mirror, longKey, 1).relPath);
    expect(lj?.localPath).toMatch(/^long\/n+~[0-9a-f]{16}\.tif$/);
    expect((await fsp.stat(path.join(dirs.mirror, lj!.localPath!))).size).toBe(sim.inventory.get(longKey)!.size);
    // the symlink itself is untouched
    expect((await fsp.lstat(path.join(dirs.mirror, 'orders'))).isSymbolicLink()).toBe(true);
  });

  it('a file key and a directory key: the first mirrored wins, the other fails naming both, the rest proceeds', async () => {
    const { sim, dirs } = await setup([
      { key: 'a', size: 10, lastModified: at(1) },
      { key: 'a/b', size: 20, lastModified: at(2) },
      { key: 'x/y', size: 30, lastModified: at(3) },
      { key: 'x', size: 40, lastModified: at(4) },
      { key: 'folder/', size: 0, lastModified: at(5) },
      { key: 'folder', size: 5, lastModified: at(6) },
      { key: 'other.bin', size: 50, lastModified: at(7) },
    ]);
    const r = await syncInProcess({ sim, dirs, concurrency: 1, config: { 'sync.order': 'oldest-first' } });
    expect(r.counts.done).toBe(4);
    expect(r.counts.failed).toBe(3);
    const ab = await jobOf(dirs.state, 'a/b');
    expect(ab?.errorClass).toBe('path_conflict');
    expect(ab?.errorMessage).toContain('"a/b"');
    expect(ab?.errorMessage).toContain('key "a"');
    const x = await jobOf(dirs.state, 'x');
    expect(x?.errorClass).toBe('path_conflict');
    expect(x?.errorMessage).toContain('"x"');
    expect(x?.errorMessage).toContain('key "x/y"');
    const folder = await jobOf(dirs.state, 'folder');
    expect(folder?.errorClass).toBe('path_conflict');
    expect(folder?.errorMessage).toContain('key "folder/"');
    // nothing existing was deleted
    expect((await fsp.stat(path.join(dirs.mirror, 'a'))).size).toBe(10);
    expect((await fsp.stat(path.join(dirs.mirror, 'x', 'y'))).size).toBe(30);
    expect((await fsp.stat(path.join(dirs.mirror, 'folder'))).isDirectory()).toBe(true);
    expect((await fsp.stat(path.join(dirs.mirror, 'other.bin'))).size).toBe(50);
  });

  for (const policy of ['error', 'skip', 'suffix'] as const) {
    it(`case and normalization twins on a case-insensitive filesystem: policy ${policy}`, async () => {
      const { sim, dirs } = await setup([
        { key: 'Docs/Readme.txt', size: 11, lastModified: at(1) },
        { key: 'docs/readme.txt', size: 12, lastModified: at(2) },
        { key: 'caf\u00e9.txt', size: 13, lastModified: at(3) },
        { key: 'cafe\u0301.txt', size: 14, lastModified: at(4) },
      ]);
      // Linux filesystems distinguish both; the probe's result is overridden to exercise the policy.
      const r = await syncInProcess({ sim, dirs, concurrency: 1, config: { 'sync.order': 'oldest-first', 'mirror.caseSensitivity': 'insensitive', 'mirror.caseConflict': policy } });
      const later = [await jobOf(dirs.state, 'docs/readme.txt'), await jobOf(dirs.state, 'cafe\u0301.txt')];
      expect((await jobOf(dirs.state, 'Docs/Readme.txt'))?.state).toBe('done');
      expect((await jobOf(dirs.state, 'caf\u00e9.txt'))?.state).toBe('done');
      if (policy === 'error') {
        expect(r.counts.failed).toBe(2);
        for (const j of later) expect(j?.errorClass).toBe('case_conflict');
        expect(later[0]?.errorMessage).toContain('"Docs/Readme.txt"');
        expect(later[0]?.errorMessage).toContain('"docs/readme.txt"');
        expect(existsSync(path.join(dirs.mirror, 'docs'))).toBe(false);
      } else if (policy === 'skip') {
        expect(r.counts.failed).toBe(0);
        for (const j of later) {
          expect(j?.state).toBe('done');
          expect(j?.localPath).toBeNull();
          expect(j?.errorClass).toBe('case_conflict');
        }
      } else {
        expect(r.counts.failed).toBe(0);
        for (const j of later) expect(j?.localPath).toMatch(/~[0-9a-f]{8}\.txt$/);
        expect((await fsp.stat(path.join(dirs.mirror, later[0]!.localPath!))).size).toBe(12);
        expect((await fsp.stat(path.join(dirs.mirror, later[1]!.localPath!))).size).toBe(14);
      }
    });
  }
});

describe('updates', () => {
  it('a same-size update is downloaded again and replaces the file atomically (readers see old or new)', async () => {
    const size = 3 * 1024 * 1024;
    const { sim, dirs } = await setup([{ key: 'scene/lst.tif', size, lastModified: at(1), seed: 'v1' }]);
    await syncInProcess({ sim, dirs });
    const file = path.join(dirs.mirror, 'scene', 'lst.tif');
    const oldSha = await contentSha256('v1', size);
    expect(await sha256File(file)).toBe(oldSha);
    sim.inventory.put({ key: 'scene/lst.tif', size, lastModified: at(100), seed: 'v2' });
    const newSha = await contentSha256('v2', size);
    // A reader keeps reading the whole file while the update runs.
    const seen = new Set<string>();
    let stop = false;
    const reader = (async () => {
      while (!stop) {
        const buf = await fsp.readFile(file);
        seen.add(createHash('sha256').update(buf).digest('hex'));
        await new Promise((r) => setImmediate(r));
      }
    })();
    await syncInProcess({ sim, dirs });
    stop = true;
    await reader;
    seen.add(await sha256File(file));
    expect([...seen].every((h) => h === oldSha || h === newSha), 'a reader saw a mix').toBe(true);
    expect(await sha256File(file)).toBe(newSha);
    expect((await fsp.stat(file)).mtimeMs).toBe(at(100));
    expect(sim.stats.completedDownloadsByKey.get('scene/lst.tif')).toBe(2);
  });

  it('keepPreviousVersions keeps the newest N replaced versions under .constellr-sync/versions', async () => {
    const key = 'orders/7/product.tif';
    const { sim, dirs } = await setup([{ key, size: 1000, lastModified: at(1), seed: 's1' }]);
    const config = { 'mirror.keepPreviousVersions': 2 };
    await syncInProcess({ sim, dirs, config });
    for (let v = 2; v <= 4; v++) {
      sim.inventory.put({ key, size: 1000 + v, lastModified: at(v * 10), seed: `s${v}` });
      await syncInProcess({ sim, dirs, config });
    }
    const vdir = path.join(dirs.mirror, RESERVED_DIR, 'versions', 'orders', '7', 'product.tif');
    const kept = (await fsp.readdir(vdir)).sort();
    // v1..v3 were replaced; the newest two of them are kept, named by their LastModified.
    expect(kept).toEqual([`${new Date(at(20)).toISOString().replace(/:/g, '-')}.tif`, `${new Date(at(30)).toISOString().replace(/:/g, '-')}.tif`]);
    expect(await sha256File(path.join(vdir, kept[1]!))).toBe(await contentSha256('s3', 1003));
    expect(await sha256File(path.join(dirs.mirror, ...key.split('/')))).toBe(await contentSha256('s4', 1004));
    // the versions are not part of the mirror proper
    expect([...(await mirrorFiles(dirs.mirror)).keys()]).toEqual([key]);
  });
});

describe('deletions (reconcile)', () => {
  const twenty = () => Array.from({ length: 20 }, (_, i) => ({ key: `d/k${String(i).padStart(2, '0')}.bin`, size: 200 + i, lastModified: at(i) }));

  for (const policy of ['keep', 'trash', 'delete'] as const) {
    it(`deletePolicy ${policy}`, async () => {
      const { sim, dirs } = await setup(twenty());
      await syncInProcess({ sim, dirs });
      sim.inventory.remove('d/k03.bin');
      sim.inventory.remove('d/k04.bin');
      const r = await reconcile(sim, dirs, policy, { percent: 10 });
      expect(r).toMatchObject({ listed: 18, missing: 2, limit: 2, guarded: false, applied: 2 });
      const j = await jobOf(dirs.state, 'd/k03.bin');
      expect(j?.remoteDeletedAt).not.toBeNull();
      const file = path.join(dirs.mirror, 'd', 'k03.bin');
      const trashed = path.join(dirs.mirror, RESERVED_DIR, 'trash', new Date().toISOString().slice(0, 10), 'd', 'k03.bin');
      if (policy === 'keep') {
        expect(existsSync(file)).toBe(true);
        expect(r.removedFiles).toBe(0);
      } else if (policy === 'trash') {
        expect(existsSync(file)).toBe(false);
        expect((await fsp.stat(trashed)).size).toBe(203);
        expect(r.removedFiles).toBe(2);
      } else {
        expect(existsSync(file)).toBe(false);
        expect(existsSync(trashed)).toBe(false);
        expect(r.removedFiles).toBe(2);
      }
      expect((await mirrorFiles(dirs.mirror)).size).toBe(policy === 'keep' ? 20 : 18);
      // status shows deleted_remote as its own count next to the five states
      const st = await runCli(['status', '--json'], { env: cliEnv(sim, dirs) });
      const report = JSON.parse(st.stdout) as { jobs: Record<string, number>; remoteDeleted: number };
      expect(Object.keys(report.jobs).sort()).toEqual(['done', 'failed', 'gone', 'queued', 'running']);
      expect(report.remoteDeleted).toBe(2);
      // a second reconcile changes nothing more
      expect(await reconcile(sim, dirs, policy, { percent: 10 })).toMatchObject({ missing: 0, applied: 0 });
      // a key that comes back is tracked (and, if its file was removed, fetched) again
      sim.inventory.put({ key: 'd/k03.bin', size: 203, lastModified: at(3) });
      await reconcile(sim, dirs, policy, { percent: 10 });
      await syncInProcess({ sim, dirs });
      expect((await jobOf(dirs.state, 'd/k03.bin'))?.remoteDeletedAt).toBeNull();
      expect((await fsp.stat(file)).size).toBe(203);
    });
  }

  it('maxDelete guard: above the limit nothing is changed and the number is reported; a raised limit applies', async () => {
    const { sim, dirs } = await setup(twenty());
    await syncInProcess({ sim, dirs });
    for (const i of [1, 2, 3, 4, 5]) sim.inventory.remove(`d/k0${i}.bin`);
    const guarded = await reconcile(sim, dirs, 'delete', { percent: 10 });
    expect(guarded).toMatchObject({ missing: 5, limit: 2, guarded: true, applied: 0, removedFiles: 0 });
    expect((await mirrorFiles(dirs.mirror)).size).toBe(20);
    expect((await jobOf(dirs.state, 'd/k01.bin'))?.remoteDeletedAt).toBeNull();
    // the CLI says so, with the number, and exits 1
    const cli = await runCli(['reconcile', '--delete-policy', 'delete', '--max-delete', '4'], { env: cliEnv(sim, dirs) });
    expect(cli.code, cli.stderr).toBe(1);
    expect(cli.stderr).toMatch(/5 keys are no longer listed, the limit is 4/);
    expect((await mirrorFiles(dirs.mirror)).size).toBe(20);
    const ok = await runCli(['reconcile', '--delete-policy', 'delete', '--max-delete', '5', '--json'], { env: cliEnv(sim, dirs) });
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ missing: 5, applied: 5, removedFiles: 5, guarded: false });
    expect((await mirrorFiles(dirs.mirror)).size).toBe(15);
  });

  it('deletes nothing when the full listing fails, and picks up what the incremental polls missed', async () => {
    const { sim, dirs } = await setup(twenty());
    await syncInProcess({ sim, dirs, lookback: '1s' });
    sim.inventory.remove('d/k00.bin');
    // A key that becomes visible late with an old LastModified: the incremental poll misses it.
    sim.inventory.put({ key: 'd/late.bin', size: 77, lastModified: at(-3600) });
    const inc = await syncInProcess({ sim, dirs, lookback: '1s' });
    expect(inc.counts.done).toBe(20);
    expect(await jobOf(dirs.state, 'd/late.bin')).toBeNull();
    sim.setFaults({ malformedListing: 'always' });
    await expect(reconcile(sim, dirs, 'delete', { count: 100 }, 0)).rejects.toThrow(/malformed|listing/i);
    expect(existsSync(path.join(dirs.mirror, 'd', 'k00.bin'))).toBe(true);
    expect((await jobOf(dirs.state, 'd/k00.bin'))?.remoteDeletedAt).toBeNull();
    sim.setFaults({ malformedListing: false });
    const r = await reconcile(sim, dirs, 'delete', { count: 100 });
    expect(r).toMatchObject({ queued: 1, missing: 1, applied: 1 });
    expect(existsSync(path.join(dirs.mirror, 'd', 'k00.bin'))).toBe(false);
    await syncInProcess({ sim, dirs, lookback: '1s' });
    expect((await fsp.stat(path.join(dirs.mirror, 'd', 'late.bin'))).size).toBe(77);
  });
});

describe('reconcile schedule (run)', () => {
  it('the daemon reconciles on sync.reconcileSchedule and applies the policy', async () => {
    const { sim, dirs } = await setup(Array.from({ length: 10 }, (_, i) => ({ key: `r/k${i}.bin`, size: 100 + i, lastModified: at(i) })));
    await syncInProcess({ sim, dirs });
    sim.inventory.remove('r/k7.bin');
    await withRuntime(sim, dirs, { 'sync.reconcileSchedule': '* * * * * *', 'sync.schedule': '0 0 1 1 *', 'mirror.deletePolicy': 'trash', 'mirror.maxDelete': '10%' }, async (rt) => {
      const engine = new Engine(rt, { mode: 'continuous' });
      const handle = await engine.start();
      try {
        // node-cron fires every second here; wait for the mark, bounded.
        await waitUntil(async () => (await rt.store.getJob('r/k7.bin'))?.remoteDeletedAt != null, 15_000, 50, 'a scheduled reconcile');
      } finally {
        await handle.stop();
      }
      expect(engine.lastReconcile?.ok).toBe(true);
      expect(engine.lastReconcile?.result).toMatchObject({ missing: 1, applied: 1, removedFiles: 1 });
    });
    expect(existsSync(path.join(dirs.mirror, 'r', 'k7.bin'))).toBe(false);
  });
});

describe('filters', () => {
  it('include/exclude/minSize/maxSize/since: filtered keys are not queued; --rescan picks up newly included keys', async () => {
    const assets: AssetInput[] = [
      { key: 'orders/1/a.tif', size: 100, lastModified: at(1) },
      { key: 'orders/1/a.tmp', size: 100, lastModified: at(2) },
      { key: 'orders/2/tiny.tif', size: 5, lastModified: at(3) },
      { key: 'orders/2/huge.tif', size: 5000, lastModified: at(4) },
      { key: 'orders/3/old.tif', size: 100, lastModified: T0 - 86_400_000 },
      { key: 'other/b.tif', size: 100, lastModified: at(0) }, // older than the HWM − lookback of later polls
    ];
    const { sim, dirs } = await setup(assets);
    const base = { 'filters.include': ['orders/**'], 'filters.exclude': ['**/*.tmp'], 'filters.minSize': 10, 'filters.maxSize': '4KiB', 'sync.since': new Date(T0 - 500).toISOString() };
    await syncInProcess({ sim, dirs, lookback: '1s', config: base });
    const s = openStore(dirs.state);
    try {
      expect((await s.listJobs(0, 100)).map((j) => j.key)).toEqual(['orders/1/a.tif']);
    } finally {
      await s.close();
    }
    // Widen the include: the next incremental poll starts after the HWM and does not see other/b.tif.
    const wider = { ...base, 'filters.include': ['orders/**', 'other/**'] };
    await syncInProcess({ sim, dirs, lookback: '1s', config: wider });
    expect(await jobOf(dirs.state, 'other/b.tif')).toBeNull();
    await syncInProcess({ sim, dirs, lookback: '1s', config: wider, engine: { rescan: true } });
    expect((await jobOf(dirs.state, 'other/b.tif'))?.state).toBe('done');
    expect([...(await mirrorFiles(dirs.mirror)).keys()].sort()).toEqual(['orders/1/a.tif', 'other/b.tif']);
    // a key excluded by filters is listed, so a reconcile never treats it as deleted
    const f = compileFilter({ include: ['orders/**', 'other/**'], exclude: [], minSize: 0, maxSize: null, sinceMs: null });
    expect(f({ key: 'x/y', size: 1, lastModifiedMs: 0 })).toBe(false);
    expect(await reconcile(sim, dirs, 'delete', { count: 0 })).toMatchObject({ missing: 0, guarded: false });
  });
});

describe('verify, export, ls (CLI)', () => {
  it('verify finds missing, changed and touched files; --repair queues them; the exit code says clean or not', async () => {
    const assets = Array.from({ length: 6 }, (_, i) => ({ key: `v/f${i}.bin`, size: 4096 + i, lastModified: at(i) }));
    const { sim, dirs } = await setup([...assets, { key: 'v/dir/', size: 0, lastModified: at(9) }]);
    await syncInProcess({ sim, dirs });
    const env = cliEnv(sim, dirs);
    const clean = await runCli(['verify', '--deep'], { env });
    expect(clean.code, clean.stderr).toBe(0);
    expect(clean.stderr).toMatch(/7 files checked \(sha256 included\); the mirror is clean/);
    const f = (i: number) => path.join(dirs.mirror, 'v', `f${i}.bin`);
    await fsp.rm(f(0));
    // same size, same mtime, different bytes: only --deep sees it
    const st = await fsp.stat(f(1));
    const fh = await fsp.open(f(1), 'r+');
    await fh.write(Buffer.from('XXXX'), 0, 4, 100);
    await fh.close();
    await fsp.utimes(f(1), st.atime, st.mtime);
    await fsp.utimes(f(2), new Date(at(500)), new Date(at(500)));
    await fsp.truncate(f(3), 10);
    const shallow = await runCli(['verify', '--json'], { env });
    expect(shallow.code).toBe(1);
    const sj = JSON.parse(shallow.stdout) as { clean: boolean; issues: { key: string; problem: string }[] };
    expect(sj.issues.map((i) => [i.key, i.problem])).toEqual([
      ['v/f0.bin', 'missing'],
      ['v/f2.bin', 'mtime'],
      ['v/f3.bin', 'size'],
    ]);
    const deep = await runCli(['verify', '--deep', '--repair', '--json'], { env });
    expect(deep.code).toBe(1);
    const dj = JSON.parse(deep.stdout) as { requeued: number; issues: { key: string; problem: string }[] };
    expect(dj.issues.map((i) => i.problem)).toEqual(['missing', 'sha256', 'mtime', 'size']);
    expect(dj.requeued).toBe(4);
    expect((await jobOf(dirs.state, 'v/f1.bin'))?.state).toBe('queued');
    await syncInProcess({ sim, dirs });
    expect(await verifyMirror(dirs.mirror, sim.inventory, (a) => a.size > 0), seedMsg('mirror after repair')).toEqual([]);
    const after = await runCli(['verify', '--deep'], { env });
    expect(after.code, after.stderr).toBe(0);
    // the library result agrees
    const s = openStore(dirs.state);
    try {
      expect((await verifyLocal({ store: s, root: dirs.mirror, deep: true })).clean).toBe(true);
    } finally {
      await s.close();
    }
  });

  it('export writes JSON lines and CSV; ls lists remote assets with filters', async () => {
    const assets: AssetInput[] = [
      { key: 'm/plain.tif', size: 321, lastModified: at(1) },
      { key: 'm/with,comma "quoted".tif', size: 322, lastModified: at(2) },
      { key: 'm/skip.tmp', size: 323, lastModified: at(3) },
      { key: '../bad', size: 1, lastModified: at(4) },
    ];
    const { sim, dirs } = await setup(assets);
    await syncInProcess({ sim, dirs });
    const env = cliEnv(sim, dirs);
    const jl = await runCli(['export'], { env });
    expect(jl.code, jl.stderr).toBe(0);
    const rows = jl.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { key: string; path: string | null; size: number; lastModified: string; sha256: string | null; state: string; shortened: boolean });
    expect(rows).toHaveLength(4);
    const plain = rows.find((r) => r.key === 'm/plain.tif')!;
    expect(plain).toEqual({
      key: 'm/plain.tif',
      path: 'm/plain.tif',
      size: 321,
      lastModified: new Date(at(1)).toISOString(),
      sha256: await contentSha256(sim.inventory.get('m/plain.tif')!.seed, 321),
      state: 'done',
      shortened: false,
    });
    expect(rows.find((r) => r.key === '../bad')).toMatchObject({ path: null, state: 'failed' });

    const out = path.join(dirs.root, 'manifest.csv');
    const csv = await runCli(['export', '--format', 'csv', '--output', out], { env });
    expect(csv.code, csv.stderr).toBe(0);
    const text = await fsp.readFile(out, 'utf8');
    const lines = text.trimEnd().split('\n');
    expect(lines[0]).toBe('key,path,size,last_modified,sha256,state,shortened');
    expect(lines).toHaveLength(5);
    expect(text).toContain('"m/with,comma ""quoted"".tif","m/with,comma ""quoted"".tif",322,');
    expect((await runCli(['export', '--format', 'xml'], { env })).code).toBe(2);

    const ls = await runCli(['ls', '--json', '--include', 'm/**', '--exclude', '**/*.tmp'], { env });
    expect(ls.code, ls.stderr).toBe(0);
    const listed = ls.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { key: string; size: number });
    expect(listed.map((a) => a.key).sort()).toEqual(['m/plain.tif', 'm/with,comma "quoted".tif']);
    expect(ls.stderr).toMatch(/2 assets/);
    const all = await runCli(['ls', '--all'], { env });
    expect(all.stdout.trim().split('\n')).toHaveLength(4);
    expect(all.stdout).toMatch(/^\s+321 {2}2025-03-01T08:00:01\.000Z {2}m\/plain\.tif$/m);
  });
});
