// A small file's partial stays open after its transfer for the group commit's fsync (deferSync). When
// the job's signal aborts (shutdown, a lost lease) right as the transfer succeeds, lib/retry.ts
// throws the abort instead of returning the result: that partial must be closed all the same, not
// left to the garbage collector.
import { promises as fsp, type FileHandle } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Agent } from 'undici';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { TokenManager } from '../../src/api/auth.js';
import { ApiClient } from '../../src/api/client.js';
import { AssetsSource } from '../../src/api/assets-source.js';
import { Secret } from '../../src/lib/secret.js';
import { createLogger } from '../../src/lib/logger.js';
import { startSimulator } from '../../src/simulator/index.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import { CommitBatcher } from '../../src/download/group-commit.js';
import { processJob, type WorkerContext } from '../../src/sync/worker.js';

const hooks = vi.hoisted(() => ({ afterTransfer: null as null | ((handle: FileHandle | undefined) => void) }));

vi.mock('../../src/download/transfer.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/download/transfer.js')>();
  return {
    ...real,
    transferToStaging: async (input: Parameters<typeof real.transferToStaging>[0]) => {
      const result = await real.transferToStaging(input);
      hooks.afterTransfer?.(result.handle);
      return result;
    },
  };
});

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  hooks.afterTransfer = null;
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

describe('a batched partial when the job aborts as its transfer succeeds', () => {
  it('is closed, and the job is released', async () => {
    const KEY = 'a/small.bin';
    const sim = await startSimulator({ adminPort: false, assets: [{ key: KEY, size: 4096, lastModified: Date.UTC(2026, 0, 1) }] });
    cleanups.push(() => sim.close());
    const dispatcher = new Agent({ connections: 2 });
    cleanups.push(() => dispatcher.close());
    const api = new AssetsSource(new ApiClient({ baseUrl: sim.url, dispatcher, tokens: new TokenManager({ baseUrl: sim.url, username: sim.username, password: new Secret(sim.password), dispatcher, encoding: 'auto' }) }));
    const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'cs-handle-'));
    cleanups.push(() => fsp.rm(dir, { recursive: true, force: true }));
    const root = path.join(dir, 'mirror');
    await fsp.mkdir(root);
    const store = await SqliteStore.open(path.join(dir, 'state'), { maxAttempts: 5 });
    cleanups.push(() => store.close());
    const a = sim.inventory.get(KEY)!;
    await store.upsertPage([{ key: KEY, lastModifiedMs: a.lastModifiedMs, size: a.size, etag: a.etag }], Date.now());
    const [job] = await store.claimJobs(1, { owner: 'a/w0', leaseMs: 60_000, now: Date.now(), order: 'key' });
    const logger = createLogger({ level: 'error', destination: { write: () => undefined } as never });
    const shutdown = new AbortController();
    let handle: FileHandle | undefined;
    hooks.afterTransfer = (h) => {
      handle = h;
      shutdown.abort(new Error('shutting down'));
    };
    const ctx: WorkerContext = {
      api,
      store,
      root,
      logger,
      clock: Date.now,
      settings: { leaseMs: 60_000, quickRetries: 0, backoff: { baseMs: 100, maxMs: 1000 }, freeSpaceReserve: 0, minDownloadRate: 1024 },
      activeStaging: new Set(),
      events: {},
      shutdownSignal: shutdown.signal,
      commits: new CommitBatcher({ store, root, logger, leaseMs: () => 60_000 }),
    };
    await processJob(ctx, job!);
    expect(handle).toBeDefined(); // the file took the batched path
    expect(handle!.fd).toBe(-1); // closed
    expect(await store.getJob(KEY)).toMatchObject({ state: 'queued' });
  });
});
