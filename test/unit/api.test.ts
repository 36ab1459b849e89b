// The API client's building blocks: TokenManager (single flight, encoding fallback, rejected
// credentials, expiry), Retry-After parsing, the error classification table, and listing validation.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TokenManager, jwtExpiryMs, renewalTime, tokenExpiryMs } from '../../src/api/auth.js';
import { SyncError, classifyError, errorFromStatus } from '../../src/errors.js';
import { parseRetryAfter } from '../../src/lib/retry-after.js';
import { WireError, parseListPage } from '../../src/api/wire.js';
import { createLogger } from '../../src/lib/logger.js';
import { Secret } from '../../src/lib/secret.js';
import { startSimulator, type SimulatorOptions, type Simulator } from '../../src/simulator/index.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

async function sim(opts: SimulatorOptions = {}): Promise<Simulator> {
  const s = await startSimulator({ adminPort: false, ...opts });
  cleanups.push(() => s.close());
  return s;
}

function manager(url: string, password: string, o: { clock?: () => number; encoding?: 'auto' | 'json' | 'form' } = {}): TokenManager {
  const dispatcher = new Agent({ connections: 50 });
  cleanups.push(() => dispatcher.close());
  return new TokenManager({ baseUrl: url, username: 'demo', password: new Secret(password), dispatcher, encoding: o.encoding ?? 'auto', clock: o.clock });
}

