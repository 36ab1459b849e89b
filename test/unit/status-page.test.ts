// Status page pieces without a server: the live tracker (progress, speed, ETA, the hour's ring
// buffer), the token check, the renderers' escaping, the problem filter, the bandwidth window, and
// where http.token may come from (environment, file, systemd credential; never the YAML file).
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type http from 'node:http';
import { describe, expect, it } from 'vitest';
import { describeConfig, loadConfig, loadCredentials } from '../../src/config/load.js';
import { Secret } from '../../src/lib/secret.js';
import { HttpAuth, SESSION_TTL_MS, constantTimeEqual } from '../../src/ops/http-auth.js';
import { LiveStatus } from '../../src/ops/status/live.js';
import { StatusCache, bandwidthWindow, buildApiStatus, describeSource, parseProblemFilter, type ApiStatus, type StatusSources, type StoredStatus } from '../../src/ops/status/api.js';
import { esc, fmtSeconds, keyHtml, renderChart, renderNow, renderOverall, renderProblems } from '../../src/ops/status/page-render.js';
import type { Readiness } from '../../src/ops/http-server.js';
import type { ClaimedJob, JobState, StatusStore } from '../../src/store/types.js';

const job = (key: string, size: number, token = key): ClaimedJob => ({ id: 1, key, remoteModifiedMs: 0, remoteSize: size, remoteEtag: null, revision: 1, attempts: 1, leaseToken: token, leaseUntil: 0, localPath: null, locator: null });

describe('LiveStatus', () => {
  it('tracks bytes, speed and ETA per download and forgets finished ones', () => {
    let now = 1_000_000;
    const live = new LiveStatus({ clock: () => now });
    const ev = live.events();
    const a = job('a', 1000);
    void ev.onBytes!(100, a);
    now += 1000;
    void ev.onBytes!(100, a);
    const [p] = live.inFlight([a]);
    expect(p).toMatchObject({ key: 'a', size: 1000, bytes: 200, bytesPerSecond: 100, etaSeconds: 8 });
    // not yet a byte: 0 and no ETA
    expect(live.inFlight([job('b', 50)])[0]).toMatchObject({ bytes: 0, bytesPerSecond: 0, etaSeconds: null });
    ev.onOutcome!(a, 'done');
    expect(live.inFlight([a])[0]!.bytes).toBe(0);
  });

  it('keeps one hour of buckets in a ring: old ones are dropped, files and bytes are summed per bucket', () => {
    let now = 10_000_000;
    const live = new LiveStatus({ clock: () => now, bucketMs: 10_000, windowMs: 60_000 });
    const ev = live.events();
    const a = job('a', 10);
    void ev.onBytes!(500, a);
    ev.onDone!(a, { bytes: 500, sha256: '', path: 'a', received: 500, durationMs: 5, replaced: false });
    expect(live.history()).toHaveLength(1);
    expect(live.history()[0]).toMatchObject({ bytes: 500, files: 1 });
    now += 25_000;
    void ev.onBytes!(70, a);
    const h = live.history();
    expect(h.map((p) => p.bytes)).toEqual([500, 0, 70]);
    expect(h[0]!.bytesPerSecond).toBe(50);
    expect(h[0]!.filesPerMinute).toBe(6);
    // far later: the window holds 6 buckets, all reused
    now += 600_000;
    void ev.onBytes!(1, a);
    const later = live.history();
    expect(later).toHaveLength(6);
    expect(later.map((p) => p.bytes)).toEqual([0, 0, 0, 0, 0, 1]);
    expect(live.recent()).toEqual([{ key: 'a', bytes: 500, at: new Date(10_000_000).toISOString(), durationMs: 5 }]);
  });

  it('forgets downloads that ended without an outcome (a lost lease) once they are idle, even unviewed', () => {
    let now = 0;
    const live = new LiveStatus({ clock: () => now });
    const ev = live.events();
    for (let i = 0; i < 256; i++) void ev.onBytes!(1, job(`lost-${i}`, 10));
    expect(live.tracked).toBe(256);
    now += 11 * 60_000;
    void ev.onBytes!(1, job('fresh', 10));
    expect(live.tracked).toBe(1);
  });

  it('keeps at most `recent` completions, newest first', () => {
    const live = new LiveStatus({ recent: 3 });
    for (let i = 0; i < 5; i++) live.events().onDone!(job(`k${i}`, 1), { bytes: 1, sha256: '', path: '', received: 1, durationMs: 1, replaced: false });
    expect(live.recent().map((c) => c.key)).toEqual(['k4', 'k3', 'k2']);
  });
});

