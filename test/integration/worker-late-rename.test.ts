// When the commit after a rename finds the lease lost (the rename may have put an older version over
// a newer one another worker committed), the worker queues the key again at once, so the newer
// version is fetched and the mirror converges (issue 11 §6, the part that holds on every backend).
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Agent } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { TokenManager } from '../../src/api/auth.js';
import { ApiClient } from '../../src/api/client.js';
import { AssetsSource } from '../../src/api/assets-source.js';
import { Secret } from '../../src/lib/secret.js';
import { createLogger } from '../../src/lib/logger.js';
import { startSimulator } from '../../src/simulator/index.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import type { StateStore } from '../../src/store/types.js';
import { processJob, type WorkerContext } from '../../src/sync/worker.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

describe('a late rename', () => {
  it('is followed by a requeue of the key when the commit finds the lease lost', async () => {
    const KEY = 'a/scene.tif';
    const sim = await startSimulator({ adminPort: false, assets: [{ key: KEY, size: 4096, lastModified: Date.UTC(2026, 0, 1) }] });
    cleanups.push(() => sim.close());
    const dispatcher = new Agent({ connections: 2 });
    cleanups.push(() => dispatcher.close());
    const api = new AssetsSource(new ApiClient({ baseUrl: sim.url, dispatcher, tokens: new TokenManager({ baseUrl: sim.url, username: sim.username, password: new Secret(sim.password), dispatcher, encoding: 'auto' }) }));
    const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'cs-late-'));
    cleanups.push(() => fsp.rm(dir, { recursive: true, force: true }));
    const root = path.join(dir, 'mirror');
    await fsp.mkdir(root);
    const real = await SqliteStore.open(path.join(dir, 'state'), { maxAttempts: 5 });
    cleanups.push(() => real.close());
    const a = sim.inventory.get(KEY)!;
    await real.upsertPage([{ key: KEY, lastModifiedMs: a.lastModifiedMs, size: a.size, etag: a.etag }], Date.now());
    const [job] = await real.claimJobs(1, { owner: 'a/w0', leaseMs: 60_000, now: Date.now(), order: 'key' });

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
    const ctx: WorkerContext = {
      api,
      store,
      root,
      logger,
      clock: Date.now,
      settings: { leaseMs: 60_000, quickRetries: 0, backoff: { baseMs: 100, maxMs: 1000 }, freeSpaceReserve: 0, minDownloadRate: 1024 },
      activeStaging: new Set(),
      events: {},
      shutdownSignal: new AbortController().signal,
    };
    expect(await processJob(ctx, job!)).toBe('lost');
    expect(stolen, lines.join('')).toBe(true);
    // The key is queued again at once (the file A renamed may be older than B's commit).
    expect(await real.getJob(KEY)).toMatchObject({ state: 'queued', attempts: 0, errorClass: 'stale_file' });
    expect(lines.some((l) => l.includes('the key is fetched again'))).toBe(true);
  });
});
