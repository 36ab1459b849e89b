// The status page's server side, in process: /api/status (the status --json report plus the live
// fields, problems filterable), the page rendered on the server with hostile keys escaped, actions
// off (403) without a token, the token check (bearer, login form, throttling, /healthz open), the
// warning for a non-loopback listener without a token, and PostgreSQL: each replica shows the whole
// deployment's queue and only its own in-flight downloads.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import http from 'node:http';
import { Writable } from 'node:stream';
import { buildStatusReport } from '../../src/ops/status/report.js';
import { loadConfig, type Config } from '../../src/config/load.js';
import { Engine } from '../../src/daemon/engine.js';
import { Operations, isLoopback } from '../../src/daemon/operations.js';
import { SyncMetrics } from '../../src/ops/metrics.js';
import { openRuntime, type Runtime } from '../../src/daemon/runtime.js';
import { createLogger, type Logger } from '../../src/lib/logger.js';
import { AssetInventory, startSimulator, type Simulator } from '../../src/simulator/index.js';
import { dropSchema, requirePostgres, TEST_DATABASE_URL, uniqueSchema } from '../helpers/postgres.js';
import { runCli, tempDirs, testSeed, waitUntil, type TempDirs } from '../helpers/harness.js';

const seed = testSeed();
const T0 = Date.UTC(2026, 9, 1);
const HOSTILE = 'x/../<script>alert(1)</script>.bin';
const GONE = 'gone/vanished.bin';
const assets = [
  ...Array.from({ length: 5 }, (_, i) => ({ key: `ok/f-${i}.bin`, size: 10_000 + i, lastModified: T0 + i * 1000, seed: `s${i}` })),
  { key: HOSTILE, size: 10, lastModified: T0 + 10_000 },
  { key: GONE, size: 20, lastModified: T0 + 11_000 },
  { key: 'odd/"quoted" & <b>bold</b>.bin', size: 30, lastModified: T0 + 12_000 },
];
let sim: Simulator;
const cleanups: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  sim = await startSimulator({ port: 0, adminPort: false, inventory: new AssetInventory(assets), faults: { notFoundKeys: [GONE] }, seed });
});
afterAll(async () => {
  await sim.close();
});
afterEach(async (ctx) => {
  if (ctx.task.result?.state === 'fail') console.error(`status-api: failed with TEST_SEED=${seed}`);
  while (cleanups.length) await cleanups.pop()!().catch(() => undefined);
});

function capture(): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const dest = new Writable({
    write(chunk: Buffer, _e, cb) {
      for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { logger: createLogger({ level: 'info', destination: dest }), lines };
}

async function setup(o: { env?: Record<string, string>; listen?: string; defaults?: Record<string, unknown>; dirs?: TempDirs; logger?: Logger; bandwidth?: string; mode?: 'drain' | 'continuous'; apiUrl?: string } = {}) {
  const dirs = o.dirs ?? (await tempDirs('status-api'));
  if (!o.dirs) cleanups.push(() => dirs.cleanup());
  const config: Config = loadConfig({
    env: { CONSTELLR_USERNAME: sim.username, CONSTELLR_PASSWORD: sim.password, ...o.env },
    flags: { 'api-url': o.apiUrl ?? sim.url, 'mirror-dir': dirs.mirror, 'state-dir': dirs.state, concurrency: '2' },
    defaults: { 'sync.quickRetries': 0, 'sync.reconcileSchedule': 'off', ...(o.bandwidth ? { 'sync.bandwidth': o.bandwidth } : {}), ...o.defaults },
  });
  const log = o.logger ?? createLogger({ level: 'silent' });
  const ops = new Operations(config, log, new SyncMetrics());
  const rt: Runtime = await openRuntime(config, log, ops.runtimeOptions());
  cleanups.push(() => rt.close());
  const engine = new Engine(rt, { mode: o.mode ?? 'drain', probeIntervalMs: 100, ...ops.engineOptions() });
  await ops.attach(rt, engine, { http: true, listen: o.listen ?? '127.0.0.1:0' });
  cleanups.push(() => ops.stop(0));
  return { dirs, config, ops, rt, engine, url: ops.http!.url };
}

async function post(url: string, headers: Record<string, string>): Promise<{ status: number; body: any }> {
  const r = await fetch(url, { method: 'POST', headers });
  return { status: r.status, body: await r.json() };
}

/** A request from a chosen local address (fetch cannot choose one), with the Host header it is given. */
function rawRequest(url: string, o: { method?: string; headers?: Record<string, string>; body?: string; localAddress?: string }): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const body = o.body ?? '';
    const headers = { ...(o.body !== undefined ? { 'content-type': 'application/x-www-form-urlencoded', 'content-length': String(Buffer.byteLength(body)) } : {}), ...o.headers };
    const r = http.request(url, { method: o.method ?? 'GET', headers, localAddress: o.localAddress }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
    });
    r.on('error', reject);
    r.end(body);
  });
}