const req = (headers: Record<string, string>, remoteAddress = '203.0.113.7', localPort?: number) => ({ headers, socket: { remoteAddress, localPort } }) as unknown as http.IncomingMessage;

describe('HttpAuth', () => {
  it('is open without a token, and then refuses every action', () => {
    const a = new HttpAuth(undefined);
    expect(a.enabled).toBe(false);
    expect(a.check(req({}))).toEqual({ ok: true, via: 'open' });
    expect(a.checkAction(req({ authorization: 'Bearer x' }))).toMatchObject({ ok: false, status: 403 });
    expect(a.login(req({}), 'x')).toBe('disabled');
  });

  it('accepts the bearer token or the session cookie; actions by cookie need the header', () => {
    const a = new HttpAuth(new Secret('s3cret-token'));
    expect(a.check(req({ authorization: 'Bearer s3cret-token' }))).toEqual({ ok: true, via: 'bearer' });
    expect(a.check(req({ authorization: 'bearer  s3cret-token ' }))).toEqual({ ok: true, via: 'bearer' });
    expect(a.check(req({ authorization: 'Bearer s3cret-toke' })).ok).toBe(false);
    expect(a.check(req({ authorization: 'Basic s3cret-token' })).ok).toBe(false);
    expect(a.check(req({ cookie: 'constellr_sync_session=s3cret-token' })).ok).toBe(false);
    const cookie = a.login(req({ 'x-forwarded-proto': 'https' }), 's3cret-token') as string;
    expect(cookie).toMatch(/; Secure$/);
    const value = cookie.split(';')[0]!;
    expect(a.check(req({ cookie: `other=1; ${value}` }))).toEqual({ ok: true, via: 'cookie' });
    expect(a.checkAction(req({ cookie: value }))).toMatchObject({ ok: false, status: 403 });
    expect(a.checkAction(req({ cookie: value, 'x-constellr-sync-action': '1' }))).toEqual({ ok: true });
    expect(a.checkAction(req({}))).toMatchObject({ ok: false, status: 401 });
    // another process with the same token does not accept this session
    expect(new HttpAuth(new Secret('s3cret-token')).check(req({ cookie: value })).ok).toBe(false);
  });

  it('a session is random per login, expires, and is revoked at logout (issue 22 §8)', () => {
    let now = 0;
    const a = new HttpAuth(new Secret('tok'), () => now);
    const one = (a.login(req({}), 'tok') as string).split(';')[0]!;
    const two = (a.login(req({}), 'tok') as string).split(';')[0]!;
    expect(one).toMatch(/^constellr_sync_session=[0-9a-f]{64}$/);
    expect(two).not.toBe(one);
    expect(a.login(req({}), 'tok')).toMatch(new RegExp(`; Max-Age=${SESSION_TTL_MS / 1000};`));
    expect(a.check(req({ cookie: one })).ok).toBe(true);
    // logout ends that session only, even for a client that kept the cookie
    expect(a.logout(req({ cookie: one }))).toMatch(/Max-Age=0/);
    expect(a.check(req({ cookie: one })).ok).toBe(false);
    expect(a.check(req({ cookie: two })).ok).toBe(true);
    now += SESSION_TTL_MS;
    expect(a.check(req({ cookie: two })).ok).toBe(false);
  });

  it('compares in constant time over digests (any lengths)', () => {
    expect(constantTimeEqual('abc', 'abc')).toBe(true);
    expect(constantTimeEqual('abc', 'abcd')).toBe(false);
    expect(constantTimeEqual('', '')).toBe(true);
  });

  it('throttles wrong tokens per client address, at the form and as a bearer, then recovers (issue 22 §8)', () => {
    let now = 0;
    const a = new HttpAuth(new Secret('tok'), () => now);
    const stranger = '198.51.100.9';
    for (let i = 0; i < 10; i++) expect(a.login(req({}, stranger), 'bad')).toBe('wrong');
    expect(a.login(req({}, stranger), 'tok')).toBe('throttled');
    expect(a.check(req({ authorization: 'Bearer tok' }, stranger))).toEqual({ ok: false, throttled: true });
    expect(a.checkAction(req({ authorization: 'Bearer tok' }, stranger))).toMatchObject({ ok: false, status: 429 });
    // everyone else is not locked out
    expect(a.login(req({}, '203.0.113.7'), 'tok')).toMatch(/^constellr_sync_session=/);
    expect(a.check(req({ authorization: 'Bearer tok' }, '203.0.113.7'))).toEqual({ ok: true, via: 'bearer' });
    // wrong bearer tokens count as well
    const prober = '2001:db8:1:2:3:4:5:6';
    for (let i = 0; i < 10; i++) expect(a.check(req({ authorization: `Bearer guess-${i}` }, prober))).toEqual({ ok: false });
    expect(a.check(req({ authorization: 'Bearer tok' }, prober))).toEqual({ ok: false, throttled: true });
    // the same /64 is the same client; another /64 is not
    expect(a.login(req({}, '2001:db8:1:2::99'), 'tok')).toBe('throttled');
    expect(a.login(req({}, '2001:db8:1:3::99'), 'tok')).toMatch(/^constellr_sync_session=/);
    // behind a proxy on this host, the address it appended last is the client
    for (let i = 0; i < 10; i++) a.login(req({ 'x-forwarded-for': '192.0.2.1, 192.0.2.50' }, '127.0.0.1'), 'bad');
    expect(a.login(req({ 'x-forwarded-for': '192.0.2.50' }, '127.0.0.1'), 'tok')).toBe('throttled');
    expect(a.login(req({ 'x-forwarded-for': '192.0.2.51' }, '127.0.0.1'), 'tok')).toMatch(/^constellr_sync_session=/);
    // a stranger's X-Forwarded-For is not believed
    expect(a.login(req({ 'x-forwarded-for': '203.0.113.8' }, stranger), 'tok')).toBe('throttled');
    now += 60_000;
    expect(a.login(req({}, stranger), 'tok')).toMatch(/^constellr_sync_session=/);
    expect(a.check(req({ authorization: 'Bearer tok' }, prober)).ok).toBe(true);
  });

  it('without a token answers only a Host that names the listener (DNS rebinding, issue 22 §8)', () => {
    const a = new HttpAuth(undefined, { listenHost: '0.0.0.0' });
    const at = (host: string) => a.hostAllowed(req({ host }, '127.0.0.1', 9464));
    expect(at('127.0.0.1:9464')).toBe(true);
    expect(at('localhost:9464')).toBe(true);
    expect(at('[::1]:9464')).toBe(true);
    expect(at('192.168.1.20:9464')).toBe(true);
    expect(at('attacker.example:9464')).toBe(false);
    expect(at('localhost.attacker.example:9464')).toBe(false);
    expect(at('localhost:8080')).toBe(true); // a published container port
    expect(at('localhost')).toBe(true);
    expect(at('')).toBe(false);
    expect(new HttpAuth(undefined, { listenHost: 'mirror.lan' }).hostAllowed(req({ host: 'mirror.lan:9464' }, '10.0.0.2', 9464))).toBe(true);
    expect(a.hostAllowed(req({}, '127.0.0.1', 9464))).toBe(false);
    // with a token the token guards, under any name
    expect(new HttpAuth(new Secret('tok')).hostAllowed(req({ host: 'mirror.example.com' }, '10.0.0.2', 443))).toBe(true);
  });
});

