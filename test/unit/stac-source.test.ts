// The STAC source against a scripted STAC API: hostile items (ids with `..`, slashes, NUL; duplicate
// file names; an href with no path; non-http hrefs), malformed pages, paging by next links (POST body
// with merge, headers) and by token, a next link that loops, an item that vanishes between search and
// re-fetch, pre-signed URL refresh, and where the API key goes (never to storage, never across origins).
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ApiClient } from '../../src/api/client.js';
import { ApiKeyAuth, API_KEY_REJECTED_MESSAGE } from '../../src/api/api-key.js';
import { createDispatcher } from '../../src/api/dispatcher.js';
import { SyncError } from '../../src/errors.js';
import { StacSource, windowDatetime, type StacSettings } from '../../src/api/stac/stac-source.js';
import { escapeSegment, hrefBasename, hrefExpiry, itemToAssets, sha256FromMultihash } from '../../src/api/stac/items.js';
import { parseLocator } from '../../src/api/stac/locator.js';
import { parseFeatureCollection, type StacItem } from '../../src/api/stac/documents.js';
import { Secret } from '../../src/lib/secret.js';
import { createLogger } from '../../src/lib/logger.js';
import { resolveKey } from '../../src/mirror/paths.js';
import { listPages } from '../../src/sync/listing.js';
import { serverNamedTarget } from '../../src/download/target.js';
import type { ClaimedJob } from '../../src/store/types.js';
import type { RemoteAsset } from '../../src/api/wire.js';
import { CONFORMANCE, featureCollection, item, startScripted, type ScriptedServer } from '../helpers/stac-server.js';

const KEY = 'sk-test-0123456789abcdef';
let api: ScriptedServer;
let storage: ScriptedServer;
let dispatcher: ReturnType<typeof createDispatcher>;

beforeEach(async () => {
  api = await startScripted();
  storage = await startScripted();
  dispatcher = createDispatcher({ connectTimeoutMs: 5000, headersTimeoutMs: 5000, bodyIdleTimeoutMs: 5000, maxRedirects: 5, connections: 4 });
  api.on('GET /stac/conformance', () => ({ json: CONFORMANCE }));
  api.on('GET /stac/collections', () => ({ json: { collections: [{ id: 'lstprecision' }], links: [] } }));
});
afterEach(async () => {
  await dispatcher.close();
  await api.close();
  await storage.close();
});

function source(settings: Partial<StacSettings> = {}, clock: () => number = Date.now): { src: StacSource; client: ApiClient } {
  const tokens = new ApiKeyAuth({ key: new Secret(KEY), baseUrl: api.url, probePath: 'stac', dispatcher });
  const client = new ApiClient({ baseUrl: api.url, dispatcher, tokens, clock, maxRedirects: 5 });
  const src = new StacSource(client, { collections: null, filter: null, bbox: null, datetime: null, assets: [], pageSize: 100, lookbackMs: 30 * 86_400_000, ...settings });
  return { src, client };
}

async function listAll(src: StacSource): Promise<RemoteAsset[]> {
  const out: RemoteAsset[] = [];
  for await (const p of listPages({ api: src, after: null, pageSize: 100, retries: 0, retryMinMs: 1, what: 'test' })) out.push(...p.items);
  return out;
}

function jobFor(a: RemoteAsset, id = 1): ClaimedJob {
  return { id, key: a.key, remoteModifiedMs: a.lastModifiedMs, remoteSize: a.size, remoteEtag: a.etag, revision: 0, attempts: 1, leaseToken: 't', leaseUntil: 0, localPath: null, locator: a.locator ?? null };
}

/** The body as text (undici's body mixin). */
const text = (r: { body: unknown }): Promise<string> => (r.body as { text(): Promise<string> }).text();

const opts = { assets: [], defaultCollection: null, cursorField: 'datetime' as const, cursorCapMs: null };
const parsed = (o: Record<string, unknown>): StacItem => parseFeatureCollection(featureCollection([o]), 'test').items[0]!;

