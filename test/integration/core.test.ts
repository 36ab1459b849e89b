// Acceptance tests of the core sync engine (issue 2) against the real simulator on 127.0.0.1:0, real
// SQLite files and real directories. The engine runs in-process (as the CLI wires it) for speed.
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { exitCodeOf } from '../../src/cli/commands/sync.js';
import { EXIT } from '../../src/cli/exit-codes.js';
import { stagingDir } from '../../src/download/staging.js';
import { sampleInventory, startSimulator, type AssetInput, type Simulator, type SimulatorOptions } from '../../src/simulator/index.js';
import {
  jobOf,
  mirrorFiles,
  openStore,
  recordRequests,
  syncInProcess,
  tempDirs,
  testSeed,
  verifyMirror,
  waitUntil,
  type TempDirs,
} from '../helpers/harness.js';

const SEED = testSeed();
const T0 = Date.UTC(2025, 0, 15, 12, 0, 0);

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

async function setup(opts: SimulatorOptions): Promise<{ sim: Simulator; dirs: TempDirs }> {
  const sim = await startSimulator({ adminPort: false, seed: SEED, ...opts });
  cleanups.push(() => sim.close());
  const dirs = await tempDirs('core');
  cleanups.push(() => dirs.cleanup());
  return { sim, dirs };
}

function withSeed(msg: string): string {
  return `${msg} (TEST_SEED=${SEED})`;
}

