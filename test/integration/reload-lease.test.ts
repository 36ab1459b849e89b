// A live reload (SIGHUP) that shortens sync.leaseDuration must shorten the heartbeat of downloads
// already in flight: with the old interval (a third of the old lease) their lease would expire under
// them, the lease sweep would queue the key again, and a second worker would download it twice.
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { Engine } from '../../src/daemon/engine.js';
import { openRuntime } from '../../src/daemon/runtime.js';
import { applyReload } from '../../src/daemon/reload.js';
import { createLogger } from '../../src/lib/logger.js';
import { AssetInventory, startSimulator, type Simulator } from '../../src/simulator/index.js';
import { parseTimetable } from '../../src/config/timetable.js';
import { credentials, makeAssets } from '../helpers/fault-daemon.js';
import { tempDirs, waitUntil, type TempDirs } from '../helpers/harness.js';

const KiB = 1024;
const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

describe('reload of sync.leaseDuration', () => {
  it('downloads in flight renew their lease at the new, shorter interval', async () => {
    const s: Simulator = await startSimulator({ port: 0, adminPort: false, inventory: new AssetInventory(makeAssets('ls', [96 * KiB])) });
    cleanups.push(() => s.close());
    const d: TempDirs = await tempDirs('reload-lease');
    cleanups.push(() => d.cleanup());
    const load = (defaults: Record<string, unknown>) =>
      loadConfig({ env: credentials(s), flags: { 'api-url': s.url, 'mirror-dir': d.mirror, 'state-dir': d.state }, defaults: { 'http.enabled': false, 'sync.schedule': '0 0 1 1 *', 'sync.reconcileSchedule': 'off', ...defaults } });
    // 96 KiB at 8 KiB/s: the download is still running well after the reload.
    const first = load({ 'sync.concurrency': 1, 'sync.bandwidth': '8KiB/s', 'sync.leaseDuration': '30m' });
    const rt = await openRuntime(first, createLogger({ level: 'silent' }));
    const engine = new Engine(rt, { mode: 'continuous' });
    const handle = await engine.start();
    const db = new Database(path.join(d.state, 'state.db'), { readonly: true });
    const leaseUntil = () => (db.prepare("SELECT lease_until FROM jobs WHERE state = 'running'").pluck().get() as number | undefined) ?? null;
    try {
      await waitUntil(() => engine.pool.inFlight.size === 1, 10_000, 20, 'the download to start');
      const before = leaseUntil();
      expect(before).not.toBeNull();
      expect(before! - Date.now()).toBeGreaterThan(20 * 60_000);
      const report = await applyReload(engine, load({ 'sync.concurrency': 1, 'sync.bandwidth': '8KiB/s', 'sync.leaseDuration': '3s', 'sync.maxListingPages': 50 }));
      expect(report.applied.map((c) => [c.key, c.when])).toEqual([
        ['sync.leaseDuration', 'now'],
        ['sync.maxListingPages', 'next poll'],
      ]);
      expect(engine.config.sync.maxListingPages).toBe(50);
      // A heartbeat at the new interval (1 s) renews the lease for 3 s, long before the old one (10 min) would.
      await waitUntil(() => {
        const u = leaseUntil();
        return u !== null && u - Date.now() < 10_000;
      }, 8_000, 50, 'a heartbeat with the new lease');
      // and keeps renewing it: the lease never lapses while the download runs
      const firstRenewal = leaseUntil()!;
      await waitUntil(() => (leaseUntil() ?? 0) > firstRenewal, 8_000, 50, 'the next heartbeat');
      engine.bandwidth.setTimetable(parseTimetable('unlimited'));
      await waitUntil(() => engine.pool.stats.done === 1, 15_000, 50, 'the download to finish');
      expect(engine.pool.stats.outcomes).toEqual({ done: 1 });
    } finally {
      db.close();
      engine.bandwidth.setTimetable(parseTimetable('unlimited'));
      await handle.stop();
      await rt.close();
    }
  });
});
