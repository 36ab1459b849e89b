// Operator controls (issue 8): dry run, download order, retry (also under a running daemon),
// transfer caps and their exit code, SIGHUP reload, and one measurement of the bandwidth cap.
// Child-process tests use the built CLI: build first (`npx tsc -p .`).
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { Engine } from '../../src/daemon/engine.js';
import { openRuntime } from '../../src/daemon/runtime.js';
import { applyReload } from '../../src/daemon/reload.js';
import { createLogger } from '../../src/lib/logger.js';
import { AssetInventory, startSimulator, type AssetInput, type Simulator } from '../../src/simulator/index.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import { ORDERS, type ClaimOrder } from '../../src/config/schema.js';
import type { RemoteAsset } from '../../src/api/wire.js';
import { configFlags, credentials, killAll, makeAssets, spawnCli, type LogLine } from '../helpers/fault-daemon.js';
import { mirrorFiles, openStore, runCli, tempDirs, testSeed, waitUntil, type TempDirs } from '../helpers/harness.js';
import { Rng } from '../../src/simulator/rng.js';
import { parseTimetable } from '../../src/config/timetable.js';

const SEED = testSeed();
const KiB = 1024;
const MiB = 1024 * KiB;
/** No ops HTTP endpoint in children: parallel test files would fight over its port. */
const QUIET = { CONSTELLR_SYNC_HTTP_ENABLED: 'false' };

const sims: Simulator[] = [];
const dirsToClean: TempDirs[] = [];

async function sim(assets: AssetInput[], extra: Parameters<typeof startSimulator>[0] = {}): Promise<Simulator> {
  const s = await startSimulator({ port: 0, adminPort: false, inventory: new AssetInventory(assets), seed: SEED, ...extra });
  sims.push(s);
  return s;
}

async function dirs(): Promise<TempDirs> {
  const d = await tempDirs('operator');
  dirsToClean.push(d);
  return d;
}

function env(s: Simulator): Record<string, string> {
  return { ...credentials(s), ...QUIET };
}

/** Everything a dry run must not change: all rows of every table, and the mirror tree. */
async function snapshot(d: TempDirs): Promise<string> {
  const file = path.join(d.state, 'state.db');
  let db = '';
  if (await fsp.stat(file).catch(() => null)) {
    const conn = new Database(file, { readonly: true });
    try {
      const tables = conn.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").pluck().all() as string[];
      for (const t of tables) db += `${t}:${JSON.stringify(conn.prepare(`SELECT * FROM "${t}" ORDER BY rowid`).all())}\n`;
    } finally {
      conn.close();
    }
  }
  const files = [...(await mirrorFiles(d.mirror)).entries()].sort();
  return `${db}\nmirror:${JSON.stringify(files)}`;
}

afterEach(async () => {
  await killAll();
});

afterAll(async () => {
  await Promise.all(sims.splice(0).map((s) => s.close()));
  await Promise.all(dirsToClean.splice(0).map((d) => d.cleanup()));
});

beforeAll(() => {
  // eslint-disable-next-line no-console
  console.log(`operator tests: TEST_SEED=${SEED}`);
});