describe('hostile items', () => {
  it('an id with `..` becomes a key the mirror refuses (unsafe_key), nothing is written outside', () => {
    const [a] = itemToAssets(parsed(item('..', { lst: 'https://s.example/b/LST.tiff' })), opts);
    expect(a!.key).toBe('lstprecision/../LST.tiff');
    expect(() => resolveKey('/tmp/mirror', a!.key, 10)).toThrow(/unsafe key/);
  });

  it('an id with slashes stays one path segment (escaped), distinct from an id spelling the escape', () => {
    const [a] = itemToAssets(parsed(item('a/../../etc', { lst: 'https://s.example/b/LST.tiff' })), opts);
    const [b] = itemToAssets(parsed(item('a%2F..%2F..%2Fetc', { lst: 'https://s.example/b/LST.tiff' })), opts);
    expect(a!.key).toBe('lstprecision/a%2F..%2F..%2Fetc/LST.tiff');
    expect(a!.key.split('/')).toHaveLength(3);
    expect(b!.key).not.toBe(a!.key);
    expect(resolveKey('/tmp/mirror', a!.key, 10).relPath).toBe('lstprecision/a%2F..%2F..%2Fetc/LST.tiff');
    expect(escapeSegment('x\\y')).toBe('x%5Cy');
  });

  it('an id with NUL is refused by the mirror rules', () => {
    const [a] = itemToAssets(parsed(item('bad\u0000id', { lst: 'https://s.example/b/LST.tiff' })), opts);
    expect(() => resolveKey('/tmp/mirror', a!.key, 10)).toThrow(/unsafe key/);
  });

  it('duplicate file names within an item are prefixed with their asset keys', () => {
    const assets = itemToAssets(parsed(item('i1', { lst: 'https://s.example/x/data.tiff', mask: 'https://s.example/y/data.tiff', meta: 'https://s.example/y/m.json' })), opts);
    expect(assets.map((a) => a.key).sort()).toEqual(['lstprecision/i1/lst_data.tiff', 'lstprecision/i1/m.json', 'lstprecision/i1/mask_data.tiff']);
  });

  it('an href with no path takes the asset key and an extension from the media type', () => {
    const assets = itemToAssets(parsed(item('i2', { lst: { href: 'https://storage.example', type: 'image/tiff; application=geotiff' }, meta: { href: 'https://storage.example/?sig=1', type: 'application/json' } })), opts);
    expect(assets.map((a) => a.key).sort()).toEqual(['lstprecision/i2/lst.tiff', 'lstprecision/i2/meta.json']);
    expect(hrefBasename(new URL('https://s.example/a/LST%20x.tiff?X=1'))).toBe('LST x.tiff');
  });

  it('an href that is not http(s) is an error naming the item', () => {
    expect(() => itemToAssets(parsed(item('s3-item', { lst: 's3://bucket/LST.tiff' })), opts)).toThrow(/item "s3-item".*asset "lst".*s3:\/\//);
  });

  it('a malformed item is an error naming it; a malformed page is an error, never zero results', () => {
    expect(() => parseFeatureCollection(featureCollection([item('ok', { a: 'https://s/x' }), { type: 'Feature', id: 'broken', properties: {} }]), 'POST /stac/search')).toThrow(
      /item "broken" \(features\[1\]\)/,
    );
    expect(() => parseFeatureCollection({ features: 'nope' }, 'POST /stac/search')).toThrow(/malformed FeatureCollection/);
    expect(() => parseFeatureCollection({ type: 'FeatureCollection' }, 'POST /stac/search')).toThrow(/features/);
  });

  it('the version is (updated or datetime, file:size, file:checksum); a sha2-256 multihash is verified', () => {
    const sum = `1220${'ab'.repeat(32)}`;
    const [a] = itemToAssets(parsed(item('v', { lst: { href: 'https://s/x/L.tiff', 'file:size': 42, 'file:checksum': sum } }, { updated: '2026-07-09T01:00:00Z' })), opts);
    expect(a).toMatchObject({ lastModifiedMs: Date.parse('2026-07-09T01:00:00Z'), size: 42, etag: sum });
    expect(parseLocator(a!.locator!, a!.key).sha256).toBe('ab'.repeat(32));
    const [b] = itemToAssets(parsed(item('w', { lst: 'https://s/x/L.tiff' })), opts);
    expect(b).toMatchObject({ lastModifiedMs: Date.parse('2026-07-08T23:58:15Z'), size: null, etag: null });
    expect(sha256FromMultihash(`d50110${'00'.repeat(16)}`)).toBeNull();
  });

  it('reads the expiry of pre-signed URLs', () => {
    expect(hrefExpiry(new URL('https://s/x?X-Amz-Date=20260708T235815Z&X-Amz-Expires=900'))).toBe(Date.parse('2026-07-08T23:58:15Z') + 900_000);
    expect(hrefExpiry(new URL('https://s/x?Expires=1780000000'))).toBe(1_780_000_000_000);
    expect(hrefExpiry(new URL('https://s/x'))).toBeNull();
    expect(windowDatetime(null, Date.parse('2026-01-01T00:00:00Z'))).toBe('2026-01-01T00:00:00Z/..');
    expect(windowDatetime('2025-01-01T00:00:00Z/2026-06-01T00:00:00Z', Date.parse('2026-01-01T00:00:00Z'))).toBe('2026-01-01T00:00:00Z/2026-06-01T00:00:00Z');
  });
});

describe('listing', () => {
  it('follows POST next links (body merged, link headers without credentials) and a bare token, sending the key only to the API', async () => {
    let n = 0;
    api.on('POST /stac/search', (req) => {
      const body = JSON.parse(req.body) as Record<string, unknown>;
      if (body.limit === 1) return { json: featureCollection([item('probe', { a: `${storage.url}p.tiff` }, { updated: '2026-07-09T00:00:00Z' })]) };
      n++;
      if (!body.page) return { json: featureCollection([item('i1', { lst: `${storage.url}b/one.tiff` })], [{ rel: 'next', href: `${api.url}stac/search`, method: 'POST', body: { page: 2 }, merge: true, headers: { 'x-page': 'two', 'X-Api-Key': 'stolen?', authorization: 'Bearer x' } }]) };
      if (body.page === 2 && !body.token) {
        expect(body.collections).toEqual(['lstprecision']);
        expect(req.headers['x-page']).toBe('two');
        return { json: { ...featureCollection([item('i2', { lst: `${storage.url}b/two.tiff` })]), token: 'tok-3' } };
      }
      expect(body.token).toBe('tok-3');
      return { json: featureCollection([item('i3', { lst: `${storage.url}b/three.tiff` })]) };
    });
    const { src } = source();
    const all = await listAll(src);
    expect(all.map((a) => a.key)).toEqual(['lstprecision/i1/one.tiff', 'lstprecision/i2/two.tiff', 'lstprecision/i3/three.tiff']);
    expect(n).toBe(3);
    for (const r of api.seen) expect(r.headers['x-api-key']).toBe(KEY);
    expect(api.seen.some((r) => r.headers.authorization)).toBe(false);
    expect(storage.seen).toHaveLength(0);
  });

  it('a next link that loops is an error, not an endless listing', async () => {
    api.on('POST /stac/search', (req) => {
      const body = JSON.parse(req.body) as Record<string, unknown>;
      if (body.limit === 1) return { json: featureCollection([]) };
      return { json: featureCollection([item(`i${String(body.token ?? 0)}`, { a: 'https://s/x/f.tiff' })], [{ rel: 'next', href: `${api.url}stac/search`, method: 'POST', body: { token: 'same' }, merge: true }]) };
    });
    const { src } = source();
    await expect(listAll(src)).rejects.toThrow(/repeated a continuation token or next link/);
  });

  it('a malformed page fails the listing with bad_listing naming the item', async () => {
    api.on('POST /stac/search', (req) => {
      const body = JSON.parse(req.body) as Record<string, unknown>;
      if (body.limit === 1) return { json: featureCollection([]) };
      return { json: featureCollection([item('fine', { a: 'https://s/x/f.tiff' }), { ...item('no-assets', {}), assets: 'none' }]) };
    });
    const { src } = source();
    const err = await listAll(src).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SyncError);
    expect((err as SyncError).errorClass).toBe('bad_listing');
    expect((err as SyncError).message).toMatch(/item "no-assets"/);
  });

  it('chooses the updated strategy only when conformance and the items allow it, and says why', async () => {
    api.on('POST /stac/search', () => ({ json: featureCollection([item('p', { a: 'https://s/x/f.tiff' })]) }));
    const { src } = source();
    await src.beginPoll();
    expect(src.describe()).toMatchObject({ strategy: 'datetime', reason: expect.stringMatching(/do not carry properties.updated/) });
    api.on('POST /stac/search', () => ({ json: featureCollection([item('p', { a: 'https://s/x/f.tiff' }, { updated: '2026-07-09T00:00:00Z' })]) }));
    const r = await src.beginPoll();
    expect(src.describe().strategy).toBe('updated');
    expect(r.lookbackMs).toBeUndefined();
    api.on('POST /stac/search', () => ({ status: 400, json: { code: 'BadRequest', description: 'unknown property updated' } }));
    const { src: fresh } = source();
    expect((await fresh.beginPoll()).lookbackMs).toBe(30 * 86_400_000);
    expect(fresh.describe().reason).toMatch(/refused a CQL2-JSON filter and sortby on updated \(HTTP 400\)/);
  });

  it('the updated strategy follows what the server does, not which conformance URLs it advertises (issue 22 item 11)', async () => {
    const bodies: Record<string, unknown>[] = [];
    api.on('POST /stac/search', (req) => {
      bodies.push(JSON.parse(req.body) as Record<string, unknown>);
      return { json: featureCollection([item('p', { a: 'https://s/x/f.tiff' }, { updated: '2026-07-09T00:00:00Z' })]) };
    });
    for (const conformsTo of [
      ['https://api.stacspec.org/v1.0.0/core', 'https://api.stacspec.org/v1.0.0/item-search', 'https://api.stacspec.org/v1.0.0/ogcapi-features#sort'],
      ['https://api.stacspec.org/v1.0.0/core', 'https://api.stacspec.org/v1.0.0/item-search'],
    ]) {
      api.on('GET /stac/conformance', () => ({ json: { conformsTo } }));
      const { src } = source();
      expect((await src.beginPoll()).lookbackMs, conformsTo.join(' ')).toBeUndefined();
      expect(src.describe()).toMatchObject({ strategy: 'updated', reason: expect.stringMatching(/accepts a CQL2-JSON filter and sortby on it/) });
      bodies.length = 0;
      await src.listPage({ after: Date.parse('2026-07-01T00:00:00Z'), limit: 50 });
      expect(bodies[0]!.sortby).toEqual([{ field: 'updated', direction: 'asc' }]);
      expect(bodies[0]!.filter).toEqual({ op: '>=', args: [{ property: 'updated' }, { timestamp: '2026-07-01T00:00:00Z' }] });
    }
    // A server that refuses (422, 501) goes on the datetime window and is not sent a sortby it did not advertise.
    for (const status of [422, 501]) {
      api.on('POST /stac/search', (req) => {
        const body = JSON.parse(req.body) as Record<string, unknown>;
        bodies.push(body);
        return body.filter ? { status, json: { detail: 'no' } } : { json: featureCollection([item('p', { a: 'https://s/x/f.tiff' })]) };
      });
      const { src } = source();
      expect((await src.beginPoll()).lookbackMs).toBe(30 * 86_400_000);
      expect(src.describe().reason).toContain(`HTTP ${status}`);
      bodies.length = 0;
      await src.listPage({ after: Date.parse('2026-07-01T00:00:00Z'), limit: 50 });
      expect(bodies[0]!.sortby).toBeUndefined();
      expect(bodies[0]!.datetime).toBe('2026-07-01T00:00:00Z/..');
    }
  });

  it('an incremental poll filters on updated with sortby, or windows datetime', async () => {
    const bodies: Record<string, unknown>[] = [];
    api.on('POST /stac/search', (req) => {
      const body = JSON.parse(req.body) as Record<string, unknown>;
      bodies.push(body);
      return { json: featureCollection([item('p', { a: 'https://s/x/f.tiff' }, { updated: '2026-07-09T00:00:00Z' })]) };
    });
    const { src } = source({ filter: { op: '=', args: [{ property: 'order:id' }, 'ord-1'] } });
    await src.beginPoll();
    await src.listPage({ after: Date.parse('2026-07-01T00:00:00Z'), limit: 50 });
    const last = bodies.at(-1)!;
    expect(last.sortby).toEqual([{ field: 'updated', direction: 'asc' }]);
    expect(last.filter).toEqual({ op: 'and', args: [{ op: '=', args: [{ property: 'order:id' }, 'ord-1'] }, { op: '>=', args: [{ property: 'updated' }, { timestamp: '2026-07-01T00:00:00Z' }] }] });
    expect(last.limit).toBe(50);
  });
});

