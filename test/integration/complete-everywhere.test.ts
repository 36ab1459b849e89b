// One meaning of "complete" and one count on every surface (issue 25, item 5). The same state, 1 asset
// gone (404) of 6, read through `status`, `status --json`, `status --check`, /api/status, the
// server-rendered page and /metrics: each says "complete except 1 gone" and "5 of 6", and the page
// names the problem at the top and puts the Problems section before the history. A second scenario
// (one failed, one gone) reads "incomplete: 1 failed, 1 gone" everywhere, with 0 on the metric.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { Engine } from '../../src/daemon/engine.js';
import { Operations } from '../../src/daemon/operations.js';
import { openRuntime } from '../../src/daemon/runtime.js';
import { createLogger } from '../../src/lib/logger.js';
import { SyncMetrics } from '../../src/ops/metrics.js';
import { AssetInventory, startSimulator, type Simulator } from '../../src/simulator/index.js';
import { runCli, tempDirs, testSeed } from '../helpers/harness.js';

const seed = testSeed();
const T0 = Date.UTC(2026, 9, 1);
const GONE = 'withdrawn/scene.tif';
const UNSAFE = 'x/../escape.bin';
let sim: Simulator;
const cleanups: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  const assets = [...Array.from({ length: 5 }, (_, i) => ({ key: `ok/f-${i}.bin`, size: 1000 + i, lastModified: T0 + i * 1000, seed: `s${i}` })), { key: GONE, size: 20, lastModified: T0 + 10_000 }];
  sim = await startSimulator({ port: 0, adminPort: false, inventory: new AssetInventory(assets), faults: { notFoundKeys: [GONE] }, seed });
});
afterAll(async () => {
  await sim.close();
});
afterEach(async (ctx) => {
  if (ctx.task.result?.state === 'fail') console.error(`complete-everywhere: failed with TEST_SEED=${seed}`);
  while (cleanups.length) await cleanups.pop()!().catch(() => undefined);
});

/** A daemon's runtime and ops endpoint in this process, one drained sync; then every surface read. */
async function surfaces() {
  const dirs = await tempDirs('complete');
  cleanups.push(() => dirs.cleanup());
  const flags = { 'api-url': sim.url, 'mirror-dir': dirs.mirror, 'state-dir': dirs.state };
  const config = loadConfig({ env: { CONSTELLR_USERNAME: sim.username, CONSTELLR_PASSWORD: sim.password }, flags, defaults: { 'sync.quickRetries': 0 } });
  const log = createLogger({ level: 'silent' });
  const ops = new Operations(config, log, new SyncMetrics({ defaultMetrics: false }));
  const rt = await openRuntime(config, log, ops.runtimeOptions());
  cleanups.push(() => rt.close());
  const engine = new Engine(rt, { mode: 'drain', probeIntervalMs: 100, ...ops.engineOptions() });
  await ops.attach(rt, engine, { http: true, listen: '127.0.0.1:0' });
  cleanups.push(() => ops.stop(0));
  await engine.syncOnce();
  const url = ops.http!.url;
  const cliFlags = Object.entries(flags).flatMap(([k, v]) => [`--${k}`, v]);
  const text = await runCli(['status', ...cliFlags]);
  const json = await runCli(['status', '--json', ...cliFlags]);
  const check = await runCli(['status', '--check', ...cliFlags]);
  return {
    text,
    json: JSON.parse(json.stdout) as Record<string, any>,
    check,
    api: (await (await fetch(`${url}/api/status`)).json()) as Record<string, any>,
    html: await (await fetch(`${url}/`)).text(),
    metrics: await (await fetch(`${url}/metrics`)).text(),
  };
}

describe('one meaning of complete, one count, everywhere', () => {
  it('1 gone of 6: "complete except 1 gone", 5 of 6, on status, --json, --check, /api/status, the page and /metrics', async () => {
    const s = await surfaces();
    // status (text): the first line
    expect(s.text.code, s.text.stderr).toBe(0);
    expect(s.text.stdout.split('\n')[0]).toMatch(/^mirror: +complete except 1 gone: 5 of 6 assets mirrored, .*; 0 to do, 0 failed, 1 gone$/);
    // status --json
    expect(s.json).toMatchObject({ complete: true, completeness: { complete: true, state: 'complete', summary: 'complete except 1 gone', done: 5, total: 6, gone: 1, failed: 0, toDo: 0 } });
    // status --check: exit 0, the same words and count
    expect(s.check.code, s.check.stdout).toBe(0);
    expect(s.check.stdout.trim()).toMatch(/^OK: mirror complete except 1 gone: 5 of 6 assets mirrored; last successful poll /);
    // /api/status: the report's completeness, and overall agrees with it
    expect(s.api.completeness).toEqual(s.json.completeness);
    expect(s.api.overall).toMatchObject({ complete: true, assets: { done: 5, total: 6 } });
    // the page: the headline, the count, the problem named at the top, Problems before the history
    expect(s.html).toContain('id="overall-state" data-state="complete">Mirror complete except 1 gone</p>');
    expect(s.html).toMatch(/id="assets-done">5<\/strong> of <strong id="assets-total">6<\/strong> assets mirrored/);
    expect(s.html).toMatch(/id="problem-line">Problems: 1 gone \(<a href="#problems">/);
    expect(s.html.indexOf('id="problems"')).toBeGreaterThan(0);
    expect(s.html.indexOf('id="problems"')).toBeLessThan(s.html.indexOf('id="history"'));
    expect(s.html.indexOf('id="problem-line"')).toBeLessThan(s.html.indexOf('id="now"'));
    // metrics: complete by the same definition, the gone asset counted
    expect(s.metrics).toMatch(/^constellr_sync_complete 1$/m);
    expect(s.metrics).toMatch(/^constellr_sync_assets\{state="gone"\} 1$/m);
    expect(s.metrics).toMatch(/^constellr_sync_assets\{state="done"\} 5$/m);
  });

  it('1 failed and 1 gone of 7: "incomplete: 1 failed, 1 gone", 5 of 7, everywhere; --check exits 1; the metric is 0', async () => {
    sim.inventory.put({ key: UNSAFE, size: 10, lastModified: T0 + 20_000 });
    cleanups.push(async () => sim.inventory.remove(UNSAFE));
    const s = await surfaces();
    expect(s.text.stdout.split('\n')[0]).toMatch(/^mirror: +incomplete: 1 failed, 1 gone: 5 of 7 assets mirrored, .*; 0 to do, 1 failed, 1 gone$/);
    expect(s.json).toMatchObject({ complete: false, completeness: { state: 'failed', summary: 'incomplete: 1 failed, 1 gone', done: 5, total: 7 } });
    expect(s.check.code, s.check.stdout).toBe(1);
    expect(s.check.stdout.trim()).toMatch(/^FAILED: mirror incomplete: 1 failed, 1 gone: 5 of 7 assets mirrored; last successful poll /);
    expect(s.api.completeness).toEqual(s.json.completeness);
    expect(s.html).toContain('data-state="problems">Mirror incomplete: 1 failed, 1 gone</p>');
    expect(s.html).toMatch(/id="assets-done">5<\/strong> of <strong id="assets-total">7<\/strong>/);
    expect(s.html).toMatch(/id="problem-line">Problems: 1 failed, 1 gone \(/);
    expect(s.metrics).toMatch(/^constellr_sync_complete 0$/m);
  });
});
