// What every STAC route shares: the context handed over by the simulator server, JSON answers in
// the STAC API error shape, and the FeatureCollection page builder.
import type http from 'node:http';
import type { Principal } from '../apikeys.js';
import type { StacItemRecord, StacStore } from './model.js';
import type { Presigner } from './presign.js';
import { GEOJSON, JSON_TYPE, type Urls, renderItem } from './render.js';
import { BadRequest } from './search.js';

export type Req = http.IncomingMessage;
export type Res = http.ServerResponse;

export interface StacStats {
  landingRequests: number;
  conformanceRequests: number;
  collectionsRequests: number;
  itemsRequests: number;
  searchRequests: number;
  searchPostRequests: number;
  /** GET /stac/collections/{c}/items/{id} per "collection/id". */
  itemRequestsById: Map<string, number>;
  /** Highest number of concurrent single-item requests seen for one item. */
  maxItemRequestsInFlight: number;
  badRequests: number;
}

export function newStacStats(): StacStats {
  return {
    landingRequests: 0,
    conformanceRequests: 0,
    collectionsRequests: 0,
    itemsRequests: 0,
    searchRequests: 0,
    searchPostRequests: 0,
    itemRequestsById: new Map(),
    maxItemRequestsInFlight: 0,
    badRequests: 0,
  };
}

export function stacStatsToJson(s: StacStats): Record<string, unknown> {
  return { ...s, itemRequestsById: Object.fromEntries(s.itemRequestsById) };
}

export interface StacContext {
  readonly store: StacStore;
  readonly presigner: Presigner;
  readonly stats: StacStats;
  urls(): Urls;
  clock(): number;
  readBody(req: Req): Promise<Buffer>;
}

export function sendJson(res: Res, status: number, body: unknown, contentType = JSON_TYPE): void {
  if (res.headersSent || res.destroyed) return;
  const buf = Buffer.from(JSON.stringify(body));
  res.writeHead(status, { 'Content-Type': contentType, 'Content-Length': buf.length });
  res.end(buf);
}

export function sendError(res: Res, status: number, code: string, description: string): void {
  sendJson(res, status, { code, description });
}

export function notFound(res: Res, what: string): void {
  sendError(res, 404, 'NotFoundError', what);
}

/** 403 when the principal may not read this collection. */
export function mayRead(p: Principal, collection: string): boolean {
  return p.collections === null || p.collections.has(collection);
}

/** Search bodies are small; a bigger one is hostile (a huge polygon would cost seconds per item). */
export const MAX_SEARCH_BODY = 1024 * 1024;

export async function readJsonBody(ctx: StacContext, req: Req): Promise<unknown> {
  const ct = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (ct !== 'application/json' && ct !== '' && !ct.endsWith('+json')) throw new BadRequest(`unsupported content type ${ct}; send application/json`, 415);
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > MAX_SEARCH_BODY) throw new BadRequest(`request body over ${MAX_SEARCH_BODY} bytes`, 413);
  const raw = await ctx.readBody(req);
  if (raw.length > MAX_SEARCH_BODY) throw new BadRequest(`request body over ${MAX_SEARCH_BODY} bytes`, 413);
  try {
    return JSON.parse(raw.toString('utf8')) as unknown;
  } catch (e) {
    throw new BadRequest(`invalid JSON body: ${(e as Error).message}`);
  }
}

export async function featureCollection(
  ctx: StacContext,
  items: StacItemRecord[],
  numberMatched: number,
  links: Record<string, unknown>[],
): Promise<Record<string, unknown>> {
  const now = ctx.clock();
  const urls = ctx.urls();
  const features: Record<string, unknown>[] = [];
  for (const rec of items) features.push(await renderItem(ctx.store, ctx.presigner, urls, rec, now));
  return {
    type: 'FeatureCollection',
    features,
    links: [{ rel: 'root', href: `${urls.api}/stac`, type: JSON_TYPE }, ...links],
    numberMatched,
    numberReturned: features.length,
  };
}

export { GEOJSON, JSON_TYPE };

const MALFORMED_SHAPES = 4;

/** 200 search pages that are not a valid FeatureCollection; rotates so every variant gets exercised. */
export function malformedFeatureCollection(n: number): unknown {
  switch (n % MALFORMED_SHAPES) {
    case 0:
      return { type: 'FeatureCollection', features: 'oops', links: [] };
    case 1:
      // an item without an id
      return { type: 'FeatureCollection', features: [{ type: 'Feature', collection: 'lstprecision', properties: {}, assets: {} }], links: [] };
    case 2:
      // an asset without an href, and a datetime that is not one
      return {
        type: 'FeatureCollection',
        features: [{ type: 'Feature', id: 'broken-item', collection: 'lstprecision', properties: { datetime: 'yesterday' }, assets: { lst: { type: 'image/tiff' } } }],
        links: [],
      };
    default:
      return { type: 'Feature', id: 'not-a-collection' };
  }
}

/** A GET page's `next` link: the same query with the next token (none when `next` is null). */
export function getNextLink(self: string, q: URLSearchParams, next: string | null): Record<string, unknown> {
  const nq = new URLSearchParams(q);
  if (next === null) nq.delete('token');
  else nq.set('token', next);
  return { rel: 'next', href: `${self}?${nq.toString()}`, type: GEOJSON, method: 'GET' };
}