async function getJson(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: any }> {
  const r = await fetch(url, { headers });
  return { status: r.status, body: await r.json() };
}

describe('without a token', () => {
  it('/api/status is the status --json report plus live fields; problems are filterable', async () => {
    const { rt, engine, config, url } = await setup();
    await engine.syncOnce();
    const { status, body } = await getJson(`${url}/api/status`);
    expect(status).toBe(200);
    expect(body.apiVersion).toBe(1);
    // every field of status --json, whatever the report holds today, with the same value
    const report = JSON.parse(JSON.stringify(await buildStatusReport(config, rt.store, { now: Date.now() })));
    // (`now` is when each was made)
    for (const [k, v] of Object.entries(report)) if (k !== 'now') expect(body[k], k).toEqual(v);
    expect(body.jobs).toEqual({ queued: 0, running: 0, done: 6, failed: 1, gone: 1 });
    const sizes = assets.reduce((a, x) => a + x.size, 0);
    expect(body.overall).toMatchObject({ complete: false, assets: { done: 6, total: 8 }, bytes: { total: sizes } });
    expect(body.overall.bytes.done).toBe(sizes - 10 - 20);
    expect(body.overall.source).toBe(`assets at ${sim.url}/`);
    expect(Date.parse(body.overall.nextPoll)).toBeGreaterThan(Date.now() - 1000);
    expect(body.replica.owner).toBe(rt.owner);
    expect(body.inFlight).toEqual([]);
    expect(body.recentCompletions).toHaveLength(6);
    expect(body.history.points.reduce((a: number, p: { files: number }) => a + p.files, 0)).toBe(6);
    expect(body.history.points.reduce((a: number, p: { bytes: number }) => a + p.bytes, 0)).toBe(sizes - 30);
    expect(body.actions).toEqual({ enabled: false });
    const byKey = Object.fromEntries(body.problems.items.map((p: { key: string }) => [p.key, p]));
    expect(byKey[HOSTILE]).toMatchObject({ state: 'failed', class: 'unsafe_key', attempts: 1, nextRetry: null });
    expect(byKey[GONE]).toMatchObject({ state: 'gone', class: 'not_found', status: 404 });
    expect(body.problems.classes).toEqual(['not_found', 'unsafe_key']);
    const gone = (await getJson(`${url}/api/status?problems=gone`)).body.problems;
    expect(gone.items.map((p: { key: string }) => p.key)).toEqual([GONE]);
    expect(gone.total).toBe(2);
    expect((await getJson(`${url}/api/status?class=unsafe_key`)).body.problems.items.map((p: { key: string }) => p.key)).toEqual([HOSTILE]);
    expect((await getJson(`${url}/api/status?q=VANISHED`)).body.problems.items.map((p: { key: string }) => p.key)).toEqual([GONE]);
    expect((await getJson(`${url}/api/status?problems=retrying`)).body.problems.items).toEqual([]);
  });

  it('renders the page on the server with every key escaped; actions answer 403', async () => {
    const { engine, url } = await setup();
    await engine.syncOnce();
    const r = await fetch(`${url}/`);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(r.headers.get('content-security-policy')).toContain("default-src 'none'");
    const html = await r.text();
    expect(html).not.toContain('<script>alert(1)');
    // (keys may wrap after "/" and "_": <wbr> marks where)
    expect(html.replaceAll('<wbr>', '')).toContain('x/../&lt;script&gt;alert(1)&lt;/script&gt;.bin');
    expect(html).not.toContain('<b>bold</b>');
    expect(html.replaceAll('<wbr>', '')).toContain('odd/&quot;quoted&quot; &amp; &lt;b&gt;bold&lt;/b&gt;.bin');
    // exactly one script element: the page's own module, from the page's origin (no inline code)
    expect(html.match(/<script\b[^>]*>[^<]*<\/script>/g)).toEqual(['<script type="module" src="assets/page-client.js"></script>']);
    expect(r.headers.get('content-security-policy')).toContain("script-src 'self';");
    expect(r.headers.get('content-security-policy')).not.toMatch(/script-src[^;]*unsafe/);
    expect(html).toMatch(/id="assets-done">6</);
    expect(html).toContain('id="read-only"');
    expect(html).not.toContain('data-action="retry-failed"');
    // nothing external
    expect(html).not.toMatch(/(src|href)="(https?:)?\/\//);
    for (const action of ['retry-failed', 'poll-now']) {
      const a = await fetch(`${url}/api/actions/${action}`, { method: 'POST' });
      expect(a.status, action).toBe(403);
      expect(((await a.json()) as { error: string }).error).toMatch(/CONSTELLR_SYNC_HTTP_TOKEN/);
    }
    expect((await fetch(`${url}/api/actions/retry-failed`)).status).toBe(405);
    expect((await fetch(`${url}/api/status`, { method: 'POST' })).status).toBe(405);
    expect((await fetch(`${url}/nope`)).status).toBe(404);
  });

  it('serves the browser module and the renderers it imports as JavaScript, revalidated by ETag (issue 26 §5)', async () => {
    const { url } = await setup();
    const client = await fetch(`${url}/assets/page-client.js`);
    expect(client.status).toBe(200);
    expect(client.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(client.headers.get('cache-control')).toBe('no-cache');
    expect(client.headers.get('x-content-type-options')).toBe('nosniff');
    const code = await client.text();
    expect(code).toContain("from './page-render.js'");
    expect(code).not.toMatch(/sourceMappingURL|__name/);
    const render = await fetch(`${url}/assets/page-render.js`);
    expect(render.status).toBe(200);
    expect(await render.text()).toMatch(/export function renderSections\(/);
    const etag = client.headers.get('etag')!;
    expect(etag).toMatch(/^"[\w-]{22}"$/);
    const again = await fetch(`${url}/assets/page-client.js`, { headers: { 'if-none-match': etag } });
    expect(again.status).toBe(304);
    expect(await again.text()).toBe('');
    // only the page's modules: nothing else of dist/ or the disk
    for (const other of ['routes.js', 'page-client.js.map', '../status/routes.js', '%2e%2e/%2e%2e/package.json', 'x']) expect((await fetch(`${url}/assets/${other}`)).status, other).toBe(404);
    expect((await fetch(`${url}/assets/page-client.js`, { method: 'POST' })).status).toBe(405);
  });

  it('shows pauses with their reason and end time: a 429 pause, a disk-full wait, the bandwidth timetable', async () => {
    const { engine, url } = await setup({ bandwidth: '1MiB/s' });
    const before = (await getJson(`${url}/api/status`)).body;
    expect(before.pauses).toEqual([{ reason: 'bandwidth', detail: 'downloads limited to 1.0 MiB/s by sync.bandwidth', until: null }]);
    const t = Date.now();
    engine.gate.pauseFor('rate_limited', 60_000);
    engine.gate.closeUntilCleared('disk_full');
    cleanups.push(async () => engine.gate.close());
    const { body } = await getJson(`${url}/api/status`);
    const by = Object.fromEntries(body.pauses.map((p: { reason: string }) => [p.reason, p]));
    expect(by.disk_full).toMatchObject({ until: null, detail: expect.stringMatching(/free space/) });
    expect(Date.parse(by.rate_limited.until)).toBeGreaterThanOrEqual(t + 59_000);
    expect(Date.parse(by.rate_limited.until)).toBeLessThanOrEqual(Date.now() + 60_000);
    expect(by.rate_limited.detail).toMatch(/429/);
    const html = await (await fetch(`${url}/`)).text();
    expect(html).toMatch(/data-reason="rate_limited"><strong>rate_limited<\/strong>: [^<]*429[^<]*; until <span class="t"><time datetime="/);
    expect(html).toMatch(/data-reason="disk_full">.*until it clears/);
  });

  it('shows the last poll error among the problems, escaped', async () => {
    const { rt, url } = await setup();
    await rt.store.startPoll(Date.now());
    await rt.store.failPoll('listing page 3: HTTP 502 <b>Bad Gateway</b>', 'http_5xx', Date.now());
    const html = await (await fetch(`${url}/`)).text();
    expect(html).toMatch(/id="poll-error"><strong>Last poll failed<\/strong> .*\[http_5xx\]<\/span> listing page 3: HTTP 502 &lt;b&gt;Bad Gateway&lt;\/b&gt;/);
    expect((await getJson(`${url}/api/status`)).body.lastPoll).toMatchObject({ errorClass: 'http_5xx', error: 'listing page 3: HTTP 502 <b>Bad Gateway</b>' });
  });

  it('http.statusPage: false serves only /healthz, /readyz and /metrics', async () => {
    const { url } = await setup({ defaults: { 'http.statusPage': false } });
    expect((await fetch(`${url}/`)).status).toBe(404);
    expect((await fetch(`${url}/api/status`)).status).toBe(404);
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
  });

  it('warns when the page is served on a non-loopback address without a token', async () => {
    expect(isLoopback('127.0.0.1:9464')).toBe(true);
    expect(isLoopback('[::1]:9464')).toBe(true);
    expect(isLoopback('localhost:9464')).toBe(true);
    expect(isLoopback('0.0.0.0:9464')).toBe(false);
    expect(isLoopback('[::]:9464')).toBe(false);
    expect(isLoopback('192.168.1.5:9464')).toBe(false);
    const open = capture();
    await setup({ listen: '0.0.0.0:0', logger: open.logger });
    expect(open.lines.some((l) => l.level === 'warn' && String(l.msg).includes('without http.token'))).toBe(true);
    const token = capture();
    await setup({ listen: '0.0.0.0:0', logger: token.logger, env: { CONSTELLR_SYNC_HTTP_TOKEN: 'a-long-enough-test-token' } });
    expect(token.lines.some((l) => String(l.msg).includes('without http.token'))).toBe(false);
    const local = capture();
    await setup({ logger: local.logger });
    expect(local.lines.some((l) => String(l.msg).includes('without http.token'))).toBe(false);
  });
});

describe('without a token: the Host header', () => {
  it('must name the listener: a DNS-rebinding page (its own domain as Host) reads neither /api/status nor the page (issue 22 §8)', async () => {
    const { url } = await setup();
    const port = new URL(url).port;
    for (const host of [`attacker.example:${port}`, `localhost.attacker.example:${port}`, 'attacker.example']) {
      const api = await rawRequest(`${url}/api/status`, { headers: { host } });
      expect({ host, status: api.status }).toEqual({ host, status: 403 });
      expect(api.body).not.toContain('"jobs"');
      expect((await rawRequest(`${url}/`, { headers: { host } })).status).toBe(403);
    }
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`]) expect((await rawRequest(`${url}/api/status`, { headers: { host } })).status).toBe(200);
    // health and metrics are not the page: they stay open to any name (probes, Prometheus)
    expect((await rawRequest(`${url}/healthz`, { headers: { host: `attacker.example:${port}` } })).status).toBe(200);
  });
});

describe('with a token', () => {
  const TOKEN = 'status-page-test-token-0123456789';

  it('the page and /api/* need it (bearer or the login cookie); /healthz, /readyz and /metrics stay open', async () => {
    const { engine, rt, url } = await setup({ env: { CONSTELLR_SYNC_HTTP_TOKEN: TOKEN }, mode: 'continuous' });
    const handle = await engine.start();
    cleanups.push(() => handle.stop());
    await waitUntil(async () => (await rt.store.counts()).done === 6 && (await rt.store.counts()).failed === 1, 20_000, 50, 'the first sync');
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    expect((await fetch(`${url}/metrics`)).status).toBe(200);
    expect([200, 503]).toContain((await fetch(`${url}/readyz`)).status);
    expect((await fetch(`${url}/`)).status).toBe(401);
    expect((await fetch(`${url}/api/status`)).status).toBe(401);
    expect((await fetch(`${url}/api/status`, { headers: { authorization: `Bearer ${TOKEN}x` } })).status).toBe(401);
    const ok = await getJson(`${url}/api/status`, { authorization: `Bearer ${TOKEN}` });
    expect(ok.status).toBe(200);
    expect(ok.body.actions).toEqual({ enabled: true });
    expect(JSON.stringify(ok.body)).not.toContain(TOKEN);
    // the login form sets an HMAC cookie (never the token itself)
    const login = await fetch(`${url}/login`, { method: 'POST', body: new URLSearchParams({ token: TOKEN }), redirect: 'manual' });
    expect(login.status).toBe(303);
    const cookie = login.headers.get('set-cookie')!;
    expect(cookie).toMatch(/^constellr_sync_session=[0-9a-f]{64}; Path=\/; Max-Age=\d+; HttpOnly; SameSite=Strict$/);
    expect(cookie).not.toContain(TOKEN);
    const session = cookie.split(';')[0]!;
    const page = await fetch(`${url}/`, { headers: { cookie: session } });
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('data-action="retry-failed"');
    expect(html).not.toContain(TOKEN);
    // the page's module needs what the page needs, and the session cookie a module request carries gets it
    for (const asset of ['page-client.js', 'page-render.js']) {
      expect((await fetch(`${url}/assets/${asset}`)).status, asset).toBe(401);
      expect((await fetch(`${url}/assets/${asset}`, { headers: { cookie: session } })).status, asset).toBe(200);
    }
    // actions: the bearer token works; the cookie alone does not (CSRF), the cookie plus the page's header does
    const before = (await rt.store.getJob(HOSTILE))!;
    expect(before.state).toBe('failed');
    expect((await post(`${url}/api/actions/retry-failed`, { cookie: session })).status).toBe(403);
    expect((await post(`${url}/api/actions/retry-failed`, { authorization: 'Bearer nope' })).status).toBe(401);
    const retried = await post(`${url}/api/actions/retry-failed`, { authorization: `Bearer ${TOKEN}` });
    expect(retried).toEqual({ status: 200, body: { requeued: 1, message: '1 failed asset queued again' } });
    // re-queued, then tried again by the running workers (and refused again: the key is unsafe)
    await waitUntil(async () => {
      const j = (await rt.store.getJob(HOSTILE))!;
      return j.state === 'failed' && j.updatedAt > before.updatedAt;
    }, 15_000, 50, 'the hostile key retried');
    const again = await post(`${url}/api/actions/retry-failed`, { cookie: session, 'x-constellr-sync-action': '1' });
    expect(again.status).toBe(200);
    // poll now: a poll starts outside the schedule
    const cursor = await rt.store.getCursor();
    const poll = await post(`${url}/api/actions/poll-now`, { authorization: `Bearer ${TOKEN}` });
    expect(poll.status).toBe(202);
    expect(['started', 'running']).toContain(poll.body.poll);
    await waitUntil(async () => ((await rt.store.getCursor()).pollFinishedAt ?? 0) > (cursor.pollFinishedAt ?? 0), 15_000, 50, 'a new poll');
    expect((await post(`${url}/api/actions/nope`, { authorization: `Bearer ${TOKEN}` })).status).toBe(404);
    // log out clears the cookie and ends the session: a client that kept the cookie is out too
    const out = await fetch(`${url}/logout`, { method: 'POST', redirect: 'manual', headers: { cookie: session } });
    expect(out.headers.get('set-cookie')).toMatch(/Max-Age=0/);
    expect((await fetch(`${url}/api/status`, { headers: { cookie: session } })).status).toBe(401);
    expect((await fetch(`${url}/`, { headers: { cookie: session } })).status).toBe(401);
  });

  it('the login form answers 401 for a wrong token and 429 after ten wrong ones in a minute, from that address only', async () => {
    const { url } = await setup({ env: { CONSTELLR_SYNC_HTTP_TOKEN: TOKEN } });
    // The stranger connects from 127.0.0.2, the operator from 127.0.0.1 (both loopback on Linux).
    const stranger = '127.0.0.2';
    for (let i = 0; i < 10; i++) {
      const r = await rawRequest(`${url}/login`, { method: 'POST', body: new URLSearchParams({ token: `wrong-${i}` }).toString(), localAddress: stranger });
      expect(r.status).toBe(401);
      expect(r.headers['set-cookie']).toBeUndefined();
    }
    const throttled = await rawRequest(`${url}/login`, { method: 'POST', body: new URLSearchParams({ token: TOKEN }).toString(), localAddress: stranger });
    expect(throttled.status).toBe(429);
    expect(throttled.headers['set-cookie']).toBeUndefined();
    expect((await rawRequest(`${url}/api/status`, { headers: { authorization: `Bearer ${TOKEN}` }, localAddress: stranger })).status).toBe(429);
    // the operator, elsewhere, is not locked out: the form and the bearer token work
    const login = await rawRequest(`${url}/login`, { method: 'POST', body: new URLSearchParams({ token: TOKEN }).toString(), localAddress: '127.0.0.1' });
    expect(login.status).toBe(303);
    expect((await rawRequest(`${url}/api/status`, { headers: { authorization: `Bearer ${TOKEN}` }, localAddress: '127.0.0.1' })).status).toBe(200);
    // wrong bearer tokens are throttled too
    const prober = '127.0.0.3';
    for (let i = 0; i < 10; i++) expect((await rawRequest(`${url}/api/status`, { headers: { authorization: `Bearer guess-${i}` }, localAddress: prober })).status).toBe(401);
    expect((await rawRequest(`${url}/api/status`, { headers: { authorization: `Bearer ${TOKEN}` }, localAddress: prober })).status).toBe(429);
    expect((await rawRequest(`${url}/api/actions/poll-now`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` }, localAddress: prober })).status).toBe(429);
    // an oversized form is refused without reading it whole
    const big = await fetch(`${url}/login`, { method: 'POST', body: new URLSearchParams({ token: 'x'.repeat(10_000) }), redirect: 'manual' }).catch(() => null);
    if (big) expect(big.status).not.toBe(303);
  });
});

