// The STAC source end to end against the simulator's STAC API with a workspace API key: a full sync
// (byte-exact, no /token, no credentials at storage), incremental polls (updated moves; a late
// delivery), sizes and checksums the listing does not give, URL expiry shorter than a download with
// refresh and Range resume, an item deleted between search and re-fetch, and a rejected key (exit 3).
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { RESUMABLE_MIN_BYTES } from '../../src/download/partial.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import type { Simulator } from '../../src/simulator/index.js';
import { runCli, syncInProcess, tempDirs, testSeed, type TempDirs } from '../helpers/harness.js';
import { STAC_KEY, startStacSim, verifyStacMirror } from '../helpers/stac.js';

const seed = testSeed();
console.log(`stac seed: ${seed} (reproduce with TEST_SEED=${seed})`);

let sim: Simulator | undefined;
let dirs: TempDirs | undefined;
afterEach(async () => {
  await sim?.close();
  await dirs?.cleanup();
  sim = undefined;
  dirs = undefined;
});

const stacConfig = { source: 'stac' } as const;

async function jobs(state: string) {
  const s = SqliteStore.open(state, { maxAttempts: 10 });
  try {
    return { counts: await s.counts(), cursor: await s.getCursor(), failures: await s.recentFailures(20) };
  } finally {
    await s.close();
  }
}

