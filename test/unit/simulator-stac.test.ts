import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import {
  sampleStacStore,
  startSimulator,
  type Simulator,
  type SimulatorOptions,
  type StacItemRecord,
  type StacStore,
} from '../../src/simulator/index.js';

const KEY = 'ws-key-0123456789abcdef';
const T0 = Date.parse('2026-07-20T00:00:00Z');
const SEED = 42;

const sims: Simulator[] = [];
afterEach(async () => {
  await Promise.all(sims.splice(0).map((s) => s.close()));
});

interface Clock {
  now: number;
}

async function start(opts: SimulatorOptions & { items?: number } = {}, clock: Clock = { now: T0 }): Promise<{ sim: Simulator; store: StacStore; clock: Clock }> {
  const store = sampleStacStore(SEED, { items: opts.items ?? 40, now: T0, maxSize: 64 * 1024 }, () => clock.now);
  const sim = await startSimulator({ apiKeys: [{ key: KEY }], clock: () => clock.now, stac: store, ...opts });
  sims.push(sim);
  return { sim, store, clock };
}

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

async function get(sim: Simulator, path: string, headers: Record<string, string> = { 'X-Api-Key': KEY }): Promise<{ status: number; body: Json }> {
  const r = await fetch(path.startsWith('http') ? path : `${sim.url}${path}`, { headers });
  return { status: r.status, body: (await r.json()) as Json };
}

