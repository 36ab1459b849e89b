// A failed poll is classified once, with the state directory (house style: errors classified once):
// no space for a file under state.dir is the state's disk, both in the last poll's status and in
// what the pause handler is given.
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { compileFilter } from '../../src/config/filters.js';
import { PollScheduler, type PollReport, type PollSchedulerDeps } from '../../src/daemon/poll-scheduler.js';
import type { SyncError } from '../../src/errors.js';
import { createLogger } from '../../src/lib/logger.js';

const STATE_DIR = path.resolve('/var/lib/constellr-sync');

function scheduler(startPoll: () => Promise<void>, pausedBy: (e: unknown) => boolean, onPoll: (r: PollReport) => void, more: { api?: object; store?: object } = {}): PollScheduler {
  const rt = {
    api: more.api ?? {},
    store: { getCursor: async () => ({ hwmMs: null }), startPoll, ...more.store },
    logger: createLogger({ level: 'silent' }),
    clock: () => Date.now(),
    owner: 'test',
    config: { state: { dir: STATE_DIR } },
  } as unknown as PollSchedulerDeps['rt'];
  return new PollScheduler({
    rt,
    settings: {
      schedule: '0 0 1 1 *',
      timezone: 'UTC',
      pollerLeaseMs: 60_000,
      filter: compileFilter({ include: [], exclude: [], minSize: 0, maxSize: null, sinceMs: null }),
      listing: { pageSize: 100, lookbackMs: 0, sinceMs: null, pageRetries: 0 },
    },
    rescan: false,
    catalog: null,
    onPage: () => undefined,
    onRateLimited: () => undefined,
    onSucceeded: () => undefined,
    onAuthRejected: () => undefined,
    onPoll,
    pausedBy,
  });
}

describe('PollScheduler: a failed poll', () => {
  it('records no space for a file under state.dir as the state disk full, the same error the pause handler gets', async () => {
    const enospc = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', path: path.join(STATE_DIR, 'state.db-wal') });
    const paused: unknown[] = [];
    const reports: PollReport[] = [];
    const polls = scheduler(
      async () => {
        throw enospc;
      },
      (e) => paused.push(e) > 0,
      (r) => reports.push(r),
    );
    expect(await polls.poll()).toBeNull();
    const last = polls.last!.error as SyncError;
    expect(last).toMatchObject({ kind: 'state_full', code: 'SYNC_STATE_DISK_FULL' });
    expect(last.message).toBe('poll: no space left on the state filesystem (ENOSPC)');
    expect(reports).toMatchObject([{ ok: false, errorKind: 'state_full', errorClass: 'state_full' }]);
    expect(paused).toEqual([last]);
    expect(paused[0]).toBe(last);
  });

  it('passes state.dir to the poll: a page commit without space under state.dir pauses as the state disk full', async () => {
    const enospc = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', path: path.join(STATE_DIR, 'state.db-wal') });
    const failed: string[] = [];
    const paused: unknown[] = [];
    const polls = scheduler(
      async () => undefined,
      (e) => paused.push(e) > 0,
      () => undefined,
      {
        api: { listPage: async () => ({ items: [{ key: 'a.tif', lastModifiedMs: Date.now() - 60_000, size: 1, etag: null }], nextToken: null }) },
        store: {
          upsertPage: async () => {
            throw enospc;
          },
          failPoll: async (_m: string, errorClass: string) => void failed.push(errorClass),
        },
      },
    );
    expect(await polls.poll()).toBeNull();
    expect(polls.last!.error).toMatchObject({ kind: 'state_full', message: 'poll: no space left on the state filesystem (ENOSPC)' });
    expect(paused).toEqual([polls.last!.error]);
    expect(failed).toEqual(['state_full']);
  });

  it('records no space elsewhere as the mirror disk full', async () => {
    const enospc = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', path: '/srv/mirror/a.bin' });
    const polls = scheduler(
      async () => {
        throw enospc;
      },
      () => false,
      () => undefined,
    );
    await polls.poll();
    expect(polls.last!.error).toMatchObject({ kind: 'disk_full', code: 'SYNC_MIRROR_DISK_FULL' });
  });
});