describe('rendering and filters', () => {
  it('escapes markup and quotes', () => {
    expect(esc(`<script>"x" & 'y'</script>`)).toBe('&lt;script&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/script&gt;');
    expect(esc(null)).toBe('');
    expect(fmtSeconds(0.25)).toBe('0.3 s');
    expect(fmtSeconds(3700)).toBe('1 h 1 min');
    expect(fmtSeconds(null)).toBe('–');
  });

  it('renders problem rows with hostile keys and messages as text', () => {
    const html = renderProblems({
      generatedAt: '2026-12-01T00:00:00.000Z',
      lastPoll: { error: '<i>poll</i>', errorClass: 'http_5xx', errorAt: '2026-12-01T00:00:00.000Z' },
      problems: { total: 1, classes: ['x'], filter: parseProblemFilter(new URLSearchParams()), items: [{ key: '<img src=x onerror=alert(1)>', state: 'failed', class: '"><b>', status: 403, message: '<script>alert(2)</script>', attempts: 3, nextRetry: null, at: '2026-12-01T00:00:00.000Z' }] },
    } as never);
    expect(html).not.toMatch(/<img|<script|<b>|<i>/);
    expect(html).toContain('&lt;i&gt;poll&lt;/i&gt;');
    expect(html).toContain('&lt;img src=x onerror=alert(1)&gt;');
  });

  it('parses the problem filter, ignoring unknown states and bounding lengths', () => {
    expect(parseProblemFilter(new URLSearchParams('problems=failed,nonsense,gone&class=network&q=%20abc%20'))).toEqual({ states: ['failed', 'gone'], class: 'network', q: 'abc' });
    expect(parseProblemFilter(new URLSearchParams('problems=nonsense')).states).toEqual(['failed', 'gone', 'retrying']);
    expect(parseProblemFilter(new URLSearchParams(`q=${'x'.repeat(500)}`)).q).toHaveLength(200);
  });

  it('shows the source without user info or query', () => {
    expect(describeSource('https://user:pw@api.example.test/v1?key=secret')).toBe('https://api.example.test/v1');
  });

  it('finds when the bandwidth rate changes next (or null when it does not within a day)', () => {
    const t0 = Date.UTC(2026, 0, 1, 10, 0, 30);
    const at = (ms: number) => (ms >= Date.UTC(2026, 0, 1, 18, 0) ? null : 1000);
    expect(bandwidthWindow(at, t0, null)).toEqual({ rate: 1000, changesAt: Date.UTC(2026, 0, 1, 18, 0) });
    expect(bandwidthWindow(() => 5, t0, null)).toEqual({ rate: 5, changesAt: null });
    expect(bandwidthWindow(() => null, t0, null)).toEqual({ rate: null, changesAt: null });
  });
});