describe(`dry run (seed ${SEED})`, () => {
  it('plans a first sync exactly, writes nothing, and the real sync then does what it said', async () => {
    const rng = new Rng(SEED);
    const base = Math.floor(Date.now() / 1000) * 1000 - 10 * 86_400_000;
    const good = makeAssets('lst', Array.from({ length: 12 }, () => rng.int(1, 64 * KiB)), base);
    const hostile: AssetInput[] = [
      { key: 'orders/../../escape.tif', size: 100, lastModified: base, seed: 'h1' },
      { key: '.constellr-sync/staging/evil', size: 100, lastModified: base, seed: 'h2' },
    ];
    const s = await sim([...good, ...hostile]);
    const d = await dirs();
    const flags = ['--api-url', s.url, '--mirror-dir', d.mirror, '--state-dir', d.state];

    // 1. Fresh: nothing exists; the dry run must not even create the directories.
    const r1 = await runCli(['sync', '--dry-run', '--json', ...flags], { env: env(s) });
    expect(r1.code, r1.stderr).toBe(0);
    const p1 = JSON.parse(r1.stdout) as { fetch: { count: number; bytes: number }; replace: { count: number }; refuse: { count: number }; delete: { count: number } | null; full: boolean; items: { action: string; key: string }[] };
    expect(p1.full).toBe(true);
    expect(p1.fetch).toEqual({ count: good.length, bytes: good.reduce((n, a) => n + a.size, 0), sizeUnknown: 0 });
    expect(p1.replace.count).toBe(0);
    expect(p1.refuse.count).toBe(2);
    expect(p1.items.filter((i) => i.action === 'refuse').map((i) => i.key).sort()).toEqual(hostile.map((h) => h.key).sort());
    expect(p1.delete).toEqual({ count: 0, keys: [] });
    expect(s.stats.downloadRequests).toBe(0);
    expect(await fsp.stat(d.mirror).catch(() => null)).toBeNull();
    expect(await fsp.stat(d.state).catch(() => null)).toBeNull();

    // 2. The real sync does what was planned.
    const r2 = await runCli(['sync', '--json', ...flags], { env: env(s) });
    const sum2 = JSON.parse(r2.stdout) as { downloaded: number; bytes: number; jobs: Record<string, number> };
    expect(sum2.downloaded).toBe(p1.fetch.count);
    expect(sum2.bytes).toBe(p1.fetch.bytes);
    expect(sum2.jobs.failed).toBe(p1.refuse.count);

    // 3. Change the account: 2 new, 1 replaced (same size, newer), 1 withdrawn.
    const later = Math.floor(Date.now() / 1000) * 1000 - 60_000;
    s.inventory.put({ key: 'lst/new-a.bin', size: 1000, lastModified: later, seed: 'n1' });
    s.inventory.put({ key: 'lst/new-b.bin', size: 2000, lastModified: later, seed: 'n2' });
    s.inventory.put({ key: good[3]!.key, size: good[3]!.size, lastModified: later, seed: 'changed' });
    s.inventory.remove(good[5]!.key);
    s.resetStats();
    const before = await snapshot(d);

    const r3 = await runCli(['sync', '--dry-run', '--json', ...flags], { env: env(s) });
    expect(r3.code, r3.stderr).toBe(0);
    const p3 = JSON.parse(r3.stdout) as typeof p1;
    expect(p3.full).toBe(false);
    expect(p3.fetch).toEqual({ count: 2, bytes: 3000, sizeUnknown: 0 });
    expect(p3.replace).toEqual({ count: 1, bytes: good[3]!.size, sizeUnknown: 0 });
    expect(p3.delete).toBeNull(); // an incremental listing cannot see deletions

    const r4 = await runCli(['sync', '--dry-run', '--full', '--json', ...flags], { env: env(s) });
    const p4 = JSON.parse(r4.stdout) as typeof p1;
    expect(p4.full).toBe(true);
    expect(p4.delete).toEqual({ count: 1, keys: [good[5]!.key] });
    expect(p4.fetch.count).toBe(2);
    expect(p4.replace.count).toBe(1);
    expect(p4.refuse.count).toBe(0); // the refused keys failed already: unchanged, nothing to do

    // `run --dry-run` plans one cycle the same way and exits; human output names the counts.
    const r5 = await runCli(['run', '--dry-run', ...flags], { env: env(s) });
    expect(r5.code, r5.stderr).toBe(0);
    expect(r5.stdout).toMatch(/fetch\s+2\s+2\.9 KiB/);
    expect(r5.stdout).toMatch(/replace\s+1\s/);

    expect(await snapshot(d)).toBe(before); // no job row, no cursor/HWM move, no file
    expect(s.stats.downloadRequests).toBe(0);

    const r6 = await runCli(['sync', '--json', ...flags], { env: env(s) });
    const sum6 = JSON.parse(r6.stdout) as typeof sum2;
    expect(sum6.downloaded).toBe(p3.fetch.count + p3.replace.count);
  });
});

