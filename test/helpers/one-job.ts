// One asset on a simulator, listed into a fresh SQLite state and claimed under one lease, with the
// worker context to process it: the set-up of the tests that drive processJob on a single job.
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Agent } from 'undici';
import { TokenManager } from '../../src/api/auth.js';
import { ApiClient } from '../../src/api/client.js';
import { AssetsSource } from '../../src/api/assets-source.js';
import { Secret } from '../../src/lib/secret.js';
import { startSimulator } from '../../src/simulator/index.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import type { ClaimedJob } from '../../src/store/types.js';
import type { WorkerContext } from '../../src/sync/worker.js';

export interface OneJob {
  api: AssetsSource;
  root: string;
  store: SqliteStore;
  job: ClaimedJob;
  /** A worker context for `store`; the caller adds what its test varies (store proxy, commits, signal). */
  context(over: Pick<WorkerContext, 'logger'> & Partial<WorkerContext>): WorkerContext;
}

/** `cleanups` receives what to close, in the order to undo it backwards. */
export async function oneClaimedJob(key: string, cleanups: (() => Promise<unknown>)[]): Promise<OneJob> {
  const sim = await startSimulator({ adminPort: false, assets: [{ key, size: 4096, lastModified: Date.UTC(2026, 0, 1) }] });
  cleanups.push(() => sim.close());
  const dispatcher = new Agent({ connections: 2 });
  cleanups.push(() => dispatcher.close());
  const api = new AssetsSource(new ApiClient({ baseUrl: sim.url, dispatcher, tokens: new TokenManager({ baseUrl: sim.url, username: sim.username, password: new Secret(sim.password), dispatcher, encoding: 'auto' }) }));
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'cs-one-job-'));
  cleanups.push(() => fsp.rm(dir, { recursive: true, force: true }));
  const root = path.join(dir, 'mirror');
  await fsp.mkdir(root);
  const store = await SqliteStore.open(path.join(dir, 'state'), { maxAttempts: 5 });
  cleanups.push(() => store.close());
  const a = sim.inventory.get(key)!;
  await store.upsertPage([{ key, lastModifiedMs: a.lastModifiedMs, size: a.size, etag: a.etag }], Date.now());
  const [job] = await store.claimJobs(1, { owner: 'a/w0', leaseMs: 60_000, now: Date.now(), order: 'key' });
  const context = (over: Pick<WorkerContext, 'logger'> & Partial<WorkerContext>): WorkerContext => ({
    api,
    store,
    root,
    clock: Date.now,
    settings: { leaseMs: 60_000, quickRetries: 0, backoff: { baseMs: 100, maxMs: 1000 }, freeSpaceReserve: 0, minDownloadRate: 1024 },
    activeStaging: new Set(),
    events: {},
    shutdownSignal: new AbortController().signal,
    ...over,
  });
  return { api, root, store, job: job!, context };
}
