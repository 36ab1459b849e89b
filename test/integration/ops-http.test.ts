// The operations endpoint: /healthz, /readyz (with its transitions, auth failure included) and
// /metrics (values move after a sync), in process against the simulator, plus the real `run` binary
// serving it. Build first for the CLI part: `npx tsc -p .`.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '../../src/config/load.js';
import { Engine } from '../../src/daemon/engine.js';
import { SyncError } from '../../src/errors.js';
import { Operations } from '../../src/daemon/operations.js';
import { SyncMetrics } from '../../src/ops/metrics.js';
import { openRuntime, type Runtime } from '../../src/daemon/runtime.js';
import { readiness, scheduleIntervalMs, parseListen } from '../../src/ops/http-server.js';
import { createLogger } from '../../src/lib/logger.js';
import { sampleInventory, startSimulator, type Simulator } from '../../src/simulator/index.js';
import { spawnProc } from '../helpers/fault-daemon.js';
import { tempDirs, testSeed, waitUntil, type TempDirs } from '../helpers/harness.js';

const seed = testSeed();
const log = createLogger({ level: 'silent' });
let sim: Simulator;
const cleanups: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  sim = await startSimulator({ port: 0, adminPort: false, inventory: sampleInventory(seed, { count: 12, maxSize: 96 * 1024 }), seed });
});
afterAll(async () => {
  await sim.close();
});
afterEach(async (ctx) => {
  if (ctx.task.result?.state === 'fail') console.error(`ops-http: failed with TEST_SEED=${seed}`);
  while (cleanups.length) await cleanups.pop()!().catch(() => undefined);
});

function configFor(dirs: TempDirs, extra: Record<string, unknown> = {}): Config {
  return loadConfig({
    env: { CONSTELLR_USERNAME: sim.username, CONSTELLR_PASSWORD: sim.password },
    flags: { 'api-url': sim.url, 'mirror-dir': dirs.mirror, 'state-dir': dirs.state, concurrency: '3' },
    defaults: { 'sync.quickRetries': 0, 'sync.reconcileSchedule': 'off', ...extra },
  });
}

/** Prometheus text → samples by full series name (`name{labels}`). */
function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

async function get(url: string): Promise<{ status: number; type: string; text: string }> {
  const r = await fetch(url);
  return { status: r.status, type: r.headers.get('content-type') ?? '', text: await r.text() };
}

async function setup(extra: Record<string, unknown> = {}, mode: 'drain' | 'continuous' = 'drain') {
  const dirs = await tempDirs('ops-http');
  cleanups.push(() => dirs.cleanup());
  const config = configFor(dirs, extra);
  const ops = new Operations(config, log, new SyncMetrics());
  const rt: Runtime = await openRuntime(config, log, ops.runtimeOptions());
  cleanups.push(() => rt.close());
  const engine = new Engine(rt, { mode, probeIntervalMs: 100, ...ops.engineOptions() });
  await ops.attach(rt, engine, { http: true, listen: '127.0.0.1:0' });
  cleanups.push(() => ops.stop(0));
  return { dirs, config, ops, rt, engine, url: ops.http!.url };
}

