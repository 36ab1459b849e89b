// A small scripted STAC API for unit tests: each route is a function of the request, and every request
// is recorded (method, path, headers, body), so tests can assert what was sent where. Two of them on
// different ports are two origins (API and storage).
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface SeenRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export interface Reply {
  status?: number;
  headers?: Record<string, string>;
  json?: unknown;
  body?: string | Buffer;
}

export type Route = (req: SeenRequest, url: URL) => Reply | Promise<Reply>;

export interface ScriptedServer {
  url: string;
  origin: string;
  seen: SeenRequest[];
  routes: Map<string, Route>;
  /** Route by "METHOD /path" (no query); unmatched requests are 404. */
  on(methodPath: string, route: Route): void;
  close(): Promise<void>;
}

export async function startScripted(): Promise<ScriptedServer> {
  const routes = new Map<string, Route>();
  const seen: SeenRequest[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const r: SeenRequest = { method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
      seen.push(r);
      const url = new URL(r.url, 'http://x');
      const route = routes.get(`${r.method} ${url.pathname}`);
      Promise.resolve(route ? route(r, url) : { status: 404, json: { detail: 'not found' } })
        .then((reply) => {
          const body = reply.json !== undefined ? Buffer.from(JSON.stringify(reply.json)) : Buffer.from(reply.body ?? '');
          res.writeHead(reply.status ?? 200, { 'content-type': reply.json !== undefined ? 'application/json' : 'application/octet-stream', 'content-length': String(body.length), ...(reply.headers ?? {}) });
          res.end(body);
        })
        .catch((e: unknown) => {
          res.writeHead(500);
          res.end(String(e));
        });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const origin = `http://127.0.0.1:${port}`;
  return {
    url: `${origin}/`,
    origin,
    seen,
    routes,
    on: (k, r) => void routes.set(k, r),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A minimal valid STAC item with the given assets (href per asset key). */
export function item(id: string, assets: Record<string, string | Record<string, unknown>>, props: Record<string, unknown> = {}, collection = 'lstprecision'): Record<string, unknown> {
  const a: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(assets)) a[k] = typeof v === 'string' ? { href: v, type: 'image/tiff', roles: ['data'] } : v;
  return {
    type: 'Feature',
    stac_version: '1.1.0',
    id,
    collection,
    geometry: null,
    properties: { datetime: '2026-07-08T23:58:15Z', ...props },
    assets: a,
    links: [],
  };
}

export function featureCollection(features: unknown[], links: unknown[] = []): Record<string, unknown> {
  return { type: 'FeatureCollection', features, links, numberReturned: features.length };
}

export const CONFORMANCE = {
  conformsTo: [
    'https://api.stacspec.org/v1.0.0/core',
    'https://api.stacspec.org/v1.0.0/item-search',
    'https://api.stacspec.org/v1.0.0/item-search#sort',
    'https://api.stacspec.org/v1.0.0-rc.2/item-search#filter',
    'http://www.opengis.net/spec/cql2/1.0/conf/cql2-json',
    'http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2',
  ],
};
