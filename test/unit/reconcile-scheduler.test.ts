// A failed reconcile is classified once, with the state directory (house style: errors classified
// once): no space for a file under state.dir is the state's disk, both in the last reconcile's status
// and in what the pause handler is given.
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { compileFilter } from '../../src/config/filters.js';
import { ReconcileScheduler, type ReconcileSchedulerDeps } from '../../src/daemon/reconcile-scheduler.js';
import type { SyncError } from '../../src/errors.js';
import { createLogger } from '../../src/lib/logger.js';

const STATE_DIR = path.resolve('/var/lib/constellr-sync');

function scheduler(failure: Error, pausedBy: (e: unknown) => boolean): ReconcileScheduler {
  const rt = {
    api: {},
    store: {
      startReconcile: async () => {
        throw failure;
      },
    },
    logger: createLogger({ level: 'silent' }),
    clock: () => Date.now(),
    root: '/srv/mirror',
    config: { state: { dir: STATE_DIR } },
  } as unknown as ReconcileSchedulerDeps['rt'];
  return new ReconcileScheduler({
    rt,
    settings: {
      schedule: 'off',
      timezone: 'UTC',
      filter: compileFilter({ include: [], exclude: [], minSize: 0, maxSize: null, sinceMs: null }),
      listing: { pageSize: 100, pageRetries: 0, deletePolicy: 'delete', maxDelete: { count: 0, percent: 0 }, unreachable: 'retry', maxPages: 0, pruneFolders: false },
    } as unknown as ReconcileSchedulerDeps['settings'],
    catalog: null,
    onPage: () => undefined,
    onAuthRejected: () => undefined,
    pausedBy,
  });
}

describe('ReconcileScheduler: a failed reconcile', () => {
  it('records no space for a file under state.dir as the state disk full, the same error the pause handler gets', async () => {
    const enospc = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', path: path.join(STATE_DIR, 'state.db-wal') });
    const paused: unknown[] = [];
    const reconciles = scheduler(enospc, (e) => paused.push(e) > 0);
    expect(await reconciles.run()).toBeNull();
    const last = reconciles.last!.error as SyncError;
    expect(last).toMatchObject({ kind: 'state_full', code: 'SYNC_STATE_DISK_FULL' });
    expect(paused).toEqual([last]);
    expect(paused[0]).toBe(last);
  });

  it('records no space elsewhere as the mirror disk full', async () => {
    const enospc = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', path: '/srv/mirror/a.bin' });
    const reconciles = scheduler(enospc, () => false);
    await reconciles.run();
    expect(reconciles.last!.error).toMatchObject({ kind: 'disk_full', code: 'SYNC_MIRROR_DISK_FULL' });
  });
});
