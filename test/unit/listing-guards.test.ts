// A listing that never ends stops the poll with a clear error (a repeated page, by token or by
// contents, or more than sync.maxListingPages pages) and the mark does not move. A reconcile's
// maxDelete percentage is taken of the keys tracked before its own listing added any.
import { afterEach, describe, expect, it } from 'vitest';
import { SyncError } from '../../src/errors.js';
import { configSchema } from '../../src/config/schema.js';
import { createLogger } from '../../src/lib/logger.js';
import { pollOnce } from '../../src/sync/poller.js';
import { reconcileOnce } from '../../src/sync/reconcile-listing.js';
import { fakeApiWithStore, isoS, type ListingAnswer } from '../helpers/fake-api.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

const T = Math.floor(Date.now() / 1000) * 1000 - 86_400_000;

async function setup(listing: (q: URLSearchParams, n: number) => ListingAnswer) {
  const { fake, api, store, dirs } = await fakeApiWithStore('guards', listing, cleanups);
  return { fake, api, store, dirs };
}

const page = (keys: string[], next: string | null): ListingAnswer => ({
  page: { Contents: keys.map((k, i) => ({ Key: k, LastModified: isoS(T + i * 1000), Size: 1 })), IsTruncated: next !== null, ...(next ? { NextContinuationToken: next } : {}) },
});

describe('a listing that never ends', () => {
  async function pollFails(listing: (q: URLSearchParams, n: number) => ListingAnswer, maxPages?: number) {
    const { api, store, fake } = await setup(listing);
    await store.finishPoll(T - 5000, Date.now());
    const err = await pollOnce({
      api,
      store,
      logger: createLogger({ level: 'silent' }),
      clock: Date.now,
      settings: { pageSize: 2, lookbackMs: 1000, sinceMs: null, pageRetries: 0, ...(maxPages ? { maxPages } : {}) },
    }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(SyncError);
    const c = await store.getCursor();
    expect(c.hwmMs).toBe(T - 5000); // the mark did not move
    expect(c.pollError).toBe((err as SyncError).message);
    return { err: err as SyncError, fake };
  }

  it('the same page contents under a new token every time', async () => {
    const { err, fake } = await pollFails((_q, n) => page(['a', 'b'], `token-${n}`));
    expect(err.errorClass).toBe('bad_listing');
    expect(err.message).toMatch(/repeated a page/);
    expect(fake.listings.length).toBeLessThan(5);
  });

  it('a repeated continuation token', async () => {
    const { err } = await pollFails((q) => page([`k-${q.get('continuation_token') ?? 0}`], 'same'));
    expect(err.message).toMatch(/repeated a continuation token/);
  });

  it('more pages than sync.maxListingPages', async () => {
    const { err, fake } = await pollFails((_q, n) => page([`k-${n}-a`, `k-${n}-b`], `token-${n}`), 5);
    expect(err.message).toMatch(/more than 5 pages \(sync\.maxListingPages\)/);
    expect(fake.listings.length).toBeLessThanOrEqual(6);
  });

  it('sync.maxListingPages defaults to 1,000,000', () => {
    expect(configSchema.parse({}).sync.maxListingPages).toBe(1_000_000);
    expect(configSchema.parse({ sync: { maxListingPages: 10 } }).sync.maxListingPages).toBe(10);
  });
});

describe('maxDelete as a percentage', () => {
  it('is taken of the keys tracked before the reconcile listed new ones', async () => {
    const known = Array.from({ length: 10 }, (_, i) => `old-${i}`);
    const fresh = Array.from({ length: 40 }, (_, i) => `new-${String(i).padStart(2, '0')}`);
    let listing = known;
    const { api, store, dirs } = await setup(() => page(listing, null));
    await store.upsertPage(
      known.map((k, i) => ({ key: k, lastModifiedMs: T + i * 1000, size: 1, etag: null })),
      Date.now(),
    );
    // Now 5 of the 10 known keys are gone, and 40 new ones appeared.
    listing = [...known.slice(0, 5), ...fresh];
    const r = await reconcileOnce({
      api,
      store,
      logger: createLogger({ level: 'silent' }),
      clock: Date.now,
      root: dirs.mirror,
      settings: { pageSize: 1000, pageRetries: 0, deletePolicy: 'keep', maxDelete: { percent: 10 } },
    });
    expect(r.missing).toBe(5);
    expect(r.limit).toBe(1); // 10 % of the 10 tracked before, not of the 50 after
    expect(r.guarded).toBe(true);
    expect(r.applied).toBe(0);
  });
});
