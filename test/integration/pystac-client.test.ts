// A real STAC client (pystac-client, in the venv made by .ci/run) against the simulator: it opens
// /stac, checks conformance, searches with a filter, sortby and a small limit, and pages to the end
// through `next` links (POST bodies, and GET hrefs). Its item ids and asset hrefs must be exactly
// the simulator's catalog, computed here independently from the store.
import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { sampleStacStore, startSimulator, type Simulator, type StacItemRecord, type StacStore } from '../../src/simulator/index.js';
import { pystacUnavailable, runPystacCheck, skipPystac, type PystacResult } from '../helpers/pystac.js';

const KEY = 'pystac-ws-key-0123456789';
const SEED = 42;

const sims: Simulator[] = [];
afterEach(async () => {
  await Promise.all(sims.splice(0).map((s) => s.close()));
});

async function start(): Promise<{ sim: Simulator; store: StacStore }> {
  const store = sampleStacStore(SEED, { items: 60, maxSize: 64 * 1024 });
  const sim = await startSimulator({ stac: store, apiKeys: [{ key: KEY }], adminPort: false });
  sims.push(sim);
  return { sim, store };
}

function storagePath(sim: Simulator, href: string): string {
  const u = new URL(href);
  expect(u.origin).toBe(sim.storageUrl);
  for (const p of ['X-Amz-Algorithm', 'X-Amz-Date', 'X-Amz-Expires', 'X-Amz-Signature']) expect(u.searchParams.get(p), p).toBeTruthy();
  return u.pathname.split('/').map(decodeURIComponent).join('/');
}

function expectCatalog(sim: Simulator, r: PystacResult, expected: StacItemRecord[]): void {
  expect(r.items.map((i) => `${i.collection}/${i.id}`)).toEqual(expected.map((e) => `${e.collection}/${e.id}`));
  for (const [n, item] of r.items.entries()) {
    const rec = expected[n]!;
    expect(Object.keys(item.assets).sort()).toEqual(rec.assets.map((a) => a.key).sort());
    for (const a of rec.assets) expect(storagePath(sim, item.assets[a.key]!)).toBe(`/constellr-lst/${a.storageKey}`);
  }
}

describe.skipIf(skipPystac())('pystac-client against the STAC simulator', () => {
  it('the venv exists (required when CI=true)', () => {
    expect(pystacUnavailable()).toBeNull();
  });

  it('POST search with a CQL2 filter, sortby and limit 4 pages to the end through next links with bodies', async () => {
    const { sim, store } = await start();
    const cutoff = Date.parse('2000-01-01T00:00:00Z');
    const r = await runPystacCheck(`${sim.url}/stac`, KEY, {
      collections: ['lstprecision', 'lstzoom', 'lstfusion'],
      filter: {
        op: 'and',
        args: [
          { op: '<=', args: [{ property: 'gsd' }, 30] },
          { op: 't_after', args: [{ property: 'updated' }, { timestamp: new Date(cutoff).toISOString() }] },
          { op: 'in', args: [{ property: 'collection' }, ['lstprecision', 'lstfusion']] },
        ],
      },
      sortby: [{ field: 'updated', direction: 'asc' }],
      limit: 4,
      method: 'POST',
    });
    expect(r.conformance).toEqual({ CORE: true, ITEM_SEARCH: true, FILTER: true, SORT: true, COLLECTIONS: true, FEATURES: true });
    expect(r.collections).toEqual(['lstfusion', 'lstprecision', 'lstzoom']);
    const expected = store
      .all()
      .filter((x) => x.collection !== 'lstzoom' && x.updatedMs! > cutoff)
      .sort((a, b) => a.updatedMs! - b.updatedMs! || a.collection.localeCompare(b.collection) || (a.id < b.id ? -1 : 1));
    expect(expected.length).toBeGreaterThan(8);
    expectCatalog(sim, r, expected);
    expect(r.matched).toBe(expected.length);
    expect(r.pages).toBe(Math.ceil(expected.length / 4));
    // every page was a POST: pystac-client followed the next links' method and body
    expect(sim.stats.stac.searchPostRequests).toBe(r.pages);
    // the hrefs it got download the bytes their checksums name
    const first = r.items[0]!;
    const buf = Buffer.from(await (await fetch(first.assets.metadata!)).arrayBuffer());
    expect(`1220${createHash('sha256').update(buf).digest('hex')}`).toBe(first.checksums.metadata);
  });

  it("Constellr's documented request: filter {op: eq, order:id}, sortby datetime desc, limit 10 (issue 22 item 15)", async () => {
    const { sim, store } = await start();
    // The search body of Constellr's docs/code_examples/download_assets_from_stac.py.
    // (An order is one collection's: take a collection with two orders, so the filter has to choose.)
    const orders = new Map<string, Set<string>>();
    for (const x of store.all()) orders.set(x.collection, (orders.get(x.collection) ?? new Set()).add(x.orderId));
    const [collection, ids] = [...orders].find(([, o]) => o.size >= 2)!;
    const orderId = [...ids][0]!;
    const r = await runPystacCheck(`${sim.url}/stac`, KEY, {
      collections: [collection],
      filter: { op: 'eq', args: [{ property: 'order:id' }, orderId] },
      filter_lang: 'cql2-json',
      sortby: [{ field: 'datetime', direction: 'desc' }],
      limit: 10,
      method: 'POST',
    });
    const expected = store
      .all()
      .filter((x) => x.collection === collection && x.orderId === orderId)
      .sort((a, b) => b.datetimeMs - a.datetimeMs || a.collection.localeCompare(b.collection) || (a.id < b.id ? -1 : 1));
    expect(expected.length).toBeGreaterThan(0);
    expect(expected.length).toBeLessThan(store.all().filter((x) => x.collection === collection).length);
    expectCatalog(sim, r, expected);
    expect(r.matched).toBe(expected.length);
  });

  it('GET search with a CQL2-Text filter and -datetime order pages through next hrefs', async () => {
    const { sim, store } = await start();
    const r = await runPystacCheck(`${sim.url}/stac`, KEY, {
      collections: ['lstzoom', 'lstfusion'],
      filter: "gsd >= 10 AND datetime >= TIMESTAMP('2000-01-01T00:00:00Z')",
      filter_lang: 'cql2-text',
      sortby: '-datetime',
      limit: 5,
      method: 'GET',
    });
    const expected = store
      .all()
      .filter((x) => x.collection !== 'lstprecision')
      .sort((a, b) => b.datetimeMs - a.datetimeMs || a.collection.localeCompare(b.collection) || (a.id < b.id ? -1 : 1));
    expectCatalog(sim, r, expected);
    expect(r.pages).toBe(Math.ceil(expected.length / 5));
    expect(sim.stats.stac.searchPostRequests).toBe(0);
    expect(sim.stats.stac.searchRequests).toBe(r.pages);
  });
});