async function post(sim: Simulator, path: string, body: unknown, headers: Record<string, string> = { 'X-Api-Key': KEY }): Promise<{ status: number; body: Json }> {
  const r = await fetch(path.startsWith('http') ? path : `${sim.url}${path}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: r.status, body: (await r.json()) as Json };
}

async function admin(sim: Simulator, method: string, path: string, body?: unknown): Promise<{ status: number; body: Json | null }> {
  const r = await fetch(`${sim.adminUrl}${path}`, { method, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  return { status: r.status, body: text ? (JSON.parse(text) as Json) : null };
}

/** Follow `next` links exactly as the STAC API spec says (method, body, merge). */
async function pageAll(sim: Simulator, first: { status: number; body: Json }): Promise<{ ids: string[]; pages: number; features: Json[] }> {
  const features: Json[] = [];
  let page = first;
  let pages = 0;
  for (;;) {
    expect(page.status).toBe(200);
    pages++;
    expect(page.body.numberReturned).toBe(page.body.features.length);
    features.push(...page.body.features);
    const next = (page.body.links as Json[]).find((l) => l.rel === 'next');
    if (!next) break;
    if (next.method === 'POST') {
      expect(next.merge).toBe(false);
      page = await post(sim, next.href, next.body);
    } else {
      page = await get(sim, next.href);
    }
    if (pages > 100) throw new Error('next links loop');
  }
  return { ids: features.map((f) => `${f.collection}/${f.id}`), pages, features };
}

function ref(store: StacStore, pred: (r: StacItemRecord) => boolean, cmp: (a: StacItemRecord, b: StacItemRecord) => number): string[] {
  return store
    .all()
    .filter(pred)
    .sort(cmp)
    .map((r) => `${r.collection}/${r.id}`);
}

const byDatetimeDesc = (a: StacItemRecord, b: StacItemRecord): number =>
  b.datetimeMs - a.datetimeMs || a.collection.localeCompare(b.collection) || (a.id < b.id ? -1 : 1);

function sha(buf: Buffer): string {
  return createHash('sha256').update(buf).digest('hex');
}

describe('STAC landing and conformance', () => {
  it('links conformance, data and search (GET and POST) and advertises filter and sort', async () => {
    const { sim } = await start();
    const { status, body } = await get(sim, '/stac');
    expect(status).toBe(200);
    const rels = (body.links as Json[]).map((l) => `${l.rel}:${l.method ?? ''}`);
    expect(rels).toEqual(expect.arrayContaining(['self:', 'root:', 'conformance:', 'data:', 'search:GET', 'search:POST']));
    const conf = (await get(sim, '/stac/conformance')).body.conformsTo as string[];
    expect(body.conformsTo).toEqual(conf);
    for (const c of [
      'https://api.stacspec.org/v1.0.0/core',
      'https://api.stacspec.org/v1.0.0/item-search',
      'https://api.stacspec.org/v1.0.0/ogcapi-features',
      'https://api.stacspec.org/v1.0.0/collections',
      'https://api.stacspec.org/v1.0.0/item-search#sort',
      'http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter',
      'http://www.opengis.net/spec/cql2/1.0/conf/cql2-json',
      'http://www.opengis.net/spec/cql2/1.0/conf/cql2-text',
      'http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2',
    ]) {
      expect(conf).toContain(c);
    }
    expect(conf.some((c) => c.endsWith('/item-search#filter'))).toBe(true);
  });

  it('drops filter and sort from conformance and refuses them when the knobs say so', async () => {
    const { sim } = await start();
    expect((await admin(sim, 'PUT', '/stac/knobs', { filter: false, sort: false })).status).toBe(200);
    const conf = (await get(sim, '/stac/conformance')).body.conformsTo as string[];
    expect(conf.some((c) => c.includes('filter') || c.includes('cql2') || c.includes('sort'))).toBe(false);
    const f = await post(sim, '/stac/search', { filter: { op: '=', args: [{ property: 'gsd' }, 30] } });
    expect(f.status).toBe(400);
    expect(f.body.description).toMatch(/filter is not supported/);
    expect((await get(sim, '/stac/search?sortby=-datetime')).status).toBe(400);
    expect((await admin(sim, 'PUT', '/stac/knobs', { nonsense: 1 })).status).toBe(400);
  });
});

describe('STAC API keys', () => {
  it('accepts X-Api-Key everywhere, 401s bad, expired and revoked keys, 403s out-of-scope ones', async () => {
    const clock = { now: T0 };
    const { sim } = await start(
      {
        apiKeys: [
          { key: KEY },
          { key: 'expiring-key-0001', expiresAt: T0 + 60_000 },
          { key: 'zoom-only-key-0001', collections: ['lstzoom'], assets: false },
        ],
        assets: [{ key: 'a.txt', size: 10 }],
      },
      clock,
    );
    expect((await get(sim, '/stac', {})).status).toBe(401);
    const bad = await get(sim, '/stac/search', { 'X-Api-Key': 'not-a-key-at-all' });
    expect(bad).toEqual({ status: 401, body: { detail: 'Invalid API key' } });
    // the asset API takes the key too
    expect((await fetch(`${sim.url}/assets`, { headers: { 'X-Api-Key': KEY } })).status).toBe(200);
    expect((await fetch(`${sim.url}/assets/a.txt`, { headers: { 'X-Api-Key': KEY } })).status).toBe(200);
    // expiry
    expect((await get(sim, '/stac', { 'X-Api-Key': 'expiring-key-0001' })).status).toBe(200);
    clock.now = T0 + 60_000;
    expect(await get(sim, '/stac', { 'X-Api-Key': 'expiring-key-0001' })).toEqual({ status: 401, body: { detail: 'API key has expired' } });
    // scope
    const zoom = { 'X-Api-Key': 'zoom-only-key-0001' };
    expect((await get(sim, '/stac/collections/lstprecision', zoom)).status).toBe(403);
    expect((await get(sim, '/stac/collections/lstprecision/items', zoom)).status).toBe(403);
    expect((await post(sim, '/stac/search', { collections: ['lstprecision'] }, zoom)).status).toBe(403);
    const cols = await get(sim, '/stac/collections', zoom);
    expect((cols.body.collections as Json[]).map((c) => c.id)).toEqual(['lstzoom']);
    const all = await post(sim, '/stac/search', { limit: 1000 }, zoom);
    expect(all.body.features.length).toBeGreaterThan(0);
    expect(new Set((all.body.features as Json[]).map((f) => f.collection))).toEqual(new Set(['lstzoom']));
    expect((await fetch(`${sim.url}/assets`, { headers: zoom })).status).toBe(403);
    // revocation through the admin port, by key or by listed id
    expect((await admin(sim, 'POST', '/api-keys/revoke', { key: KEY })).status).toBe(200);
    expect(await get(sim, '/stac')).toEqual({ status: 401, body: { detail: 'API key has been revoked' } });
    const listed = (await admin(sim, 'GET', '/api-keys')).body!;
    expect(JSON.stringify(listed)).not.toContain(KEY);
    expect((listed.keys as Json[]).filter((k) => k.revoked).length).toBe(1);
    expect(sim.stats.authByApiKey).toBeGreaterThan(5);
  });

  it('keeps POST /token working until the account is in two workspaces; a key wins over a bearer token', async () => {
    const { sim } = await start();
    const tok = async (): Promise<Response> =>
      fetch(`${sim.url}/token`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ username: sim.username, password: sim.password }) });
    const r = await tok();
    expect(r.status).toBe(200);
    const bearer = { Authorization: `Bearer ${((await r.json()) as Json).access_token as string}` };
    expect((await get(sim, '/stac/collections', bearer)).status).toBe(200);
    // a bad key is refused even with a good bearer token
    expect((await get(sim, '/stac/collections', { ...bearer, 'X-Api-Key': 'wrong-key-0000' })).status).toBe(401);
    expect((await admin(sim, 'PUT', '/auth', { legacyTokens: false })).status).toBe(200);
    expect((await tok()).status).toBe(401);
    const refused = await get(sim, '/stac/collections', bearer);
    expect(refused.status).toBe(401);
    expect(refused.body.detail).toMatch(/API key/);
    expect((await get(sim, '/stac/collections')).status).toBe(200);
  });
});

describe('asset API with an API key in redirect mode', () => {
  it('the key opens /assets; the storage origin refuses it when a client forwards it across the redirect', async () => {
    const sim = await startSimulator({ apiKeys: [{ key: KEY }], redirect: true, assets: [{ key: 'dir/a b.tif', size: 1000 }] });
    sims.push(sim);
    const r = await fetch(`${sim.url}/assets/dir/a%20b.tif`, { headers: { 'X-Api-Key': KEY }, redirect: 'manual' });
    expect(r.status).toBe(302);
    const loc = r.headers.get('location')!;
    expect(new URL(loc).origin).toBe(sim.storageUrl);
    expect((await fetch(loc, { headers: { 'X-Api-Key': KEY } })).status).toBe(400);
    expect(sim.stats.storageCredentialRejects).toBe(1);
    const ok = await fetch(loc);
    expect(ok.status).toBe(200);
    expect((await ok.arrayBuffer()).byteLength).toBe(1000);
  });
});

describe('STAC collections', () => {
  it('pages by limit/offset with numberMatched, numberReturned and next/prev links', async () => {
    const { sim } = await start();
    const p1 = await get(sim, '/stac/collections?limit=2');
    expect(p1.body.numberMatched).toBe(3);
    expect(p1.body.numberReturned).toBe(2);
    const next = (p1.body.links as Json[]).find((l) => l.rel === 'next');
    expect(next).toBeDefined();
    const p2 = await get(sim, next!.href as string);
    expect(p2.body.numberReturned).toBe(1);
    expect((p2.body.links as Json[]).some((l) => l.rel === 'next')).toBe(false);
    expect((p2.body.links as Json[]).some((l) => l.rel === 'prev')).toBe(true);
    const ids = [...p1.body.collections, ...p2.body.collections].map((c: Json) => c.id);
    expect(ids.sort()).toEqual(['lstfusion', 'lstprecision', 'lstzoom']);
    expect((await get(sim, '/stac/collections?limit=0')).status).toBe(400);
    expect((await get(sim, '/stac/collections?offset=-1')).status).toBe(400);
  });

  it('serves one collection with extents covering its items, and 404 for an unknown one', async () => {
    const { sim, store } = await start();
    const c = (await get(sim, '/stac/collections/lstprecision')).body;
    expect(c.type).toBe('Collection');
    const items = store.all().filter((r) => r.collection === 'lstprecision');
    const [w, s, e, n] = c.extent.spatial.bbox[0] as number[];
    for (const it of items) {
      expect(it.bbox[0]).toBeGreaterThanOrEqual(w!);
      expect(it.bbox[1]).toBeGreaterThanOrEqual(s!);
      expect(it.bbox[2]).toBeLessThanOrEqual(e!);
      expect(it.bbox[3]).toBeLessThanOrEqual(n!);
    }
    const [t0, t1] = c.extent.temporal.interval[0] as string[];
    expect(Date.parse(t0!)).toBe(Math.min(...items.map((i) => i.datetimeMs)));
    expect(Date.parse(t1!)).toBe(Math.max(...items.map((i) => i.datetimeMs)));
    expect((await get(sim, '/stac/collections/nope')).status).toBe(404);
  });

  it('pages a collection\'s items with GET next links and serves one item', async () => {
    const { sim, store } = await start();
    const all = await pageAll(sim, await get(sim, '/stac/collections/lstzoom/items?limit=2'));
    expect(all.ids).toEqual(ref(store, (r) => r.collection === 'lstzoom', byDatetimeDesc));
    expect(all.pages).toBe(Math.ceil(all.ids.length / 2));
    const first = all.features[0]!;
    const one = await get(sim, `/stac/collections/lstzoom/items/${encodeURIComponent(first.id as string)}`);
    expect(one.status).toBe(200);
    expect(one.body.id).toBe(first.id);
    expect((await get(sim, '/stac/collections/lstzoom/items/NOPE')).status).toBe(404);
    expect(sim.stats.stac.itemRequestsById.get(`lstzoom/${first.id as string}`)).toBe(1);
  });
});

describe('STAC search', () => {
  it('POST pages follow next links whose body carries the whole request and a token', async () => {
    const { sim, store } = await start({ items: 60 });
    const order = store.all()[5]!.orderId;
    const body = {
      collections: ['lstprecision', 'lstzoom', 'lstfusion'],
      limit: 2,
      sortby: [{ field: 'updated', direction: 'asc' }],
      filter: { op: 'and', args: [{ op: '=', args: [{ property: 'order:id' }, order] }, { op: 't_after', args: [{ property: 'updated' }, { timestamp: '2000-01-01T00:00:00Z' }] }] },
      'filter-lang': 'cql2-json',
    };
    const first = await post(sim, '/stac/search', body);
    const next = (first.body.links as Json[]).find((l) => l.rel === 'next')!;
    expect(next).toMatchObject({ method: 'POST', merge: false, href: `${sim.url}/stac/search` });
    expect({ ...next.body, token: undefined }).toEqual({ ...body, token: undefined });
    expect(typeof next.body.token).toBe('string');
    const all = await pageAll(sim, first);
    const expected = ref(store, (r) => r.orderId === order, (a, b) => a.updatedMs! - b.updatedMs! || a.collection.localeCompare(b.collection) || (a.id < b.id ? -1 : 1));
    expect(expected.length).toBeGreaterThan(2);
    expect(all.ids).toEqual(expected);
    expect(first.body.numberMatched).toBe(expected.length);
  });

  it("answers Constellr's download script verbatim: filter op eq on order:id without filter-lang, paged by re-POSTing the next body (issue 22 item 15)", async () => {
    const { sim, store } = await start({ items: 60 });
    const order = store.all().find((r) => r.collection === 'lstprecision')!.orderId;
    let body: Json | null = {
      limit: 10,
      collections: ['lstprecision'],
      filter: { op: 'eq', args: [{ property: 'order:id' }, order] },
      sortby: [{ field: 'datetime', direction: 'desc' }],
    };
    const ids: string[] = [];
    for (let pages = 0; body; pages++) {
      expect(pages).toBeLessThan(50);
      const r = await post(sim, '/stac/search', body, { 'X-Api-Key': KEY });
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      ids.push(...(r.body.features as Json[]).map((f) => `${f.collection}/${f.id}`));
      // the script: body = next_link["body"] if next_link else None
      body = ((r.body.links as Json[]).find((l) => l.rel === 'next')?.body as Json | undefined) ?? null;
    }
    expect(ids).toEqual(ref(store, (r) => r.collection === 'lstprecision' && r.orderId === order, byDatetimeDesc));
    expect(ids.length).toBeGreaterThan(0);
  });

  it('paging is stable when items are deleted and added between pages', async () => {
    const { sim, store } = await start();
    const first = await post(sim, '/stac/search', { limit: 5 });
    const seen = (first.body.features as Json[]).map((f) => `${f.collection}/${f.id}`);
    // delete the last item of page one and one of page two, add a brand-new item at the top
    const [c1, i1] = seen[4]!.split('/');
    expect((await admin(sim, 'DELETE', `/stac/items/${c1}/${encodeURIComponent(i1!)}`)).status).toBe(204);
    const expectedRest = ref(store, () => true, byDatetimeDesc).slice(4);
    const gone = expectedRest[0]!;
    await admin(sim, 'DELETE', `/stac/items/${gone.split('/')[0]}/${encodeURIComponent(gone.split('/')[1]!)}`);
    await admin(sim, 'PUT', '/stac/items', { collection: 'lstzoom', datetime: '2026-07-19T23:00:00Z', center: [1, 1] });
    const rest = await pageAll(sim, await post(sim, '/stac/search', (first.body.links as Json[]).find((l) => l.rel === 'next')!.body));
    expect(rest.ids).toEqual(expectedRest.slice(1));
  });

  it('the nextLinkLoops knob makes every next link point back at its own page', async () => {
    const { sim } = await start();
    await admin(sim, 'PUT', '/stac/knobs', { nextLinkLoops: true });
    const body = { limit: 3, sortby: [{ field: 'datetime', direction: 'asc' }] };
    const p1 = await post(sim, '/stac/search', body);
    const n1 = (p1.body.links as Json[]).find((l) => l.rel === 'next')!;
    expect(n1.body).toEqual(body);
    const again = await post(sim, n1.href as string, n1.body);
    expect((again.body.features as Json[]).map((f) => f.id)).toEqual((p1.body.features as Json[]).map((f) => f.id));
    // from a later page, the loop is on that page
    await admin(sim, 'PUT', '/stac/knobs', { nextLinkLoops: false });
    const n2 = (((await post(sim, '/stac/search', n1.body)).body.links as Json[]).find((l) => l.rel === 'next')!).body as Json;
    await admin(sim, 'PUT', '/stac/knobs', { nextLinkLoops: true });
    const p2 = await post(sim, '/stac/search', n2);
    expect(((p2.body.links as Json[]).find((l) => l.rel === 'next')!).body).toEqual(n2);
    const g = await get(sim, '/stac/collections/lstprecision/items?limit=2');
    expect(((g.body.links as Json[]).find((l) => l.rel === 'next')!).href).toBe(`${sim.url}/stac/collections/lstprecision/items?limit=2`);
  });

  it('GET search parses collections, ids, bbox, datetime ranges and sortby shorthand', async () => {
    const { sim, store } = await start();
    const recs = store.all();
    const mid = [...recs].sort((a, b) => a.datetimeMs - b.datetimeMs)[Math.floor(recs.length / 2)]!;
    const iso = new Date(mid.datetimeMs).toISOString();
    const q = async (query: string): Promise<string[]> => (await pageAll(sim, await get(sim, `/stac/search?limit=7&${query}`))).ids;
    expect(await q(`datetime=${iso}`)).toEqual(ref(store, (r) => r.datetimeMs === mid.datetimeMs, byDatetimeDesc));
    expect(await q(`datetime=../${iso}`)).toEqual(ref(store, (r) => r.datetimeMs <= mid.datetimeMs, byDatetimeDesc));
    expect(await q(`datetime=${iso}/..`)).toEqual(ref(store, (r) => r.datetimeMs >= mid.datetimeMs, byDatetimeDesc));
    const lo = mid.datetimeMs - 5 * 86_400_000;
    expect(await q(`datetime=${new Date(lo).toISOString()}/${iso}`)).toEqual(ref(store, (r) => r.datetimeMs >= lo && r.datetimeMs <= mid.datetimeMs, byDatetimeDesc));
    expect(await q('collections=lstfusion,lstzoom&sortby=-datetime')).toEqual(ref(store, (r) => r.collection !== 'lstprecision', byDatetimeDesc));
    // an unencoded '+' arrives as a space and still means ascending
    const asc = (a: StacItemRecord, b: StacItemRecord): number => a.updatedMs! - b.updatedMs! || a.collection.localeCompare(b.collection) || (a.id < b.id ? -1 : 1);
    expect(await q('sortby=+updated')).toEqual(ref(store, () => true, asc));
    expect(await q('sortby=%2Bupdated')).toEqual(ref(store, () => true, asc));
    expect(await q(`ids=${encodeURIComponent(mid.id)}`)).toEqual([`${mid.collection}/${mid.id}`]);
    // the Zürich site: bbox and intersects agree
    const zurich = ref(store, (r) => r.bbox[0] < 8.8 && r.bbox[2] > 8.3 && r.bbox[1] < 47.6 && r.bbox[3] > 47.2, byDatetimeDesc);
    expect(zurich.length).toBeGreaterThan(0);
    expect(await q('bbox=8.3,47.2,8.8,47.6')).toEqual(zurich);
    const poly = { type: 'Polygon', coordinates: [[[8.3, 47.2], [8.8, 47.2], [8.8, 47.6], [8.3, 47.6], [8.3, 47.2]]] };
    expect(await q(`intersects=${encodeURIComponent(JSON.stringify(poly))}`)).toEqual(zurich);
    expect((await pageAll(sim, await post(sim, '/stac/search', { intersects: poly, limit: 3 }))).ids).toEqual(zurich);
    expect((await pageAll(sim, await post(sim, '/stac/search', { filter: { op: 's_intersects', args: [{ property: 'geometry' }, { bbox: [8.3, 47.2, 8.8, 47.6] }] } }))).ids).toEqual(zurich);
    // cql2-text is the GET default
    const text = `"order:id" = '${mid.orderId}' AND datetime >= TIMESTAMP('2000-01-01T00:00:00Z')`;
    expect(await q(`filter=${encodeURIComponent(text)}`)).toEqual(ref(store, (r) => r.orderId === mid.orderId, byDatetimeDesc));
    const json = JSON.stringify({ op: 'in', args: [{ property: 'collection' }, ['lstzoom']] });
    expect(await q(`filter-lang=cql2-json&filter=${encodeURIComponent(json)}`)).toEqual(ref(store, (r) => r.collection === 'lstzoom', byDatetimeDesc));
  });

  it('answers malformed requests with 400 and a JSON error body', async () => {
    const { sim } = await start();
    const bad: [string, unknown][] = [
      ['not json', '{"limit": '],
      ['array body', [1, 2]],
      ['limit 0', { limit: 0 }],
      ['limit string', { limit: 'ten' }],
      ['bad datetime', { datetime: 'yesterday' }],
      ['open both ends', { datetime: '../..' }],
      ['reversed interval', { datetime: '2026-07-02T00:00:00Z/2026-07-01T00:00:00Z' }],
      ['bbox and intersects', { bbox: [0, 0, 1, 1], intersects: { type: 'Point', coordinates: [0, 0] } }],
      ['bad bbox', { bbox: [0, 0, 1] }],
      ['bad geometry', { intersects: { type: 'Polygon', coordinates: [[[0, 0], [1, 1]]] } }],
      ['unknown op', { filter: { op: 'frobnicate', args: [] } }],
      ['bad timestamp', { filter: { op: 't_after', args: [{ property: 'datetime' }, { timestamp: 'noon' }] } }],
      ['bad filter-lang', { filter: {}, 'filter-lang': 'sql' }],
      ['bad sort field', { sortby: [{ field: 'colour', direction: 'asc' }] }],
      ['bad sort direction', { sortby: [{ field: 'datetime', direction: 'up' }] }],
      ['bad token', { token: '!!!' }],
      ['foreign token', { token: Buffer.from('[1]').toString('base64url') }],
      ['collections not a list', { collections: 'lstzoom' }],
    ];
    for (const [what, body] of bad) {
      const r = await post(sim, '/stac/search', body);
      expect(r.status, what).toBe(400);
      expect(r.body.code, what).toBe('BadRequest');
      expect(typeof r.body.description, what).toBe('string');
    }
    for (const query of ['limit=-1', 'datetime=2026-13-01T00:00:00Z', 'bbox=a,b,c,d', 'filter=gsd%20%3D', 'sortby=-nope', 'limit=1&limit=2']) {
      expect((await get(sim, `/stac/search?${query}`)).status, query).toBe(400);
    }
    expect((await fetch(`${sim.url}/stac/search`, { method: 'DELETE', headers: { 'X-Api-Key': KEY } })).status).toBe(405);
    const ring = Array.from({ length: 60_000 }, (_, i) => [Math.cos(i) * 10, Math.sin(i) * 10]);
    ring.push(ring[0]!);
    const huge = await post(sim, '/stac/search', { intersects: { type: 'Polygon', coordinates: [ring] } });
    expect(huge.status).toBe(413);
    expect(huge.body.code).toBe('PayloadTooLarge');
  });

  it('caps limit silently at maxLimit and defaults to defaultLimit', async () => {
    const { sim } = await start();
    expect((await get(sim, '/stac/search')).body.numberReturned).toBe(10);
    await admin(sim, 'PUT', '/stac/knobs', { maxLimit: 4, defaultLimit: 3 });
    expect((await get(sim, '/stac/search')).body.numberReturned).toBe(3);
    const r = await post(sim, '/stac/search', { limit: 100000 });
    expect(r.body.numberReturned).toBe(4);
    expect(r.body.numberMatched).toBe(40);
  });
});

describe('STAC items and assets', () => {
  it('items are valid STAC 1.1.0 with order:id, datetime, updated, gsd, footprint and file-extension assets', async () => {
    const { sim } = await start();
    const f = (await get(sim, '/stac/search?limit=1')).body.features[0] as Json;
    expect(f).toMatchObject({ type: 'Feature', stac_version: '1.1.0' });
    expect(f.stac_extensions).toContain('https://stac-extensions.github.io/file/v2.1.0/schema.json');
    expect(f.properties).toEqual(expect.objectContaining({ 'order:id': expect.any(String), gsd: expect.any(Number) }));
    expect(Date.parse(f.properties.updated as string)).toBeGreaterThanOrEqual(Date.parse(f.properties.datetime as string));
    const ring = f.geometry.coordinates[0] as number[][];
    expect(f.geometry.type).toBe('Polygon');
    expect(ring.length).toBeGreaterThanOrEqual(4);
    expect(ring[0]).toEqual(ring[ring.length - 1]);
    expect(f.bbox).toEqual([Math.min(...ring.map((p) => p[0]!)), Math.min(...ring.map((p) => p[1]!)), Math.max(...ring.map((p) => p[0]!)), Math.max(...ring.map((p) => p[1]!))]);
    expect(Object.keys(f.assets)).toEqual(['lst', 'mask', 'metadata']);
    expect(f.assets.lst).toMatchObject({ type: 'image/tiff; application=geotiff', roles: ['data'] });
    expect(f.assets.metadata).toMatchObject({ type: 'application/json', roles: ['metadata'] });
  });

  it('asset hrefs are pre-signed storage URLs whose bytes match file:size and file:checksum, with Constellr file names', async () => {
    const { sim } = await start();
    const f = (await get(sim, '/stac/search?limit=1')).body.features[0] as Json;
    for (const [key, a] of Object.entries(f.assets as Record<string, Json>)) {
      const u = new URL(a.href as string);
      expect(u.origin).toBe(sim.storageUrl);
      expect(u.searchParams.get('X-Amz-Expires')).toBe('900');
      expect(u.searchParams.get('X-Amz-Date')).toMatch(/^\d{8}T\d{6}Z$/);
      const r = await fetch(a.href as string);
      expect(r.status, key).toBe(200);
      const buf = Buffer.from(await r.arrayBuffer());
      expect(buf.length).toBe(a['file:size']);
      expect(a['file:checksum']).toBe(`1220${sha(buf)}`);
      const cd = r.headers.get('content-disposition')!;
      const name = /filename="([^"]+)"/.exec(cd)![1]!;
      expect(name).toMatch(/^(LSTPRECISION|LSTZOOM|LSTFUSION)_SBA0\d_[0-9BCDEFGHJKMNPQRSTUVWXYZ]{8}_\d{8}T\d{6}Z_(LST|MASK|METADATA)\.(tiff|json)$/);
      expect(decodeURIComponent(u.pathname.slice(u.pathname.lastIndexOf('/') + 1))).toBe(name);
      expect(r.headers.get('content-type')).toBe(key === 'metadata' ? 'application/json' : 'image/tiff');
    }
  });

  it('pre-signed URLs support Range and If-Range, expire, reject tampering, HEAD and any credentials', async () => {
    const clock = { now: T0 };
    const { sim } = await start({}, clock);
    const f = (await get(sim, '/stac/search?limit=1')).body.features[0] as Json;
    const href = f.assets.lst.href as string;
    const full = await fetch(href);
    const etag = full.headers.get('etag')!;
    const all = Buffer.from(await full.arrayBuffer());
    const part = await fetch(href, { headers: { Range: 'bytes=100-', 'If-Range': etag } });
    expect(part.status).toBe(206);
    expect(Buffer.from(await part.arrayBuffer()).equals(all.subarray(100))).toBe(true);
    expect((await fetch(href, { headers: { Range: 'bytes=100-', 'If-Range': '"other"' } })).status).toBe(200);
    const xml = async (r: Response): Promise<string> => `${r.status} ${/<Code>(\w+)<\/Code>/.exec(await r.text())?.[1]}`;
    expect(await xml(await fetch(href, { headers: { 'X-Api-Key': KEY } }))).toBe('400 InvalidArgument');
    expect(await xml(await fetch(href, { headers: { Authorization: 'Bearer x' } }))).toBe('400 InvalidArgument');
    expect(sim.stats.storageCredentialRejects).toBe(2);
    expect((await fetch(href, { method: 'HEAD' })).status).toBe(403);
    expect(await xml(await fetch(href.replace(/X-Amz-Signature=[0-9a-f]/, 'X-Amz-Signature=g')))).toBe('403 SignatureDoesNotMatch');
    expect(await xml(await fetch(href.replace('X-Amz-Expires=900', 'X-Amz-Expires=9000')))).toBe('403 SignatureDoesNotMatch');
    expect(await xml(await fetch(href.replace(/\?.*/, '?X-Amz-Signature=abc')))).toBe('400 AuthorizationQueryParametersError');
    clock.now = T0 + 899_000;
    expect((await fetch(href)).status).toBe(200);
    clock.now = T0 + 900_000;
    expect(await xml(await fetch(href))).toBe('403 AccessDenied');
    // a fresh href from the item endpoint works again; the lifetime is a knob
    await admin(sim, 'PUT', '/stac/knobs', { urlTtlSeconds: 5 });
    const fresh = (await get(sim, `/stac/collections/${f.collection as string}/items/${encodeURIComponent(f.id as string)}`)).body.assets.lst.href as string;
    expect(new URL(fresh).searchParams.get('X-Amz-Expires')).toBe('5');
    expect((await fetch(fresh)).status).toBe(200);
    clock.now += 5000;
    expect((await fetch(fresh)).status).toBe(403);
  });

  it('every fault knob of the asset API applies to STAC routes and pre-signed downloads', async () => {
    const { sim } = await start();
    const href = ((await get(sim, '/stac/search?limit=1')).body.features[0] as Json).assets.lst.href as string;
    sim.setFaults({ rate429: 1, retryAfterSeconds: 3 });
    const s = await fetch(`${sim.url}/stac/search`, { headers: { 'X-Api-Key': KEY } });
    expect(s.status).toBe(429);
    expect(s.headers.get('retry-after')).toBe('3');
    const d = await fetch(href);
    expect(d.status).toBe(429);
    expect(await d.text()).toContain('SlowDown');
    sim.setFaults({ rate429: 0, errorRate: 1 });
    expect((await fetch(`${sim.url}/stac/collections`, { headers: { 'X-Api-Key': KEY } })).status).toBeGreaterThanOrEqual(500);
    expect((await fetch(href)).status).toBeGreaterThanOrEqual(500);
    sim.setFaults({ errorRate: 0, truncateRate: 1 });
    const t = await fetch(href).then(
      async (r) => Buffer.from(await r.arrayBuffer()).length,
      () => -1,
    );
    expect(t).toBeLessThan(((await get(sim, '/stac/search?limit=1')).body.features[0] as Json).assets.lst['file:size'] as number);
    expect(sim.stats.faultsInjected.truncate).toBe(1);
    // malformedListing: search pages that are 200 but not a FeatureCollection of valid items
    sim.setFaults({ truncateRate: 0, malformedListing: 'always' });
    const shapes: Json[] = [];
    for (let i = 0; i < 4; i++) shapes.push((await post(sim, '/stac/search', {})).body);
    expect(shapes.every((b) => !Array.isArray(b.features) || (b.features as Json[]).some((f) => typeof f.id !== 'string' || Object.values(f.assets as Json).some((a) => !(a as Json).href)))).toBe(true);
    sim.setFaults({ malformedListing: 'once' });
    const once = (await get(sim, '/stac/collections/lstzoom/items')).body;
    expect(once.numberReturned).toBeUndefined();
    const ok = await post(sim, '/stac/search', {});
    expect(ok.body.numberReturned).toBe(10);
    expect(sim.stats.faultsInjected.malformedListing).toBe(5);
  });

  it('knobs and per-item flags omit file:size, file:checksum and updated', async () => {
    const { sim } = await start();
    const count = async (): Promise<{ size: number; sum: number; upd: number; assets: number; items: number }> => {
      const feats = (await post(sim, '/stac/search', { limit: 1000 })).body.features as Json[];
      const assets = feats.flatMap((f) => Object.values(f.assets as Record<string, Json>));
      return {
        size: assets.filter((a) => 'file:size' in a).length,
        sum: assets.filter((a) => 'file:checksum' in a).length,
        upd: feats.filter((f) => 'updated' in f.properties).length,
        assets: assets.length,
        items: feats.length,
      };
    };
    const c0 = await count();
    expect(c0).toMatchObject({ size: c0.assets, sum: c0.assets, upd: c0.items });
    await admin(sim, 'PUT', '/stac/knobs', { fileSize: 'none', fileChecksum: 'some', updated: 'some' });
    const c1 = await count();
    expect(c1.size).toBe(0);
    expect(c1.sum).toBeGreaterThan(0);
    expect(c1.sum).toBeLessThan(c1.assets);
    expect(c1.upd).toBeGreaterThan(0);
    expect(c1.upd).toBeLessThan(c1.items);
    // a filter on updated cannot see items without it
    const r = await post(sim, '/stac/search', { limit: 1000, filter: { op: 'not', args: [{ op: 'isNull', args: [{ property: 'updated' }] }] } });
    expect(r.body.numberMatched).toBe(c1.upd);
    await admin(sim, 'PUT', '/stac/knobs', { fileSize: 'all', fileChecksum: 'all', updated: 'all' });
    const put = await admin(sim, 'PUT', '/stac/items', { collection: 'lstzoom', id: 'no-extras', updated: null, assets: [{ key: 'lst', size: 10, omitSize: true, omitChecksum: true }] });
    expect(put.status).toBe(200);
    const item = (await get(sim, '/stac/collections/lstzoom/items/no-extras')).body;
    expect('updated' in item.properties).toBe(false);
    expect(item.assets.lst['file:size']).toBeUndefined();
    expect(item.assets.lst['file:checksum']).toBeUndefined();
  });
});

describe('STAC item re-fetch accounting', () => {
  it('counts single-item requests per item and the most that were in flight at once', async () => {
    const { sim, store } = await start();
    const [a, b] = store.all();
    sim.setFaults({ latencyMs: 400 });
    const url = (r: StacItemRecord): string => `/stac/collections/${r.collection}/items/${encodeURIComponent(r.id)}`;
    await Promise.all([get(sim, url(a!)), get(sim, url(a!)), get(sim, url(a!)), get(sim, url(b!))]);
    expect(sim.stats.stac.itemRequestsById.get(`${a!.collection}/${a!.id}`)).toBe(3);
    expect(sim.stats.stac.maxItemRequestsInFlight).toBe(3);
    sim.resetStats();
    await get(sim, url(a!));
    await get(sim, url(a!));
    expect(sim.stats.stac.maxItemRequestsInFlight).toBe(1);
    expect(((await admin(sim, 'GET', '/stats')).body!.stac as Json).itemRequestsById).toEqual({ [`${a!.collection}/${a!.id}`]: 2 });
  });
});

describe('STAC admin scripting', () => {
  it('moves updated and changes content, adds late items with an old datetime, deletes items', async () => {
    const clock = { now: T0 };
    const { sim, store } = await start({}, clock);
    const since = { op: 't_after', args: [{ property: 'updated' }, { timestamp: new Date(T0).toISOString() }] };
    expect((await post(sim, '/stac/search', { filter: since })).body.numberMatched).toBe(0);
    const victim = store.all()[3]!;
    const before = (await get(sim, `/stac/collections/${victim.collection}/items/${encodeURIComponent(victim.id)}`)).body;
    clock.now = T0 + 3_600_000;
    const touched = await admin(sim, 'POST', `/stac/items/${victim.collection}/${encodeURIComponent(victim.id)}/touch`, {});
    expect(touched.status).toBe(200);
    const after = (await get(sim, `/stac/collections/${victim.collection}/items/${encodeURIComponent(victim.id)}`)).body;
    expect(after.properties.updated).toBe('2026-07-20T01:00:00Z');
    expect(after.properties.datetime).toBe(before.properties.datetime);
    expect(after.assets.lst['file:checksum']).not.toBe(before.assets.lst['file:checksum']);
    expect(after.assets.lst['file:size']).toBe(before.assets.lst['file:size']);
    // late delivery: acquired weeks ago, visible only now
    clock.now = T0 + 7_200_000;
    const late = await admin(sim, 'PUT', '/stac/items', { collection: 'lstfusion', datetime: '2026-06-01T10:30:00Z', orderId: 'ord-late', center: [8.54, 47.37] });
    expect(late.status).toBe(200);
    const lateId = (late.body!.items as Json[])[0]!.id as string;
    const found = (await post(sim, '/stac/search', { filter: since, sortby: [{ field: 'updated', direction: 'asc' }] })).body.features as Json[];
    expect(found.map((f) => f.id)).toEqual([victim.id, lateId]);
    // deletion: the item and its bytes go; an href handed out before now answers NoSuchKey
    const oldHref = (await get(sim, `/stac/collections/${victim.collection}/items/${encodeURIComponent(victim.id)}`)).body.assets.mask.href as string;
    expect((await admin(sim, 'DELETE', `/stac/items/${victim.collection}/${encodeURIComponent(victim.id)}`)).status).toBe(204);
    expect((await get(sim, `/stac/collections/${victim.collection}/items/${encodeURIComponent(victim.id)}`)).status).toBe(404);
    const gone = await fetch(oldHref);
    expect(gone.status).toBe(404);
    expect(await gone.text()).toContain('NoSuchKey');
    expect((await admin(sim, 'DELETE', `/stac/items/${victim.collection}/${encodeURIComponent(victim.id)}`)).status).toBe(404);
    expect((await admin(sim, 'PUT', '/stac/items', { collection: 'nope' })).status).toBe(400);
  });

  it('serves hostile ids and explicit hrefs verbatim for client tests', async () => {
    const { sim } = await start();
    const put = await admin(sim, 'PUT', '/stac/items', [
      { collection: 'lstzoom', id: '../../etc/passwd', assets: [{ key: 'a', size: 5, fileName: 'same.tiff' }, { key: 'b', size: 6, fileName: 'same.tiff' }] },
      { collection: 'lstzoom', id: 'no-path', assets: [{ key: 'lst', href: 'http://127.0.0.1:9' }] },
      { collection: 'lstzoom', id: 'nul\u0000id/with/slashes', assets: [{ key: 'lst', size: 7 }] },
    ]);
    const nul = (await get(sim, `/stac/collections/lstzoom/items/${encodeURIComponent('nul\u0000id/with/slashes')}`)).body;
    expect(nul.id).toBe('nul\u0000id/with/slashes');
    expect(Buffer.from(await (await fetch(nul.assets.lst.href as string)).arrayBuffer()).length).toBe(7);
    expect(put.status).toBe(200);
    const hostile = (await get(sim, `/stac/collections/lstzoom/items/${encodeURIComponent('../../etc/passwd')}`)).body;
    expect(hostile.id).toBe('../../etc/passwd');
    const [a, b] = [hostile.assets.a.href as string, hostile.assets.b.href as string];
    expect(a.endsWith('same.tiff') || a.includes('/same.tiff?')).toBe(true);
    expect(a).not.toBe(b);
    expect(Buffer.from(await (await fetch(a)).arrayBuffer()).length).toBe(5);
    expect(Buffer.from(await (await fetch(b)).arrayBuffer()).length).toBe(6);
    expect((await get(sim, '/stac/collections/lstzoom/items/no-path')).body.assets.lst.href).toBe('http://127.0.0.1:9');
  });
});