describe('core sync', () => {
  it("full sync mirrors every asset: size, sha256 and mtime equal the simulator's inventory", async () => {
    const { sim, dirs } = await setup({ inventory: sampleInventory(SEED, { count: 40, maxSize: 256 * 1024 }) });
    const r = await syncInProcess({ sim, dirs, concurrency: 4 });
    expect(r.summary.pollError, withSeed('poll error')).toBeNull();
    expect(r.counts).toEqual({ queued: 0, running: 0, done: 40, failed: 0, gone: 0 });
    expect(await verifyMirror(dirs.mirror, sim.inventory), withSeed('mirror')).toEqual([]);
    const newest = Math.max(...[...sim.inventory].map((a) => a.lastModifiedMs));
    expect(r.cursor.hwmMs).toBe(newest);
    // every asset fetched exactly once, nothing else on disk
    for (const a of sim.inventory) expect(sim.stats.completedDownloadsByKey.get(a.key) ?? 0, a.key).toBe(1);
    expect((await mirrorFiles(dirs.mirror)).size).toBe(40);
    // staging is empty afterwards
    expect(await fsp.readdir(stagingDir(dirs.mirror))).toEqual([]);
  });

  it('incremental sync fetches only added and replaced assets', async () => {
    const assets: AssetInput[] = Array.from({ length: 20 }, (_, i) => ({ key: `inc/a${String(i).padStart(2, '0')}.bin`, size: 1000 + i * 97, lastModified: T0 + i * 1000 }));
    const { sim, dirs } = await setup({ assets });
    await syncInProcess({ sim, dirs });
    expect(await verifyMirror(dirs.mirror, sim.inventory)).toEqual([]);

    // nothing changed: nothing downloaded
    sim.resetStats();
    const idle = await syncInProcess({ sim, dirs });
    expect(sim.stats.downloadRequests).toBe(0);
    expect(idle.summary.poll?.inserted).toBe(0);
    expect(idle.summary.poll?.changed).toBe(0);

    sim.resetStats();
    sim.inventory.put({ key: 'inc/new-1.bin', size: 4321, lastModified: T0 + 60_000 });
    sim.inventory.put({ key: 'inc/new 2.bin', size: 77, lastModified: T0 + 61_000 });
    sim.inventory.put({ key: 'inc/a05.bin', size: 999, lastModified: T0 + 62_000 }); // replaced: new size, time and content
    sim.inventory.put({ key: 'inc/a07.bin', size: 1000 + 7 * 97, lastModified: T0 + 7000 }); // replaced in place: same size and second, new ETag
    const r = await syncInProcess({ sim, dirs });
    expect(r.summary.poll?.inserted).toBe(2);
    expect(r.summary.poll?.changed).toBe(2);
    expect(Object.fromEntries(sim.stats.downloadsByKey)).toEqual({ 'inc/new-1.bin': 1, 'inc/new 2.bin': 1, 'inc/a05.bin': 1, 'inc/a07.bin': 1 });
    expect(r.counts.done).toBe(22);
    expect(await verifyMirror(dirs.mirror, sim.inventory)).toEqual([]);
    expect(r.cursor.hwmMs).toBe(T0 + 62_000);
  });

  it('300 assets sharing one LastModified second, 100 per page under a strict filter: none lost, then late ones in the same second', async () => {
    const same = T0 + 3_600_000;
    const assets: AssetInput[] = Array.from({ length: 300 }, (_, i) => ({ key: `tie/k${String(i).padStart(3, '0')}`, size: 10 + (i % 50), lastModified: same }));
    const { sim, dirs } = await setup({ assets, filterMode: 'strict' });
    const r = await syncInProcess({ sim, dirs, pageSize: 100, concurrency: 8 });
    expect(r.summary.poll?.pages).toBe(3);
    expect(sim.stats.listRequests).toBe(3);
    expect(r.counts.done).toBe(300);
    expect(r.cursor.hwmMs).toBe(same);

    // Five more appear later in the very same second (sorted between the others): a strict
    // `lastModifiedAfter = HWM` would never list them; HWM − lookback does.
    sim.resetStats();
    for (const k of ['tie/k000a', 'tie/k100a', 'tie/k150a', 'tie/k299a', 'tie/zzz']) sim.inventory.put({ key: k, size: 33, lastModified: same });
    const r2 = await syncInProcess({ sim, dirs, pageSize: 100, concurrency: 8 });
    expect(sim.stats.listRequests).toBe(4);
    expect(r2.summary.poll?.inserted).toBe(5);
    expect([...sim.stats.downloadsByKey.keys()].sort()).toEqual(['tie/k000a', 'tie/k100a', 'tie/k150a', 'tie/k299a', 'tie/zzz']);
    expect(r2.counts.done).toBe(305);
    expect(await verifyMirror(dirs.mirror, sim.inventory)).toEqual([]);
  });

  it('an asset revealed late with a LastModified older than the HWM but inside the lookback is mirrored', async () => {
    const assets: AssetInput[] = Array.from({ length: 6 }, (_, i) => ({ key: `late/a${i}`, size: 500, lastModified: T0 + i * 120_000 }));
    const { sim, dirs } = await setup({ assets });
    const first = await syncInProcess({ sim, dirs, lookback: '1h' });
    const hwm = T0 + 5 * 120_000;
    expect(first.cursor.hwmMs).toBe(hwm);

    sim.resetStats();
    sim.inventory.put({ key: 'late/slow-upload.bin', size: 2048, lastModified: hwm - 30 * 60_000 }); // 30 min older than the HWM
    const r = await syncInProcess({ sim, dirs, lookback: '1h' });
    expect(r.summary.poll?.inserted).toBe(1);
    expect(Object.fromEntries(sim.stats.downloadsByKey)).toEqual({ 'late/slow-upload.bin': 1 });
    expect(r.cursor.hwmMs).toBe(hwm); // the HWM never moves backwards
    expect(await verifyMirror(dirs.mirror, sim.inventory)).toEqual([]);
    expect((await jobOf(dirs.state, 'late/slow-upload.bin'))?.state).toBe('done');
  });

  it('token expiry mid-run (TTL 2 s, 8 workers): one renewal per token lifetime, never a burst', async () => {
    const ttl = 2000;
    // 24 assets of 24 KiB at 12 KiB/s each: three waves of ~2 s with 8 workers, several token lifetimes.
    const assets: AssetInput[] = Array.from({ length: 24 }, (_, i) => ({ key: `ttl/a${String(i).padStart(2, '0')}.bin`, size: 24 * 1024, lastModified: T0 + i * 1000 }));
    const { sim, dirs } = await setup({ assets, tokenTtlMs: ttl, faults: { bodyBytesPerSecond: 12 * 1024 } });
    const rec = recordRequests();
    cleanups.push(async () => rec.stop());
    const started = Date.now();
    const r = await syncInProcess({ sim, dirs, concurrency: 8 });
    const elapsed = Date.now() - started;
    rec.stop();
    expect(r.counts.done, withSeed('done')).toBe(24);
    expect(await verifyMirror(dirs.mirror, sim.inventory)).toEqual([]);

    const tokenReqs = rec.requests.filter((q) => q.origin === sim.url && q.path === '/token').map((q) => q.at);
    expect(tokenReqs.length).toBe(sim.stats.tokenRequests);
    expect(sim.stats.tokensIssued).toBe(sim.stats.tokenRequests);
    // The run spans several token lifetimes ...
    expect(elapsed).toBeGreaterThan(2 * ttl);
    expect(sim.stats.tokensIssued).toBeGreaterThanOrEqual(3);
    // ... and each lifetime gets one renewal: consecutive token requests are at least 90 % of
    // (TTL - 1 s) apart: a JWT's exp has one-second granularity, so a token lives between TTL-1 s and
    // TTL, and is renewed 10 % of its lifetime before that (a token issued at hh:mm:ss.950 with a 2 s
    // TTL expires at ss+2.000, 1.05 s later, and is renewed after 0.945 s: half a TTL, 1 s, was too
    // strict when a worker's first request came that late). A burst (several workers renewing the
    // same expiry) would show up as token requests a few ms apart.
    const minGap = 0.9 * (ttl - 1000);
    for (let i = 1; i < tokenReqs.length; i++) expect(tokenReqs[i]! - tokenReqs[i - 1]!, `gap before token request ${i}`).toBeGreaterThanOrEqual(minGap);
    expect(sim.stats.tokensIssued).toBeLessThanOrEqual(Math.floor(elapsed / minGap) + 1);
    // No download counted a failed attempt because of an expiry: every job was claimed once.
    const store = openStore(dirs.state);
    try {
      for (const a of assets) expect((await store.getJob(a.key))?.attempts, a.key).toBe(1);
    } finally {
      await store.close();
    }
  });

  it('opaque tokens expiring every 2 s under 8 workers: renewed once per expiry, on the 401', async () => {
    const ttl = 2000;
    // An opaque token has no exp: the client keeps it until a 401, so each renewal must follow an
    // expiry, and all the workers hitting that expiry must share one renewal.
    // 24 bodies of 2 s each under 8 workers: three rounds, so the third starts after the first token's
    // expiry however fast the commits between rounds are (with 16, a quick second round could start
    // just before it and never see a 401).
    const assets: AssetInput[] = Array.from({ length: 24 }, (_, i) => ({ key: `opq/a${String(i).padStart(2, '0')}.bin`, size: 24 * 1024, lastModified: T0 + i * 1000 }));
    const { sim, dirs } = await setup({ assets, tokenTtlMs: ttl, tokenFormat: 'opaque', faults: { bodyBytesPerSecond: 12 * 1024 } });
    const rec = recordRequests();
    cleanups.push(async () => rec.stop());
    const started = Date.now();
    const r = await syncInProcess({ sim, dirs, concurrency: 8 });
    const elapsed = Date.now() - started;
    rec.stop();
    expect(r.counts.done, withSeed('done')).toBe(24);
    expect(await verifyMirror(dirs.mirror, sim.inventory)).toEqual([]);
    const tokenReqs = rec.requests.filter((q) => q.origin === sim.url && q.path === '/token').map((q) => q.at);
    expect(tokenReqs.length).toBe(sim.stats.tokensIssued);
    expect(sim.stats.tokensIssued).toBeGreaterThanOrEqual(2);
    expect(sim.stats.tokensIssued).toBeLessThanOrEqual(Math.floor(elapsed / ttl) + 1);
    // a token is only replaced after it expired: consecutive requests are a full TTL apart (less a
    // few ms: the 401 that triggers the renewal is judged by the server's clock)
    for (let i = 1; i < tokenReqs.length; i++) expect(tokenReqs[i]! - tokenReqs[i - 1]!, `gap before token request ${i}`).toBeGreaterThanOrEqual(ttl - 50);
    expect(sim.stats.unauthorized).toBeGreaterThanOrEqual(1);
    for (const a of assets) expect((await jobOf(dirs.state, a.key))?.attempts, a.key).toBe(1);
  });

  it('tokens revoked under 8 in-flight requests: all 401s share one renewal and are replayed', async () => {
    const assets: AssetInput[] = Array.from({ length: 8 }, (_, i) => ({ key: `rev/a${i}.bin`, size: 4096, lastModified: T0 + i * 1000 }));
    // Every response (token included) is delayed 400 ms, and the simulator checks the token after
    // that delay: revoking while 8 downloads wait makes all 8 answer 401 at once.
    const { sim, dirs } = await setup({ assets, faults: { latencyMs: 400 } });
    const rec = recordRequests();
    cleanups.push(async () => rec.stop());
    const downloads = () => rec.requests.filter((q) => q.origin === sim.url && q.path.startsWith('/assets/'));
    const run = syncInProcess({ sim, dirs, concurrency: 8 });
    await waitUntil(() => downloads().length >= 8, 10_000, 2, '8 downloads in flight');
    sim.expireTokens();
    const revokedAt = Date.now();
    const r = await run;
    rec.stop();
    expect(r.counts.done).toBe(8);
    expect(sim.stats.unauthorized).toBeGreaterThanOrEqual(2);
    const afterRevoke = rec.requests.filter((q) => q.path === '/token' && q.at >= revokedAt);
    expect(afterRevoke.length, 'token requests after the revocation').toBe(1);
    expect(sim.stats.tokenRequests).toBe(2);
    for (const a of assets) expect((await jobOf(dirs.state, a.key))?.attempts, a.key).toBe(1);
    expect(await verifyMirror(dirs.mirror, sim.inventory)).toEqual([]);
  });

  it('follows a redirect to storage without sending Authorization there', async () => {
    const { sim, dirs } = await setup({ inventory: sampleInventory(SEED + 1, { count: 15, maxSize: 64 * 1024 }), redirect: true });
    const rec = recordRequests();
    cleanups.push(async () => rec.stop());
    const r = await syncInProcess({ sim, dirs });
    rec.stop();
    expect(r.counts.done).toBe(15);
    expect(await verifyMirror(dirs.mirror, sim.inventory)).toEqual([]);
    const toStorage = rec.requests.filter((q) => q.origin === sim.storageUrl);
    expect(toStorage.length).toBeGreaterThanOrEqual(14); // the empty _SUCCESS may or may not be fetched
    for (const q of toStorage) expect(q.headers.authorization, q.path).toBeUndefined();
    for (const q of rec.requests.filter((x) => x.origin === sim.url && x.path.startsWith('/assets/'))) expect(q.headers.authorization).toMatch(/^Bearer /);
    expect(sim.stats.statusCounts['400']).toBeUndefined();
    expect(sim.stats.redirects).toBe(toStorage.length);
  });

  it('percent-encodes awkward but legal keys and stores them byte for byte', async () => {
    const keys = [
      'enc/with space.txt',
      'enc/a+b=c&d;e.txt',
      'enc/#hash.txt',
      'enc/what?.txt',
      'enc/100%.txt',
      'enc/%2e%2e/literal-dots.txt',
      'enc/%2e%2e%2fescape.txt',
      'enc/%2F-not-a-slash.txt',
      'enc/Zürich/Übersicht.txt', // NFC
      'enc/Zu\u0308rich.txt', // NFD: a different key, a different file
      'enc/🛰️ satellite.json',
      "enc/it's (1) [x] {y} !*~.txt",
      'enc/back\\slash.txt',
      'enc/ leading and trailing .txt ',
      'enc/...three-dots',
    ];
    const assets = keys.map((key, i) => ({ key, size: 100 + i, lastModified: T0 + i * 1000 }));
    const { sim, dirs } = await setup({ assets });
    const rec = recordRequests();
    cleanups.push(async () => rec.stop());
    const r = await syncInProcess({ sim, dirs });
    rec.stop();
    expect(r.counts).toEqual({ queued: 0, running: 0, done: keys.length, failed: 0, gone: 0 });
    for (const k of keys) expect(sim.stats.completedDownloadsByKey.get(k), k).toBe(1);
    expect(sim.stats.statusCounts['404']).toBeUndefined();
    expect(await verifyMirror(dirs.mirror, sim.inventory)).toEqual([]);
    const paths = rec.requests.filter((q) => q.path.startsWith('/assets/')).map((q) => q.path);
    expect(paths).toContain('/assets/enc/%252e%252e/literal-dots.txt');
    expect(paths).toContain('/assets/enc/what%3F.txt');
    expect(paths).toContain('/assets/enc/%23hash.txt');
    expect(paths).toContain('/assets/enc/a%2Bb%3Dc%26d%3Be.txt');
    // the mirror holds exactly these names (and nothing decoded or normalised)
    expect([...(await mirrorFiles(dirs.mirror)).keys()].sort()).toEqual([...keys].sort());
  });

  for (const variant of ['seconds', 'HTTP date'] as const) {
    it(`honours Retry-After given in ${variant} for listing and downloads`, async () => {
      const seconds = variant === 'seconds' ? 1 : 2;
      // Every response waits 100 ms before the simulator decides on a 429, so the test can switch
      // the fault between phases: a 429 on the listing, then a 429 on the download.
      const { sim, dirs } = await setup({
        assets: [{ key: 'ra/one.bin', size: 5000, lastModified: T0 }],
        faults: { rate429: 1, retryAfterSeconds: seconds, retryAfterHttpDate: variant === 'HTTP date', latencyMs: 100 },
      });
      const rec = recordRequests();
      cleanups.push(async () => rec.stop());
      const seen = (pred: (q: (typeof rec.requests)[number]) => boolean, what: string) => waitUntil(() => rec.requests.some(pred), 20_000, 1, what);
      const phases = (async () => {
        await seen((q) => q.path.startsWith('/assets?') && q.status === 429, 'a 429 on the listing');
        sim.setFaults({ rate429: 0 });
        await seen((q) => q.path.startsWith('/assets?') && q.status === 200, 'the listing');
        sim.setFaults({ rate429: 1 });
        await seen((q) => q.path.startsWith('/assets/') && q.status === 429, 'a 429 on the download');
        sim.setFaults({ rate429: 0 });
      })();
      phases.catch(() => undefined); // awaited below; never an unhandled rejection
      const r = await syncInProcess({ sim, dirs, concurrency: 1 });
      await phases;
      rec.stop();
      expect(r.counts.done).toBe(1);
      expect(await verifyMirror(dirs.mirror, sim.inventory)).toEqual([]);
      const api = rec.requests.filter((q) => q.origin === sim.url && q.path !== '/token');
      const limited = api.filter((q) => q.status === 429);
      expect(limited.some((q) => q.path.startsWith('/assets?'))).toBe(true);
      expect(limited.some((q) => q.path.startsWith('/assets/'))).toBe(true);
      for (const q of limited) {
        const header = q.responseHeaders?.['retry-after'];
        expect(header).toBeDefined();
        // the earliest moment the server allowed: the date itself, or the response time + seconds
        const notBefore = variant === 'seconds' ? q.respondedAt! + seconds * 1000 : Date.parse(header!);
        if (variant === 'HTTP date') expect(header).toMatch(/GMT$/);
        const next = api.find((x) => x.at > q.at && x.path === q.path);
        expect(next, `a retry of ${q.path}`).toBeDefined();
        // 1 ms tolerance: timers and Date.now() are both truncated to whole milliseconds
        expect(next!.at, `retry of ${q.path} after a 429 with Retry-After ${header}`).toBeGreaterThanOrEqual(notBefore - 1);
      }
    });
  }

  it.each([false, true])('a 404 after listing ends gone, writes nothing, and the rest is mirrored (redirect: %s)', async (redirect) => {
    const assets: AssetInput[] = [
      { key: 'nf/here.bin', size: 1234, lastModified: T0 },
      { key: 'nf/vanished.bin', size: 4321, lastModified: T0 + 1000 },
    ];
    // with redirect, the API presigns without checking and the storage answers an S3-style XML 404
    const { sim, dirs } = await setup({ assets, redirect, faults: { notFoundKeys: ['nf/vanished.bin'] } });
    const r = await syncInProcess({ sim, dirs });
    expect(r.counts).toEqual({ queued: 0, running: 0, done: 1, failed: 0, gone: 1 });
    const job = await jobOf(dirs.state, 'nf/vanished.bin');
    expect(job?.state).toBe('gone');
    expect(job?.errorStatus).toBe(404);
    expect(job?.attempts).toBe(1);
    expect(sim.stats.downloadsByKey.get('nf/vanished.bin')).toBe(1); // not retried
    expect(await fsp.stat(path.join(dirs.mirror, 'nf', 'vanished.bin')).catch(() => null)).toBeNull();
    expect(await fsp.readdir(stagingDir(dirs.mirror))).toEqual([]);
    expect(await verifyMirror(dirs.mirror, sim.inventory, (a) => a.key === 'nf/here.bin')).toEqual([]);
  });

  it('a malformed listing page: no HWM advance, a clear error, a failing exit code', async () => {
    const { sim, dirs } = await setup({ assets: [{ key: 'm/a.bin', size: 100, lastModified: T0 }] });
    const cfg = { 'sync.quickRetries': 0 }; // two page retries, not five, to keep the test short
    const first = await syncInProcess({ sim, dirs, config: cfg });
    expect(first.cursor.hwmMs).toBe(T0);

    sim.inventory.put({ key: 'm/b.bin', size: 200, lastModified: T0 + 10_000 });
    sim.setFaults({ malformedListing: 'always' });
    const r = await syncInProcess({ sim, dirs, config: cfg });
    expect(r.summary.pollError).not.toBeNull();
    expect(r.summary.pollError?.errorClass).toBe('bad_listing');
    expect(r.summary.pollError?.message).toMatch(/malformed listing page/);
    expect(r.cursor.hwmMs).toBe(T0);
    expect(r.cursor.pollError).toMatch(/malformed listing page/);
    expect(r.cursor.pollErrorClass).toBe('bad_listing');
    expect(await jobOf(dirs.state, 'm/b.bin')).toBeNull(); // nothing from a bad page was queued
    expect(exitCodeOf(r.summary, r.counts, false)).toBe(EXIT.FAILURES);

    sim.setFaults({ malformedListing: false });
    const ok = await syncInProcess({ sim, dirs, config: cfg });
    expect(ok.summary.pollError).toBeNull();
    expect(ok.cursor.hwmMs).toBe(T0 + 10_000);
    expect(ok.cursor.pollError).toBeNull();
    expect(exitCodeOf(ok.summary, ok.counts, false)).toBe(EXIT.OK);
    expect(await verifyMirror(dirs.mirror, sim.inventory)).toEqual([]);
  });

  it('a malformed first listing leaves no HWM at all', async () => {
    const { sim, dirs } = await setup({ assets: [{ key: 'm/a.bin', size: 100, lastModified: T0 }], faults: { malformedListing: 'always' } });
    const r = await syncInProcess({ sim, dirs, config: { 'sync.quickRetries': 0 } });
    expect(r.summary.pollError?.errorClass).toBe('bad_listing');
    expect(r.cursor.hwmMs).toBeNull();
    expect(r.counts.queued + r.counts.done).toBe(0);
  });

  it('a file is never visible under its final name before it is complete', async () => {
    // larger than the transfer's 1 MiB write batch, so the partial visibly grows before the rename
    const big = { key: 'vis/big.tif', size: 2.5 * 1024 * 1024, lastModified: T0 };
    const small: AssetInput[] = Array.from({ length: 6 }, (_, i) => ({ key: `vis/s${i}.json`, size: 3000 + i, lastModified: T0 + 1000 + i }));
    // 1 MiB/s: the big body takes ~2.5 s, long enough to watch it grow in staging
    const { sim, dirs } = await setup({ assets: [big, ...small], faults: { bodyBytesPerSecond: 1024 * 1024 } });
    const sizes = new Map([...sim.inventory].map((a) => [a.key, a.size]));
    const violations: string[] = [];
    let sawPartialWithoutFinal = 0;
    let stop = false;
    const finalPath = path.join(dirs.mirror, 'vis', 'big.tif');
    const watcher = (async () => {
      while (!stop) {
        for (const [rel, size] of await mirrorFiles(dirs.mirror)) {
          if (sizes.get(rel) !== size) violations.push(`${rel} visible with ${size} bytes (want ${sizes.get(rel)})`);
        }
        const partials = await fsp.readdir(stagingDir(dirs.mirror)).catch(() => [] as string[]);
        for (const p of partials.filter((f) => f.endsWith('.partial'))) {
          const st = await fsp.stat(path.join(stagingDir(dirs.mirror), p)).catch(() => null);
          const finalExists = await fsp.stat(finalPath).then(
            () => true,
            () => false,
          );
          if (st && st.size > 0 && st.size < big.size && !finalExists) sawPartialWithoutFinal++;
        }
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    const r = await syncInProcess({ sim, dirs, concurrency: 3 });
    stop = true;
    await watcher;
    expect(violations).toEqual([]);
    expect(sawPartialWithoutFinal, 'observed the big download in staging before it was renamed').toBeGreaterThan(0);
    expect(r.counts.done).toBe(7);
    expect(await verifyMirror(dirs.mirror, sim.inventory)).toEqual([]);
  });
});
