// Notifications: the command hook (no shell, CONSTELLR_* environment, bounded time, failures counted,
// never blocking the mirror) and the webhook (JSON POST, retried with backoff, HMAC-SHA256 signature),
// both fed from the outbox so that each event is delivered at least once across restarts, a
// SIGKILL in the middle of a delivery included. Build first for the CLI part: `npx tsc -p .`.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '../../src/config/load.js';
import { Engine } from '../../src/daemon/engine.js';
import { Operations } from '../../src/daemon/operations.js';
import { SyncMetrics } from '../../src/ops/metrics.js';
import { openRuntime } from '../../src/daemon/runtime.js';
import { createLogger } from '../../src/lib/logger.js';
import { recordDeletion, signBody } from '../../src/ops/notify.js';
import { sampleInventory, startSimulator, type Simulator } from '../../src/simulator/index.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import { spawnProc } from '../helpers/fault-daemon.js';
import { present, sha256File, tempDirs, testSeed, waitUntil, type TempDirs } from '../helpers/harness.js';

const seed = testSeed();
const log = createLogger({ level: 'silent' });
const SECRET = 'webhook-test-secret-0123456789';
let sim: Simulator;
const cleanups: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  sim = await startSimulator({ port: 0, adminPort: false, inventory: sampleInventory(seed, { count: 8, maxSize: 48 * 1024 }), seed });
});
afterAll(async () => {
  await sim.close();
});
afterEach(async (ctx) => {
  if (ctx.task.result?.state === 'fail') console.error(`ops-notify: failed with TEST_SEED=${seed}`);
  while (cleanups.length) await cleanups.pop()!().catch(() => undefined);
});

interface Received {
  body: Record<string, unknown>;
  raw: string;
  headers: http.IncomingHttpHeaders;
  signatureOk: boolean;
}