describe('/metrics', () => {
  it('serves Prometheus text whose values move after a sync', async () => {
    const { engine, url } = await setup();
    const before = await get(`${url}/metrics`);
    expect(before.status).toBe(200);
    expect(before.type).toMatch(/^text\/plain; version=0\.0\.4/);
    const m0 = parseMetrics(before.text);
    expect(m0.get('constellr_sync_assets{state="done"}')).toBe(0);
    expect(m0.get('constellr_sync_downloaded_bytes_total')).toBe(0);
    expect(m0.get('constellr_sync_high_water_mark_timestamp_seconds')).toBe(0);
    expect(m0.get('constellr_sync_last_successful_poll_timestamp_seconds')).toBe(0);
    // Default process metrics under their standard names.
    expect(m0.has('process_cpu_user_seconds_total')).toBe(true);
    expect(m0.has('nodejs_eventloop_lag_seconds')).toBe(true);

    const summary = await engine.syncOnce();
    expect(summary.stats.done).toBe(sim.inventory.size);

    const m1 = parseMetrics((await get(`${url}/metrics`)).text);
    const n = sim.inventory.size;
    expect(m1.get('constellr_sync_assets{state="done"}')).toBe(n);
    expect(m1.get('constellr_sync_assets{state="queued"}')).toBe(0);
    expect(m1.get('constellr_sync_downloads_total{result="done"}')).toBe(n);
    expect(m1.get('constellr_sync_downloaded_bytes_total')).toBe(sim.inventory.totalBytes);
    expect(m1.get('constellr_sync_download_size_bytes_count')).toBe(n);
    expect(m1.get('constellr_sync_download_size_bytes_sum')).toBe(sim.inventory.totalBytes);
    expect(m1.get('constellr_sync_download_duration_seconds_count')).toBe(n);
    expect(m1.get('constellr_sync_polls_total{result="ok"}')).toBe(1);
    expect(m1.get('constellr_sync_poll_duration_seconds_count{result="ok"}')).toBe(1);
    expect(m1.get('constellr_sync_token_renewals_total')).toBeGreaterThanOrEqual(1);
    const newest = Math.max(...[...sim.inventory.values()].map((a) => a.lastModifiedMs));
    expect(m1.get('constellr_sync_high_water_mark_timestamp_seconds')).toBe(newest / 1000);
    expect(m1.get('constellr_sync_last_successful_poll_timestamp_seconds')).toBeGreaterThan(0);
    expect(m1.get('constellr_sync_oldest_queued_job_age_seconds')).toBe(0);
    expect(m1.get('constellr_sync_backlog_bytes')).toBe(0);
    expect(m1.get('constellr_sync_mirror_free_bytes')).toBeGreaterThan(0);
  });

  it('build info, the paused / auth-failed / breaker-open gauges, and deleted_remote among the asset states', async () => {
    const { engine, url } = await setup();
    let m = parseMetrics((await get(`${url}/metrics`)).text);
    const info = [...m].find(([k]) => k.startsWith('constellr_sync_build_info{'));
    expect(info?.[1]).toBe(1);
    expect(info?.[0]).toMatch(/version="\d+\.\d+\.\d+[^"]*"/);
    expect(info?.[0]).toContain(`node="${process.version}"`);
    expect(info?.[0]).toContain('backend="sqlite"');
    expect(info?.[0]).toContain('source="assets"');
    expect(m.get('constellr_sync_assets{state="deleted_remote"}')).toBe(0);
    for (const g of ['paused', 'auth_failed', 'breaker_open']) expect(m.get(`constellr_sync_${g}`), g).toBe(0);
    // Downloads keep failing: the breaker opens and claiming pauses; the credentials are rejected.
    for (let i = 0; i < 20; i++) engine.gate.recordResult(false, true);
    engine.auth.rejected(new SyncError('the API rejected the credentials', { code: 'SYNC_AUTH_REJECTED', status: 401 }));
    m = parseMetrics((await get(`${url}/metrics`)).text);
    for (const g of ['paused', 'auth_failed', 'breaker_open']) expect(m.get(`constellr_sync_${g}`), g).toBe(1);
    engine.gate.recordResult(true, false);
    engine.auth.recovered(true);
    m = parseMetrics((await get(`${url}/metrics`)).text);
    expect(m.get('constellr_sync_breaker_open')).toBe(0);
    expect(m.get('constellr_sync_auth_failed')).toBe(0);
  });

  it('counts retries by reason and failed polls by class', async () => {
    // retryMaxDelay is also the drain horizon of `sync`: long enough that no retried job is left queued.
    const { engine, url } = await setup({ 'sync.retryBaseDelay': '20ms', 'sync.retryMaxDelay': '3s' });
    try {
      // A listing that answers 5xx on every page: a failed poll, counted by its class.
      sim.setFaults({ listFaultRate: 1 });
      expect(await engine.poll()).toBeNull();
      let m = parseMetrics((await get(`${url}/metrics`)).text);
      expect(m.get('constellr_sync_polls_total{result="http_5xx"}')).toBe(1);
      expect(m.get('constellr_sync_poll_duration_seconds_count{result="error"}')).toBe(1);
      sim.setFaults({ listFaultRate: 0 });
      expect(await engine.poll()).not.toBeNull();
      // Downloads answer 5xx: job-level retries with reason http_5xx, then they succeed.
      sim.setFaults({ errorRate: 1 });
      engine.pool.setPollDone(() => true);
      const workers = engine.pool.start();
      await waitUntil(async () => parseMetrics((await get(`${url}/metrics`)).text).get('constellr_sync_retries_total{reason="http_5xx"}'), 15_000, 50, 'a retry with reason http_5xx');
      sim.setFaults({ errorRate: 0 });
      await workers;
      m = parseMetrics((await get(`${url}/metrics`)).text);
      expect(m.get('constellr_sync_downloads_total{result="retry"}')).toBeGreaterThanOrEqual(1);
      expect(m.get('constellr_sync_assets{state="done"}'), [...m].filter(([k]) => k.startsWith('constellr_sync_assets') || k.startsWith('constellr_sync_downloads_total')).join(' ')).toBe(sim.inventory.size);
    } finally {
      sim.setFaults({ errorRate: 0, listFaultRate: 0 });
    }
  });
});

