// The admin server: the test and operator control surface. /stats, /faults, /tokens/expire,
// /health, /api-keys, /auth, the asset inventory under /assets, and the STAC admin routes.
import type { ApiKeyInput } from './apikeys.js';
import type { Asset, AssetInput } from './inventory.js';
import { type SimContext, resetStats, statsToJson } from './context.js';
import { type FaultConfig, setFaults } from './faults.js';
import { HttpError, type Req, type Res, drained, isoSeconds, readBody, safeDecode, sendJson, splitUrl } from './route-helpers.js';
import { routeStacAdmin } from './stac/router.js';

async function jsonBody<T>(req: Req): Promise<T> {
  return JSON.parse((await readBody(req)).toString('utf8')) as T;
}

export async function handleAdmin(ctx: SimContext, req: Req, res: Res): Promise<void> {
  const { path } = splitUrl(req.url);
  const m = req.method ?? 'GET';
  if (path === '/stats' && m === 'GET') return sendJson(res, 200, statsToJson(ctx.stats));
  if (path === '/stats/reset' && m === 'POST') {
    resetStats(ctx);
    return sendJson(res, 200, { ok: true });
  }
  if (path === '/faults' && m === 'GET') return sendJson(res, 200, ctx.faults);
  if (path === '/faults' && m === 'PUT') {
    setFaults(ctx, await jsonBody<Partial<FaultConfig>>(req));
    return sendJson(res, 200, ctx.faults);
  }
  if (path === '/tokens/expire' && m === 'POST') {
    ctx.tokens.clear();
    return sendJson(res, 200, { ok: true });
  }
  if (path === '/health' && m === 'GET') return sendJson(res, 200, { ok: true });
  if (path === '/api-keys' && m === 'GET') return sendJson(res, 200, { keys: ctx.apiKeys.list(), legacyTokens: ctx.legacyTokens });
  if (path === '/api-keys' && m === 'PUT') {
    const body = await jsonBody<ApiKeyInput | ApiKeyInput[]>(req);
    try {
      const ids = (Array.isArray(body) ? body : [body]).map((k) => ctx.apiKeys.put(k).id);
      return sendJson(res, 200, { ids });
    } catch (e) {
      throw new HttpError(400, (e as Error).message);
    }
  }
  if (path === '/api-keys/revoke' && m === 'POST') {
    const body = await jsonBody<{ key?: unknown; id?: unknown }>(req);
    const which = typeof body.key === 'string' ? body.key : typeof body.id === 'string' ? body.id : '';
    return ctx.apiKeys.revoke(which) ? sendJson(res, 200, { revoked: true }) : sendJson(res, 404, { detail: 'No such key' });
  }
  if (path === '/auth' && m === 'PUT') {
    const body = await jsonBody<{ legacyTokens?: unknown }>(req);
    if (typeof body.legacyTokens !== 'boolean') throw new HttpError(400, 'legacyTokens must be a boolean');
    ctx.legacyTokens = body.legacyTokens;
    return sendJson(res, 200, { legacyTokens: ctx.legacyTokens });
  }
  if (ctx.stacCtx && (await routeStacAdmin(ctx.stacCtx, req, res, path))) return;
  if (path === '/assets' || path.startsWith('/assets/')) return handleAdminAssets(ctx, req, res, path, m);
  sendJson(res, 404, { detail: 'Not Found' });
}

/** PUT /assets (one or an array), GET /assets (JSON lines), GET and DELETE /assets/{key}. */
async function handleAdminAssets(ctx: SimContext, req: Req, res: Res, path: string, m: string): Promise<void> {
  const inventory = ctx.inventory;
  if (path === '/assets' && m === 'PUT') {
    const body = await jsonBody<AssetInput | AssetInput[]>(req);
    const list = Array.isArray(body) ? body : [body];
    try {
      const assets = list.map((a) => inventory.put(a));
      return sendJson(res, 200, { count: assets.length, assets: assets.length <= 100 ? assets.map(adminAsset) : undefined });
    } catch (e) {
      throw new HttpError(400, (e as Error).message);
    }
  }
  if (path === '/assets' && m === 'GET') {
    // JSON lines, streamed with backpressure so a 1M inventory does not build one giant string
    res.writeHead(200, { 'Content-Type': 'application/x-ndjson' });
    let batch: string[] = [];
    for (const a of inventory) {
      batch.push(JSON.stringify(adminAsset(a)));
      if (batch.length >= 1000) {
        const ok = res.write(`${batch.join('\n')}\n`);
        batch = [];
        if (!ok) await drained(res);
        if (res.destroyed) return;
      }
    }
    res.end(batch.length ? `${batch.join('\n')}\n` : undefined);
    return;
  }
  if (path.startsWith('/assets/') && (m === 'DELETE' || m === 'GET')) {
    const key = safeDecode(path.slice('/assets/'.length));
    if (!key) return sendJson(res, 404, { detail: 'Not found' });
    if (m === 'GET') {
      const a = inventory.get(key);
      return a ? sendJson(res, 200, adminAsset(a)) : sendJson(res, 404, { detail: 'Not found' });
    }
    if (!inventory.remove(key)) return sendJson(res, 404, { detail: 'Not found' });
    res.writeHead(204);
    res.end();
    return;
  }
  sendJson(res, 404, { detail: 'Not Found' });
}

function adminAsset(a: Asset): Record<string, unknown> {
  return { key: a.key, size: a.size, lastModified: isoSeconds(a.lastModifiedMs), etag: a.etag, seed: a.seed };
}