describe('download order', () => {
  const base = Date.UTC(2026, 0, 1);
  // key, LastModified offset (s), size: each order gives a different sequence
  const rows: [string, number, number][] = [
    ['c.bin', 30, 500],
    ['a.bin', 10, 300],
    ['e.bin', 50, 100],
    ['b.bin', 20, 400],
    ['d.bin', 40, 200],
  ];
  const listed: RemoteAsset[] = rows.map(([key, s, size]) => ({ key, lastModifiedMs: base + s * 1000, size, etag: `"${key}"` }));
  const expected: Record<ClaimOrder, string[]> = {
    'newest-first': ['e.bin', 'd.bin', 'c.bin', 'b.bin', 'a.bin'],
    'oldest-first': ['a.bin', 'b.bin', 'c.bin', 'd.bin', 'e.bin'],
    'smallest-first': ['e.bin', 'd.bin', 'a.bin', 'b.bin', 'c.bin'],
    key: ['a.bin', 'b.bin', 'c.bin', 'd.bin', 'e.bin'],
  };

  for (const order of ORDERS) {
    it(`claims follow ${order} within the due jobs, and a retry keeps its backoff`, async () => {
      const d = await dirs();
      const store = SqliteStore.open(d.state, { maxAttempts: 10 });
      try {
        const now = 1_000_000;
        await store.upsertPage(listed, now);
        const claimOne = async (at: number) => (await store.claimJobs(1, { owner: 't', leaseMs: 60_000, now: at, order }))[0];
        // The first in order fails with a retryable error: backoff 60 s.
        const first = (await claimOne(now))!;
        expect(first.key).toBe(expected[order][0]);
        await store.retryLater(first.id, first.leaseToken, { retryAfterMs: 60_000, now, consumeAttempt: true, error: { errorClass: 'http_5xx', message: '503' } });
        // Within the backoff, the rest come in order and the failed one is skipped although it sorts first.
        const seq: string[] = [];
        for (;;) {
          const j = await claimOne(now + 1000);
          if (!j) break;
          seq.push(j.key);
        }
        expect(seq).toEqual(expected[order].slice(1));
        // After the backoff it is due again.
        expect(await claimOne(now + 59_000)).toBeUndefined();
        expect((await claimOne(now + 60_000))?.key).toBe(expected[order][0]);
      } finally {
        await store.close();
      }
    });
  }

  it('a claim of several jobs returns them in the configured order (the pool hands them out first to last)', async () => {
    for (const order of ORDERS) {
      const d = await dirs();
      const store = SqliteStore.open(d.state, { maxAttempts: 10 });
      try {
        await store.upsertPage(listed, 1_000_000);
        const jobs = await store.claimJobs(listed.length, { owner: 't', leaseMs: 60_000, now: 1_000_000, order });
        expect(jobs.map((j) => j.key), order).toEqual(expected[order]);
      } finally {
        await store.close();
      }
    }
  });

  it('the worker pool downloads in the configured order (concurrency 1)', async () => {
    const assets: AssetInput[] = rows.map(([key, s, size]) => ({ key: `o/${key}`, size, lastModified: Date.now() - 86_400_000 + s * 1000, seed: key }));
    const s = await sim(assets);
    for (const order of ['smallest-first', 'key'] as const) {
      const d = await dirs();
      const config = loadConfig({
        env: credentials(s),
        flags: { 'api-url': s.url, 'mirror-dir': d.mirror, 'state-dir': d.state, concurrency: '1', order },
      });
      const rt = await openRuntime(config, createLogger({ level: 'silent' }));
      const done: string[] = [];
      try {
        // Poll first, then drain: the whole listing is queued before the first claim.
        const engine = new Engine(rt, { mode: 'drain', events: { onDone: (job) => done.push(job.key) } });
        await engine.poll();
        await engine.syncOnce();
      } finally {
        await rt.close();
      }
      expect(done).toEqual(expected[order].map((k) => `o/${k}`));
    }
  });
});