describe('/healthz and /readyz', () => {
  it('is live at once, ready after the first poll, not ready while the credentials are rejected, ready again after', async () => {
    const { engine, url } = await setup({ 'sync.authRetryInterval': '200ms' }, 'continuous');
    expect((await get(`${url}/healthz`)).status).toBe(200);
    const r0 = await get(`${url}/readyz`);
    expect(r0.status).toBe(503);
    expect(JSON.parse(r0.text)).toMatchObject({ ready: false, reason: expect.stringMatching(/first poll/) });

    const handle = await engine.start();
    cleanups.push(() => handle.stop());
    await waitUntil(async () => (await get(`${url}/readyz`)).status === 200, 10_000, 20, 'ready after the first poll');
    expect(JSON.parse((await get(`${url}/readyz`)).text)).toMatchObject({ ready: true, reason: 'ok', authFailed: false });

    // The account's password changes: tokens are revoked and every token request answers 401.
    sim.setFaults({ failToken: true });
    sim.expireTokens();
    try {
      await engine.poll();
      const bad = await get(`${url}/readyz`);
      expect(bad.status).toBe(503);
      expect(JSON.parse(bad.text)).toMatchObject({ ready: false, authFailed: true, reason: expect.stringMatching(/credentials/) });
      expect((await get(`${url}/healthz`)).status).toBe(200); // alive, only not ready
    } finally {
      sim.setFaults({ failToken: false });
    }
    // The gate's probe renews the token and clears auth_failed.
    await waitUntil(async () => (await get(`${url}/readyz`)).status === 200, 10_000, 50, 'ready again after the credentials work');
    expect((await get(`${url}/nope`)).status).toBe(404);
    expect((await fetch(`${url}/metrics`, { method: 'POST' })).status).toBe(405);
  });

  it('after a failed poll (API unreachable), says the daemon retries at the next poll, and when', () => {
    const next = Date.UTC(2026, 0, 1, 12, 5);
    const src = { lastSuccessfulPollAt: () => null, lastPoll: () => ({ ok: false, at: 1_000_000, errorClass: 'network' }), authFailed: () => false, nextPollAt: () => next };
    const r = readiness(src, { intervals: 3, intervalMs: 60_000, clock: () => 1_000_100 });
    expect(r).toMatchObject({ ready: false, nextPoll: new Date(next).toISOString() });
    expect(r.reason).toBe(`no successful poll yet; the last one failed (network); retrying at the next poll (${new Date(next).toISOString()})`);
  });

  it('is not ready once the last successful poll is older than readyPollIntervals intervals', () => {
    let now = 1_000_000;
    const src = { lastSuccessfulPollAt: () => 1_000_000, lastPoll: () => ({ ok: true, at: 1_000_000 }), authFailed: () => false };
    const o = { intervals: 3, intervalMs: 60_000, clock: () => now };
    expect(readiness(src, o).ready).toBe(true);
    now += 3 * 60_000;
    expect(readiness(src, o).ready).toBe(true);
    now += 1;
    const r = readiness(src, o);
    expect(r.ready).toBe(false);
    expect(r.reason).toMatch(/3 schedule intervals/);
  });

  it('derives the interval from the cron schedule', () => {
    expect(scheduleIntervalMs('*/5 * * * *', 'UTC')).toBe(5 * 60_000);
    expect(scheduleIntervalMs('0 3 * * *', 'UTC')).toBe(24 * 3600_000);
    // Irregular: the longest gap counts.
    expect(scheduleIntervalMs('0 8,12 * * *', 'UTC')).toBe(20 * 3600_000);
    expect(parseListen('[::1]:9464')).toEqual({ host: '::1', port: 9464 });
    expect(() => parseListen('localhost')).toThrow();
  });
});

