// GET /stac/collections (paged by limit/offset) and GET /stac/collections/{id}.
import type { Principal } from '../apikeys.js';
import { type Res, type StacContext, JSON_TYPE, mayRead, notFound, sendError, sendJson } from './route-context.js';
import { collectionDef, COLLECTIONS } from './model.js';
import { renderCollection } from './render.js';
import { BadRequest } from './search.js';

function intParam(q: URLSearchParams, name: string, def: number, min: number): number {
  const v = q.get(name);
  if (v === null) return def;
  if (!/^\s*\d{1,15}\s*$/.test(v) || Number(v) < min) throw new BadRequest(`${name} must be an integer >= ${min}`);
  return Number(v);
}

export function handleCollections(ctx: StacContext, res: Res, q: URLSearchParams, p: Principal): void {
  ctx.stats.collectionsRequests++;
  const limit = Math.min(intParam(q, 'limit', ctx.store.knobs.defaultLimit, 1), ctx.store.knobs.maxLimit);
  const offset = intParam(q, 'offset', 0, 0);
  const visible = COLLECTIONS.filter((c) => mayRead(p, c.id));
  const page = visible.slice(offset, offset + limit);
  const urls = ctx.urls();
  const self = `${urls.api}/stac/collections`;
  const links: Record<string, unknown>[] = [
    { rel: 'self', href: `${self}?limit=${limit}&offset=${offset}`, type: JSON_TYPE },
    { rel: 'root', href: `${urls.api}/stac`, type: JSON_TYPE },
    { rel: 'parent', href: `${urls.api}/stac`, type: JSON_TYPE },
  ];
  if (offset + limit < visible.length) links.push({ rel: 'next', href: `${self}?limit=${limit}&offset=${offset + limit}`, type: JSON_TYPE, method: 'GET' });
  if (offset > 0) links.push({ rel: 'prev', href: `${self}?limit=${limit}&offset=${Math.max(0, offset - limit)}`, type: JSON_TYPE, method: 'GET' });
  sendJson(res, 200, {
    collections: page.map((c) => renderCollection(ctx.store, urls, c)),
    links,
    numberMatched: visible.length,
    numberReturned: page.length,
  });
}

export function handleCollection(ctx: StacContext, res: Res, id: string, p: Principal): void {
  ctx.stats.collectionsRequests++;
  const def = collectionDef(id);
  if (!def) return notFound(res, `Collection ${id} does not exist.`);
  if (!mayRead(p, def.id)) return sendError(res, 403, 'Forbidden', `Not authorised for collection ${id}`);
  sendJson(res, 200, renderCollection(ctx.store, ctx.urls(), def));
}
