// Shutdown waits for a running reconcile (bounded by sync.gracePeriod) before the store is closed:
// closing it under a reconcile that is still writing marks would fail those writes half-way.
import { Writable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { Engine } from '../../src/daemon/engine.js';
import { openRuntime } from '../../src/daemon/runtime.js';
import { createLogger } from '../../src/lib/logger.js';
import { AssetInventory, startSimulator } from '../../src/simulator/index.js';
import { credentials, makeAssets } from '../helpers/fault-daemon.js';
import { tempDirs, waitUntil } from '../helpers/harness.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

async function daemon(grace: string) {
  const s = await startSimulator({ port: 0, adminPort: false, inventory: new AssetInventory(makeAssets('rc', [10, 20, 30])) });
  cleanups.push(() => s.close());
  const d = await tempDirs('shutdown-reconcile');
  cleanups.push(() => d.cleanup());
  const config = loadConfig({
    env: credentials(s),
    flags: { 'api-url': s.url, 'mirror-dir': d.mirror, 'state-dir': d.state },
    defaults: { 'http.enabled': false, 'sync.schedule': '0 0 1 1 *', 'sync.reconcileSchedule': 'off', 'sync.gracePeriod': grace },
  });
  const msgs: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _e, cb) {
      for (const l of chunk.toString().split('\n')) if (l.trim()) msgs.push((JSON.parse(l) as { msg: string }).msg);
      cb();
    },
  });
  const rt = await openRuntime(config, createLogger({ level: 'info', destination }));
  const engine = new Engine(rt, { mode: 'continuous' });
  const handle = await engine.start();
  await waitUntil(async () => (await rt.store.counts()).done === 3, 15_000, 20, 'the first sync');
  // The reconcile's writes stall until released (a slow database).
  let release!: () => void;
  const latch = new Promise<void>((r) => (release = r));
  let entered = false;
  const store = rt.store as unknown as { markListed: (...a: unknown[]) => Promise<unknown> };
  const markListed = store.markListed.bind(rt.store);
  store.markListed = async (...a: unknown[]) => {
    entered = true;
    await latch;
    return markListed(...a);
  };
  const reconcile = engine.reconcile();
  await waitUntil(() => entered, 10_000, 10, 'the reconcile to write');
  let stopped = false;
  const stopping = handle.stop().then(() => (stopped = true));
  return { rt, engine, msgs, release, reconcile, stopping, isStopped: () => stopped };
}

describe('shutdown and a running reconcile', () => {
  it('stop() waits for the reconcile to finish before the store may be closed', async () => {
    const t = await daemon('30s');
    await waitUntil(() => t.msgs.includes('shutting down: waiting for the running reconcile') || t.isStopped(), 10_000, 10, 'stop to reach the reconcile');
    expect(t.isStopped()).toBe(false);
    t.release();
    await t.stopping;
    const r = await t.reconcile;
    expect(r).not.toBeNull();
    expect(r!.listed).toBe(3);
    expect(t.engine.lastReconcile?.ok).toBe(true);
    // recorded as finished in the state, then the store closes cleanly
    expect((await t.rt.store.lastReconcile())?.finishedAt).not.toBeNull();
    await t.rt.close();
  });

  it('the wait is bounded by the grace period', async () => {
    const t = await daemon('300ms');
    await waitUntil(() => t.isStopped(), 10_000, 10, 'stop after the grace period');
    expect(t.msgs).toContain('grace period over; the reconcile is still running and is abandoned (nothing it had not committed counts; the next reconcile redoes it)');
    t.release();
    await t.reconcile;
    await t.rt.close();
  });
});
