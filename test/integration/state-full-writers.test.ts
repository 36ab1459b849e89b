// Every writer of the state that can meet a full state disk reaches the same pause: a claim (the
// worker loop), the start of a window job, the group commit, a poll, a reconcile and the lease sweep. The store of an in-process engine is
// made to answer SQLITE_FULL, one writer at a time; each closes the gate with reason state_full
// (its context named in the one pause line), no worker loop logs an error or spins, and once the
// writes work again everything is mirrored. The real full filesystem is fault-state-disk-full.test.ts.
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { Engine } from '../../src/daemon/engine.js';
import { openRuntime } from '../../src/daemon/runtime.js';
import { createLogger } from '../../src/lib/logger.js';
import { AssetInventory, startSimulator, type Simulator } from '../../src/simulator/index.js';
import { credentials, makeAssets } from '../helpers/fault-daemon.js';
import { tempDirs, verifyMirror, waitUntil, type TempDirs } from '../helpers/harness.js';

const KiB = 1024;
const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

type Line = { msg?: string; reason?: string; err?: unknown };
// Each writer: the store method that fails and how many new files give it work. Three files for two
// workers: one claim takes them all, and the third waits in the window until a worker starts it.
const WRITERS = {
  claim: { method: 'claimWindow', files: 1 },
  'window start': { method: 'markStartedMany', files: 3 },
  'group commit': { method: 'commitPlacedBatch', files: 1 },
  poll: { method: 'upsertPage', files: 1 },
  reconcile: { method: 'startReconcile', files: 1 },
  'lease sweep': { method: 'sweepExpiredLeases', files: 1 },
} as const;

describe('a full state disk, met by each writer', () => {
  it('claims, window starts, the group commit, a poll, a reconcile and the lease sweep each pause the gate as state_full; nothing is lost', async () => {
    const sim: Simulator = await startSimulator({ port: 0, adminPort: false, inventory: new AssetInventory(makeAssets('sw', [8 * KiB, 8 * KiB])) });
    cleanups.push(() => sim.close());
    const d: TempDirs = await tempDirs('state-full-writers');
    cleanups.push(() => d.cleanup());
    const config = loadConfig({
      env: credentials(sim),
      flags: { 'api-url': sim.url, 'mirror-dir': d.mirror, 'state-dir': d.state },
      defaults: { 'http.enabled': false, 'sync.schedule': '0 0 1 1 *', 'sync.reconcileSchedule': 'off', 'sync.leaseDuration': '2s', 'sync.concurrency': 2 },
    });
    const lines: Line[] = [];
    const rt = await openRuntime(config, createLogger({ level: 'info', destination: { write: (l: string) => void lines.push(JSON.parse(l) as Line) } }));
    // The store answers SQLITE_FULL from the writers in `failing`, as better-sqlite3 does on a full disk.
    const failing = new Set<string>();
    const store = rt.store as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
    for (const { method } of Object.values(WRITERS)) {
      const real = store[method]!.bind(rt.store);
      store[method] = async (...a: unknown[]) => {
        if (failing.has(method)) throw Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
        return await real(...a);
      };
    }
    const engine = new Engine(rt, { mode: 'continuous', probeIntervalMs: 100 });
    const handle = await engine.start();
    cleanups.push(async () => {
      await handle.stop();
      await rt.close();
    });
    const pauseBy = (context: string) =>
      lines.find((l) => l.msg === 'pausing downloads until this clears' && l.reason === 'state_full' && String(l.err).startsWith(`${context}: no space left on the state filesystem (SQLITE_FULL)`));
    const done = () => engine.pool.stats.done;
    await waitUntil(() => done() === 2, 15_000, 20, 'the first two files');

    let n = 2;
    for (const [context, { method, files }] of Object.entries(WRITERS)) {
      failing.add(method);
      // Work for the writer to do: new assets (polled, or listed by the reconcile, now), claimed,
      // downloaded and committed.
      sim.inventory.putMany(makeAssets(`sw-${n}`, Array.from({ length: files }, () => 8 * KiB), Date.now() - 60_000));
      n += files;
      if (context === 'reconcile') void engine.reconcile();
      else void engine.poll();
      await waitUntil(() => pauseBy(context) !== undefined, 20_000, 20, `a state_full pause from the ${context}`);
      failing.delete(method);
      // Writes work again: the probe (the state directory has room) reopens the gate, and the new file
      // is mirrored (after its lease expires, when its outcome could not be recorded).
      await waitUntil(() => engine.gate.state().open, 10_000, 20, `the gate to reopen after the ${context}`);
      void engine.poll();
      await waitUntil(async () => (await rt.store.counts()).done === n, 20_000, 50, `all ${n} mirrored after the ${context}`);
    }
    expect(lines.filter((l) => l.msg === 'worker loop error; backing off')).toEqual([]);
    expect(lines.filter((l) => l.msg === 'maintenance failed')).toEqual([]);
    expect(await rt.store.counts()).toMatchObject({ done: n, queued: 0, running: 0, failed: 0 });
    expect(await verifyMirror(d.mirror, sim.inventory.values())).toEqual([]);
  });
});
