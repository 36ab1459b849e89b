// GET and POST /stac/search. A POST page's `next` link repeats the request body with a new
// `token`, `method: POST` and `merge: false`, exactly as the STAC API item-search spec shows.
import type { Principal } from '../apikeys.js';
import { type Req, type Res, type StacContext, GEOJSON, featureCollection, getNextLink, readJsonBody, sendError, sendJson } from './route-context.js';
import { BadRequest, type SearchRequest, parseGetSearch, parsePostSearch, runSearch } from './search.js';

function scopeCheck(req: SearchRequest, p: Principal): string | null {
  if (!p.collections || !req.collections) return null;
  const denied = req.collections.filter((c) => !p.collections!.has(c));
  return denied.length ? `Not authorised for collection ${denied.join(', ')}` : null;
}

export async function handleSearch(ctx: StacContext, req: Req, res: Res, q: URLSearchParams, p: Principal): Promise<void> {
  ctx.stats.searchRequests++;
  const self = `${ctx.urls().api}/stac/search`;
  if (req.method === 'POST') {
    ctx.stats.searchPostRequests++;
    const body = await readJsonBody(ctx, req);
    const sreq = parsePostSearch(body, ctx.store);
    const denied = scopeCheck(sreq, p);
    if (denied) return sendError(res, 403, 'Forbidden', denied);
    const result = runSearch(ctx.store, sreq, p.collections);
    const links: Record<string, unknown>[] = [{ rel: 'self', href: self, type: GEOJSON }];
    if (result.next !== undefined) {
      const nextBody: Record<string, unknown> = { ...(body as Record<string, unknown>), token: result.next ?? undefined };
      if (result.next === null) delete nextBody.token;
      links.push({
        rel: 'next',
        href: self,
        type: GEOJSON,
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: nextBody,
        merge: false,
      });
    }
    return sendJson(res, 200, await featureCollection(ctx, result.items, result.numberMatched, links), GEOJSON);
  }
  if (req.method !== 'GET') throw new BadRequest('use GET or POST', 405);
  const sreq = parseGetSearch(q, ctx.store);
  const denied = scopeCheck(sreq, p);
  if (denied) return sendError(res, 403, 'Forbidden', denied);
  const result = runSearch(ctx.store, sreq, p.collections);
  const links: Record<string, unknown>[] = [{ rel: 'self', href: q.size ? `${self}?${q.toString()}` : self, type: GEOJSON }];
  if (result.next !== undefined) links.push(getNextLink(self, q, result.next));
  sendJson(res, 200, await featureCollection(ctx, result.items, result.numberMatched, links), GEOJSON);
}