describe('retry', () => {
  it('re-queues failed jobs by key, class or all, with attempts reset, and says how many', async () => {
    const assets = makeAssets('r', [1000, 2000, 3000, 4000]);
    // every download is cut mid-body (retryable), and one attempt is all a job gets: failed
    const s = await sim(assets, { faults: { resetRate: 1 } });
    const d = await dirs();
    const flags = await configFlags(d.root, { sim: s, mirror: d.mirror, state: d.state, config: { sync: { maxAttempts: 1, quickRetries: 0 } } });
    const r1 = await runCli(['sync', ...flags], { env: env(s) });
    expect(r1.code).toBe(1);
    const st = openStore(d.state);
    try {
      expect((await st.counts()).failed).toBe(4);
      expect((await st.getJob(assets[0]!.key))!.errorClass).toBeTruthy();
    } finally {
      await st.close();
    }
    expect((await runCli(['retry', ...flags], { env: env(s) })).code).toBe(2); // say which

    const byKey = await runCli(['retry', '--key', assets[0]!.key, '--key', 'no/such/key', ...flags], { env: env(s) });
    expect(byKey.code, byKey.stderr).toBe(0);
    expect(byKey.stdout).toMatch(/^1 failed job queued again/m);
    expect(byKey.stdout).toContain('"no/such/key": unknown key');
    const byClass = await runCli(['retry', '--class', 'no_such_class', '--json', ...flags], { env: env(s) });
    expect(JSON.parse(byClass.stdout)).toEqual({ requeued: 0, notFailed: [] });
    const st2 = openStore(d.state);
    try {
      const j = (await st2.getJob(assets[0]!.key))!;
      expect(j.state).toBe('queued');
      expect(j.attempts).toBe(0);
      expect((await st2.counts()).failed).toBe(3);
    } finally {
      await st2.close();
    }
    const cls = (await openStore(d.state).getJob(assets[1]!.key))!.errorClass!;
    const all = await runCli(['retry', '--class', cls, '--json', ...flags], { env: env(s) });
    expect(JSON.parse(all.stdout).requeued).toBe(3);

    s.setFaults({ resetRate: 0 });
    const r2 = await runCli(['sync', ...flags], { env: env(s) });
    expect(r2.code, r2.stderr).toBe(0);
  });

  it('while `run` is active, the daemon picks the re-queued jobs up without a restart', async () => {
    const assets = makeAssets('live', [5000, 6000, 7000]);
    const s = await sim(assets, { faults: { resetRate: 1 } });
    const d = await dirs();
    const flags = await configFlags(d.root, {
      sim: s,
      mirror: d.mirror,
      state: d.state,
      // no scheduled poll during the test: only the retry can bring the jobs back
      config: { sync: { maxAttempts: 1, quickRetries: 0, schedule: '0 0 1 1 *' } },
    });
    const daemon = spawnCli(['run', ...flags], env(s));
    await waitUntil(
      async () => {
        const st = openStore(d.state);
        try {
          return (await st.counts()).failed === 3;
        } finally {
          await st.close();
        }
      },
      20_000,
      50,
      'all jobs failed',
    );
    s.setFaults({ resetRate: 0 });
    const r = await runCli(['retry', '--failed', ...flags], { env: env(s) });
    expect(r.stdout).toMatch(/^3 failed jobs queued again/m);
    await waitUntil(
      async () => {
        const st = openStore(d.state);
        try {
          return (await st.counts()).done === 3;
        } finally {
          await st.close();
        }
      },
      20_000,
      50,
      'the daemon to download the re-queued jobs',
    );
    expect(daemon.child.exitCode).toBeNull(); // same process, no restart
    expect(s.stats.listRequests).toBe(1); // no new poll was needed
    daemon.kill('SIGTERM');
    expect((await daemon.exited).code).toBe(0);
  });
});