describe('STAC source with an API key', () => {
  it('mirrors every asset of every item byte for byte; /token is never called; storage never sees a credential', async () => {
    sim = await startStacSim(seed, 24);
    dirs = await tempDirs('stac-full');
    const r = await syncInProcess({ sim, dirs, apiKey: STAC_KEY, config: stacConfig });
    expect(r.summary.pollError).toBeNull();
    expect(r.counts).toMatchObject({ done: 72, failed: 0, queued: 0, running: 0 });
    expect(await verifyStacMirror(dirs.mirror, sim.stac!)).toEqual([]);
    expect(sim.stats.tokenRequests).toBe(0);
    expect(sim.stats.authByBearer).toBe(0);
    expect(sim.stats.authByApiKey).toBeGreaterThan(0);
    expect(sim.stats.storageCredentialRejects).toBe(0);
    const info = JSON.parse(r.cursor.sourceInfo!) as { source: string; strategy: string; reason: string };
    expect(info).toMatchObject({ source: 'stac', strategy: 'updated' });

    // A second cycle changes nothing: versions are (updated, file:size, file:checksum).
    const again = await syncInProcess({ sim, dirs, apiKey: STAC_KEY, config: stacConfig });
    expect(again.summary.poll?.inserted).toBe(0);
    expect(again.summary.poll?.changed).toBe(0);
  });

  it('incremental: an item whose updated moves is fetched again, a late delivery with an old datetime is found', async () => {
    sim = await startStacSim(seed, 12);
    dirs = await tempDirs('stac-incr');
    await syncInProcess({ sim, dirs, apiKey: STAC_KEY, config: stacConfig });
    const [first] = sim.stac!.all();
    sim.stac!.put({ collection: first!.collection, id: first!.id, updated: Date.now() - 5_000 });
    // a late delivery: acquired three weeks ago, delivered now
    sim.stac!.put({ collection: 'lstzoom', id: 'LATE_DELIVERY_1', datetime: Date.now() - 21 * 86_400_000, updated: Date.now() - 5_000 });
    const r = await syncInProcess({ sim, dirs, apiKey: STAC_KEY, config: stacConfig });
    expect(r.summary.poll?.changed).toBe(3);
    expect(r.summary.poll?.inserted).toBe(3);
    expect(await verifyStacMirror(dirs.mirror, sim.stac!)).toEqual([]);
  });

  it('without updated it windows datetime (stac.lookback) and says why', async () => {
    sim = await startStacSim(seed, 9);
    sim.stac!.setKnobs({ updated: 'none' });
    dirs = await tempDirs('stac-window');
    const r = await syncInProcess({ sim, dirs, apiKey: STAC_KEY, config: stacConfig });
    const info = JSON.parse(r.cursor.sourceInfo!) as { strategy: string; reason: string };
    expect(info).toMatchObject({ strategy: 'datetime', reason: expect.stringMatching(/do not carry properties.updated/) });
    expect(await verifyStacMirror(dirs.mirror, sim.stac!)).toEqual([]);
    const status = await runCli(['status', '--json', '--state-dir', dirs.state, '--mirror-dir', dirs.mirror], { env: { CONSTELLR_SYNC_SOURCE: 'stac' } });
    const report = JSON.parse(status.stdout) as { source: string; strategy: string; strategyReason: string };
    expect(report).toMatchObject({ source: 'stac', strategy: 'datetime' });
    expect(report.strategyReason).toMatch(/updated/);
  });

  it('learns sizes from Content-Length and verifies checksums when the listing omits them', async () => {
    sim = await startStacSim(seed, 9);
    sim.stac!.setKnobs({ fileSize: 'none', fileChecksum: 'some' });
    dirs = await tempDirs('stac-nosize');
    const r = await syncInProcess({ sim, dirs, apiKey: STAC_KEY, config: stacConfig });
    expect(r.counts).toMatchObject({ done: 27, failed: 0 });
    expect(await verifyStacMirror(dirs.mirror, sim.stac!)).toEqual([]);
  });

  it('URLs that expire before the download ends are refreshed and the download resumes with Range', async () => {
    // maxSize 4 MiB: every LST asset is 1-4 MiB (resumable), every mask 256 KiB-1 MiB (restarts)
    sim = await startStacSim(seed, 3, { maxSize: 4 * 1024 * 1024, faults: { bodyBytesPerSecond: 2 * 1024 * 1024, resetRate: 0.5 } });
    sim.stac!.setKnobs({ urlTtlSeconds: 1 });
    dirs = await tempDirs('stac-expiry');
    const r = await syncInProcess({ sim, dirs, apiKey: STAC_KEY, config: { ...stacConfig, 'sync.quickRetries': 6, 'sync.retryBaseDelay': '100ms', 'sync.maxAttempts': 50 } });
    expect(r.counts.failed).toBe(0);
    expect(await verifyStacMirror(dirs.mirror, sim.stac!)).toEqual([]);
    // expired URLs were refused and the items fetched again for fresh ones, one request per item at a time
    const refetches = [...sim.stats.stac.itemRequestsById.values()].reduce((a, b) => a + b, 0);
    expect(refetches).toBeGreaterThan(0);
    expect(sim.stats.stac.maxItemRequestsInFlight).toBe(1);
    // Resumed with Range: each GET of a resumable file (RESUMABLE_MIN_BYTES and up) after a cut starts
    // where the cut left it, not at byte 0. A few bytes flushed just before the reset may not have
    // reached the partial (IN_FLIGHT allows for them); a cut within them may restart. Smaller files
    // restart from byte 0 by design, so the total bytes served depend on how many of their downloads
    // the fault RNG cuts, and the RNG draws in request order, which timing decides: the old bound on
    // the total (1.5 × the files' size) held or failed with the seed and the Node version.
    const IN_FLIGHT = 512 * 1024;
    const files = sim.stac!.all().flatMap((rec) => rec.assets.map((a) => sim!.stac!.object(a)!));
    const resumable = files.filter((f) => f.size >= RESUMABLE_MIN_BYTES);
    expect(resumable.length).toBe(3);
    const resumes: { key: string; cutAt: number; resumedAt: number }[] = [];
    for (const f of resumable) {
      const bodies = sim.stats.bodiesByKey.get(f.key) ?? [];
      expect(bodies.at(-1)?.end, f.key).toBe(f.size);
      for (let i = 1; i < bodies.length; i++) resumes.push({ key: f.key, cutAt: bodies[i - 1]!.end, resumedAt: bodies[i]!.start });
    }
    console.log(`expiry test: ${refetches} item re-fetches, ${resumable.length} resumable files, resumes ${JSON.stringify(resumes.map((r) => [r.cutAt, r.resumedAt]))}, ${sim.stats.bytesServed} bytes served`);
    const restarted = resumes.filter((r) => r.cutAt > IN_FLIGHT && (r.resumedAt > r.cutAt || r.resumedAt < r.cutAt - IN_FLIGHT));
    expect(restarted).toEqual([]);
  });

  it('an item deleted between search and re-fetch ends as gone', async () => {
    sim = await startStacSim(seed, 3);
    sim.stac!.setKnobs({ urlTtlSeconds: 1 });
    dirs = await tempDirs('stac-vanish');
    // list only (workers start after the poll with expired URLs): a dry pass with no workers is the poll itself
    const victim = sim.stac!.all()[0]!;
    const r1 = await syncInProcess({ sim, dirs, apiKey: STAC_KEY, config: { ...stacConfig, 'sync.concurrency': 1 }, engine: { shouldStopClaiming: () => true } });
    expect(r1.counts.queued).toBe(9);
    sim.stac!.remove(victim.collection, victim.id);
    // the listed hrefs are expired by now: each job re-fetches its item; the deleted one is gone
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const r2 = await syncInProcess({ sim, dirs, apiKey: STAC_KEY, config: { ...stacConfig, 'sync.reconcileSchedule': 'off' } });
    expect(r2.counts.gone).toBe(3);
    expect(r2.counts.done).toBe(6);
    const { failures } = await jobs(dirs.state);
    expect(failures).toEqual([]);
  });

  it('a rejected API key exits 3 with a message that says it is invalid, expired or revoked', async () => {
    sim = await startStacSim(seed, 3);
    dirs = await tempDirs('stac-401');
    const res = await runCli(['sync', '--state-dir', dirs.state, '--mirror-dir', dirs.mirror, '--api-url', sim.url, '--source', 'stac'], {
      env: { CONSTELLR_API_KEY: 'csk_live_wrong_key_000000' },
    });
    expect(res.code).toBe(3);
    expect(res.stdout + res.stderr).toMatch(/invalid, expired or revoked/);
    expect(res.stdout + res.stderr).not.toContain('csk_live_wrong_key_000000');
    expect(sim.stats.tokenRequests).toBe(0);
  });

  it('demo --source stac mirrors a simulated API-key account through STAC and verifies it', async () => {
    dirs = await tempDirs('stac-demo');
    const res = await runCli(['demo', '--source', 'stac', '--assets', '6', '--mirror-dir', dirs.mirror, '--state-dir', dirs.state], { timeoutMs: 60_000 });
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/incremental strategy: updated/);
    expect(res.stdout).toMatch(/token requests: 0/);
    expect(res.stdout).toMatch(/21 of 21 assets verified\./);
  });

  it('hostile item ids stay inside the mirror: slashes are escaped into one folder, NUL is refused (unsafe_key)', async () => {
    sim = await startStacSim(seed, 3);
    sim.stac!.put({ collection: 'lstzoom', id: '../../etc/passwd', updated: Date.now() - 5000 });
    sim.stac!.put({ collection: 'lstzoom', id: 'bad\u0000id', updated: Date.now() - 5000 });
    dirs = await tempDirs('stac-hostile');
    const r = await syncInProcess({ sim, dirs, apiKey: STAC_KEY, config: stacConfig });
    expect(r.counts).toMatchObject({ done: 12, failed: 3, queued: 0 });
    const { failures } = await jobs(dirs.state);
    for (const f of failures) {
      expect(f.key).toContain('\u0000');
      expect(f.errorClass).toBe('unsafe_key');
    }
    const escaped = await fsp.readdir(path.join(dirs.mirror, 'lstzoom', '..%2F..%2Fetc%2Fpasswd'));
    // three assets and the item's STAC JSON (stac.catalog), its name escaped the same way
    expect(escaped).toHaveLength(4);
    expect(escaped).toContain('..%2F..%2Fetc%2Fpasswd.json');
    expect(await fsp.readdir(dirs.root)).toEqual(expect.arrayContaining(['mirror', 'state']));
    expect((await fsp.readdir(dirs.root)).filter((f) => f !== 'mirror' && f !== 'state')).toEqual([]);
  });

  it('a next link that loops fails the poll with bad_listing instead of listing forever', async () => {
    sim = await startStacSim(seed, 12);
    sim.stac!.setKnobs({ nextLinkLoops: true });
    dirs = await tempDirs('stac-loop');
    const r = await syncInProcess({ sim, dirs, apiKey: STAC_KEY, config: { ...stacConfig, 'stac.pageSize': 4, 'sync.quickRetries': 0 } });
    expect(r.summary.pollError?.errorClass).toBe('bad_listing');
    expect(r.summary.pollError?.message).toMatch(/repeated a (page|continuation token or next link)/);
    expect(r.cursor.hwmMs).toBeNull();
  });

  it('ls --source stac lists one line per selected asset; sizes the listing omits show as unknown', async () => {
    sim = await startStacSim(seed, 4);
    sim.stac!.setKnobs({ fileSize: 'none' });
    const res = await runCli(['ls', '--json', '--source', 'stac', '--api-url', sim.url], { env: { CONSTELLR_API_KEY: STAC_KEY, CONSTELLR_SYNC_CONFIG: '' } });
    expect(res.code, res.stderr).toBe(0);
    const lines = res.stdout.trim().split('\n').map((l) => JSON.parse(l) as { key: string; size: number | null });
    expect(lines).toHaveLength(12);
    for (const l of lines) expect(l.size).toBeNull();
    expect(res.stderr).toMatch(/12 assets/);
  });
});