describe('PostgreSQL', () => {
  const pgOk = requirePostgres();
  it('a password in the database URL\'s query string is masked in /api/status, the page, status --json and config check', async (ctx) => {
    if (!(await pgOk)) return ctx.skip();
    const schema = uniqueSchema('status');
    cleanups.push(() => dropSchema(schema));
    // node-pg takes ?password= (the test server trusts any password, so this one opens the state).
    const PW = 'query-string-pw-4d1f9';
    const u = new URL(TEST_DATABASE_URL);
    u.searchParams.set('password', PW);
    u.searchParams.set('application_name', 'redaction-test');
    const env = { CONSTELLR_SYNC_DATABASE_URL: u.href, CONSTELLR_SYNC_DATABASE_SCHEMA: schema };
    const { url, dirs } = await setup({ env });
    const api = await getJson(`${url}/api/status`);
    expect(api.status).toBe(200);
    expect(api.body.store).toMatch(/password=\*\*\*/);
    expect(api.body.store).toContain('application_name=redaction-test');
    expect(JSON.stringify(api.body)).not.toContain(PW);
    const page = await fetch(`${url}/`);
    expect(page.status).toBe(200);
    expect(await page.text()).not.toContain(PW);
    const cliEnv = { ...env, CONSTELLR_USERNAME: sim.username, CONSTELLR_PASSWORD: sim.password, CONSTELLR_SYNC_STATE_DIR: dirs.state, CONSTELLR_SYNC_MIRROR_DIR: dirs.mirror };
    const status = await runCli(['status', '--json'], { env: cliEnv });
    expect(status.stdout).toMatch(/password=\*\*\*/);
    expect(status.stdout + status.stderr).not.toContain(PW);
    const check = await runCli(['config', 'check'], { env: cliEnv });
    expect(check.code, check.stderr).toBe(0);
    expect(check.stdout).toMatch(/password=\*\*\*/);
    expect(check.stdout + check.stderr).not.toContain(PW);
  });

  it('each replica shows the whole deployment\'s queue and only its own in-flight downloads', async (ctx) => {
    if (!(await pgOk)) return ctx.skip();
    const schema = uniqueSchema('status');
    cleanups.push(() => dropSchema(schema));
    const slow = await startSimulator({ port: 0, adminPort: false, inventory: new AssetInventory(assets.map((a) => ({ ...a, size: a.key.startsWith('ok/') ? 200_000 : a.size }))), faults: { notFoundKeys: [GONE], bodyBytesPerSecond: 200_000 }, seed });
    cleanups.push(() => slow.close());
    const mirror = await tempDirs('status-pg');
    cleanups.push(() => mirror.cleanup());
    const env = { CONSTELLR_SYNC_DATABASE_URL: TEST_DATABASE_URL, CONSTELLR_SYNC_DATABASE_SCHEMA: schema };
    const replica = async (name: string, mode: 'continuous' | 'drain') => {
      const d = await tempDirs(`status-pg-${name}`);
      cleanups.push(() => d.cleanup());
      return setup({ env, dirs: { ...d, mirror: mirror.mirror }, mode, apiUrl: slow.url });
    };
    const a = await replica('a', 'continuous');
    const b = await replica('b', 'drain');
    const handle = await a.engine.start();
    cleanups.push(() => handle.stop());
    // A downloads (slowly); B runs no workers
    const aMid = await waitUntil(async () => {
      const s = (await getJson(`${a.url}/api/status`)).body;
      return s.inFlight.length > 0 && s.jobs.running > 0 ? s : null;
    }, 20_000, 50, 'replica A downloading');
    expect(aMid.backend).toBe('postgres');
    const bMid = (await getJson(`${b.url}/api/status`)).body;
    expect(bMid.backend).toBe('postgres');
    expect(bMid.inFlight).toEqual([]);
    // (both replicas live in this test process, so their owner names are the same; the poller differs)
    expect(aMid.replica.poller).toBe(true);
    expect(bMid.replica.poller).toBe(false);
    expect(bMid.jobs.running + bMid.jobs.queued + bMid.jobs.done + bMid.jobs.failed + bMid.jobs.gone).toBe(assets.length);
    expect(bMid.jobs.running).toBeGreaterThan(0);
    // at the end both replicas report the same deployment-wide numbers and problems
    await waitUntil(async () => (await getJson(`${b.url}/api/status`)).body.jobs.done === 6, 60_000, 100, 'the deployment done');
    const [ea, eb] = [(await getJson(`${a.url}/api/status`)).body, (await getJson(`${b.url}/api/status`)).body];
    for (const k of ['jobs', 'highWaterMark', 'overall'] as const) {
      const strip = (o: any) => (k === 'overall' ? { ...o, nextPoll: null, ready: null, readyReason: null } : o);
      expect(strip(eb[k]), k).toEqual(strip(ea[k]));
    }
    expect(eb.problems.items.map((p: { key: string; state: string }) => `${p.state} ${p.key}`).sort()).toEqual([`failed ${HOSTILE}`, `gone ${GONE}`]);
    expect(eb.overall.bytes.done).toBe(5 * 200_000 + 30);
    expect(ea.recentCompletions).toHaveLength(6);
    expect(eb.recentCompletions).toEqual([]);
  });
});