describe('transfer caps', () => {
  it('--max-transfer stops claiming after the cap, in-flight downloads finish, exit 5; the next sync completes', async () => {
    const assets = makeAssets('cap', Array.from({ length: 8 }, () => 100 * KiB));
    const s = await sim(assets);
    const d = await dirs();
    const flags = ['--api-url', s.url, '--mirror-dir', d.mirror, '--state-dir', d.state, '--concurrency', '1'];
    const r = await runCli(['sync', '--max-transfer', '150KiB', '--json', ...flags], { env: env(s) });
    expect(r.code, r.stderr).toBe(5);
    const sum = JSON.parse(r.stdout) as { cap: string; downloaded: number; receivedBytes: number; jobs: Record<string, number> };
    expect(sum.cap).toBe('max-transfer');
    // one worker: the second download was claimed below the cap and finished past it (soft cutoff)
    expect(sum.downloaded).toBe(2);
    expect(sum.receivedBytes).toBe(200 * KiB);
    expect(sum.jobs.queued).toBe(6);
    // every file in place is complete: nothing was cut off
    const files = await mirrorFiles(d.mirror);
    expect([...files.values()]).toEqual([100 * KiB, 100 * KiB]);

    const again = await runCli(['sync', ...flags], { env: env(s) });
    expect(again.code, again.stderr).toBe(0);
    expect((await mirrorFiles(d.mirror)).size).toBe(8);
  });

  it('--max-duration stops claiming once the time is up, exit 5', async () => {
    const assets = makeAssets('dur', Array.from({ length: 20 }, () => 64 * KiB));
    const s = await sim(assets);
    const d = await dirs();
    // 20 × 64 KiB at 128 KiB/s takes 10 s; the cap ends claiming after 1 s.
    const flags = ['--api-url', s.url, '--mirror-dir', d.mirror, '--state-dir', d.state, '--concurrency', '2', '--bwlimit', '128KiB/s'];
    const r = await runCli(['sync', '--max-duration', '1s', '--json', ...flags], { env: env(s) });
    expect(r.code, r.stderr).toBe(5);
    const sum = JSON.parse(r.stdout) as { cap: string; downloaded: number; jobs: { queued: number; done: number; running: number } };
    expect(sum.cap).toBe('max-duration');
    expect(sum.downloaded).toBeGreaterThan(0);
    expect(sum.downloaded).toBeLessThan(20);
    expect(sum.jobs.queued + sum.jobs.done).toBe(20);
    expect(sum.jobs.running).toBe(0);
    expect(r.stderr).not.toMatch(/stopped at/); // --json: the summary is on stdout only
  });

  it('rejects malformed caps as usage errors (exit 2)', async () => {
    const r = await runCli(['sync', '--max-transfer', 'lots', '--api-url', 'http://127.0.0.1:9', '--state-dir', '/nonexistent/x'], { env: { CONSTELLR_USERNAME: 'u', CONSTELLR_PASSWORD: 'p' } });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--max-transfer: invalid size "lots"/);
  });
});