describe('StatusCache', () => {
  it('shares one load between refreshes for a while, reloads after clear() and after a failure', async () => {
    const cache = new StatusCache();
    let loads = 0;
    const load = async () => ({ n: ++loads }) as unknown as StoredStatus;
    const a = await cache.get(load);
    const b = await cache.get(load);
    expect(loads).toBe(1);
    expect(b).toBe(a);
    cache.clear();
    await cache.get(load);
    expect(loads).toBe(2);
    const failing = new StatusCache();
    await expect(failing.get(() => Promise.reject(new Error('db closed')))).rejects.toThrow('db closed');
    await expect(failing.get(load)).resolves.toMatchObject({ n: 3 });
  });
});

describe('http.token', () => {
  it('comes from CONSTELLR_SYNC_HTTP_TOKEN, its _FILE, or the systemd credential constellr-http-token', () => {
    expect(loadCredentials({ CONSTELLR_SYNC_HTTP_TOKEN: 'from-env' }).httpToken?.reveal()).toBe('from-env');
    const dir = mkdtempSync(path.join(os.tmpdir(), 'cs-token-'));
    writeFileSync(path.join(dir, 'tok'), 'from-file\n');
    expect(loadCredentials({ CONSTELLR_SYNC_HTTP_TOKEN_FILE: path.join(dir, 'tok') }).httpToken?.reveal()).toBe('from-file');
    writeFileSync(path.join(dir, 'constellr-http-token'), 'from-credential\n');
    expect(loadCredentials({ CREDENTIALS_DIRECTORY: dir }).httpToken?.reveal()).toBe('from-credential');
    expect(loadCredentials({ CONSTELLR_SYNC_HTTP_TOKEN: '' }).httpToken).toBeUndefined();
  });

  it('is refused in the YAML file and masked when the configuration is printed', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'cs-token-'));
    const file = path.join(dir, 'c.yaml');
    writeFileSync(file, 'http:\n  token: in-the-file\n');
    expect(() => loadConfig({ configFile: file, env: {} })).toThrow(/http\.token: secrets are not accepted in the file/);
    const cfg = loadConfig({ env: { CONSTELLR_SYNC_HTTP_TOKEN: 'very-secret-value' } });
    const shown = JSON.stringify(describeConfig(cfg));
    expect(shown).not.toContain('very-secret-value');
    expect((describeConfig(cfg).credentials as Record<string, unknown>).httpToken).toBe('***');
    expect(cfg.http.statusPage).toBe(true);
  });
});

