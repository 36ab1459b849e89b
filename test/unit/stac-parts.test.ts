// The parts of the STAC source, each alone (issue 26 §2): paging by next links (paging.ts), the
// conformance table (conformance.ts), the search bodies, next links and tokens (search.ts), and the one
// place where a malformed response becomes SYNC_API_BAD_LISTING (boundary.ts). The whole source is
// stac-source.test.ts.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ApiClient } from '../../src/api/client.js';
import { ApiKeyAuth } from '../../src/api/api-key.js';
import { createDispatcher } from '../../src/api/dispatcher.js';
import { SyncError } from '../../src/errors.js';
import { Secret } from '../../src/lib/secret.js';
import { StacApi, fromWire } from '../../src/api/stac/boundary.js';
import { resolveCollections } from '../../src/api/stac/collections.js';
import { Conformance, conformsTo, CONFORMANCE_CLASSES } from '../../src/api/stac/conformance.js';
import { getPages } from '../../src/api/stac/paging.js';
import { firstRequest, nextRequest, parseSearchToken, printSearchToken, scopeBody, type SearchRequest, type SearchScope } from '../../src/api/stac/search.js';
import { LocatorError, parseLocator } from '../../src/api/stac/locator.js';
import { StacWireError, parseCollections, type StacLink } from '../../src/api/stac/documents.js';
import { CONFORMANCE, startScripted, type ScriptedServer } from '../helpers/stac-server.js';

let server: ScriptedServer;
let dispatcher: ReturnType<typeof createDispatcher>;
let api: StacApi;

beforeEach(async () => {
  server = await startScripted();
  dispatcher = createDispatcher({ connectTimeoutMs: 5000, headersTimeoutMs: 5000, bodyIdleTimeoutMs: 5000, maxRedirects: 5, connections: 4 });
  const tokens = new ApiKeyAuth({ key: new Secret('sk-test-0123456789abcdef'), baseUrl: server.url, probePath: 'stac', dispatcher });
  api = new StacApi(new ApiClient({ baseUrl: server.url, dispatcher, tokens, maxRedirects: 5 }));
});
afterEach(async () => {
  await dispatcher.close();
  await server.close();
});

const readIds = (body: unknown) => {
  const p = parseCollections(body, 'GET /stac/collections');
  return { ...p, size: p.ids.length };
};

async function collectPages(first: URL): Promise<string[][]> {
  const out: string[][] = [];
  for await (const p of getPages(api, first, 'GET /stac/collections', readIds)) out.push(p.ids);
  return out;
}

describe('paging (getPages)', () => {
  it('follows relative next links until a page has none, and stops at an empty page whatever its links say', async () => {
    server.on('GET /stac/collections', (_r, url) => {
      const page = Number(url.searchParams.get('page') ?? '1');
      if (page === 3) return { json: { collections: [], links: [{ rel: 'next', href: '?page=4' }] } };
      return { json: { collections: [{ id: `c${page}` }, { id: 'shared' }], links: [{ rel: 'next', href: `collections?page=${page + 1}` }] } };
    });
    expect(await collectPages(api.url('stac/collections'))).toEqual([['c1', 'shared'], ['c2', 'shared'], []]);
    expect(server.seen.map((r) => r.url)).toEqual(['/stac/collections', '/stac/collections?page=2', '/stac/collections?page=3']);
    // resolveCollections: the limit, and each id once
    expect(await resolveCollections(api, null, 5000)).toEqual(['c1', 'shared', 'c2']);
    expect(server.seen.at(-3)!.url).toBe('/stac/collections?limit=1000');
    expect(await resolveCollections(api, ['mine'], 10)).toEqual(['mine']);
  });

  it('a next link that repeats a page, or is no URL, is a bad listing, not a loop', async () => {
    server.on('GET /stac/collections', () => ({ json: { collections: [{ id: 'a' }], links: [{ rel: 'next', href: 'collections' }] } }));
    const loop = await collectPages(api.url('stac/collections')).catch((e: unknown) => e);
    expect(loop).toBeInstanceOf(SyncError);
    expect(loop).toMatchObject({ code: 'SYNC_API_BAD_LISTING', message: expect.stringMatching(/repeats a page/) });
    server.on('GET /stac/collections', () => ({ json: { collections: [{ id: 'a' }], links: [{ rel: 'next', href: 'http://[x' }] } }));
    await expect(collectPages(api.url('stac/collections'))).rejects.toMatchObject({ code: 'SYNC_API_BAD_LISTING', message: expect.stringMatching(/invalid href/) });
  });
});