describe('SIGHUP reload', () => {
  it('applies bandwidth, concurrency and log level live, reports restart-only settings, survives a bad file', async () => {
    const assets = makeAssets('hup', Array.from({ length: 12 }, () => 128 * KiB));
    const s = await sim(assets);
    const d = await dirs();
    const cfg = (over: Record<string, unknown>) => ({
      sync: { bandwidth: '32KiB/s', concurrency: 1, schedule: '0 0 1 1 *', ...over },
      log: { level: 'info' },
    });
    const flags = await configFlags(d.root, { sim: s, mirror: d.mirror, state: d.state, config: cfg({}) });
    const file = flags[1]!;
    const daemon = spawnCli(['run', ...flags], env(s));
    // At 32 KiB/s the 1.5 MiB would take ~48 s: the first file alone takes ~4 s.
    await daemon.waitLog((l) => l.msg === 'poll finished', 20_000, 'the first poll');

    // A broken file is refused as a whole; the daemon keeps running with what it had.
    await fsp.writeFile(file, 'sync: { concurrency: many }');
    daemon.kill('SIGHUP');
    const bad = await daemon.waitLog((l) => l.msg === 'reload failed; the configuration in force is unchanged', 10_000, 'reload failure');
    expect(String(bad.err)).toMatch(/sync\.concurrency/);

    // The limit is in force: at 32 KiB/s two 128 KiB files need > 6 s, far more than this test has run.
    const st0 = openStore(d.state);
    const doneBefore = (await st0.counts()).done;
    await st0.close();
    expect(doneBefore).toBeLessThanOrEqual(1);
    await fsp.writeFile(file, JSON.stringify({ ...cfg({ bandwidth: 'unlimited', concurrency: 3 }), log: { level: 'warn' }, api: { connectTimeout: '5s' } }));
    daemon.kill('SIGHUP');
    const applied = (key: string) => (l: LogLine) => l.msg === 'reload: applied' && l.key === key;
    const bw = await daemon.waitLog(applied('sync.bandwidth'), 10_000, 'bandwidth reload');
    expect(bw).toMatchObject({ from: '32KiB/s', to: 'unlimited', when: 'now' });
    await daemon.waitLog(applied('sync.concurrency'), 10_000, 'concurrency reload');
    await daemon.waitLog(applied('log.level'), 10_000, 'log level reload');
    const restart = await daemon.waitLog((l) => l.msg === 'reload: needs a restart; the old value stays in force', 10_000, 'restart report');
    expect(restart).toMatchObject({ key: 'api.connectTimeout', from: '10s', to: '5s' });

    // Unlimited now: the rest arrives long before 32 KiB/s could have delivered it.
    await waitUntil(
      async () => {
        const st = openStore(d.state);
        try {
          return (await st.counts()).done === 12;
        } finally {
          await st.close();
        }
      },
      15_000,
      50,
      'all downloads after the reload',
    );
    // The level is warn now: no 'mirrored' (info) line after the reload, although most files came
    // after it — except from the one download in flight then (its job logger was made before).
    const logs = daemon.logs();
    const reloadAt = logs.findIndex((l) => l.msg === 'reload: applied' && l.key === 'log.level');
    const before = logs.slice(0, reloadAt).filter((l) => l.msg === 'mirrored').length;
    expect(before).toBeLessThan(11);
    expect(logs.slice(reloadAt + 1).filter((l) => l.msg === 'mirrored').length).toBeLessThanOrEqual(1);
    expect(daemon.child.exitCode).toBeNull();
    daemon.kill('SIGTERM');
    expect((await daemon.exited).code).toBe(0);
  });
});

