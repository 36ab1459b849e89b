// A long first listing builds the claim-order index at its end (issue 23 §5): past a number of keys
// the index is dropped, workers claim in listing order, and finishing (or failing) the poll builds it
// again; a crash in between leaves it missing until the next claim statement builds it.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RemoteAsset } from '../../src/api/wire.js';
import type { ClaimOrder } from '../../src/config/schema.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import { tempDirs, type TempDirs } from '../helpers/harness.js';

const T = Date.UTC(2025, 0, 1);
const DEFER = 4;
let dirs: TempDirs;
let store: SqliteStore;
const open = () => SqliteStore.open(dirs.state, { maxAttempts: 3, deferOrderIndexKeys: DEFER });

beforeEach(async () => {
  dirs = await tempDirs('first-listing');
  store = open();
});
afterEach(async () => {
  await store.close();
  await dirs.cleanup();
});

// keys listed in key order, dates not: k0 is the oldest, k1 the newest, then older again
const asset = (i: number): RemoteAsset => ({ key: `k${i}`, lastModifiedMs: T + ((i * 7) % 10) * 1000, size: 100 + i, etag: null });
const page = (from: number, n: number) => Array.from({ length: n }, (_, i) => asset(from + i));
const indexes = (s: SqliteStore) => (s.db.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND (name LIKE 'jobs_queued_%' OR name = 'jobs_state') ORDER BY name").pluck().all() as string[]);
const claim = async (s: SqliteStore, n: number, order: ClaimOrder = 'newest-first') => (await s.claimJobs(n, { owner: 'w', leaseMs: 60_000, now: T + 60_000, order })).map((j) => j.key);
const newestFirst = (keys: number[]) => keys.map(asset).sort((a, b) => b.lastModifiedMs - a.lastModifiedMs || a.key.localeCompare(b.key)).map((a) => a.key);

describe('a long first listing builds the claim-order index at its end', () => {
  it('below the threshold nothing changes: the index stays and claims go newest first', async () => {
    await store.startPoll(T);
    await store.upsertPage(page(0, DEFER - 1), T);
    expect(indexes(store)).toContain('jobs_queued_newest');
    expect(await claim(store, 1)).toEqual(newestFirst([0, 1, 2]).slice(0, 1));
    await store.finishPoll(T, T);
    expect(indexes(store)).toContain('jobs_queued_newest');
  });

  it('past it the index is dropped and claims go in listing order; finishPoll builds it and claims go newest first', async () => {
    await store.startPoll(T);
    await store.upsertPage(page(0, 3), T);
    expect(await claim(store, 1)).toEqual(['k1']); // newest of k0..k2, the index is still there
    await store.upsertPage(page(3, 3), T + 1);
    expect(indexes(store)).toEqual(['jobs_queued_run_at']);
    expect([...(await claim(store, 1)), ...(await claim(store, 1))]).toEqual(['k0', 'k2']); // listing order
    await store.upsertPage(page(6, 4), T + 2);
    await store.finishPoll(T + 9000, T + 3);
    expect(indexes(store)).toEqual(['jobs_queued_newest', 'jobs_queued_run_at', 'jobs_state']);
    expect(await claim(store, 3)).toEqual(newestFirst([3, 4, 5, 6, 7, 8, 9]).slice(0, 3));
    // the next poll is not a first listing: the index stays, however many keys it lists
    await store.startPoll(T + 10);
    await store.upsertPage(page(10, 2 * DEFER), T + 10);
    expect(indexes(store)).toContain('jobs_queued_newest');
    await store.finishPoll(T + 9000, T + 11);
  });

  it('a failed first listing builds it too, and so does the next claim after a crash', async () => {
    await store.startPoll(T);
    await store.upsertPage(page(0, DEFER), T);
    expect(indexes(store)).not.toContain('jobs_queued_newest');
    await store.failPoll('HTTP 503', 'http_5xx', T + 1);
    expect(indexes(store)).toContain('jobs_queued_newest');
    expect(await claim(store, 1)).toEqual(newestFirst([0, 1, 2, 3]).slice(0, 1));

    // the failed listing left no mark: the next poll is a first listing again; the process dies in it
    await store.startPoll(T + 2);
    await store.upsertPage(page(4, DEFER), T + 2);
    expect(indexes(store)).toEqual(['jobs_queued_run_at']);
    await store.close();
    store = open();
    expect(indexes(store)).toEqual(['jobs_queued_run_at']);
    expect(await store.counts()).toMatchObject({ queued: 7, running: 1 }); // without jobs_state: a scan
    expect(await claim(store, 2)).toEqual(newestFirst([0, 2, 3, 4, 5, 6, 7]).slice(0, 2));
    expect(indexes(store)).toEqual(['jobs_queued_newest', 'jobs_queued_run_at', 'jobs_state']);
  });

  it("another order's index is built at its next claim", async () => {
    expect(await claim(store, 1, 'smallest-first')).toEqual([]);
    expect(indexes(store)).toContain('jobs_queued_smallest');
    await store.startPoll(T);
    await store.upsertPage(page(0, DEFER + 2), T);
    expect(indexes(store)).toEqual(['jobs_queued_run_at']);
    expect(await claim(store, 1, 'smallest-first')).toEqual(['k0']);
    await store.finishPoll(T + 9000, T + 1);
    expect(await claim(store, 2, 'smallest-first')).toEqual(['k1', 'k2']);
    expect(indexes(store)).toEqual(['jobs_queued_newest', 'jobs_queued_run_at', 'jobs_queued_smallest', 'jobs_state']);
  });

  it("a claim window in listing order starts the jobs it hands out first in the configured order, not the first listed", async () => {
    await store.startPoll(T);
    await store.upsertPage(page(0, 6), T);
    expect(indexes(store)).toEqual(['jobs_queued_run_at']); // listing order: k0, k1, k2 are picked
    const jobs = await store.claimWindow(3, { owner: 'w', leaseMs: 60_000, now: T + 60_000, order: 'newest-first', start: 1 }, () => null);
    expect(jobs.map((j) => j.key)).toEqual(newestFirst([0, 1, 2])); // k1, k2, k0
    const started = store.db.prepare('SELECT key FROM jobs WHERE started_at IS NOT NULL').pluck().all();
    expect(started).toEqual([jobs[0]!.key]); // the one a worker takes at once; the others wait unstarted
    await store.finishPoll(T + 9000, T + 1);
  });

  it('the page cache is 8 MiB between polls, 4 MiB in a first listing and 16 MiB in a later poll', async () => {
    const cacheKib = () => -(store.db.pragma('cache_size', { simple: true }) as number);
    expect(cacheKib()).toBe(8192);
    await store.startPoll(T);
    expect(cacheKib()).toBe(4096);
    await store.upsertPage(page(0, DEFER + 2), T);
    await store.finishPoll(T + 9000, T + 1);
    expect(cacheKib()).toBe(8192);
    await store.startPoll(T + 10);
    expect(cacheKib()).toBe(16384);
    await store.failPoll('the API went away', 'network', T + 11);
    expect(cacheKib()).toBe(8192);
    await store.startPoll(T + 20);
    await store.finishPoll(T + 9000, T + 21);
    expect(cacheKib()).toBe(8192);
  });
});
