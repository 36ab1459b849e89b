// A scripted Constellr API for tests that need control the simulator does not give: the `Date`
// header, a page that fails, redirects. POST /token always issues a token; GET /assets answers with
// whatever `listing` returns for the request's query (a page object, or a status to fail with).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent } from 'undici';
import { TokenManager } from '../../src/api/auth.js';
import { ApiClient } from '../../src/api/client.js';
import { Secret } from '../../src/lib/secret.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import { tempDirs } from './harness.js';

export interface FakeAsset {
  Key: string;
  LastModified: string;
  Size: number;
}

export type ListingAnswer =
  | { page: { Contents: FakeAsset[]; IsTruncated: boolean; NextContinuationToken?: string }; date?: string; headers?: Record<string, string> }
  | { status: number; headers?: Record<string, string>; body?: string; date?: string };

export interface FakeApi {
  url: string;
  /** Every GET /assets query, in order. */
  listings: URLSearchParams[];
  close(): Promise<void>;
}

export async function startFakeApi(listing: (q: URLSearchParams, n: number) => ListingAnswer | Promise<ListingAnswer>): Promise<FakeApi> {
  const listings: URLSearchParams[] = [];
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      void (async () => {
        const u = new URL(req.url ?? '/', 'http://x');
        if (req.method === 'POST' && u.pathname === '/token') {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ access_token: 'tok', expires_in: 3600 }));
          return;
        }
        if (req.method === 'GET' && u.pathname === '/assets') {
          listings.push(u.searchParams);
          const a = await listing(u.searchParams, listings.length);
          // Node adds a Date header of its own unless one is set; undefined keeps Node's, '' removes it.
          if (a.date === '') res.sendDate = false;
          const headers: Record<string, string> = { ...(a.date ? { date: a.date } : {}), ...(a.headers ?? {}) };
          if ('page' in a) {
            res.writeHead(200, { 'content-type': 'application/json', ...headers });
            res.end(JSON.stringify(a.page));
          } else {
            res.writeHead(a.status, { 'content-type': 'application/json', ...headers });
            res.end(a.body ?? '{"detail":"scripted failure"}');
          }
          return;
        }
        res.writeHead(404);
        res.end();
      })().catch(() => {
        res.writeHead(500);
        res.end();
      });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    listings,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** ISO 8601 with whole seconds, as the API writes LastModified. */
export function isoS(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 19)}Z`;
}


/** A fake API answering `listing`, a client for it and a fresh SQLite state; teardown goes to `cleanups`. */
export async function fakeApiWithStore(name: string, listing: (q: URLSearchParams, n: number) => ListingAnswer, cleanups: (() => Promise<unknown>)[]) {
  const fake = await startFakeApi(listing);
  cleanups.push(() => fake.close());
  const dispatcher = new Agent();
  cleanups.push(() => dispatcher.close());
  const tokens = new TokenManager({ baseUrl: fake.url, username: 'u', password: new Secret('p'), dispatcher, encoding: 'json' });
  const api = new ApiClient({ baseUrl: fake.url, dispatcher, tokens });
  const dirs = await tempDirs(name);
  cleanups.push(() => dirs.cleanup());
  const store = SqliteStore.open(dirs.state, { maxAttempts: 10 });
  cleanups.push(async () => store.close());
  return { fake, api, store, dirs };
}
