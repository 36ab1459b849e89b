// Dispatch of /stac/* on the API port, and of the STAC admin routes on the admin port.
import type { Principal } from '../apikeys.js';
import { handleCollection, handleCollections } from './collections.js';
import { type Req, type Res, type StacContext, notFound, sendError, sendJson, stacStatsToJson } from './route-context.js';
import { handleItem, handleItems, trackItemRequest } from './items.js';
import { handleConformance, handleLanding, handleQueryables } from './landing.js';
import type { StacItemInput, StacKnobs, StacItemRecord } from './model.js';
import { iso } from './render.js';
import { handleSearch } from './search-route.js';
import { BadRequest } from './search.js';

/** Runs latency, fault injection and authentication; null when it already answered. */
export type Gate = (req: Req, res: Res, kind: 'search' | 'read') => Promise<Principal | null>;

function segments(path: string): string[] | null {
  const out: string[] = [];
  for (const s of path.split('/').slice(1)) {
    try {
      out.push(decodeURIComponent(s));
    } catch {
      return null;
    }
  }
  return out;
}

function methodNotAllowed(res: Res, allow: string): void {
  res.setHeader('Allow', allow);
  sendError(res, 405, 'MethodNotAllowed', `use ${allow}`);
}

/** Handle a request whose path is /stac or starts with /stac/. */
export async function routeStac(ctx: StacContext, gate: Gate, req: Req, res: Res, path: string, query: string): Promise<void> {
  const seg = segments(path.replace(/\/+$/, '') || '/');
  const m = req.method ?? 'GET';
  if (!seg || seg[0] !== 'stac') return notFound(res, 'Not Found');
  const rest = seg.slice(1);
  const q = new URLSearchParams(query);
  const isSearch = rest.length === 1 && rest[0] === 'search';
  if (isSearch ? m !== 'GET' && m !== 'POST' : m !== 'GET') return methodNotAllowed(res, isSearch ? 'GET, POST' : 'GET');
  // single-item requests count as in flight from the moment they arrive
  const item = rest.length === 4 && rest[0] === 'collections' && rest[2] === 'items';
  try {
    if (item) {
      trackItemRequest(ctx, res, rest[1]!, rest[3]!);
      return await handleItem(ctx, res, rest[1]!, rest[3]!, await gatedOr(gate, req, res, 'read'));
    }
    const p = await gate(req, res, isSearch || (rest.length === 3 && rest[2] === 'items') ? 'search' : 'read');
    if (!p) return;
    if (rest.length === 0) return handleLanding(ctx, res);
    if (rest.length === 1 && rest[0] === 'conformance') return handleConformance(ctx, res);
    if (rest.length === 1 && rest[0] === 'queryables' && ctx.store.knobs.filter) return handleQueryables(ctx, res);
    if (isSearch) return await handleSearch(ctx, req, res, q, p);
    if (rest.length === 1 && rest[0] === 'collections') return handleCollections(ctx, res, q, p);
    if (rest.length === 2 && rest[0] === 'collections') return handleCollection(ctx, res, rest[1]!, p);
    if (rest.length === 3 && rest[0] === 'collections' && rest[2] === 'items') return await handleItems(ctx, res, rest[1]!, q, p);
    return notFound(res, 'Not Found');
  } catch (e) {
    if (e === GATE_ANSWERED) return;
    if (e instanceof BadRequest) {
      ctx.stats.badRequests++;
      return sendError(res, e.status, e.status === 400 ? 'BadRequest' : e.status === 413 ? 'PayloadTooLarge' : e.status === 415 ? 'UnsupportedMediaType' : 'MethodNotAllowed', e.message);
    }
    throw e;
  }
}

const GATE_ANSWERED = Symbol('gate answered');

async function gatedOr(gate: Gate, req: Req, res: Res, kind: 'search' | 'read'): Promise<Principal> {
  const p = await gate(req, res, kind);
  if (!p) throw GATE_ANSWERED;
  return p;
}

