// The high-water mark never runs ahead of the server's clock: it is at most the `Date` of the first
// listing response (local clock only when there is none) minus one second. Future-dated assets are
// still listed and queued; they just do not move the mark. The server/local skew is recorded.
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/lib/logger.js';
import { SyncMetrics } from '../../src/ops/metrics.js';
import { CLOCK_MARGIN_MS, pollOnce, type PollSettings } from '../../src/sync/poller.js';
import { fakeApiWithStore, isoS, type FakeAsset, type ListingAnswer } from '../helpers/fake-api.js';
import { runCli } from '../helpers/harness.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

const SETTINGS: PollSettings = { pageSize: 1000, lookbackMs: 1000, sinceMs: null, pageRetries: 0 };
const httpDate = (ms: number) => new Date(ms).toUTCString();
const sec = (ms: number) => Math.floor(ms / 1000) * 1000;

async function setup(listing: (q: URLSearchParams, n: number) => ListingAnswer) {
  const { fake, api, store, dirs } = await fakeApiWithStore('hwm', listing, cleanups);
  const poll = (clock: () => number = Date.now) => pollOnce({ api, store, logger: createLogger({ level: 'silent' }), clock, settings: SETTINGS });
  return { fake, store, poll, dirs };
}

/** A server holding `assets`, answering lastModifiedAfter strictly, one page per `pageSize` keys (by key). */
function assetServer(assets: Map<string, number>, o: { pageSize: number; date: (n: number) => string | undefined; onPage?: (n: number, token: string | null) => void }) {
  return (q: URLSearchParams, n: number): ListingAnswer => {
    const token = q.get('continuation_token');
    o.onPage?.(n, token);
    const after = q.get('lastModifiedAfter') ? Date.parse(q.get('lastModifiedAfter')!) : -Infinity;
    const keys = [...assets.entries()].filter(([, lm]) => lm > after).map(([k]) => k).sort();
    const start = token ? keys.indexOf(token) : 0;
    const slice = keys.slice(start, start + o.pageSize);
    const next = keys[start + o.pageSize];
    const Contents: FakeAsset[] = slice.map((k) => ({ Key: k, LastModified: isoS(assets.get(k)!), Size: 1 }));
    return { page: { Contents, IsTruncated: next !== undefined, ...(next ? { NextContinuationToken: next } : {}) }, date: o.date(n) };
  };
}