/** A webhook receiver; `mode` decides each answer: ok (204), fail (500), hang (never answers). */
async function startReceiver(mode: () => 'ok' | 'fail' | 'hang') {
  const received: Received[] = [];
  const hanging = new Set<http.ServerResponse>();
  const server = http.createServer((req, res) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (d: string) => (raw += d));
    req.on('end', () => {
      const m = mode();
      if (m === 'hang') {
        hanging.add(res);
        return;
      }
      const sig = String(req.headers['x-constellr-signature-256'] ?? '');
      const want = `sha256=${createHmac('sha256', SECRET).update(raw).digest('hex')}`;
      const signatureOk = sig.length === want.length && timingSafeEqual(Buffer.from(sig), Buffer.from(want));
      if (m === 'ok') received.push({ body: JSON.parse(raw) as Record<string, unknown>, raw, headers: req.headers, signatureOk });
      res.writeHead(m === 'ok' ? 204 : 500).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  const close = () =>
    new Promise<void>((r) => {
      for (const res of hanging) res.destroy();
      server.close(() => r());
      server.closeAllConnections();
    });
  cleanups.push(close);
  return { url, received, hanging, close };
}

/** A hook script that appends its CONSTELLR_* environment as one JSON line; argv[3] = behaviour. */
async function writeHook(dir: string): Promise<{ script: string; out: string }> {
  const script = path.join(dir, 'hook.mjs');
  const out = path.join(dir, 'hook-events.jsonl');
  await fsp.writeFile(
    script,
    `import { appendFileSync } from 'node:fs';
const [out, behaviour] = process.argv.slice(2);
if (behaviour === 'fail') { process.stderr.write('ingest refused it'); process.exit(3); }
if (behaviour === 'hang') setInterval(() => {}, 1000);
else {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('CONSTELLR_')));
  appendFileSync(out, JSON.stringify(env) + '\\n');
}
`,
  );
  return { script, out };
}

async function readEvents(file: string): Promise<Record<string, string>[]> {
  const text = await fsp.readFile(file, 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, string>);
}

function configFor(dirs: TempDirs, notify: Record<string, unknown>): Config {
  return loadConfig({
    env: { CONSTELLR_USERNAME: sim.username, CONSTELLR_PASSWORD: sim.password, CONSTELLR_SYNC_WEBHOOK_SECRET: SECRET },
    flags: { 'api-url': sim.url, 'mirror-dir': dirs.mirror, 'state-dir': dirs.state, concurrency: '3' },
    defaults: { 'notify.retryBaseDelay': '20ms', 'notify.retryMaxDelay': '100ms', ...notify },
  });
}

/** One `sync` as the CLI wires it: engine + operations, notifications drained before returning. */
async function syncWithNotify(config: Config, drainMs = 15_000) {
  const ops = new Operations(config, log, new SyncMetrics());
  const rt = await openRuntime(config, log, ops.runtimeOptions());
  try {
    const engine = new Engine(rt, { mode: 'drain', ...ops.engineOptions() });
    await ops.attach(rt, engine, { http: false, baseEnv: { PATH: process.env.PATH, CONSTELLR_PASSWORD: 'must-not-leak', MY_TOKEN: 'nor-this' }, notifyIdleMs: 50 });
    const summary = await engine.syncOnce();
    const drained = await (ops.notifier?.drain(drainMs) ?? true);
    const outbox = await rt.store.outboxCounts();
    await ops.stop(2000);
    return { summary, drained, outbox, metrics: await present(ops.metrics, 'the operations\' metrics').render() };
  } finally {
    await rt.close();
  }
}

describe('command hook', () => {
  it('runs once per completed download with the event in its environment, without the credentials', async () => {
    const dirs = await tempDirs('ops-notify');
    cleanups.push(() => dirs.cleanup());
    const hook = await writeHook(dirs.root);
    const config = configFor(dirs, { 'notify.onAsset': { command: [process.execPath, hook.script, hook.out], concurrency: 2 } });
    const r = await syncWithNotify(config);
    expect(r.summary.stats.done).toBe(sim.inventory.size);
    expect(r.drained).toBe(true);
    expect(r.outbox.hook).toEqual({ pending: 0, failed: 0 });
    const events = await readEvents(hook.out);
    expect(events).toHaveLength(sim.inventory.size);
    for (const a of sim.inventory.values()) {
      const e = events.find((x) => x.CONSTELLR_KEY === a.key);
      expect(e, a.key).toBeDefined();
      expect(e).toEqual({
        CONSTELLR_EVENT: 'created',
        CONSTELLR_KEY: a.key,
        CONSTELLR_PATH: path.join(dirs.mirror, ...a.key.split('/')),
        CONSTELLR_SIZE: String(a.size),
        CONSTELLR_LAST_MODIFIED: new Date(a.lastModifiedMs).toISOString(),
        CONSTELLR_SHA256: expect.stringMatching(/^[0-9a-f]{64}$/),
      });
      // The hook is given the real file: its sha256 matches.
      expect(e!.CONSTELLR_SHA256).toBe(await sha256File(e!.CONSTELLR_PATH!));
    }
    expect(JSON.stringify(events)).not.toContain('must-not-leak');

    // A changed asset: one 'updated' event, nothing for the unchanged ones.
    const [first] = [...sim.inventory.values()];
    sim.inventory.put({ key: first!.key, size: first!.size + 7, lastModified: first!.lastModifiedMs + 60_000, seed: 'v2' });
    const r2 = await syncWithNotify(config);
    expect(r2.summary.stats.done).toBe(1);
    const after = await readEvents(hook.out);
    expect(after).toHaveLength(sim.inventory.size + 1);
    expect(after.at(-1)).toMatchObject({ CONSTELLR_EVENT: 'updated', CONSTELLR_KEY: first!.key, CONSTELLR_SIZE: String(first!.size + 7) });
  });

  it('counts and retries failures, kills a hook that runs too long, and never holds up the mirror', async () => {
    const dirs = await tempDirs('ops-notify');
    cleanups.push(() => dirs.cleanup());
    const hook = await writeHook(dirs.root);
    // A failing hook: every event is retried up to maxAttempts, then kept as failed.
    const failing = configFor(dirs, { 'notify.onAsset': { command: [process.execPath, hook.script, hook.out, 'fail'] }, 'notify.maxAttempts': 2 });
    const r = await syncWithNotify(failing);
    expect(r.summary.stats.done).toBe(sim.inventory.size);
    expect(r.outbox.hook).toEqual({ pending: 0, failed: sim.inventory.size });
    expect(r.metrics).toContain(`constellr_sync_hook_failures_total{reason="exit"} ${2 * sim.inventory.size}`);
    expect(r.metrics).toContain(`constellr_sync_notifications_total{sink="hook",result="failed"} ${sim.inventory.size}`);

    // A hook that hangs: killed after its timeout; downloads were all done regardless.
    const dirs2 = await tempDirs('ops-notify');
    cleanups.push(() => dirs2.cleanup());
    const hanging = configFor(dirs2, { 'notify.onAsset': { command: [process.execPath, hook.script, hook.out, 'hang'], concurrency: 1, timeout: '200ms' }, 'notify.maxAttempts': 1 });
    const ops = new Operations(hanging, log, new SyncMetrics());
    const rt = await openRuntime(hanging, log, ops.runtimeOptions());
    cleanups.push(() => rt.close());
    const engine = new Engine(rt, { mode: 'drain', ...ops.engineOptions() });
    await ops.attach(rt, engine, { http: false, baseEnv: { PATH: process.env.PATH }, notifyIdleMs: 50 });
    cleanups.push(() => ops.stop(0));
    const summary = await engine.syncOnce();
    expect(summary.stats.done).toBe(sim.inventory.size);
    // Concurrency 1 and 200 ms each: the downloads finished long before the hooks could.
    await waitUntil(async () => (await rt.store.outboxCounts()).hook.failed === sim.inventory.size, 20_000, 50, 'every hung hook killed');
    expect(await present(ops.metrics, 'the operations\' metrics').render()).toContain(`constellr_sync_hook_failures_total{reason="timeout"} ${sim.inventory.size}`);
    expect(ops.notifier!.children.size).toBe(0);
  });
});

describe('webhook', () => {
  it('POSTs signed JSON, retries failures with backoff, and reports deletions', async () => {
    const dirs = await tempDirs('ops-notify');
    cleanups.push(() => dirs.cleanup());
    let calls = 0;
    // The first three requests fail: those events are retried.
    const rx = await startReceiver(() => (++calls <= 3 ? 'fail' : 'ok'));
    const config = configFor(dirs, { 'notify.webhook': { url: rx.url, concurrency: 2 } });
    const r = await syncWithNotify(config);
    expect(r.drained).toBe(true);
    expect(r.outbox.webhook).toEqual({ pending: 0, failed: 0 });
    expect(rx.received).toHaveLength(sim.inventory.size);
    expect(r.metrics).toContain('constellr_sync_notifications_total{sink="webhook",result="retry"} 3');
    for (const x of rx.received) {
      expect(x.signatureOk).toBe(true);
      expect(x.headers['content-type']).toBe('application/json');
      expect(x.headers['x-constellr-event']).toBe('created');
      expect(x.headers['x-constellr-delivery']).toBe(String(x.body.deliveryId));
      const a = sim.inventory.get(String(x.body.key))!;
      expect(x.body).toMatchObject({ event: 'created', key: a.key, path: a.key, size: a.size, lastModified: new Date(a.lastModifiedMs).toISOString() });
      expect(x.body.sha256).toMatch(/^[0-9a-f]{64}$/);
    }
    // Three failed attempts in all, each repeated by a later attempt of the same delivery.
    expect(rx.received.reduce((n, x) => n + Number(x.body.attempt) - 1, 0)).toBe(3);
    expect(signBody(SECRET, rx.received[0]!.raw)).toBe(rx.received[0]!.headers['x-constellr-signature-256']);

    // The deletion entry point (issue 4 calls it): recorded, then delivered by the next run.
    const store = SqliteStore.open(dirs.state, { maxAttempts: 10, outboxSinks: ['webhook'] });
    expect(await recordDeletion(store, { key: 'gone/a.tif', path: 'gone/a.tif', size: 5 }, Date.now())).toBe(1);
    await store.close();
    const r2 = await syncWithNotify(config);
    expect(r2.drained).toBe(true);
    expect(rx.received.at(-1)!.body).toMatchObject({ event: 'deleted', key: 'gone/a.tif', path: 'gone/a.tif', size: 5, sha256: null });
    expect(rx.received.at(-1)!.signatureOk).toBe(true);
  });

  it('delivers at least once across a crash of the daemon in the middle of deliveries', async () => {
    const dirs = await tempDirs('ops-notify');
    cleanups.push(() => dirs.cleanup());
    let mode: 'ok' | 'hang' = 'hang';
    const rx = await startReceiver(() => mode);
    const env = {
      CONSTELLR_USERNAME: sim.username,
      CONSTELLR_PASSWORD: sim.password,
      CONSTELLR_API_URL: sim.url,
      CONSTELLR_SYNC_MIRROR_DIR: dirs.mirror,
      CONSTELLR_SYNC_STATE_DIR: dirs.state,
      CONSTELLR_SYNC_WEBHOOK_URL: rx.url,
      CONSTELLR_SYNC_WEBHOOK_SECRET: SECRET,
      CONSTELLR_SYNC_HTTP_ENABLED: 'false',
      CONSTELLR_SYNC_RECONCILE_SCHEDULE: 'off', // no 03:30 reconcile in the middle of the test
    };
    const first = spawnProc(process.execPath, ['dist/cli/main.js', 'run'], env);
    cleanups.push(async () => first.kill('SIGKILL'));
    // Every download done, and deliveries in flight (the receiver never answers): crash.
    await waitUntil(() => rx.hanging.size >= 4, 20_000, 20, 'webhook deliveries in flight');
    await waitUntil(
      async () => {
        const s = SqliteStore.open(dirs.state, { maxAttempts: 10 });
        try {
          return (await s.counts()).done === sim.inventory.size;
        } finally {
          await s.close();
        }
      },
      20_000,
      50,
      'all downloads done',
    );
    first.kill('SIGKILL');
    await first.exited;
    expect(rx.received).toHaveLength(0);
    const s = SqliteStore.open(dirs.state, { maxAttempts: 10 });
    expect((await s.outboxCounts()).webhook.pending).toBe(sim.inventory.size);
    await s.close();

    // Restart with a working receiver: every event arrives (leases of the dead process released).
    mode = 'ok';
    const second = spawnProc(process.execPath, ['dist/cli/main.js', 'run'], env);
    cleanups.push(async () => second.kill('SIGKILL'));
    await waitUntil(() => new Set(rx.received.map((x) => x.body.key)).size === sim.inventory.size, 20_000, 20, 'every event delivered after the restart');
    // (signal handlers are installed once the engine has started: wait for its first poll)
    await second.waitLog((l) => l.msg === 'poll finished', 20_000, 'the first poll of the restarted daemon');
    second.kill('SIGTERM');
    expect((await second.exited).code).toBe(0);
    expect(new Set(rx.received.map((x) => x.body.key))).toEqual(new Set(sim.inventory.keys()));
    expect(rx.received.every((x) => x.signatureOk && x.body.event === 'created')).toBe(true);
    const s2 = SqliteStore.open(dirs.state, { maxAttempts: 10 });
    expect(await s2.outboxCounts()).toEqual({ hook: { pending: 0, failed: 0 }, webhook: { pending: 0, failed: 0 } });
    await s2.close();
  });
});
