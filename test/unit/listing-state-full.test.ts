// A poll or a reconcile that cannot write a file under state.dir (ENOSPC/EDQUOT) classifies the
// failure with the state directory, once: the state's disk is full (state_full, a pause), not the
// mirror's. Classified without it, the error left pollOnce/reconcileOnce as mirror disk_full, was
// recorded so in the status, and the schedulers' pause handler (which keeps a SyncError as it is)
// never paused.
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/lib/logger.js';
import { pollOnce } from '../../src/sync/poller.js';
import { reconcileOnce } from '../../src/sync/reconcile-listing.js';
import type { PollStore, ReconcileStore } from '../../src/store/types.js';
import { fakeApiWithStore, isoS, type ListingAnswer } from '../helpers/fake-api.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

const T = Math.floor(Date.now() / 1000) * 1000 - 86_400_000;
const onePage = (): ListingAnswer => ({ page: { Contents: [{ Key: 'a/1.tif', LastModified: isoS(T), Size: 1 }], IsTruncated: false } });

/** The store, whose upsertPage fails with ENOSPC on `file` (the other methods bound to the store). */
function fullAt<S extends object>(store: S, file: string): S {
  return new Proxy(store, {
    get(target, prop) {
      if (prop === 'upsertPage')
        return async () => {
          throw Object.assign(new Error(`ENOSPC: no space left on device, write '${file}'`), { code: 'ENOSPC', syscall: 'write', path: file });
        };
      const v = Reflect.get(target, prop, target) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

const logger = createLogger({ level: 'silent' });

describe('a poll that meets a full disk', () => {
  it('is the state disk full when the file is under state.dir: thrown and recorded as state_full', async () => {
    const { api, store, dirs } = await fakeApiWithStore('poll-state-full', onePage, cleanups);
    const err = await pollOnce({ api, store: fullAt<PollStore>(store, path.join(dirs.state, 'catalog.tmp')), logger, clock: Date.now, stateDir: dirs.state, settings: { pageSize: 100, lookbackMs: 0, sinceMs: null, pageRetries: 0 } }).catch((e: unknown) => e);
    expect(err).toMatchObject({ kind: 'state_full', code: 'SYNC_STATE_DISK_FULL', message: 'poll: no space left on the state filesystem (ENOSPC)' });
    expect(await store.getCursor()).toMatchObject({ pollErrorClass: 'state_full' });
  });

  it('is the mirror disk full when the file is elsewhere', async () => {
    const { api, store, dirs } = await fakeApiWithStore('poll-mirror-full', onePage, cleanups);
    const err = await pollOnce({ api, store: fullAt<PollStore>(store, path.join(dirs.mirror, 'a.tif')), logger, clock: Date.now, stateDir: dirs.state, settings: { pageSize: 100, lookbackMs: 0, sinceMs: null, pageRetries: 0 } }).catch((e: unknown) => e);
    expect(err).toMatchObject({ kind: 'disk_full', code: 'SYNC_MIRROR_DISK_FULL' });
    expect(await store.getCursor()).toMatchObject({ pollErrorClass: 'disk_full' });
  });
});

describe('a reconcile that meets a full disk', () => {
  it('is the state disk full when the file is under state.dir: thrown and recorded as state_full', async () => {
    const { api, store, dirs } = await fakeApiWithStore('reconcile-state-full', onePage, cleanups);
    const err = await reconcileOnce({
      api,
      store: fullAt<ReconcileStore>(store, path.join(dirs.state, 'catalog.tmp')),
      logger,
      clock: Date.now,
      root: dirs.mirror,
      stateDir: dirs.state,
      settings: { pageSize: 100, pageRetries: 0, deletePolicy: 'keep', maxDelete: { count: 10 } },
    }).catch((e: unknown) => e);
    expect(err).toMatchObject({ kind: 'state_full', code: 'SYNC_STATE_DISK_FULL', message: 'reconcile: no space left on the state filesystem (ENOSPC)' });
    expect(await store.lastReconcile()).toMatchObject({ errorClass: 'state_full' });
  });
});