describe('reload applied to a running engine (in-process)', () => {
  it('concurrency grows at once; a new schedule and new filters take effect at the next poll', async () => {
    const assets = makeAssets('rl', Array.from({ length: 6 }, () => 64 * KiB));
    const s = await sim(assets);
    const d = await dirs();
    const load = (defaults: Record<string, unknown>) =>
      loadConfig({ env: credentials(s), flags: { 'api-url': s.url, 'mirror-dir': d.mirror, 'state-dir': d.state }, defaults: { 'http.enabled': false, 'sync.reconcileSchedule': 'off', ...defaults } });
    // Slow enough that all six are still downloading when the reload comes.
    const first = load({ 'sync.concurrency': 1, 'sync.bandwidth': '8KiB/s', 'sync.schedule': '0 0 1 1 *' });
    const rt = await openRuntime(first, createLogger({ level: 'silent' }));
    const engine = new Engine(rt, { mode: 'continuous' });
    const handle = await engine.start();
    try {
      await waitUntil(() => engine.pool.inFlight.size === 1, 10_000, 20, 'the first download');
      expect(s.stats.listRequests).toBe(1);
      const report = await applyReload(
        engine,
        load({ 'sync.concurrency': 3, 'sync.bandwidth': '8KiB/s', 'sync.schedule': '* * * * * *', 'filters.exclude': ['**/*.tmp'], 'api.connectTimeout': '3s' }),
      );
      expect(report.applied.map((c) => c.key).sort()).toEqual(['filters.exclude', 'sync.concurrency', 'sync.schedule']);
      expect(report.restartNeeded.map((c) => c.key)).toEqual(['api.connectTimeout']);
      expect(engine.config.api.connectTimeout).toBe(10_000); // not applied: the old value stays in force
      await waitUntil(() => engine.pool.inFlight.size === 3, 10_000, 20, 'three downloads at once');
      // The per-second schedule polls; the new exclude filter keeps the .tmp out of the queue.
      s.inventory.put({ key: 'rl/new.bin', size: 10, lastModified: Date.now() - 5000, seed: 'n' });
      s.inventory.put({ key: 'rl/skip.tmp', size: 10, lastModified: Date.now() - 5000, seed: 't' });
      await waitUntil(async () => (await rt.store.getJob('rl/new.bin')) !== null, 10_000, 50, 'a scheduled poll to list the new asset');
      expect(await rt.store.getJob('rl/skip.tmp')).toBeNull();
    } finally {
      engine.bandwidth.setTimetable(parseTimetable('unlimited'));
      await handle.stop();
      await rt.close();
    }
  });
});

describe('bandwidth cap (measured)', () => {
  it('holds the achieved rate within ±15 % of 2 MiB/s over a 3 s window', async () => {
    // A realistic mix of sizes (seeded), so the workers' file boundaries do not line up.
    const rng = new Rng(SEED);
    const assets = makeAssets('bw', Array.from({ length: 12 }, () => rng.int(256 * KiB, 1536 * KiB)));
    const expectedTotal = assets.reduce((n, a) => n + a.size, 0);
    const s = await sim(assets);
    const d = await dirs();
    const config = loadConfig({
      env: credentials(s),
      flags: { 'api-url': s.url, 'mirror-dir': d.mirror, 'state-dir': d.state, concurrency: '4', bwlimit: '2MiB/s' },
    });
    const rt = await openRuntime(config, createLogger({ level: 'silent' }));
    const marks: { at: number; total: number }[] = [];
    let total = 0;
    try {
      const engine = new Engine(rt, {
        mode: 'drain',
        events: {
          onBytes: (n) => {
            total += n;
            marks.push({ at: performance.now(), total });
          },
        },
      });
      await engine.syncOnce();
    } finally {
      await rt.close();
    }
    expect(total).toBe(expectedTotal);
    // Skip the first 0.5 s (connection set-up, the bucket's initial credit, socket buffers) and
    // measure the bytes that arrived in the next 3 s.
    const t0 = marks[0]!.at + 500;
    const t1 = t0 + 3000;
    const at = (t: number) => marks.filter((m) => m.at <= t).at(-1)?.total ?? 0;
    const rate = (at(t1) - at(t0)) / 3;
    // eslint-disable-next-line no-console
    console.log(`bandwidth cap 2 MiB/s: measured ${(rate / MiB).toFixed(3)} MiB/s over 3 s`);
    expect(rate).toBeGreaterThan(2 * MiB * 0.85);
    expect(rate).toBeLessThan(2 * MiB * 1.15);
  });
});