function jwt(payload: Record<string, unknown>): string {
  const b = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${b({ alg: 'HS256', typ: 'JWT' })}.${b(payload)}.c2ln`;
}

describe('TokenManager', () => {
  it('single flight: 20 concurrent callers share one token request', async () => {
    const s = await sim({ faults: { latencyMs: 100 } });
    const tm = manager(s.url, s.password);
    const tokens = await Promise.all(Array.from({ length: 20 }, () => tm.get()));
    expect(new Set(tokens).size).toBe(1);
    expect(s.stats.tokenRequests).toBe(1);
    // 20 callers whose requests were all rejected with that token: one renewal between them
    const stale = tokens[0]!;
    const renewed = await Promise.all(Array.from({ length: 20 }, () => tm.renew(stale)));
    expect(new Set(renewed).size).toBe(1);
    expect(renewed[0]).not.toBe(stale);
    expect(s.stats.tokenRequests).toBe(2);
    // a late caller still holding the stale token gets the new one without another request
    expect(await tm.renew(stale)).toBe(renewed[0]);
    expect(s.stats.tokenRequests).toBe(2);
    expect(tm.renewals).toBe(2);
  });

  it('says which encoding the token endpoint accepted at debug level, not info', async () => {
    const s = await sim({ tokenEncoding: 'form' });
    const lines: { level: string; msg: string }[] = [];
    const logger = createLogger({ level: 'debug', destination: { write: (l: string) => void lines.push(JSON.parse(l) as { level: string; msg: string }) } as never });
    const dispatcher = new Agent({ connections: 4 });
    cleanups.push(() => dispatcher.close());
    const tm = new TokenManager({ baseUrl: s.url, username: 'demo', password: new Secret(s.password), dispatcher, encoding: 'auto', logger });
    await tm.get();
    const line = lines.find((l) => l.msg.includes('accepted this encoding'));
    expect(line?.level).toBe('debug');
  });

  it('a 404 on POST /token is a wrong api.url: not retried, handled as an authentication failure, names the fix', async () => {
    const s = await sim();
    const tm = manager(`${s.url}/not-the-api`, s.password);
    const e = await tm.get().catch((x: unknown) => x);
    expect(e).toMatchObject({ code: 'SYNC_AUTH_ENDPOINT_NOT_FOUND', kind: 'auth_rejected', status: 404 });
    expect((e as Error).message).toMatch(/is api\.url right\?/);
  });

  it('falls back from JSON to form on 415 and remembers it', async () => {
    const s = await sim({ tokenEncoding: 'form' });
    const tm = manager(s.url, s.password);
    const t1 = await tm.get();
    expect(t1).toBeTruthy();
    expect(tm.encoding).toBe('form');
    expect(s.stats.tokenRequestsByEncoding).toEqual({ json: 1, form: 1 });
    await tm.renew(t1);
    await tm.renew(await tm.get());
    expect(s.stats.tokenRequestsByEncoding).toEqual({ json: 1, form: 3 }); // JSON never tried again
  });

  it('falls back from JSON to form on 422 (FastAPI expecting a form) and remembers it', async () => {
    const seen: string[] = [];
    const server = http.createServer((req, res) => {
      const ct = String(req.headers['content-type']);
      seen.push(ct);
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        if (ct.startsWith('application/json')) {
          res.writeHead(422, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ detail: [{ type: 'missing', loc: ['body', 'username'], msg: 'Field required' }] }));
          return;
        }
        const p = new URLSearchParams(body);
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ access_token: `opaque-${p.get('username')}-${seen.length}`, token_type: 'bearer' }));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
    const tm = manager(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, 'pw');
    const t1 = await tm.get();
    expect(t1).toBe('opaque-demo-2');
    expect(tm.encoding).toBe('form');
    await tm.renew(t1);
    expect(seen.map((c) => c.split(';')[0])).toEqual(['application/json', 'application/x-www-form-urlencoded', 'application/x-www-form-urlencoded']);
  });

  it('wrong credentials: one clear error for every caller and exactly one token request', async () => {
    const s = await sim();
    const wrong = 'not-the-Password-123';
    const tm = manager(s.url, wrong);
    const results = await Promise.allSettled(Array.from({ length: 20 }, () => tm.get()));
    expect(s.stats.tokenRequests).toBe(1);
    for (const r of results) {
      expect(r.status).toBe('rejected');
      const e = (r as PromiseRejectedResult).reason as SyncError;
      expect(e).toBeInstanceOf(SyncError);
      expect(e.kind).toBe('auth_rejected');
      expect(e.status).toBe(401);
      expect(e.message).toMatch(/rejected the credentials/);
      expect(e.message).not.toContain(wrong);
    }
  });

  it('renews a JWT shortly before its exp, not before', async () => {
    let now = Date.UTC(2025, 5, 1, 10, 0, 0, 250);
    const clock = () => now;
    const s = await sim({ tokenTtlMs: 60_000, clock });
    const tm = manager(s.url, s.password, { clock });
    const t1 = await tm.get();
    const exp = jwtExpiryMs(t1)!;
    expect(exp).toBe(Math.floor((now + 60_000) / 1000) * 1000);
    const renewAt = renewalTime(now, exp);
    expect(renewAt).toBeLessThan(exp);
    expect(exp - renewAt).toBeLessThanOrEqual(0.1 * 60_000);
    now = renewAt - 1;
    expect(await tm.get()).toBe(t1);
    expect(s.stats.tokenRequests).toBe(1);
    now = renewAt;
    const t2 = await tm.get();
    expect(t2).not.toBe(t1);
    expect(s.stats.tokenRequests).toBe(2);
  });

  it('a local clock far ahead of the server does not renew on every call (JWT iat..exp span)', async () => {
    // The server's clock is 10 min behind ours; its tokens live 60 s, so by our clock every JWT
    // arrives already expired. Renewing on each get() would be a token storm.
    const s = await sim({ tokenTtlMs: 60_000, clock: () => Date.now() - 10 * 60_000 });
    const tm = manager(s.url, s.password);
    const first = await tm.get();
    for (let i = 0; i < 10; i++) expect(await tm.get()).toBe(first);
    expect(s.stats.tokenRequests).toBe(1);
    // and it is still renewed before the (server-side) lifetime ends
    const late = manager(s.url, s.password, { clock: () => Date.now() + 58_000 });
    await late.get();
    expect(s.stats.tokenRequests).toBe(2);
  });

  it('an opaque token with expires_in is renewed a margin before that', async () => {
    let requests = 0;
    const server = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        requests++;
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ access_token: `opaque-${requests}`, token_type: 'bearer', expires_in: 600 }));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
    let now = Date.UTC(2025, 5, 1);
    const tm = manager(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, 'pw', { clock: () => now });
    expect(await tm.get()).toBe('opaque-1');
    now += 539_000; // 10 % of 600 s before expiry is 540 s
    expect(await tm.get()).toBe('opaque-1');
    now += 1000;
    expect(await tm.get()).toBe('opaque-2');
  });

  it('an opaque token is kept for 24 h minus a margin', async () => {
    let now = Date.UTC(2025, 5, 1, 10, 0, 0);
    const clock = () => now;
    const s = await sim({ tokenFormat: 'opaque', clock });
    const tm = manager(s.url, s.password, { clock });
    const t1 = await tm.get();
    expect(jwtExpiryMs(t1)).toBeNull();
    now += 23 * 3600_000 + 50 * 60_000;
    expect(await tm.get()).toBe(t1);
    now += 6 * 60_000; // 23 h 56 min: inside the 5 min margin
    expect(await tm.get()).not.toBe(t1);
    expect(s.stats.tokenRequests).toBe(2);
  });
});

describe('jwtExpiryMs', () => {
  it('reads exp in seconds; anything else is null', () => {
    expect(jwtExpiryMs(jwt({ exp: 1_700_000_000 }))).toBe(1_700_000_000_000);
    expect(jwtExpiryMs(jwt({ sub: 'x' }))).toBeNull();
    expect(jwtExpiryMs(jwt({ exp: '1700000000' }))).toBeNull();
    expect(jwtExpiryMs('opaque-token')).toBeNull();
    expect(jwtExpiryMs('a.b')).toBeNull();
    expect(jwtExpiryMs('a.!!!notbase64json.c')).toBeNull();
  });
});

describe('tokenExpiryMs', () => {
  const now = 1_700_000_000_000;
  it('uses exp when the clocks agree', () => {
    expect(tokenExpiryMs(jwt({ iat: now / 1000, exp: now / 1000 + 3600 }), now + 200)).toBe(now + 3_600_000);
    expect(tokenExpiryMs(jwt({ exp: now / 1000 + 3600 }), now)).toBe(now + 3_600_000);
  });
  it('anchors the iat..exp span at the local issue time when the clocks disagree', () => {
    // our clock is 2 h ahead: by exp alone the token expired an hour before it arrived
    expect(tokenExpiryMs(jwt({ iat: now / 1000, exp: now / 1000 + 3600 }), now + 7_200_000)).toBe(now + 7_200_000 + 3_600_000);
  });
  it('falls back to expires_in, then 24 h', () => {
    expect(tokenExpiryMs(jwt({ exp: now / 1000 - 10 }), now)).toBe(now + 24 * 3_600_000); // expired on arrival, no iat
    expect(tokenExpiryMs('opaque', now, 300)).toBe(now + 300_000);
    expect(tokenExpiryMs('opaque', now)).toBe(now + 24 * 3_600_000);
  });
});

describe('parseRetryAfter', () => {
  // HTTP dates are GMT whatever the local zone: the asctime form has no zone and Date.parse would
  // read it as local time, so these run in a zone far from UTC (Node honours TZ changes at run time).
  const savedTz = process.env.TZ;
  beforeAll(() => {
    process.env.TZ = 'America/New_York';
  });
  afterAll(() => {
    if (savedTz === undefined) delete process.env.TZ;
    else process.env.TZ = savedTz;
  });
  const now = Date.UTC(2025, 0, 1, 0, 0, 0);
  it.each([
    ['120', 120_000],
    ['0', 0],
    ['1.5', 1500],
    [' 7 ', 7000],
    [new Date(now + 30_000).toUTCString(), 30_000],
    [new Date(now - 30_000).toUTCString(), 0],
    ['Wed, 01 Jan 2025 00:01:00 GMT', 60_000],
    ['Wednesday, 01-Jan-25 00:02:00 GMT', 120_000], // RFC 850
    ['Wed Jan  1 00:03:00 2025', 180_000], // asctime (UTC by definition)
  ])('%j → %d ms', (v, ms) => {
    expect(parseRetryAfter(v, now)).toBe(ms);
  });
  it('takes the first of several values', () => {
    expect(parseRetryAfter(['3', '9'], now)).toBe(3000);
  });
  it.each([undefined, '', '   ', 'soon', 'in a while', '-5', '-1.5', '5 seconds'])('%j → undefined', (v) => {
    expect(parseRetryAfter(v, now)).toBeUndefined();
  });
});

describe('error classification', () => {
  it.each([
    [401, 'auth', 'auth'],
    [403, 'permanent', 'http_4xx'],
    [404, 'gone', 'not_found'],
    [410, 'gone', 'not_found'],
    [408, 'retryable', 'timeout'],
    [429, 'retryable', 'rate_limited'],
    [400, 'permanent', 'http_4xx'],
    [422, 'permanent', 'http_4xx'],
    [500, 'retryable', 'http_5xx'],
    [502, 'retryable', 'http_5xx'],
    [503, 'retryable', 'http_5xx'],
    [504, 'retryable', 'http_5xx'],
  ])('HTTP %d → %s / %s', (status, kind, cls) => {
    const e = errorFromStatus(status, 'GET x');
    expect(e.kind).toBe(kind);
    expect(e.errorClass).toBe(cls);
    expect(e.status).toBe(status);
    expect(e.message).toContain(String(status));
  });

  it('keeps Retry-After on 429 and 503', () => {
    expect(errorFromStatus(429, 'x', { retryAfterMs: 5000 }).retryAfterMs).toBe(5000);
    expect(errorFromStatus(503, 'x', { retryAfterMs: 7000 }).retryAfterMs).toBe(7000);
  });

  const errno = (code: string, name = 'Error') => Object.assign(new Error(`boom ${code}`), { code, name });
  it.each([
    ['ECONNRESET', 'retryable', 'network'],
    ['ECONNREFUSED', 'retryable', 'network'],
    ['EPIPE', 'retryable', 'network'],
    ['ENOTFOUND', 'retryable', 'network'],
    ['ETIMEDOUT', 'retryable', 'timeout'],
    ['UND_ERR_SOCKET', 'retryable', 'network'],
    ['UND_ERR_CONNECT_TIMEOUT', 'retryable', 'timeout'],
    ['UND_ERR_HEADERS_TIMEOUT', 'retryable', 'timeout'],
    ['UND_ERR_BODY_TIMEOUT', 'retryable', 'timeout'],
    ['UND_ERR_RES_CONTENT_LENGTH_MISMATCH', 'retryable', 'short_body'],
    ['ENOSPC', 'disk_full', 'disk_full'],
    ['EDQUOT', 'disk_full', 'disk_full'],
    ['UND_ERR_ABORTED', 'aborted', 'aborted'],
    ['EIO', 'retryable', 'io'],
  ])('%s → %s / %s', (code, kind, cls) => {
    const e = classifyError(errno(code), 'GET x');
    expect(e).toBeInstanceOf(SyncError);
    expect(e.kind).toBe(kind);
    expect(e.errorClass).toBe(cls);
  });

  it('AbortError and TimeoutError by name; SyncErrors pass through; unknowns are internal', () => {
    expect(classifyError(Object.assign(new Error('a'), { name: 'AbortError' })).kind).toBe('aborted');
    expect(classifyError(Object.assign(new Error('t'), { name: 'TimeoutError' })).errorClass).toBe('timeout');
    const s = errorFromStatus(404, 'x');
    expect(classifyError(s)).toBe(s);
    const u = classifyError(new Error('weird'));
    expect(u.errorClass).toBe('internal');
    expect(classifyError('a string').message).toContain('a string');
  });
});

describe('parseListPage', () => {
  const item = { Key: 'a/b.tif', LastModified: '2025-01-01T00:00:00Z', Size: 10, ETag: '"e"' };
  it.each(['NextContinuationToken', 'continuation_token', 'next_continuation_token', 'ContinuationToken'])('reads the next token from %s', (field) => {
    const p = parseListPage({ Contents: [item], IsTruncated: true, [field]: 'tok-1' });
    expect(p.nextToken).toBe('tok-1');
    expect(p.items).toEqual([{ key: 'a/b.tif', lastModifiedMs: Date.UTC(2025, 0, 1), size: 10, etag: '"e"' }]);
    // without IsTruncated a token is followed too
    expect(parseListPage({ Contents: [item], [field]: 'tok-2' }).nextToken).toBe('tok-2');
  });

  it('ends on IsTruncated false or no token', () => {
    expect(parseListPage({ Contents: [item], IsTruncated: false }).nextToken).toBeNull();
    expect(parseListPage({ Contents: [item], IsTruncated: false, NextContinuationToken: 'x' }).nextToken).toBeNull();
    expect(parseListPage({ Contents: [item] }).nextToken).toBeNull();
    expect(parseListPage({ KeyCount: 0, IsTruncated: false }).items).toEqual([]);
    expect(parseListPage({ Contents: [] }).items).toEqual([]);
  });

  it('accepts fractional seconds and offsets, and extra fields', () => {
    const p = parseListPage({ Contents: [{ ...item, LastModified: '2025-01-01T01:00:00.500+01:00', StorageClass: 'STANDARD' }], MaxKeys: 1000 });
    expect(p.items[0]!.lastModifiedMs).toBe(Date.UTC(2025, 0, 1, 0, 0, 0, 500));
  });

  it.each([
    ['null', null],
    ['a string', 'nope'],
    ['an array', [item]],
    ['an empty object', {}],
    ['Contents not an array', { Contents: 'oops' }],
    ['Contents null', { Contents: null }],
    ['an item without Size', { Contents: [{ Key: 'k', LastModified: item.LastModified }] }],
    ['Size as a string', { Contents: [{ ...item, Size: '10' }] }],
    ['a negative Size', { Contents: [{ ...item, Size: -1 }] }],
    ['a fractional Size', { Contents: [{ ...item, Size: 1.5 }] }],
    ['Key null', { Contents: [{ ...item, Key: null }] }],
    ['an empty Key', { Contents: [{ ...item, Key: '' }] }],
    ['ETag null', { Contents: [{ ...item, ETag: null }] }],
    ['ETag as a number', { Contents: [{ ...item, ETag: 7 }] }],
    ['an item that is a string', { Contents: ['a/b.tif'] }],
    ['an item that is null', { Contents: [item, null] }],
    ['an item that is an array', { Contents: [[item]] }],
    ['Size beyond 2^53', { Contents: [{ ...item, Size: 2 ** 60 }] }],
    ['LastModified without a zone', { Contents: [{ ...item, LastModified: '2025-01-01T00:00:00' }] }],
    ['LastModified not a date', { Contents: [{ ...item, LastModified: 'yesterday' }] }],
    ['an impossible date', { Contents: [{ ...item, LastModified: '2025-13-45T99:99:99Z' }] }],
    ['IsTruncated as a string', { Contents: [item], IsTruncated: 'false' }],
    ['IsTruncated without a token', { Contents: [item], IsTruncated: true }],
    ['IsTruncated with an empty token', { Contents: [item], IsTruncated: true, NextContinuationToken: '' }],
    ['a numeric token', { Contents: [item], IsTruncated: true, NextContinuationToken: 42 }],
  ])('rejects %s', (_label, body) => {
    expect(() => parseListPage(body)).toThrow(WireError);
    expect(() => parseListPage(body)).toThrow(/malformed listing page/);
  });
});