describe('conformance', () => {
  it('the table matches /search sorting only, under any version', () => {
    expect(Object.keys(CONFORMANCE_CLASSES)).toEqual(['ITEM_SEARCH_SORT']);
    expect(conformsTo(CONFORMANCE.conformsTo, 'ITEM_SEARCH_SORT')).toBe(true);
    expect(conformsTo(['https://api.stacspec.org/v1.0.0-rc.2/item-search#sort'], 'ITEM_SEARCH_SORT')).toBe(true);
    expect(conformsTo(['https://api.stacspec.org/v1.0.0/ogcapi-features#sort', 'https://api.stacspec.org/v1.0.0/item-search'], 'ITEM_SEARCH_SORT')).toBe(false);
    expect(conformsTo([], 'ITEM_SEARCH_SORT')).toBe(false);
  });

  it('is fetched once per process; a malformed document is a bad listing', async () => {
    server.on('GET /stac/conformance', () => ({ json: CONFORMANCE }));
    const c = new Conformance();
    expect(c.has('ITEM_SEARCH_SORT')).toBe(false);
    await c.load(api);
    await c.load(api);
    expect(c.has('ITEM_SEARCH_SORT')).toBe(true);
    expect(server.seen.filter((r) => r.url === '/stac/conformance')).toHaveLength(1);
    server.on('GET /stac/conformance', () => ({ json: { conformsTo: 'all of them' } }));
    await expect(new Conformance().load(api)).rejects.toMatchObject({ code: 'SYNC_API_BAD_LISTING', message: expect.stringMatching(/^GET \/stac\/conformance: malformed conformance/) });
  });
});