/** A StatusStore answering fixed counts (only what the status report and the page read). */
function fixedStore(jobs: Record<JobState, number>): StatusStore {
  const t = Date.UTC(2026, 11, 1, 12);
  const zero = Object.fromEntries(Object.keys(jobs).map((k) => [k, 0]));
  return {
    backend: 'sqlite',
    getCursor: async () => ({ hwmMs: t, sourceInfo: null, pollStartedAt: t, pollFinishedAt: t, pollError: null, pollErrorClass: null, pollErrorAt: null, clockSkewMs: null, clockSkewAt: null }),
    counts: async () => ({ ...jobs }),
    remoteDeletedCount: async () => 0,
    lastReconcile: async () => null,
    recentFailures: async () => [],
    mirrorTotals: async () => ({ bytes: { ...zero }, unknown: { ...zero }, lastDoneAt: t }),
    bytesByState: async () => ({ ...zero }),
    problemJobs: async () => [],
  } as unknown as StatusStore;
}

/** What the status API reads, over fixed counts and the given downloads in flight, at 2026-12-01 12:00:05 UTC. */
function pageSources(jobs: Record<JobState, number>, inFlight: ClaimedJob[]): StatusSources {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cs-page-'));
  const config = loadConfig({ env: {}, flags: { 'state-dir': path.join(dir, 's'), 'mirror-dir': path.join(dir, 'm') } });
  return {
    store: fixedStore(jobs),
    config: () => config,
    live: new LiveStatus(),
    inFlight: () => inFlight,
    gatePauses: () => [],
    bandwidth: () => null,
    readiness: () => ({ ready: true, reason: 'ok' }) as Readiness,
    owner: 'test:1',
    isPoller: () => true,
    actionsEnabled: false,
    clock: () => Date.UTC(2026, 11, 1, 12, 0, 5),
  };
}