describe('the high-water mark and the server clock', () => {
  it('a future-dated asset is queued but does not move the mark past the server Date − 1 s', async () => {
    const serverNow = sec(Date.now());
    const future = serverNow + 365 * 86_400_000;
    const assets = new Map([
      ['a/old.tif', serverNow - 600_000],
      ['b/future.tif', future],
    ]);
    const { store, poll, fake } = await setup(assetServer(assets, { pageSize: 1000, date: () => httpDate(serverNow) }));
    const r = await poll();
    expect(r.hwmAfter).toBe(serverNow - CLOCK_MARGIN_MS);
    expect((await store.getCursor()).hwmMs).toBe(serverNow - CLOCK_MARGIN_MS);
    expect((await store.getJob('b/future.tif'))?.state).toBe('queued');
    // The next poll asks for what changed since the server's "now", not since next year.
    assets.set('c/new.tif', serverNow + 5000);
    await poll();
    expect(Date.parse(fake.listings.at(-1)!.get('lastModifiedAfter')!)).toBeLessThanOrEqual(serverNow - CLOCK_MARGIN_MS);
    expect(await store.getJob('c/new.tif')).not.toBeNull();
  });

  it('a mark already in the future (written before this rule) is pulled back to the server clock', async () => {
    const serverNow = sec(Date.now());
    const { store, poll } = await setup(assetServer(new Map([['a', serverNow - 5000]]), { pageSize: 1000, date: () => httpDate(serverNow) }));
    await store.finishPoll(serverNow + 365 * 86_400_000, Date.now());
    await poll();
    expect((await store.getCursor()).hwmMs).toBe(serverNow - CLOCK_MARGIN_MS);
  });

  it('uses the server Date, not the local clock, and records the skew', async () => {
    const local = Date.now();
    const serverNow = sec(local - 2 * 3600_000); // the server's clock is two hours behind ours
    const assets = new Map([['a', serverNow - 60_000], ['b', serverNow + 3600_000]]);
    const { store, poll, dirs } = await setup(assetServer(assets, { pageSize: 1000, date: () => httpDate(serverNow) }));
    const polledAt = Date.now();
    await poll();
    const answeredBy = Date.now();
    const c = await store.getCursor();
    expect(c.hwmMs).toBe(serverNow - CLOCK_MARGIN_MS);
    expect(c.clockSkewMs).not.toBeNull();
    // The server's Date (whole seconds, serverNow) minus our clock when its answer arrived, which was
    // during the poll: bounded by the poll's start and end, however long the set-up before it took
    // on a loaded machine (a ±3 s bound from the test's start failed when the set-up took over 2 s).
    expect(c.clockSkewMs!).toBeGreaterThanOrEqual(serverNow - answeredBy);
    expect(c.clockSkewMs!).toBeLessThanOrEqual(serverNow - polledAt);
    const metrics = new SyncMetrics({ defaultMetrics: false });
    metrics.attach({ store });
    const m = /^constellr_sync_clock_skew_seconds (\S+)$/m.exec(await metrics.registry.metrics());
    expect(m).not.toBeNull();
    expect(Math.abs(Number(m![1]) - c.clockSkewMs! / 1000)).toBeLessThan(1);
    await store.close();
    const st = await runCli(['status', '--json', '--state-dir', dirs.state, '--mirror-dir', dirs.mirror]);
    expect(st.code, st.stderr).toBe(0);
    const j = JSON.parse(st.stdout) as { clockSkew: { seconds: number; measuredAt: string } | null };
    expect(j.clockSkew).not.toBeNull();
    expect(Math.abs(j.clockSkew!.seconds - c.clockSkewMs! / 1000)).toBeLessThan(1);
    const text = await runCli(['status', '--state-dir', dirs.state, '--mirror-dir', dirs.mirror]);
    expect(text.stdout).toMatch(/clock skew: +the API server's clock is 2h00m behind this host's/);
  });

  it('without a Date header the local clock at the start of the poll bounds the mark', async () => {
    const local = sec(Date.now()) + 500;
    const assets = new Map([['a', local - 60_000], ['b', local + 86_400_000]]);
    const { store, poll } = await setup(assetServer(assets, { pageSize: 1000, date: () => '' }));
    await poll(() => local);
    const c = await store.getCursor();
    expect(c.hwmMs).toBe(local - CLOCK_MARGIN_MS);
    expect(c.clockSkewMs).toBeNull();
  });

  it('a long walk: a key behind the walk that changes is still found by the next poll', async () => {
    // Pages are ordered by key. "a" is listed on page 1; while the walk is on page 2, "a" changes
    // and then "z" (page 3) changes too, with a newer timestamp. A mark taken from "z" would make
    // the next poll (lookback 1 s) skip the new version of "a".
    const t0 = sec(Date.now()) - 60_000;
    const assets = new Map([
      ['a', t0 - 600_000],
      ['m', t0 - 500_000],
      ['z', t0 - 400_000],
    ]);
    let clockS = t0;
    const { store, poll } = await setup(
      assetServer(assets, {
        pageSize: 1,
        date: () => httpDate(clockS),
        onPage: (n, token) => {
          if (token === 'm') {
            // the server's clock moves on while the walk runs
            clockS = t0 + 5000;
            assets.set('a', t0 + 3000);
            assets.set('z', t0 + 4000);
          }
          void n;
        },
      }),
    );
    const first = await poll();
    expect(first.pages).toBe(3);
    expect((await store.getJob('a'))?.remoteModifiedMs).toBe(t0 - 600_000);
    expect((await store.getJob('z'))?.remoteModifiedMs).toBe(t0 + 4000);
    expect(first.hwmAfter).toBeLessThanOrEqual(t0 - CLOCK_MARGIN_MS);
    await poll();
    expect((await store.getJob('a'))?.remoteModifiedMs).toBe(t0 + 3000);
  });
});
