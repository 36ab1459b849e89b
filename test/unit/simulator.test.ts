import { createHash } from 'node:crypto';
import net from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  AssetInventory,
  compareKeys,
  contentBytes,
  contentSha256,
  createContentStream,
  encodeKeyPath,
  mulberry32,
  parseRange,
  sampleInventory,
  startSimulator,
  type Simulator,
  type SimulatorOptions,
} from '../../src/simulator/index.js';

const sims: Simulator[] = [];
afterEach(async () => {
  await Promise.all(sims.splice(0).map((s) => s.close()));
});

async function start(opts: SimulatorOptions = {}): Promise<Simulator> {
  const sim = await startSimulator(opts);
  sims.push(sim);
  return sim;
}

async function token(sim: Simulator): Promise<string> {
  const r = await fetch(`${sim.url}/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ username: sim.username, password: sim.password }),
  });
  expect(r.status).toBe(200);
  return ((await r.json()) as { access_token: string }).access_token;
}

function auth(t: string): Record<string, string> {
  return { Authorization: `Bearer ${t}` };
}

interface ListPage {
  Contents: { Key: string; LastModified: string; Size: number; ETag: string }[];
  IsTruncated: boolean;
  NextContinuationToken?: string;
  KeyCount: number;
  MaxKeys: number;
}

async function listPage(sim: Simulator, t: string, query: string): Promise<ListPage> {
  const r = await fetch(`${sim.url}/assets?${query}`, { headers: auth(t) });
  expect(r.status).toBe(200);
  return (await r.json()) as ListPage;
}

async function listAll(sim: Simulator, t: string, query: string): Promise<{ keys: string[]; pages: number }> {
  const keys: string[] = [];
  let pages = 0;
  let next: string | undefined;
  do {
    const p = await listPage(sim, t, query + (next ? `&continuation_token=${encodeURIComponent(next)}` : ''));
    pages++;
    keys.push(...p.Contents.map((c) => c.Key));
    next = p.IsTruncated ? p.NextContinuationToken : undefined;
  } while (next);
  return { keys, pages };
}

function sha(buf: Buffer): string {
  return createHash('sha256').update(buf).digest('hex');
}

/** Raw HTTP/1.1 exchange: returns the header block and every body byte until the server closes. */
function rawGet(url: string, path: string, headers: Record<string, string>): Promise<{ head: string; body: Buffer }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const sock = net.connect(Number(u.port), u.hostname);
    const parts: Buffer[] = [];
    sock.on('data', (c: Buffer) => parts.push(c));
    sock.on('error', reject);
    sock.on('end', () => {
      const all = Buffer.concat(parts);
      const sep = all.indexOf('\r\n\r\n');
      resolve({ head: all.subarray(0, sep).toString('latin1'), body: all.subarray(sep + 4) });
      sock.destroy();
    });
    const lines = [`GET ${path} HTTP/1.1`, `Host: ${u.host}`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)];
    sock.write(`${lines.join('\r\n')}\r\n\r\n`);
  });
}

describe('content', () => {
  it('is deterministic, seed-dependent and never repeats at chunk offsets', async () => {
    const size = 3 * 65536 + 123;
    const a = await contentSha256('seed-a', size);
    expect(await contentSha256('seed-a', size)).toBe(a);
    expect(await contentSha256('seed-b', size)).not.toBe(a);
    const all = contentBytes('seed-a', size);
    expect(all.length).toBe(size);
    expect(sha(all)).toBe(a);
    // chunk heads differ from each other
    const heads = [0, 1, 2, 3].map((j) => all.subarray(j * 65536, j * 65536 + 32).toString('hex'));
    expect(new Set(heads).size).toBe(4);
    // and a slice at a wrong offset never matches
    expect(all.subarray(65536, 65536 + 4096).equals(all.subarray(0, 4096))).toBe(false);
    // byte i does not depend on size
    expect(contentBytes('seed-a', 100).equals(all.subarray(0, 100))).toBe(true);
    expect(contentBytes('seed-a', size, 65530, 65545).equals(all.subarray(65530, 65546))).toBe(true);
  });

  it('streams any range identically to contentBytes', async () => {
    const size = 300_000;
    const all = contentBytes('s', size);
    for (const [s, e] of [[0, size - 1], [1, 65537], [65535, 65536], [299_999, 299_999]] as const) {
      const parts: Buffer[] = [];
      for await (const c of createContentStream('s', size, s, e)) parts.push(c as Buffer);
      expect(Buffer.concat(parts).equals(all.subarray(s, e + 1))).toBe(true);
    }
    const empty: Buffer[] = [];
    for await (const c of createContentStream('s', 0)) empty.push(c as Buffer);
    expect(empty.length).toBe(0);
  });
});

describe('asset inventory', () => {
  it('orders keys by UTF-8 bytes and agrees with Buffer.compare', () => {
    const keys = ['b', 'a/b', 'a+b', 'a b', 'Zürich', 'z', '～wave', '🛰️ sat', 'é', 'A', 'a%2Fb', '\uFFFD', '\u{10000}'];
    const cat = new AssetInventory(keys.map((key, i) => ({ key, size: i })));
    const expected = [...keys].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
    expect(cat.keys()).toEqual(expected);
    for (const x of keys) for (const y of keys) expect(Math.sign(compareKeys(x, y))).toBe(Buffer.compare(Buffer.from(x), Buffer.from(y)));
    // incremental inserts keep order too
    cat.put({ key: 'a0', size: 1 });
    cat.remove('z');
    expect(cat.keys()).toEqual([...expected.filter((k) => k !== 'z'), 'a0'].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y))));
    expect(cat.size).toBe(keys.length);
  });

  it('replacing an asset changes etag and content even at the same size', async () => {
    const cat = new AssetInventory();
    const a = cat.put({ key: 'k', size: 1000, lastModified: '2024-05-01T10:00:00.750Z' });
    expect(a.lastModifiedMs % 1000).toBe(0);
    expect(a.etag).toMatch(/^"[0-9a-f]{32}"$/);
    const b = cat.put({ key: 'k', size: 1000, lastModified: '2024-05-01T10:00:00Z' });
    expect(b.etag).not.toBe(a.etag);
    expect(await contentSha256(b.seed, 1000)).not.toBe(await contentSha256(a.seed, 1000));
    expect(cat.totalBytes).toBe(1000);
  });

  it('filters strictly or inclusively and pages with start-after', () => {
    const t = Date.parse('2024-01-01T00:00:00Z');
    const cat = new AssetInventory([
      { key: 'a', size: 1, lastModified: t - 1000 },
      { key: 'b', size: 1, lastModified: t },
      { key: 'c', size: 1, lastModified: t },
      { key: 'd', size: 1, lastModified: t + 1000 },
    ]);
    expect(cat.list({ after: t, limit: 10 }).items.map((x) => x.key)).toEqual(['d']);
    expect(cat.list({ after: t, limit: 10, filterMode: 'inclusive' }).items.map((x) => x.key)).toEqual(['b', 'c', 'd']);
    expect(cat.list({ before: t, limit: 10 }).items.map((x) => x.key)).toEqual(['a']);
    const p = cat.list({ limit: 2, startAfterKey: 'a' });
    expect(p).toMatchObject({ truncated: true, lastKey: 'c' });
    expect(cat.list({ limit: 2, startAfterKey: 'b', after: t }).truncated).toBe(false);
  });

  it('sampleInventory is deterministic and realistic', () => {
    const now = Date.parse('2025-06-01T00:00:00Z');
    const a = sampleInventory(42, { count: 200, now });
    const b = sampleInventory(42, { count: 200, now });
    expect(a.size).toBe(200);
    expect([...a].map((x) => [x.key, x.size, x.lastModifiedMs, x.etag])).toEqual([...b].map((x) => [x.key, x.size, x.lastModifiedMs, x.etag]));
    const keys = a.keys();
    expect(keys.some((k) => /^orders\/[^/]+\/\d{4}-\d{2}-\d{2}\/LST\w+_[0-9A-Z]+_\d{8}\.tif$/.test(k))).toBe(true);
    expect(keys.some((k) => k.endsWith('_mask.tif'))).toBe(true);
    expect(keys.some((k) => k.endsWith('_metadata.json'))).toBe(true);
    expect(keys.some((k) => k.endsWith('/README.txt'))).toBe(true);
    for (const ch of [' ', '+', '#', '?', '%', 'ü', '🛰']) expect(keys.some((k) => k.includes(ch))).toBe(true);
    const seconds = new Map<number, number>();
    for (const x of a) {
      expect(x.lastModifiedMs).toBeLessThan(now);
      expect(x.lastModifiedMs).toBeGreaterThan(now - 60 * 86_400_000);
      seconds.set(x.lastModifiedMs, (seconds.get(x.lastModifiedMs) ?? 0) + 1);
    }
    expect(Math.max(...seconds.values())).toBeGreaterThan(2);
    expect(sampleInventory(43, { count: 200, now }).keys()).not.toEqual(keys);
  });

  it('mulberry32 is deterministic', () => {
    const r1 = mulberry32(5);
    const r2 = mulberry32(5);
    const xs = Array.from({ length: 5 }, () => r1());
    expect(xs).toEqual(Array.from({ length: 5 }, () => r2()));
    for (const x of xs) expect(x >= 0 && x < 1).toBe(true);
  });
});

describe('token endpoint', () => {
  const form = (u: string, p: string): RequestInit => ({
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' },
    body: new URLSearchParams({ username: u, password: p }).toString(),
  });
  const json = (body: unknown): RequestInit => ({
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });

  it('accepts both encodings by default and issues a JWT with exp in seconds', async () => {
    const sim = await start();
    for (const init of [form('demo', 'demo-password'), json({ username: 'demo', password: 'demo-password' })]) {
      const r = await fetch(`${sim.url}/token`, init);
      expect(r.status).toBe(200);
      const body = (await r.json()) as { access_token: string; token_type: string };
      expect(body.token_type).toBe('bearer');
      const parts = body.access_token.split('.');
      expect(parts).toHaveLength(3);
      const payload = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString()) as Record<string, number>;
      const nowS = Date.now() / 1000;
      expect(payload.exp).toBeGreaterThan(nowS + 23 * 3600);
      expect(payload.exp).toBeLessThan(nowS + 25 * 3600);
      expect(Number.isInteger(payload.iat)).toBe(true);
    }
    expect(sim.stats.tokenRequestsByEncoding).toEqual({ json: 1, form: 1 });
    expect(sim.stats.tokensIssued).toBe(2);
    const bad = await fetch(`${sim.url}/token`, json({ username: 'demo', password: 'nope' }));
    expect(bad.status).toBe(401);
    expect(await bad.json()).toEqual({ detail: 'Invalid credentials' });
  });

  it('json-only rejects form with 415 and bad bodies with 422', async () => {
    const sim = await start({ tokenEncoding: 'json' });
    expect((await fetch(`${sim.url}/token`, form('demo', 'demo-password'))).status).toBe(415);
    const missing = await fetch(`${sim.url}/token`, json({ username: 'demo' }));
    expect(missing.status).toBe(422);
    const detail = ((await missing.json()) as { detail: { loc: string[] }[] }).detail;
    expect(detail[0]!.loc).toEqual(['body', 'password']);
    const broken = await fetch(`${sim.url}/token`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{nope' });
    expect(broken.status).toBe(422);
  });

  it('form-only rejects json with 415 and incomplete forms with 422', async () => {
    const sim = await start({ tokenEncoding: 'form', tokenFormat: 'opaque' });
    expect((await fetch(`${sim.url}/token`, json({ username: 'demo', password: 'demo-password' }))).status).toBe(415);
    const r = await fetch(`${sim.url}/token`, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: 'username=demo' });
    expect(r.status).toBe(422);
    const ok = await fetch(`${sim.url}/token`, form('demo', 'demo-password'));
    expect(ok.status).toBe(200);
    expect(((await ok.json()) as { access_token: string }).access_token).toMatch(/^[0-9a-f]{64}$/);
  });

  it('expires tokens using the injected clock; failToken fault', async () => {
    let now = Date.parse('2024-01-01T00:00:00Z');
    const sim = await start({ clock: () => now, tokenTtlMs: 5000, assets: [{ key: 'x', size: 10 }] });
    const t = await token(sim);
    const payload = JSON.parse(Buffer.from(t.split('.')[1]!, 'base64url').toString()) as { exp: number };
    expect(payload.exp).toBe(now / 1000 + 5);
    expect((await fetch(`${sim.url}/assets`, { headers: auth(t) })).status).toBe(200);
    now += 5000;
    const r = await fetch(`${sim.url}/assets`, { headers: auth(t) });
    expect(r.status).toBe(401);
    expect(await r.json()).toEqual({ detail: 'Not authenticated' });
    expect((await fetch(`${sim.url}/assets/x`, { headers: auth(t) })).status).toBe(401);
    expect((await fetch(`${sim.url}/assets`)).status).toBe(401);
    expect((await fetch(`${sim.url}/assets`, { headers: auth('forged.token.here') })).status).toBe(401);
    expect(sim.stats.unauthorized).toBe(4);
    // live TTL override also shortens tokens already issued
    const t2 = await token(sim);
    sim.setFaults({ tokenTtlMs: 0 });
    expect((await fetch(`${sim.url}/assets`, { headers: auth(t2) })).status).toBe(401);
    sim.setFaults({ tokenTtlMs: null, failToken: true });
    expect((await fetch(`${sim.url}/token`, json({ username: 'demo', password: 'demo-password' }))).status).toBe(401);
    expect(sim.stats.faultsInjected.failToken).toBe(1);
  });
});

describe('listing', () => {
  it('pages 250 assets in 3 pages, each key once, in UTF-8 order, stable across inserts', async () => {
    const keys = Array.from({ length: 245 }, (_, i) => `orders/o${i % 7}/file ${i}.tif`).concat(['é', 'z', '～', '🛰', 'a+b']);
    const sim = await start({ assets: keys.map((key) => ({ key, size: 10 })) });
    const t = await token(sim);
    const first = await listPage(sim, t, 'limit=100');
    expect(first).toMatchObject({ IsTruncated: true, KeyCount: 100, MaxKeys: 100 });
    expect(first.Contents[0]).toEqual({ Key: expect.any(String), LastModified: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/), Size: 10, ETag: expect.stringMatching(/^"[0-9a-f]+"$/) });
    const all = await listAll(sim, t, 'limit=100');
    expect(all.pages).toBe(3);
    expect(all.keys).toEqual([...keys].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y))));
    // default page size is 10 and the last page has no token
    const def = await listPage(sim, t, '');
    expect(def.KeyCount).toBe(10);
    // an insert before the cursor between pages never causes skips or duplicates
    const p1 = await listPage(sim, t, 'limit=100');
    sim.inventory.put({ key: 'a', size: 1 });
    const p2 = await listPage(sim, t, `limit=100&continuation_token=${p1.NextContinuationToken!}`);
    expect(p2.Contents[0]!.Key).not.toBe(p1.Contents[99]!.Key);
    expect(new Set([...p1.Contents, ...p2.Contents].map((c) => c.Key)).size).toBe(200);
    expect(sim.stats.listRequests).toBe(7);
  });

  it('strict vs inclusive lastModifiedAfter; lastModifiedBefore is strict', async () => {
    const at = '2024-03-01T12:00:00Z';
    const ms = Date.parse(at);
    const assets = [
      { key: 'before', size: 1, lastModified: ms - 1000 },
      { key: 'same1', size: 1, lastModified: ms },
      { key: 'same2', size: 1, lastModified: ms + 999 }, // floors to the same second
      { key: 'after', size: 1, lastModified: ms + 1000 },
    ];
    const strict = await start({ assets });
    const inclusive = await start({ assets, filterMode: 'inclusive' });
    const q = `lastModifiedAfter=${encodeURIComponent(at)}&limit=50`;
    expect((await listAll(strict, await token(strict), q)).keys).toEqual(['after']);
    expect((await listAll(inclusive, await token(inclusive), q)).keys).toEqual(['after', 'same1', 'same2']);
    const tb = await token(strict);
    expect((await listAll(strict, tb, `lastModifiedBefore=${encodeURIComponent(at)}`)).keys).toEqual(['before']);
    // offsets and naive datetimes are accepted
    expect((await listAll(strict, tb, `lastModifiedAfter=${encodeURIComponent('2024-03-01T13:00:00+01:00')}`)).keys).toEqual(['after']);
    expect((await listAll(strict, tb, 'lastModifiedAfter=2024-03-01T12:00:00')).keys).toEqual(['after']);
  });

  it('caps limit at 1000 and validates parameters with 422', async () => {
    const sim = await start({ assets: Array.from({ length: 1500 }, (_, i) => ({ key: `k${String(i).padStart(5, '0')}`, size: 1 })) });
    const t = await token(sim);
    const p = await listPage(sim, t, 'limit=5000');
    expect(p.KeyCount).toBe(1000);
    expect(p.MaxKeys).toBe(1000);
    expect(p.IsTruncated).toBe(true);
    for (const q of ['limit=0', 'limit=abc', 'limit=-1', 'lastModifiedAfter=yesterday', 'continuation_token=!!!', 'continuation_token=', 'lastModifiedAfter=2024-01-01T00:00:00+00:00']) {
      const r = await fetch(`${sim.url}/assets?${q}`, { headers: auth(t) });
      expect(r.status, q).toBe(422);
      expect(Array.isArray(((await r.json()) as { detail: unknown }).detail)).toBe(true);
    }
  });

  it('malformedListing once / always', async () => {
    const sim = await start({ assets: [{ key: 'a', size: 1 }], faults: { malformedListing: 'once' } });
    const t = await token(sim);
    const bad = (await (await fetch(`${sim.url}/assets`, { headers: auth(t) })).json()) as { Contents: unknown };
    expect(Array.isArray(bad.Contents)).toBe(false);
    expect((await listPage(sim, t, '')).Contents).toHaveLength(1);
    sim.setFaults({ malformedListing: 'always' });
    for (let i = 0; i < 3; i++) {
      const r = await fetch(`${sim.url}/assets`, { headers: auth(t) });
      expect(r.status).toBe(200);
      const body = (await r.json()) as { Contents: unknown };
      const ok = Array.isArray(body.Contents) && body.Contents.every((c: { Key?: unknown; Size?: unknown }) => typeof c.Key === 'string' && typeof c.Size === 'number');
      expect(ok).toBe(false);
    }
    expect(sim.stats.faultsInjected.malformedListing).toBe(4);
  });
});

describe('downloads', () => {
  it('serves content with headers, ranges, If-Range and 416; awkward keys round-trip', async () => {
    const cat = sampleInventory(3, { count: 40, maxSize: 200_000, now: Date.parse('2025-01-01T00:00:00Z') });
    const sim = await start({ inventory: cat });
    const t = await token(sim);
    for (const a of cat) {
      const r = await fetch(`${sim.url}/assets/${encodeKeyPath(a.key)}`, { headers: auth(t) });
      expect(r.status, a.key).toBe(200);
      const body = Buffer.from(await r.arrayBuffer());
      expect(body.length).toBe(a.size);
      expect(sha(body)).toBe(await contentSha256(a.seed, a.size));
      expect(r.headers.get('etag')).toBe(a.etag);
      expect(r.headers.get('content-length')).toBe(String(a.size));
      expect(r.headers.get('accept-ranges')).toBe('bytes');
      expect(r.headers.get('content-type')).toBe('application/octet-stream');
      expect(Date.parse(r.headers.get('last-modified')!)).toBe(a.lastModifiedMs);
    }
    const big = [...cat].find((a) => a.size > 100_000)!;
    const url = `${sim.url}/assets/${encodeKeyPath(big.key)}`;
    const r1 = await fetch(url, { headers: { ...auth(t), Range: 'bytes=70000-' } });
    expect(r1.status).toBe(206);
    expect(r1.headers.get('content-range')).toBe(`bytes 70000-${big.size - 1}/${big.size}`);
    expect(Buffer.from(await r1.arrayBuffer()).equals(contentBytes(big.seed, big.size, 70000))).toBe(true);
    const r2 = await fetch(url, { headers: { ...auth(t), Range: 'bytes=10-19', 'If-Range': big.etag } });
    expect(r2.status).toBe(206);
    expect(r2.headers.get('content-length')).toBe('10');
    expect(Buffer.from(await r2.arrayBuffer()).equals(contentBytes(big.seed, big.size, 10, 19))).toBe(true);
    const r3 = await fetch(url, { headers: { ...auth(t), Range: 'bytes=10-19', 'If-Range': '"stale"' } });
    expect(r3.status).toBe(200);
    expect((await r3.arrayBuffer()).byteLength).toBe(big.size);
    const r4 = await fetch(url, { headers: { ...auth(t), Range: `bytes=${big.size}-` } });
    expect(r4.status).toBe(416);
    expect(r4.headers.get('content-range')).toBe(`bytes */${big.size}`);
    await r4.arrayBuffer();
    const head = await fetch(url, { method: 'HEAD', headers: auth(t) });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe(String(big.size));
    const nf = await fetch(`${sim.url}/assets/nope`, { headers: auth(t) });
    expect(nf.status).toBe(404);
    expect(await nf.json()).toEqual({ detail: 'Not found' });
    // server-side completion is recorded on 'finish', which can trail the client by a tick
    await vi.waitFor(() => expect(sim.stats.completedDownloadsByKey.get(big.key)).toBe(4), { timeout: 10_000 });
    expect(sim.stats.downloadsByKey.get(big.key)).toBe(5);
  });

  it('parseRange handles the RFC forms', () => {
    expect(parseRange('bytes=0-', 10)).toEqual({ start: 0, end: 9 });
    expect(parseRange('bytes=2-100', 10)).toEqual({ start: 2, end: 9 });
    expect(parseRange('bytes=-3', 10)).toEqual({ start: 7, end: 9 });
    expect(parseRange('bytes=10-', 10)).toBe('unsatisfiable');
    expect(parseRange('bytes=5-2', 10)).toBeNull();
    expect(parseRange('bytes=0-1,3-4', 10)).toBeNull();
    expect(parseRange('items=0-1', 10)).toBeNull();
  });

  it('redirect mode: storage rejects Authorization and bad signatures, serves presigned GETs', async () => {
    let now = Date.now();
    const sim = await start({ redirect: true, clock: () => now, assets: [{ key: 'dir/a b+c.tif', size: 100_000 }] });
    const asset = sim.inventory.get('dir/a b+c.tif')!;
    const t = await token(sim);
    const r = await fetch(`${sim.url}/assets/${encodeKeyPath(asset.key)}`, { headers: auth(t), redirect: 'manual' });
    expect(r.status).toBe(302);
    const loc = r.headers.get('location')!;
    expect(loc.startsWith(`${sim.storageUrl!}/`)).toBe(true);
    expect(loc).toMatch(/[?&]sig=[0-9a-f]+/);
    const withAuth = await fetch(loc, { headers: auth(t) });
    expect(withAuth.status).toBe(400);
    expect(await withAuth.text()).toContain('<Code>InvalidArgument</Code>');
    const ok = await fetch(loc);
    expect(ok.status).toBe(200);
    expect(sha(Buffer.from(await ok.arrayBuffer()))).toBe(await contentSha256(asset.seed, asset.size));
    const ranged = await fetch(loc, { headers: { Range: 'bytes=99990-' } });
    expect(ranged.status).toBe(206);
    expect((await ranged.arrayBuffer()).byteLength).toBe(10);
    expect((await fetch(loc.replace(/sig=[0-9a-f]{4}/, 'sig=0000'))).status).toBe(403);
    expect((await fetch(loc.split('?')[0]!)).status).toBe(403);
    expect((await fetch(`${sim.url}/assets/x`, { redirect: 'manual' })).status).toBe(401);
    now += 3_600_000;
    expect((await fetch(loc)).status).toBe(403);
    expect(sim.stats.redirects).toBe(1);
    expect(sim.stats.downloadRequests).toBe(6);
    await vi.waitFor(() => expect(sim.stats.completedDownloadsByKey.get(asset.key)).toBe(2), { timeout: 10_000 });
  });
});

describe('faults', () => {
  it('truncation is close-delimited: no Content-Length, no chunking, fewer bytes, clean EOF', async () => {
    const sim = await start({ assets: [{ key: 'big', size: 2_000_000 }], faults: { truncateRate: 1 } });
    const t = await token(sim);
    const asset = sim.inventory.get('big')!;
    const { head, body } = await rawGet(sim.url, '/assets/big', auth(t));
    expect(head).toMatch(/^HTTP\/1\.1 200/);
    expect(head.toLowerCase()).not.toContain('content-length');
    expect(head.toLowerCase()).not.toContain('transfer-encoding');
    expect(head.toLowerCase()).toContain('connection: close');
    expect(body.length).toBeLessThan(asset.size);
    expect(body.equals(contentBytes(asset.seed, asset.size, 0, body.length - 1))).toBe(true);
    expect(sim.stats.faultsInjected.truncate).toBe(1);
    expect(sim.stats.completedDownloadsByKey.get('big')).toBeUndefined();
  });

  it('resets sockets mid-body and injects 5xx/429 with Retry-After', async () => {
    const sim = await start({ assets: [{ key: 'big', size: 4_000_000 }], faults: { resetRate: 1 } });
    const t = await token(sim);
    await expect(fetch(`${sim.url}/assets/big`, { headers: auth(t) }).then((r) => r.arrayBuffer())).rejects.toThrow();
    expect(sim.stats.faultsInjected.reset).toBe(1);
    sim.setFaults({ resetRate: 0, rate429: 1, retryAfterSeconds: 7 });
    const r = await fetch(`${sim.url}/assets`, { headers: auth(t) });
    expect(r.status).toBe(429);
    expect(r.headers.get('retry-after')).toBe('7');
    sim.setFaults({ retryAfterHttpDate: true });
    const rd = await fetch(`${sim.url}/assets/big`, { headers: auth(t) });
    expect(Number.isNaN(Date.parse(rd.headers.get('retry-after')!))).toBe(false);
    sim.setFaults({ rate429: 0, errorRate: 1 });
    const statuses = new Set<number>();
    for (let i = 0; i < 20; i++) {
      const e = await fetch(`${sim.url}/assets`, { headers: auth(t) });
      await e.arrayBuffer();
      statuses.add(e.status);
    }
    expect([...statuses].every((s) => [500, 502, 503].includes(s))).toBe(true);
    sim.setFaults({ errorRate: 0, listFaultRate: 1, notFoundKeys: ['big'] });
    expect((await fetch(`${sim.url}/assets`, { headers: auth(t) })).status).toBeGreaterThanOrEqual(500);
    expect((await fetch(`${sim.url}/assets/big`, { headers: auth(t) })).status).toBe(404);
    expect(sim.stats.statusCounts['429']).toBe(2);
  });

  it('throttles bodies, counts bytes, and close() does not hang on open downloads', async () => {
    const sim = await start({ assets: [{ key: 'slow', size: 10_000_000 }], faults: { bodyBytesPerSecond: 200_000 } });
    const t = await token(sim);
    const r = await fetch(`${sim.url}/assets/slow`, { headers: auth(t) });
    const reader = r.body!.getReader();
    let got = 0;
    while (got < 20_000) {
      const { value } = await reader.read();
      got += value!.length;
    }
    expect(sim.stats.bytesServed).toBeGreaterThan(0);
    expect(sim.stats.bytesServed).toBeLessThan(10_000_000);
    await sim.close();
    await expect(
      (async () => {
        for (;;) {
          const { done } = await reader.read();
          if (done) break;
        }
      })(),
    ).rejects.toThrow();
  });
});

describe('client aborts', () => {
  it('survives a client aborting mid-body and keeps serving', async () => {
    const sim = await start({ assets: [{ key: 'big', size: 50_000_000 }] });
    const t = await token(sim);
    const ac = new AbortController();
    const r = await fetch(`${sim.url}/assets/big`, { headers: auth(t), signal: ac.signal });
    const reader = r.body!.getReader();
    await reader.read();
    ac.abort();
    await expect(reader.read()).rejects.toThrow();
    const again = await fetch(`${sim.url}/assets/big`, { headers: { ...auth(t), Range: 'bytes=-5' } });
    expect(again.status).toBe(206);
    expect((await again.arrayBuffer()).byteLength).toBe(5);
    expect(sim.stats.completedDownloadsByKey.get('big') ?? 0).toBeLessThanOrEqual(1);
  });
});

describe('admin server and stats', () => {
  it('manages assets, faults and stats over HTTP', async () => {
    const sim = await start();
    const admin = sim.adminUrl!;
    const put = await fetch(`${admin}/assets`, {
      method: 'PUT',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify([{ key: 'x/1 #?.txt', size: 5, lastModified: '2024-01-01T00:00:00Z' }, { key: 'y', size: 7 }]),
    });
    expect(put.status).toBe(200);
    expect(sim.inventory.size).toBe(2);
    const lines = (await (await fetch(`${admin}/assets`)).text()).trim().split('\n').map((l) => JSON.parse(l) as { key: string; size: number });
    expect(lines.map((l) => l.key)).toEqual(['x/1 #?.txt', 'y']);
    expect((await fetch(`${admin}/assets/${encodeURIComponent('x/1 #?.txt')}`, { method: 'DELETE' })).status).toBe(204);
    expect(sim.inventory.size).toBe(1);
    const f = await fetch(`${admin}/faults`, { method: 'PUT', body: JSON.stringify({ latencyMs: 1 }) });
    expect(((await f.json()) as { latencyMs: number }).latencyMs).toBe(1);
    expect(sim.faults.latencyMs).toBe(1);
    const t = await token(sim);
    await (await fetch(`${sim.url}/assets/y`, { headers: auth(t) })).arrayBuffer();
    await vi.waitFor(() => expect(sim.stats.completedDownloadsByKey.get('y')).toBe(1), { timeout: 10_000 });
    const stats = (await (await fetch(`${admin}/stats`)).json()) as Record<string, unknown>;
    expect(stats).toMatchObject({ tokenRequests: 1, downloadRequests: 1, bytesServed: 7, downloadsByKey: { y: 1 }, completedDownloadsByKey: { y: 1 }, statusCounts: { '200': 2 } });
    expect((await fetch(`${admin}/stats/reset`, { method: 'POST' })).status).toBe(200);
    expect(sim.stats.downloadRequests).toBe(0);
    expect(sim.stats.downloadsByKey.size).toBe(0);
  });
});