describe('run serves the endpoint', () => {
  it('binds http.listen, answers /healthz and /metrics, and stops on SIGTERM', async () => {
    const dirs = await tempDirs('ops-http-cli');
    cleanups.push(() => dirs.cleanup());
    const p = spawnProc(process.execPath, ['dist/cli/main.js', 'run', '--http-listen', '127.0.0.1:0'], {
      CONSTELLR_USERNAME: sim.username,
      CONSTELLR_PASSWORD: sim.password,
      CONSTELLR_API_URL: sim.url,
      CONSTELLR_SYNC_MIRROR_DIR: dirs.mirror,
      CONSTELLR_SYNC_STATE_DIR: dirs.state,
      CONSTELLR_SYNC_RECONCILE_SCHEDULE: 'off', // no 03:30 reconcile in the middle of the test
    });
    cleanups.push(async () => p.kill('SIGKILL'));
    const line = await p.waitLog((l) => typeof l.msg === 'string' && l.msg.startsWith('ops endpoint listening'), 15_000, 'the endpoint');
    const url = String(line.url);
    expect((await get(`${url}/healthz`)).status).toBe(200);
    await waitUntil(async () => (await get(`${url}/readyz`)).status === 200, 15_000, 50, 'ready');
    await waitUntil(async () => parseMetrics((await get(`${url}/metrics`)).text).get('constellr_sync_assets{state="done"}') === sim.inventory.size, 20_000, 100, 'all mirrored');
    p.kill('SIGTERM');
    const exit = await p.exited;
    expect(exit.code).toBe(0);
    await expect(fetch(`${url}/healthz`)).rejects.toThrow();
  });

  it('refuses to start (exit 2) when the address is taken', async () => {
    const dirs = await tempDirs('ops-http-cli');
    cleanups.push(() => dirs.cleanup());
    const { ops, url } = await setup();
    expect(ops.http).not.toBeNull();
    const p = spawnProc(process.execPath, ['dist/cli/main.js', 'run', '--http-listen', url.replace('http://', '')], {
      CONSTELLR_USERNAME: sim.username,
      CONSTELLR_PASSWORD: sim.password,
      CONSTELLR_API_URL: sim.url,
      CONSTELLR_SYNC_MIRROR_DIR: dirs.mirror,
      CONSTELLR_SYNC_STATE_DIR: dirs.state,
      CONSTELLR_SYNC_RECONCILE_SCHEDULE: 'off', // no 03:30 reconcile in the middle of the test
    });
    cleanups.push(async () => p.kill('SIGKILL'));
    const exit = await p.exited;
    expect(exit.code).toBe(2);
    expect(p.stderr()).toMatch(/cannot listen on 127\.0\.0\.1:\d+ .*EADDRINUSE/);
  });
});
