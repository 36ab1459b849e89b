// POST /token (FastAPI-style, JSON and/or form bodies, 422 validation errors), the bearer tokens it
// issues (JWT or opaque), and authentication of API requests: X-Api-Key wins over a bearer token.
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { FULL_ACCESS, type Principal } from './apikeys.js';
import { type SimContext, sleep } from './context.js';
import { injected } from './faults.js';
import { type Req, type Res, b64url, contentTypeOf, readBody, sendJson } from './route-helpers.js';

export function issueToken(ctx: SimContext): string {
  const { username, tokenFormat, tokenTtlMs } = ctx.settings;
  const now = ctx.clock();
  const ttl = ctx.faults.tokenTtlMs ?? tokenTtlMs;
  const expMs = now + ttl;
  let token: string;
  if (tokenFormat === 'jwt') {
    const header = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
    const payload = b64url(
      JSON.stringify({ sub: username, exp: Math.floor(expMs / 1000), iat: Math.floor(now / 1000), jti: randomUUID() }),
    );
    const sig = createHmac('sha256', ctx.secret).update(`${header}.${payload}`).digest('base64url');
    token = `${header}.${payload}.${sig}`;
  } else {
    token = randomBytes(32).toString('hex');
  }
  if (ctx.tokens.size > 10_000) {
    for (const [t, v] of ctx.tokens) if (v.expMs <= now) ctx.tokens.delete(t);
  }
  ctx.tokens.set(token, { iatMs: now, expMs });
  ctx.stats.tokensIssued++;
  return token;
}

function authorized(ctx: SimContext, req: Req): boolean {
  const h = req.headers.authorization;
  if (!h) return false;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(h);
  if (!m || !m[1]) return false;
  const t = ctx.tokens.get(m[1]);
  if (!t) return false;
  let exp = t.expMs;
  if (ctx.faults.tokenTtlMs !== null) exp = Math.min(exp, t.iatMs + ctx.faults.tokenTtlMs);
  return ctx.clock() < exp;
}

/** X-Api-Key wins over a bearer token; answers 401/403 itself and returns null then. */
export function authenticate(ctx: SimContext, req: Req, res: Res, api: 'assets' | 'stac'): Principal | null {
  const presented = req.headers['x-api-key'];
  if (presented !== undefined) {
    ctx.stats.authByApiKey++;
    const r = ctx.apiKeys.check(Array.isArray(presented) ? presented.join(',') : presented, ctx.clock());
    if (!r.ok) {
      sendJson(res, 401, { detail: r.detail });
      return null;
    }
    if (!r.principal[api]) {
      sendJson(res, 403, { detail: `Not authorised: this API key has no access to the ${api === 'assets' ? 'asset' : 'STAC'} API` });
      return null;
    }
    return r.principal;
  }
  if (req.headers.authorization !== undefined) ctx.stats.authByBearer++;
  if (ctx.legacyTokens && authorized(ctx, req)) return FULL_ACCESS;
  if (!ctx.legacyTokens && req.headers.authorization !== undefined) {
    sendJson(res, 401, { detail: 'Bearer tokens are not accepted for accounts in several workspaces: use a workspace API key' });
    return null;
  }
  sendJson(res, 401, { detail: 'Not authenticated' }, { 'WWW-Authenticate': 'Bearer' });
  return null;
}

function validationError(loc: (string | number)[], type: string, msg: string, input: unknown): unknown {
  return { detail: [{ type, loc, msg, input }] };
}

export async function handleToken(ctx: SimContext, req: Req, res: Res): Promise<void> {
  const { username, password, tokenEncoding } = ctx.settings;
  ctx.stats.tokenRequests++;
  const ct = contentTypeOf(req);
  const enc = ct === 'application/json' ? 'json' : ct === 'application/x-www-form-urlencoded' ? 'form' : null;
  if (enc) ctx.stats.tokenRequestsByEncoding[enc]++;
  const body = await readBody(req);
  if (ctx.faults.latencyMs > 0) await sleep(ctx, ctx.faults.latencyMs);
  if (enc === null || (tokenEncoding !== 'both' && tokenEncoding !== enc)) {
    sendJson(res, 415, { detail: `Unsupported Media Type: expected ${tokenEncoding === 'form' ? 'application/x-www-form-urlencoded' : tokenEncoding === 'json' ? 'application/json' : 'application/json or application/x-www-form-urlencoded'}` });
    return;
  }
  let user: unknown;
  let pass: unknown;
  if (enc === 'json') {
    let parsed: unknown;
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch {
      sendJson(res, 422, validationError(['body', 0], 'json_invalid', 'JSON decode error', {}));
      return;
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      sendJson(res, 422, validationError(['body'], 'model_attributes_type', 'Input should be a valid dictionary or object to extract fields from', parsed));
      return;
    }
    user = (parsed as Record<string, unknown>).username;
    pass = (parsed as Record<string, unknown>).password;
  } else {
    const params = new URLSearchParams(body.toString('utf8'));
    user = params.get('username') ?? undefined;
    pass = params.get('password') ?? undefined;
  }
  const errors: unknown[] = [];
  for (const [name, v] of [['username', user], ['password', pass]] as const) {
    if (v === undefined) errors.push({ type: 'missing', loc: ['body', name], msg: 'Field required', input: null });
    else if (typeof v !== 'string') errors.push({ type: 'string_type', loc: ['body', name], msg: 'Input should be a valid string', input: v });
  }
  if (errors.length) {
    sendJson(res, 422, { detail: errors });
    return;
  }
  if (!ctx.legacyTokens && user === username && pass === password) {
    sendJson(res, 401, { detail: 'This account belongs to several workspaces: use a workspace API key' });
    return;
  }
  if (ctx.faults.failToken) {
    injected(ctx, 'failToken');
    sendJson(res, 401, { detail: 'Invalid credentials' });
    return;
  }
  if (user !== username || pass !== password) {
    sendJson(res, 401, { detail: 'Invalid credentials' });
    return;
  }
  sendJson(res, 200, { access_token: issueToken(ctx), token_type: 'bearer' });
}