export function adminItem(rec: StacItemRecord, ctx: StacContext): Record<string, unknown> {
  return {
    collection: rec.collection,
    id: rec.id,
    datetime: iso(rec.datetimeMs),
    updated: rec.updatedMs === null ? null : iso(rec.updatedMs),
    showsUpdated: ctx.store.showsUpdated(rec),
    orderId: rec.orderId,
    bbox: rec.bbox,
    assets: rec.assets.map((a) => {
      const obj = ctx.store.object(a);
      return {
        key: a.key,
        fileName: a.fileName,
        storageKey: a.storageKey,
        size: obj?.size ?? null,
        etag: obj?.etag ?? null,
        showsSize: ctx.store.assetShowsSize(rec, a),
        showsChecksum: ctx.store.assetShowsChecksum(rec, a),
        href: a.href,
      };
    }),
  };
}

/**
 * Admin routes: GET/PUT /stac/items, DELETE /stac/items/{collection}/{id},
 * POST /stac/items/{collection}/{id}/touch, GET/PUT /stac/knobs, GET /stac/stats.
 * Returns false when the path is not a STAC admin route.
 */
export async function routeStacAdmin(ctx: StacContext, req: Req, res: Res, path: string): Promise<boolean> {
  if (path !== '/stac' && !path.startsWith('/stac/')) return false;
  const seg = segments(path);
  const m = req.method ?? 'GET';
  if (!seg) {
    sendJson(res, 404, { detail: 'Not found' });
    return true;
  }
  const rest = seg.slice(2);
  const body = async (): Promise<unknown> => JSON.parse((await ctx.readBody(req)).toString('utf8')) as unknown;
  try {
    if (seg[1] === 'knobs' && rest.length === 0) {
      if (m === 'PUT') ctx.store.setKnobs((await body()) as Partial<StacKnobs>);
      sendJson(res, 200, ctx.store.knobs);
      return true;
    }
    if (seg[1] === 'stats' && rest.length === 0 && m === 'GET') {
      sendJson(res, 200, stacStatsToJson(ctx.stats));
      return true;
    }
    if (seg[1] === 'items' && rest.length === 0 && m === 'GET') {
      sendJson(res, 200, { items: ctx.store.all().map((r) => adminItem(r, ctx)) });
      return true;
    }
    if (seg[1] === 'items' && rest.length === 0 && m === 'PUT') {
      const b = await body();
      const list = (Array.isArray(b) ? b : [b]) as StacItemInput[];
      const recs = list.map((i) => ctx.store.put(i));
      sendJson(res, 200, { count: recs.length, items: recs.map((r) => adminItem(r, ctx)) });
      return true;
    }
    if (seg[1] === 'items' && rest.length === 2 && m === 'DELETE') {
      if (!ctx.store.remove(rest[0]!, rest[1]!)) sendJson(res, 404, { detail: 'Not found' });
      else {
        res.writeHead(204);
        res.end();
      }
      return true;
    }
    if (seg[1] === 'items' && rest.length === 3 && rest[2] === 'touch' && m === 'POST') {
      const rec = ctx.store.get(rest[0]!, rest[1]!);
      if (!rec) {
        sendJson(res, 404, { detail: 'Not found' });
        return true;
      }
      const raw = await ctx.readBody(req);
      const b = (raw.length ? JSON.parse(raw.toString('utf8')) : {}) as { updated?: string | number | null; changeContent?: boolean };
      const next = ctx.store.put({ collection: rec.collection, id: rec.id, updated: b.updated, keepContent: b.changeContent === false });
      sendJson(res, 200, adminItem(next, ctx));
      return true;
    }
  } catch (e) {
    if (e instanceof TypeError || e instanceof SyntaxError) {
      sendJson(res, 400, { detail: e.message });
      return true;
    }
    throw e;
  }
  sendJson(res, 404, { detail: 'Not Found' });
  return true;
}
