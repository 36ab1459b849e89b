// When the commit after a rename finds the lease lost (the rename may have put an older version over
// a newer one another worker committed), the worker queues the key again at once, so the newer
// version is fetched and the mirror converges (issue 11 §6, the part that holds on every backend).
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/lib/logger.js';
import type { StateStore } from '../../src/store/types.js';
import { processJob } from '../../src/sync/worker.js';
import { oneClaimedJob } from '../helpers/one-job.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

describe('a late rename', () => {
  it('is followed by a requeue of the key when the commit finds the lease lost', async () => {
    const KEY = 'a/scene.tif';
    const { store: real, job, context } = await oneClaimedJob(KEY, cleanups);

    // Right after A's rename, another worker takes the job over (A's lease expired) and commits it.
    let stolen = false;
    const commitPlaced: StateStore['commitPlaced'] = (id, token, place, r) =>
      real.commitPlaced(
        id,
        token,
        async () => {
          await place();
          const later = Date.now() + 120_000;
          await real.sweepExpiredLeases(later);
          const [b] = await real.claimJobs(1, { owner: 'b/w0', leaseMs: 60_000, now: later, order: 'key' });
          expect(await real.complete(b!.id, b!.leaseToken, { localPath: KEY, bytes: 4096, sha256: 'newer', now: later })).toBe('done');
          stolen = true;
        },
        r,
      );
    const store = new Proxy(real, {
      get: (t, p) => (p === 'commitPlaced' ? commitPlaced : typeof Reflect.get(t, p) === 'function' ? (Reflect.get(t, p) as (...a: unknown[]) => unknown).bind(t) : Reflect.get(t, p)),
    }) as StateStore;
    const lines: string[] = [];
    const logger = createLogger({ level: 'info', destination: { write: (l: string) => void lines.push(l) } as never });
    const ctx = context({ store, logger });
    expect(await processJob(ctx, job)).toBe('lost');
    expect(stolen, lines.join('')).toBe(true);
    // The key is queued again at once (the file A renamed may be older than B's commit).
    expect(await real.getJob(KEY)).toMatchObject({ state: 'queued', attempts: 0, errorClass: 'stale_file' });
    expect(lines.some((l) => l.includes('the key is fetched again'))).toBe(true);
  });
});
