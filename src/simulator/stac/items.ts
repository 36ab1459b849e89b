// GET /stac/collections/{id}/items (paged by token with `next` links) and
// GET /stac/collections/{id}/items/{itemId}.
import type { Principal } from '../apikeys.js';
import { type Res, type StacContext, GEOJSON, featureCollection, getNextLink, mayRead, notFound, sendError, sendJson } from './route-context.js';
import { collectionDef } from './model.js';
import { enc, renderItem } from './render.js';
import { parseGetSearch, runSearch } from './search.js';

export async function handleItems(ctx: StacContext, res: Res, collection: string, q: URLSearchParams, p: Principal): Promise<void> {
  ctx.stats.itemsRequests++;
  const def = collectionDef(collection);
  if (!def) return notFound(res, `Collection ${collection} does not exist.`);
  if (!mayRead(p, def.id)) return sendError(res, 403, 'Forbidden', `Not authorised for collection ${collection}`);
  if (q.has('collections')) q.delete('collections');
  const req = parseGetSearch(q, ctx.store);
  req.collections = [def.id];
  const result = runSearch(ctx.store, req, p.collections);
  const self = `${ctx.urls().api}/stac/collections/${enc(def.id)}/items`;
  const links: Record<string, unknown>[] = [
    { rel: 'self', href: q.size ? `${self}?${q.toString()}` : self, type: GEOJSON },
    { rel: 'collection', href: `${ctx.urls().api}/stac/collections/${enc(def.id)}`, type: 'application/json' },
  ];
  if (result.next !== undefined) links.push(getNextLink(self, q, result.next));
  sendJson(res, 200, await featureCollection(ctx, result.items, result.numberMatched, links), GEOJSON);
}

const inFlight = new WeakMap<StacContext, Map<string, number>>();

/** Count a single-item request from its arrival (before latency and auth) until its response closes. */
export function trackItemRequest(ctx: StacContext, res: Res, collection: string, id: string): void {
  const key = `${collection}/${id}`;
  const s = ctx.stats;
  s.itemRequestsById.set(key, (s.itemRequestsById.get(key) ?? 0) + 1);
  let m = inFlight.get(ctx);
  if (!m) inFlight.set(ctx, (m = new Map()));
  const flying = m;
  const n = (flying.get(key) ?? 0) + 1;
  flying.set(key, n);
  s.maxItemRequestsInFlight = Math.max(s.maxItemRequestsInFlight, n);
  res.once('close', () => {
    const left = (flying.get(key) ?? 1) - 1;
    if (left <= 0) flying.delete(key);
    else flying.set(key, left);
  });
}

export async function handleItem(ctx: StacContext, res: Res, collection: string, id: string, p: Principal): Promise<void> {
  const def = collectionDef(collection);
  if (!def) return notFound(res, `Collection ${collection} does not exist.`);
  if (!mayRead(p, def.id)) return sendError(res, 403, 'Forbidden', `Not authorised for collection ${collection}`);
  const rec = ctx.store.get(def.id, id);
  if (!rec) return notFound(res, `Item ${id} in collection ${collection} does not exist.`);
  sendJson(res, 200, await renderItem(ctx.store, ctx.presigner, ctx.urls(), rec, ctx.clock()), GEOJSON);
}