describe('downloads', () => {
  async function oneJob(href: string, extra: Record<string, unknown> = {}): Promise<ClaimedJob> {
    api.on('POST /stac/search', () => ({ json: featureCollection([item('it', { lst: { href, type: 'image/tiff', ...extra } })]) }));
    const { src } = source();
    const [a] = await listAll(src);
    return jobFor(a!);
  }

  it('sends no credentials to storage; a refused URL is refreshed by fetching the item again (single-flight)', async () => {
    let fresh = 0;
    storage.on('GET /b/LST.tiff', (req, url) => (url.searchParams.get('sig') === 'new' ? { body: 'bytes!' } : { status: 403, body: '<Error><Code>AccessDenied</Code></Error>' }));
    api.on('GET /stac/collections/lstprecision/items/it', () => {
      fresh++;
      return { json: item('it', { lst: `${storage.url}b/LST.tiff?sig=new` }) };
    });
    const job = await oneJob(`${storage.url}b/LST.tiff?sig=old`);
    const { src } = source();
    const second: ClaimedJob = { ...job, id: 2 };
    const [r1, r2] = await Promise.all([src.download(job, {}), src.download(second, {})]);
    expect(await text(r1)).toBe('bytes!');
    await r2.body.dump();
    expect(fresh).toBe(1);
    for (const r of storage.seen) {
      expect(r.headers['x-api-key']).toBeUndefined();
      expect(r.headers.authorization).toBeUndefined();
    }
  });

  it('an expired URL is refreshed before the download starts', async () => {
    storage.on('GET /b/E.tiff', (_req, url) => (url.searchParams.get('X-Amz-Date') === '20300101T000000Z' ? { body: 'ok' } : { status: 403 }));
    api.on('GET /stac/collections/lstprecision/items/it', () => ({ json: item('it', { lst: `${storage.url}b/E.tiff?X-Amz-Date=20300101T000000Z&X-Amz-Expires=900` }) }));
    const job = await oneJob(`${storage.url}b/E.tiff?X-Amz-Date=20200101T000000Z&X-Amz-Expires=900`);
    const { src } = source();
    const res = await src.download(job, {});
    expect(await text(res)).toBe('ok');
    expect(storage.seen).toHaveLength(1);
  });

  it('a URL cached by a refresh of an older version never wins over the job of a newer version (issue 22 item 9)', async () => {
    // v1's listed URL is refused, a refresh caches v1's fresh URL; then the item changes upstream and
    // the poll lists v2 with its own URL, while v1's cached URL is still valid.
    storage.on('GET /b/L.tiff', (_req, url) => {
      const sig = url.searchParams.get('sig');
      return sig === 'v1-fresh' ? { body: 'old bytes' } : sig === 'v2' ? { body: 'new bytes' } : { status: 403 };
    });
    const v1 = { 'file:size': 9, 'file:checksum': `1220${'a'.repeat(64)}` };
    const v2 = { 'file:size': 9, 'file:checksum': `1220${'b'.repeat(64)}` };
    api.on('GET /stac/collections/lstprecision/items/it', () => ({ json: item('it', { lst: { href: `${storage.url}b/L.tiff?sig=v1-fresh`, ...v1 } }, { updated: '2026-07-09T00:00:00Z' }) }));
    api.on('POST /stac/search', () => ({ json: featureCollection([item('it', { lst: { href: `${storage.url}b/L.tiff?sig=v1-old`, ...v1 } }, { updated: '2026-07-09T00:00:00Z' })]) }));
    const { src } = source();
    const [a1] = await listAll(src);
    expect(await text(await src.download(jobFor(a1!), {}))).toBe('old bytes');
    api.on('POST /stac/search', () => ({ json: featureCollection([item('it', { lst: { href: `${storage.url}b/L.tiff?sig=v2`, ...v2 } }, { updated: '2026-07-10T00:00:00Z' })]) }));
    const [a2] = await listAll(src);
    expect(a2!.lastModifiedMs).toBeGreaterThan(a1!.lastModifiedMs);
    const job2 = jobFor(a2!, 2);
    expect((await src.locate(job2)).url.searchParams.get('sig')).toBe('v2');
    expect(await text(await src.download(job2, {}))).toBe('new bytes');
    // The same version still shares the refreshed URL (one refresh serves every asset of the item).
    expect((await src.locate(jobFor(a1!, 3))).url.searchParams.get('sig')).toBe('v1-fresh');
  });

  it('a refresh that finds another version of the item fails retryably instead of fetching other bytes', async () => {
    storage.on('GET /b/C.tiff', (_req, url) => (url.searchParams.get('sig') === 'v2' ? { body: 'new bytes' } : { status: 403 }));
    api.on('GET /stac/collections/lstprecision/items/it', () => ({ json: item('it', { lst: { href: `${storage.url}b/C.tiff?sig=v2`, 'file:size': 9 } }, { updated: '2026-07-10T00:00:00Z' }) }));
    const job = await oneJob(`${storage.url}b/C.tiff?sig=v1`, { 'file:size': 9 });
    const { src } = source();
    const err = await src.download(job, {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SyncError);
    expect((err as SyncError).code).toBe('SYNC_STAC_ITEM_CHANGED');
    expect((err as SyncError).kind).toBe('retryable');
    expect(storage.seen.map((r) => new URL(r.url, 'http://x').searchParams.get('sig'))).toEqual(['v1']);
  });

  it('an opaque href is keyed by its asset key; its file is named from an untrusted Content-Disposition, only inside its item folder (issue 22 item 16)', async () => {
    let disposition = '';
    storage.on('GET /b/o/0123abcd', () => ({ body: 'bytes', headers: disposition ? { 'content-disposition': disposition } : undefined }));
    const job = await oneJob(`${storage.url}b/o/0123abcd?sig=1`);
    expect(job.key).toBe('lstprecision/it/lst.tiff');
    const { src } = source();
    expect(src.namedByServer(job)).toBe(true);
    const root = '/tmp/mirror-root';
    const where = async (h: string): Promise<string | null> => {
      disposition = h;
      return (await serverNamedTarget({ api: src, root }, job, new AbortController().signal))?.relPath ?? null;
    };
    expect(await where('attachment; filename="LSTPRECISION_SBA02_U155VHMQ_20260708T235815Z_LST.tiff"')).toBe('lstprecision/it/LSTPRECISION_SBA02_U155VHMQ_20260708T235815Z_LST.tiff');
    expect(await where('attachment; filename="../../../etc/passwd"')).toBe('lstprecision/it/passwd');
    // (a backslash in a quoted-string escapes the next character: `"..\..\x"` reads `....x`, one plain name)
    expect(await where('attachment; filename="..\\..\\boot.ini"')).toBe('lstprecision/it/....boot.ini');
    expect(await where('attachment; filename="..\\\\..\\\\boot.ini"')).toBe('lstprecision/it/boot.ini');
    expect(await where(`attachment; filename*=UTF-8''..%2F..%2F.ssh%2Fauthorized_keys`)).toBe('lstprecision/it/authorized_keys');
    expect(await where('attachment; filename=".constellr-sync"')).toBe('lstprecision/it/.constellr-sync');
    // nothing usable in the header: the answering URL's last segment, as Constellr documents
    for (const h of ['attachment; filename=".."', `attachment; filename*=UTF-8''a%00b.tif`, 'attachment', '']) expect(await where(h), h).toBe('lstprecision/it/0123abcd');
    // the probe asked for one byte, without any credential
    const probes = storage.seen.filter((r) => r.url.startsWith('/b/o/0123abcd'));
    expect(probes.length).toBe(10);
    for (const r of probes) {
      expect(r.headers.range).toBe('bytes=0-0');
      expect(r.headers['x-api-key']).toBeUndefined();
    }
    // a later version keeps the path the first one got, without asking
    const kept = await serverNamedTarget({ api: src, root }, { ...job, localPath: 'lstprecision/it/LST.tiff' }, new AbortController().signal);
    expect(kept?.relPath).toBe('lstprecision/it/LST.tiff');
    expect(storage.seen.filter((r) => r.url.startsWith('/b/o/0123abcd'))).toHaveLength(10);
    // an href that names a file is not asked about
    const named = await oneJob(`${storage.url}b/LST_NAMED.tiff?sig=1`);
    expect(named.key).toBe('lstprecision/it/LST_NAMED.tiff');
    expect(src.namedByServer(named)).toBe(false);
    expect(await serverNamedTarget({ api: src, root }, named, new AbortController().signal)).toBeNull();
  });

  it('a Content-Disposition that names a file otherwise than its href is reported once, and the href still names it', async () => {
    storage.on('GET /b/lst.tif', () => ({ body: 'bytes', headers: { 'content-disposition': 'attachment; filename="LSTPRECISION_X_LST.tiff"' } }));
    storage.on('GET /b/same.tif', () => ({ body: 'bytes', headers: { 'content-disposition': 'attachment; filename="same.tif"' } }));
    const job = await oneJob(`${storage.url}b/lst.tif?sig=1`);
    expect(job.key).toBe('lstprecision/it/lst.tif');
    const lines: Record<string, unknown>[] = [];
    const dest = new Writable({
      write(chunk: Buffer, _e, cb) {
        for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
        cb();
      },
    });
    const tokens = new ApiKeyAuth({ key: new Secret(KEY), baseUrl: api.url, probePath: 'stac', dispatcher });
    const client = new ApiClient({ baseUrl: api.url, dispatcher, tokens, maxRedirects: 5 });
    const src = new StacSource(client, { collections: null, filter: null, bbox: null, datetime: null, assets: [], pageSize: 100, lookbackMs: 1 }, createLogger({ level: 'info', destination: dest }));
    const same = await oneJob(`${storage.url}b/same.tif?sig=1`);
    await (await src.download(same, {})).body.dump();
    expect(lines.filter((l) => l.level === 'warn')).toHaveLength(0);
    for (let i = 0; i < 2; i++) await (await src.download(job, {})).body.dump();
    const warned = lines.filter((l) => l.level === 'warn');
    expect(warned).toHaveLength(1);
    expect(warned[0]).toMatchObject({ key: 'lstprecision/it/lst.tif', contentDisposition: 'LSTPRECISION_X_LST.tiff' });
  });

  it('an item that vanished between search and re-fetch ends as gone', async () => {
    storage.on('GET /b/V.tiff', () => ({ status: 403 }));
    api.on('GET /stac/collections/lstprecision/items/it', () => ({ status: 404, json: { code: 'NotFound' } }));
    const job = await oneJob(`${storage.url}b/V.tiff?sig=old`);
    const { src } = source();
    const err = await src.download(job, {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SyncError);
    expect((err as SyncError).kind).toBe('gone');
    expect((err as SyncError).message).toMatch(/vanished/);
  });

  it('a 401 with an API key is a clear auth_rejected error, never retried, /token never called', async () => {
    api.on('POST /stac/search', () => ({ status: 401, json: { detail: 'API key has expired' } }));
    const { src } = source();
    const err = await src.listPage({ after: null, limit: 10 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SyncError);
    expect((err as SyncError).kind).toBe('auth_rejected');
    expect((err as SyncError).message).toContain(API_KEY_REJECTED_MESSAGE);
    expect(api.seen.filter((r) => r.url.startsWith('/stac/search'))).toHaveLength(1);
    expect(api.seen.some((r) => r.url.startsWith('/token'))).toBe(false);
  });

  it('the key never crosses a redirect to another origin (asset API download redirected to storage)', async () => {
    api.on('GET /assets/a.tif', () => ({ status: 302, headers: { location: `${storage.url}obj/a.tif` } }));
    api.on('GET /assets/same.tif', () => ({ status: 302, headers: { location: `${api.url}assets/real.tif` } }));
    api.on('GET /assets/real.tif', (req) => ({ body: req.headers['x-api-key'] === KEY ? 'same-origin' : 'no-key' }));
    storage.on('GET /obj/a.tif', () => ({ body: 'from storage' }));
    const tokens = new ApiKeyAuth({ key: new Secret(KEY), baseUrl: api.url, probePath: 'assets?limit=1', dispatcher });
    const client = new ApiClient({ baseUrl: api.url, dispatcher, tokens, maxRedirects: 5 });
    expect(await text(await client.download('a.tif'))).toBe('from storage');
    expect(storage.seen[0]!.headers['x-api-key']).toBeUndefined();
    expect(await text(await client.download('same.tif'))).toBe('same-origin');
  });
});