describe('search requests', () => {
  const scope: SearchScope = { collections: ['c1'], filter: { op: '=', args: [{ property: 'platform' }, 'x'] }, bbox: [1, 2, 3, 4], datetime: '2025-01-01T00:00:00Z/..' };
  const href = 'https://api.example/stac/search';
  const after = Date.parse('2026-01-01T00:00:00.500Z');

  it('the scope body, and the first request of a full and of an incremental walk per strategy', () => {
    expect(scopeBody({ collections: null, filter: null, bbox: null, datetime: null }, 7)).toEqual({ limit: 7 });
    expect(scopeBody(scope, 7)).toEqual({ limit: 7, collections: ['c1'], bbox: [1, 2, 3, 4], datetime: '2025-01-01T00:00:00Z/..', filter: scope.filter, 'filter-lang': 'cql2-json' });
    const full = firstRequest(scope, { href, strategy: 'datetime', serverSorts: false, after: null, limit: 5 });
    expect(full).toEqual({ method: 'POST', href, body: scopeBody(scope, 5) });
    const byDate = firstRequest(scope, { href, strategy: 'datetime', serverSorts: true, after, limit: 5 });
    expect(byDate.body).toMatchObject({ datetime: '2026-01-01T00:00:00Z/..', sortby: [{ field: 'datetime', direction: 'asc' }], filter: scope.filter });
    const byUpdated = firstRequest(scope, { href, strategy: 'updated', serverSorts: false, after, limit: 5 });
    expect(byUpdated.body).toMatchObject({
      datetime: '2025-01-01T00:00:00Z/..',
      filter: { op: 'and', args: [scope.filter, { op: '>=', args: [{ property: 'updated' }, { timestamp: '2026-01-01T00:00:00Z' }] }] },
      'filter-lang': 'cql2-json',
      sortby: [{ field: 'updated', direction: 'asc' }],
    });
  });

  const prev: SearchRequest = { method: 'POST', href, body: { limit: 5, collections: ['c1'] } };
  const link = (l: Partial<StacLink>): StacLink[] => [{ rel: 'next', href: 'search?p=2', ...l }];

  it('next links: relative GET, POST with and without merge, headers without credentials, a bare token', () => {
    expect(nextRequest(prev, link({}), null, 5)).toEqual({ method: 'GET', href: 'https://api.example/stac/search?p=2', headers: {} });
    expect(nextRequest(prev, link({ method: 'post', body: { page: 2 }, merge: true }), null, 5)?.body).toEqual({ limit: 5, collections: ['c1'], page: 2 });
    expect(nextRequest(prev, link({ method: 'POST', body: { page: 2 } }), null, 5)?.body).toEqual({ page: 2 });
    expect(nextRequest(prev, link({ method: 'POST' }), null, 5)?.body).toEqual(prev.body);
    const h = nextRequest(prev, link({ headers: { 'X-Page': ['a', 'b'], Authorization: 'x', 'x-api-key': 'y', Cookie: 'z', Host: 'h' } }), null, 5);
    expect(h?.headers).toEqual({ 'x-page': 'a, b' });
    expect(nextRequest(prev, [{ rel: 'self', href }], 'tok', 5)).toEqual({ ...prev, body: { ...prev.body, token: 'tok' } });
    expect(nextRequest(prev, [], 'tok', 0)).toBeNull();
    expect(nextRequest(prev, [], null, 5)).toBeNull();
    expect(nextRequest({ method: 'GET', href }, [], 'tok', 5)).toBeNull();
  });

  it('a next link with a bad href, scheme or method is a malformed response (a bad listing at the boundary)', () => {
    for (const [l, why] of [
      [{ href: 'http://[x' }, /invalid href/],
      [{ href: 'ftp://a/b' }, /ftp: URL/],
      [{ method: 'DELETE' }, /method DELETE/],
    ] as const) {
      expect(() => nextRequest(prev, link(l), null, 5)).toThrow(StacWireError);
      expect(() => fromWire(() => nextRequest(prev, link(l), null, 5))).toThrow(expect.objectContaining({ code: 'SYNC_API_BAD_LISTING', message: expect.stringMatching(why) }));
    }
  });

  it('a request and its continuation token round-trip, and equal requests print equal tokens (loop detection)', () => {
    const r = nextRequest(prev, link({ method: 'POST', body: { page: 2 }, merge: true, headers: { 'x-a': '1' } }), null, 5)!;
    expect(parseSearchToken(printSearchToken(r))).toEqual(r);
    expect(printSearchToken(r)).toBe(printSearchToken(parseSearchToken(printSearchToken(r))));
  });
});

describe('wire errors at the boundary', () => {
  it('a StacWireError becomes SYNC_API_BAD_LISTING with its message; other errors pass unchanged', () => {
    const e = (() => {
      try {
        return fromWire(() => {
          throw new StacWireError('POST /stac/search: malformed item "x"');
        });
      } catch (err) {
        return err;
      }
    })();
    expect(e).toBeInstanceOf(SyncError);
    expect(e).toMatchObject({ code: 'SYNC_API_BAD_LISTING', errorClass: 'bad_listing', message: 'POST /stac/search: malformed item "x"' });
    const other = new SyncError('gone', { code: 'SYNC_STAC_ITEM_GONE', status: 404 });
    expect(() =>
      fromWire(() => {
        throw other;
      }),
    ).toThrow(other);
    // A job without a locator is a state problem, not a malformed response: it is not turned into a bad listing.
    expect(() => fromWire(() => parseLocator(null, 'k'))).toThrow(LocatorError);
    expect(fromWire(() => 42)).toBe(42);
  });

  it('an HTTP error keeps its status through the boundary; a malformed body has none', async () => {
    server.on('GET /stac/conformance', () => ({ status: 422, json: { detail: 'no' } }));
    const http = await api.get('stac/conformance', () => 'unread').catch((e: unknown) => e);
    expect(http).toMatchObject({ status: 422 });
    server.on('GET /stac/conformance', () => ({ json: { conformsTo: 1 } }));
    const read = (b: unknown, context: string): never => {
      throw new StacWireError(`${context}: ${typeof b}`);
    };
    const bad = await api.get('stac/conformance', read).catch((e: unknown) => e);
    expect(bad).toMatchObject({ code: 'SYNC_API_BAD_LISTING', message: 'GET /stac/conformance: object', status: undefined });
  });
});