describe('the page as a person reads it (issue 25 item 10)', () => {
  it('the "running" count is the downloads in flight, the same reading as the progress bars', async () => {
    // the database was read when 3 were running; a fourth download has started since
    const running = [job('a/1.tif', 10, 't1'), job('a/2.tif', 10, 't2'), job('a/3.tif', 10, 't3'), job('a/4.tif', 10, 't4')];
    const src = pageSources({ queued: 5, running: 3, done: 2, failed: 0, gone: 0 }, running);
    const d = await buildApiStatus(src);
    expect(d.jobs.running).toBe(3);
    expect(d.runningNow).toBe(4);
    const html = renderNow(d);
    const chip = /data-state="running"><span class="n">(\d+)</.exec(html)?.[1];
    const bars = html.match(/role="progressbar"/g)?.length;
    expect(bars).toBe(4);
    expect(Number(chip)).toBe(bars);
  });

  it('a catalog write error is named under the headline and in Problems, as status prints CATALOG FAILED', async () => {
    const src = pageSources({ queued: 0, running: 0, done: 2, failed: 0, gone: 0 }, []);
    const healthy = await buildApiStatus(src);
    expect(renderOverall(healthy)).not.toContain('STAC catalog');
    expect(renderProblems(healthy)).not.toContain('catalog-error');
    const catalog = { failing: true, error: 'ENOSPC: no space left on device <b>', errorClass: 'SYNC_DISK_FULL', path: 'lstzoom/collection.json', since: '2026-12-01T11:58:00.000Z' };
    const d = { ...healthy, catalog, catalogue: catalog } as ApiStatus;
    expect(renderOverall(d)).toMatch(/id="problem-line">Problems: the STAC catalog cannot be written \(<a href="#problems">/);
    const problems = renderProblems(d);
    expect(problems).toContain('<strong>STAC catalog not written</strong>');
    expect(problems).toContain('[SYNC_DISK_FULL]');
    expect(problems).toContain('ENOSPC: no space left on device &lt;b&gt;');
    expect(problems).toContain('<code>lstzoom/collection.json</code>');
    expect(problems).toContain('2026-12-01 11:58:00 UTC');
  });

  it('keys break only after "/" and "_" (a long run without them every 16 characters), escaped', () => {
    expect(keyHtml('products/ndvi/2026/S2A_tile_metadata.json')).toBe('products/<wbr>ndvi/<wbr>2026/<wbr>S2A_<wbr>tile_<wbr>metadata.json');
    expect(keyHtml('a/<b>&"x"_y')).toBe('a/<wbr>&lt;b&gt;&amp;&quot;x&quot;_<wbr>y');
    const long = `d/${'x'.repeat(40)}.tif`;
    const parts = keyHtml(long).split('<wbr>');
    expect(parts.join('')).toBe(long);
    expect(Math.max(...parts.map((p) => p.length))).toBeLessThanOrEqual(24);
    // no break inside an entity: each piece is escaped on its own
    for (const p of keyHtml(`${'<'.repeat(30)}`).split('<wbr>')) expect(p).toMatch(/^(&lt;)+$/);
  });

  const problems = (items: ApiStatus['problems']['items']) =>
    ({ generatedAt: '2026-12-01T12:10:00.000Z', lastPoll: { error: null }, problems: { total: items.length, classes: [], filter: parseProblemFilter(new URLSearchParams()), items } }) as unknown as ApiStatus;
  const cell = (html: string, state: string, label: string) => new RegExp(`<tr data-state="${state}">.*?<td[^>]*data-label="${label}">(.*?)</td>`).exec(html)?.[1] ?? null;

  it('"Next retry" never shows a past time: none for gone and failed rows, "due now" for an overdue retry', () => {
    const at = '2026-12-01T12:05:00.000Z';
    const html = renderProblems(
      problems([
        { key: 'g.tif', state: 'gone', class: 'not_found', status: 404, message: 'HTTP 404', attempts: 1, nextRetry: null, at },
        { key: 'f.tif', state: 'failed', class: 'unsafe_key', status: null, message: 'no', attempts: 1, nextRetry: null, at },
        { key: 'r.tif', state: 'retrying', class: 'network', status: null, message: 'reset', attempts: 2, nextRetry: '2026-12-01T12:09:00.000Z', at },
      ]),
    );
    expect(cell(html, 'gone', 'Next retry')).toBe('<span class="muted">none: the API no longer serves it</span>');
    expect(cell(html, 'failed', 'Next retry')).toContain('none until');
    expect(cell(html, 'retrying', 'Next retry')).toBe('due now');
    // when it happened has its own column
    expect(cell(html, 'gone', 'When')).toContain('5 min 0 s ago');
    const later = renderProblems(problems([{ key: 'r.tif', state: 'retrying', class: 'network', status: null, message: 'reset', attempts: 2, nextRetry: '2026-12-01T12:10:30.000Z', at }]));
    expect(cell(later, 'retrying', 'Next retry')).toContain('(in 30 s)');
  });

  it('the chart has a y-axis scale on each side: round tops, the middle, 0, at the grid lines', () => {
    const pts = [0, 200_000, 395_878].map((b, i) => ({ t: `2026-12-01T12:0${i}:00.000Z`, bytes: b * 10, files: i, bytesPerSecond: b, filesPerMinute: [0, 30, 66][i]! }));
    const html = renderChart({ history: { bucketSeconds: 10, points: pts } } as unknown as ApiStatus);
    const labels = (side: string) => [...(new RegExp(`id="chart-y-${side}"[^>]*>(.*?)</div>`).exec(html)?.[1] ?? '').matchAll(/<span style="top:([\d.]+)%">([^<]*)<\/span>/g)].map((m) => [Number(m[1]), m[2]]);
    // 386.6 KiB/s peak: a 500 KiB/s top; 66 files/min: 100/min
    expect(labels('left')).toEqual([
      [2.5, '500 KiB/s'],
      [50, '250 KiB/s'],
      [97.5, '0'],
    ]);
    expect(labels('right')).toEqual([
      [2.5, '100/min'],
      [50, '50'],
      [97.5, '0'],
    ]);
    // the grid lines sit where the labels are (y out of 160)
    expect([...html.matchAll(/<line class="grid"[^>]*y1="([\d.]+)"/g)].map((m) => (Number(m[1]) / 160) * 100)).toEqual([2.5, 50, 97.5]);
    // the highest point is drawn at its value on that scale: 395878 of 512000 B/s
    const last = /<polyline class="tp" fill="none" points="([^"]+)"/.exec(html)![1]!.split(' ').pop()!;
    expect(Number(last.split(',')[1])).toBeCloseTo(160 - 4 - (395_878 / 512_000) * 152, 1);
  });
});
