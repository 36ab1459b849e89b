// Listing pages are committed in groups of about COMMIT_KEYS keys (issue 13 §5): one transaction per
// 1,000-key page spent a third of a 1M-key ingest in commits. The mark still moves only after the
// last page, and a listing that fails part-way still commits every page it received.
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/lib/logger.js';
import { COMMIT_KEYS, pollOnce, type PollSettings } from '../../src/sync/poller.js';
import type { PollStore } from '../../src/store/types.js';
import { fakeApiWithStore, isoS, type FakeAsset, type ListingAnswer } from '../helpers/fake-api.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

const PAGE = 1000;
const SETTINGS: PollSettings = { pageSize: PAGE, lookbackMs: 1000, sinceMs: null, pageRetries: 0 };
const base = Math.floor(Date.now() / 1000) * 1000 - 86_400_000;
const key = (i: number) => `k/${String(i).padStart(6, '0')}.tif`;

/** `total` keys in pages of PAGE; page `failAt` (1-based), if given, answers 400. */
function server(total: number, failAt?: number) {
  return (q: URLSearchParams, n: number): ListingAnswer => {
    if (n === failAt) return { status: 400, body: '{"detail":"page seven is broken"}' };
    const start = Number(q.get('continuation_token') ?? 0);
    const end = Math.min(total, start + PAGE);
    const Contents: FakeAsset[] = [];
    for (let i = start; i < end; i++) Contents.push({ Key: key(i), LastModified: isoS(base + i * 1000), Size: 10 });
    return { page: { Contents, IsTruncated: end < total, ...(end < total ? { NextContinuationToken: String(end) } : {}) } };
  };
}

/** The store, with every upsertPage's size recorded (methods stay bound to the store itself). */
function counting(store: PollStore, sizes: number[]): PollStore {
  return new Proxy(store, {
    get(target, prop) {
      if (prop === 'upsertPage') return (items: Parameters<PollStore['upsertPage']>[0], now: number) => (sizes.push(items.length), target.upsertPage(items, now));
      const v = Reflect.get(target, prop, target) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

describe('listing pages are committed in groups', () => {
  it(`commits ${COMMIT_KEYS.toLocaleString('en')} keys per transaction, then the rest, and moves the mark after the last`, async () => {
    const total = 2 * COMMIT_KEYS + 2500;
    const { api, store } = await fakeApiWithStore('listing-commit', server(total), cleanups);
    const sizes: number[] = [];
    const r = await pollOnce({ api, store: counting(store, sizes), logger: createLogger({ level: 'silent' }), clock: Date.now, settings: SETTINGS });
    expect(sizes).toEqual([COMMIT_KEYS, COMMIT_KEYS, 2500]);
    expect(r.pages).toBe(Math.ceil(total / PAGE));
    expect(r.inserted).toBe(total);
    expect((await store.counts()).queued).toBe(total);
    expect(r.hwmAfter).toBe(base + (total - 1) * 1000);
  });

  it('a listing that fails part-way commits every page it received, and the mark does not move', async () => {
    const { api, store } = await fakeApiWithStore('listing-commit-fail', server(20 * PAGE, 7), cleanups);
    const sizes: number[] = [];
    await expect(pollOnce({ api, store: counting(store, sizes), logger: createLogger({ level: 'silent' }), clock: Date.now, settings: SETTINGS })).rejects.toThrow(/HTTP 400/);
    // pages 1–5 filled the first group; page 6 was held and is committed on the failure
    expect(sizes).toEqual([COMMIT_KEYS, PAGE]);
    expect((await store.counts()).queued).toBe(6 * PAGE);
    expect((await store.getCursor()).hwmMs).toBeNull();
  });
});
