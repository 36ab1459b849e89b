// A faithful, pessimistic model of the Constellr asset API over real HTTP: FastAPI-style token
// endpoint, S3-ListObjectsV2-shaped listing, range-capable downloads (optionally via a presigned-URL
// storage server) and injectable faults. Every route works on the one SimContext (context.ts); the
// token endpoint and fault injection live in their own files, stac/ serves the STAC API.
import { createHmac, randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { type ApiKeyInput, ApiKeyRegistry, type Principal } from './apikeys.js';
import { type Asset, type AssetInput, Catalogue, type FilterMode } from './catalogue.js';
import { fillContent } from './content.js';
import { bump, bumpMap, newStats, resetStats, type SimContext, type SimulatorStats, sleep, statsToJson, type TokenEncoding, type TokenFormat } from './context.js';
import { defaultFaults, type FaultConfig, injected, rateFault, setFaults } from './faults.js';
import { b64url, drained, encodeKeyPath, httpDate, HttpError, isoSeconds, readBody, type Req, type Res, safeDecode, sendJson, sendXml, splitUrl } from './http.js';
import { Rng } from './rng.js';
import { malformedFeatureCollection, type StacContext } from './stac/http.js';
import { StacStore } from './stac/model.js';
import { Presigner } from './stac/presign.js';
import { routeStac, routeStacAdmin } from './stac/router.js';
import { authenticate, handleToken, issueToken } from './token.js';

export { defaultFaults, type FaultConfig } from './faults.js';
export type { SimulatorStats, TokenEncoding, TokenFormat } from './context.js';

export interface SimulatorOptions {
  host?: string;
  port?: number;
  /** Admin server port; false disables it. */
  adminPort?: number | false;
  /** Storage server port (redirect mode only). */
  storagePort?: number;
  username?: string;
  password?: string;
  tokenEncoding?: TokenEncoding;
  tokenFormat?: TokenFormat;
  tokenTtlMs?: number;
  filterMode?: FilterMode;
  defaultPageSize?: number;
  maxPageSize?: number;
  /** Downloads answer 302 to a presigned URL on a separate storage server. */
  redirect?: boolean;
  /** Lifetime of presigned URLs (default 15 min). */
  presignTtlMs?: number;
  faults?: Partial<FaultConfig>;
  assets?: Iterable<AssetInput>;
  catalogue?: Catalogue;
  /** Seed for the fault RNG. */
  seed?: number;
  /** Clock for token and presigned-URL expiry. */
  clock?: () => number;
  /** Workspace API keys accepted in `X-Api-Key` (none: only bearer tokens work). */
  apiKeys?: ApiKeyInput[];
  /** Legacy bearer tokens work (false: the account is in two workspaces, /token answers 401). */
  legacyTokens?: boolean;
  /** Serve the STAC API under /stac over this store (true: an empty one); starts the storage origin. */
  stac?: StacStore | boolean;
}

export interface Simulator {
  /** API base URL, e.g. http://127.0.0.1:PORT */
  readonly url: string;
  readonly adminUrl?: string;
  readonly storageUrl?: string;
  readonly catalogue: Catalogue;
  readonly stats: SimulatorStats;
  readonly faults: Readonly<FaultConfig>;
  readonly username: string;
  readonly password: string;
  setFaults(partial: Partial<FaultConfig>): void;
  resetStats(): void;
  /** JSON-serialisable copy of the stats (what GET /stats returns). */
  statsSnapshot(): Record<string, unknown>;
  /** Issue a valid token directly (test convenience). */
  issueToken(): string;
  /** Invalidate every issued token. */
  expireTokens(): void;
  /** The STAC catalogue, when STAC is served. */
  readonly stac?: StacStore;
  readonly apiKeys: ApiKeyRegistry;
  /** Make /token and bearer tokens fail (the account joined a second workspace), or work again. */
  setLegacyTokens(enabled: boolean): void;
  close(): Promise<void>;
}

/** Latency, 5xx/429 and malformed-page faults, then authentication, for the STAC routes. */
function stacGate(ctx: SimContext) {
  return async (req: Req, res: Res, kind: 'search' | 'read'): Promise<Principal | null> => {
    const faults = ctx.faults;
    if (faults.latencyMs > 0) await sleep(ctx, faults.latencyMs);
    if (rateFault(ctx, res, false, kind === 'search' ? faults.listFaultRate : 0)) return null;
    const p = authenticate(ctx, req, res, 'stac');
    if (p && kind === 'search' && faults.malformedListing) {
      // malformedListing applies to search and item pages as it does to /assets listings
      if (faults.malformedListing === 'once') faults.malformedListing = false;
      injected(ctx, 'malformedListing');
      sendJson(res, 200, malformedFeatureCollection(ctx.malformedCounter++));
      return null;
    }
    return p;
  };
}

/** The API port: /stac/*, /token, /assets and /assets/{key}. */
async function handleApi(ctx: SimContext, gate: ReturnType<typeof stacGate>, req: Req, res: Res): Promise<void> {
  const { path, query } = splitUrl(req.url);
  if (ctx.stacCtx && (path === '/stac' || path.startsWith('/stac/'))) return routeStac(ctx.stacCtx, gate, req, res, path, query);
  if (path === '/token') {
    if (req.method !== 'POST') return sendJson(res, 405, { detail: 'Method Not Allowed' }, { Allow: 'POST' });
    return handleToken(ctx, req, res);
  }
  if (path === '/assets') {
    if (req.method !== 'GET') return sendJson(res, 405, { detail: 'Method Not Allowed' }, { Allow: 'GET' });
    return handleList(ctx, req, res, query);
  }
  if (path.startsWith('/assets/')) {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      return sendJson(res, 405, { detail: 'Method Not Allowed' }, { Allow: 'GET' });
    }
    return handleApiDownload(ctx, req, res, path.slice('/assets/'.length));
  }
  sendJson(res, 404, { detail: 'Not Found' });
}

function createContext(opts: SimulatorOptions): SimContext {
  const clock = opts.clock ?? Date.now;
  const catalogue = opts.catalogue ?? new Catalogue();
  if (opts.assets) catalogue.putMany(opts.assets);
  const secret = randomBytes(32);
  const apiKeys = new ApiKeyRegistry();
  for (const k of opts.apiKeys ?? []) apiKeys.put(k);
  const stac: StacStore | undefined = opts.stac === true ? new StacStore(clock) : opts.stac ? opts.stac : undefined;
  const urls: SimContext['urls'] = {};
  const stats = newStats();
  const presigner = new Presigner(secret);
  const stacCtx: StacContext | undefined = stac && {
    store: stac,
    presigner,
    get stats() {
      return stats.stac;
    },
    urls: () => ({ api: urls.api!, storage: urls.storage! }),
    clock,
    readBody,
  };
  const ctx: SimContext = {
    settings: {
      username: opts.username ?? 'demo',
      password: opts.password ?? 'demo-password',
      tokenEncoding: opts.tokenEncoding ?? 'both',
      tokenFormat: opts.tokenFormat ?? 'jwt',
      tokenTtlMs: opts.tokenTtlMs ?? 24 * 3_600_000,
      filterMode: opts.filterMode ?? 'strict',
      defaultPageSize: opts.defaultPageSize ?? 10,
      maxPageSize: opts.maxPageSize ?? 1000,
      redirect: opts.redirect ?? false,
      presignTtlMs: opts.presignTtlMs ?? 15 * 60_000,
    },
    clock,
    rng: new Rng(opts.seed ?? 1),
    catalogue,
    secret,
    faults: { ...defaultFaults() },
    notFound: new Set(),
    stats,
    tokens: new Map(),
    apiKeys,
    legacyTokens: opts.legacyTokens ?? true,
    malformedCounter: 0,
    closed: false,
    timers: new Map(),
    stac,
    stacCtx,
    presigner,
    urls,
  };
  setFaults(ctx, opts.faults ?? {});
  return ctx;
}

export async function startSimulator(opts: SimulatorOptions = {}): Promise<Simulator> {
  const host = opts.host ?? '127.0.0.1';
  const ctx = createContext(opts);
  const { stats } = ctx;
  const gate = stacGate(ctx);

  const sockets = new Set<Socket>();
  const track = (server: http.Server): void => {
    server.on('connection', (s: Socket) => {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    });
    server.keepAliveTimeout = 65_000; // like an AWS load balancer: outlive client pools
    server.headersTimeout = 70_000;
    server.requestTimeout = 0; // multi-GB downloads
  };
  const wrap =
    (handler: (req: Req, res: Res) => Promise<void>, countStatus: boolean) =>
    (req: Req, res: Res): void => {
      if (countStatus) {
        // count when headers go out, so stats are final before the client sees the response
        const writeHead = res.writeHead;
        res.writeHead = function (this: Res, ...args: unknown[]) {
          const status = args[0] as number;
          bump(stats.statusCounts, String(status));
          if (status === 401) stats.unauthorized++;
          return (writeHead as (...a: unknown[]) => Res).apply(this, args);
        } as typeof res.writeHead;
      }
      handler(req, res).catch((err: unknown) => {
        if (res.headersSent) {
          res.destroy();
          return;
        }
        if (err instanceof HttpError) sendJson(res, err.status, { detail: err.message });
        else if (err instanceof SyntaxError) sendJson(res, 400, { detail: `invalid JSON: ${err.message}` });
        else sendJson(res, 500, { detail: String(err) });
      });
    };

  const listen = (server: http.Server, port: number): Promise<string> =>
    new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        const addr = server.address() as AddressInfo;
        const h = addr.family === 'IPv6' || host.includes(':') ? `[${addr.address}]` : addr.address;
        resolve(`http://${h}:${addr.port}`);
      });
    });

  const servers: http.Server[] = [];
  const make = (handler: (req: Req, res: Res) => Promise<void>, countStatus: boolean): http.Server => {
    const s = http.createServer(wrap(handler, countStatus));
    track(s);
    servers.push(s);
    return s;
  };

  let adminUrl: string | undefined;
  try {
    if (ctx.settings.redirect || ctx.stac) {
      ctx.urls.storage = await listen(make((req, res) => handleStorage(ctx, req, res), true), opts.storagePort ?? 0);
    }
    ctx.urls.api = await listen(make((req, res) => handleApi(ctx, gate, req, res), true), opts.port ?? 0);
    if (opts.adminPort !== false) adminUrl = await listen(make((req, res) => handleAdmin(ctx, req, res), false), opts.adminPort ?? 0);
  } catch (e) {
    for (const s of servers) s.close();
    throw e;
  }

  const close = async (): Promise<void> => {
    if (ctx.closed) return;
    ctx.closed = true;
    for (const [t, resolve] of ctx.timers) {
      clearTimeout(t);
      resolve();
    }
    ctx.timers.clear();
    const done = servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve())));
    for (const s of sockets) s.destroy();
    sockets.clear();
    await Promise.all(done);
  };

  return {
    url: ctx.urls.api,
    adminUrl,
    storageUrl: ctx.urls.storage,
    catalogue: ctx.catalogue,
    stats,
    get faults() {
      return ctx.faults;
    },
    username: ctx.settings.username,
    password: ctx.settings.password,
    setFaults: (p: Partial<FaultConfig>) => setFaults(ctx, p),
    resetStats: () => resetStats(ctx),
    statsSnapshot: () => statsToJson(stats),
    issueToken: () => issueToken(ctx),
    expireTokens: () => ctx.tokens.clear(),
    stac: ctx.stac,
    apiKeys: ctx.apiKeys,
    setLegacyTokens: (enabled: boolean) => {
      ctx.legacyTokens = enabled;
    },
    close,
  };
}

// ---- listing ---------------------------------------------------------------
const ISO_RE = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|z|[+-]\d{2}(?::?\d{2})?)?)?$/;

/** Parse an ISO 8601 query datetime (naive = UTC). Undefined when invalid. */
function parseIsoMs(v: string): number | undefined {
  if (!ISO_RE.test(v)) return undefined;
  let s = v.replace(' ', 'T');
  if (s.length === 10) s += 'T00:00:00Z';
  else if (!/(?:Z|z|[+-]\d{2}(?::?\d{2})?)$/.test(s.slice(10))) s += 'Z';
  const ms = Date.parse(s);
  return Number.isFinite(ms) ? ms : undefined;
}

export async function handleList(ctx: SimContext, req: Req, res: Res, query: string): Promise<void> {
  const { faults, stats } = ctx;
  stats.listRequests++;
  if (faults.latencyMs > 0) await sleep(ctx, faults.latencyMs);
  if (rateFault(ctx, res, false, faults.listFaultRate)) return;
  if (!authenticate(ctx, req, res, 'assets')) return;
  // URLSearchParams turns an unencoded '+' into a space, exactly like the real server would
  const q = new URLSearchParams(query);
  const errors: unknown[] = [];
  const dateParam = (name: string): number | undefined => {
    const v = q.get(name);
    if (v === null) return undefined;
    const ms = parseIsoMs(v);
    if (ms === undefined) {
      errors.push({ type: 'datetime_from_date_parsing', loc: ['query', name], msg: 'Input should be a valid datetime or date', input: v });
    }
    return ms;
  };
  const after = dateParam('lastModifiedAfter');
  const before = dateParam('lastModifiedBefore');
  let limit = ctx.settings.defaultPageSize;
  const rawLimit = q.get('limit');
  if (rawLimit !== null) {
    const n = /^\s*\d+\s*$/.test(rawLimit) ? Number(rawLimit) : NaN;
    if (!Number.isSafeInteger(n)) {
      errors.push({ type: 'int_parsing', loc: ['query', 'limit'], msg: 'Input should be a valid integer, unable to parse string as an integer', input: rawLimit });
    } else if (n < 1) {
      errors.push({ type: 'greater_than_equal', loc: ['query', 'limit'], msg: 'Input should be greater than or equal to 1', input: rawLimit, ctx: { ge: 1 } });
    } else {
      limit = Math.min(n, ctx.settings.maxPageSize); // capped silently, like S3 MaxKeys
    }
  }
  let startAfterKey: string | undefined;
  const token = q.get('continuation_token');
  if (token !== null) {
    const decoded = /^[A-Za-z0-9_-]+$/.test(token) ? Buffer.from(token, 'base64url').toString('utf8') : '';
    if (decoded === '' || b64url(decoded) !== token) {
      errors.push({ type: 'value_error', loc: ['query', 'continuation_token'], msg: 'Value error, The continuation token provided is incorrect', input: token });
    } else {
      startAfterKey = decoded;
    }
  }
  if (errors.length) {
    sendJson(res, 422, { detail: errors });
    return;
  }
  const page = ctx.catalogue.list({ after, before, startAfterKey, limit, filterMode: ctx.settings.filterMode });
  if (faults.malformedListing) {
    if (faults.malformedListing === 'once') faults.malformedListing = false;
    injected(ctx, 'malformedListing');
    sendJson(res, 200, malformedPage(page.items, ctx.malformedCounter++));
    return;
  }
  // hand-built JSON: ~2x faster than JSON.stringify on 1000-item pages of objects
  const parts: string[] = [];
  for (const a of page.items) {
    parts.push(
      `{"Key":${JSON.stringify(a.key)},"LastModified":"${isoSeconds(a.lastModifiedMs)}","ETag":${JSON.stringify(a.etag)},"Size":${a.size}}`,
    );
  }
  let body = `{"Contents":[${parts.join(',')}],"IsTruncated":${page.truncated}`;
  if (page.truncated && page.lastKey !== undefined) body += `,"NextContinuationToken":"${b64url(page.lastKey)}"`;
  body += `,"KeyCount":${page.items.length},"MaxKeys":${limit}}`;
  sendJson(res, 200, body);
}

const MALFORMED_SHAPES = 3;

/** 200 bodies that do not match the documented shape; rotates so every variant gets exercised. */
function malformedPage(items: Asset[], n: number): unknown {
  switch (n % MALFORMED_SHAPES) {
    case 0:
      return { Contents: 'oops', IsTruncated: false };
    case 1:
      // items missing Size
      return { Contents: items.map((a) => ({ Key: a.key, LastModified: isoSeconds(a.lastModifiedMs) })), IsTruncated: false };
    default:
      return { Contents: items.map((a) => ({ Key: null, LastModified: 'yesterday', Size: String(a.size) })), IsTruncated: false };
  }
}

// ---- downloads -------------------------------------------------------------
const WRITE_SIZE = 256 * 1024;

type RangeResult = { start: number; end: number } | 'unsatisfiable' | null;

/** RFC 9110 single byte range; null means "ignore the header" (serve 200). */
export function parseRange(header: string, size: number): RangeResult {
  const m = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  if (!m) return null;
  const [, a = '', b = ''] = m;
  if (a === '' && b === '') return null;
  if (a === '') {
    const n = Number(b);
    if (n === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(a);
  if (b !== '' && Number(b) < start) return null;
  if (start >= size) return 'unsatisfiable';
  const end = b === '' ? size - 1 : Math.min(Number(b), size - 1);
  return { start, end };
}

export function countDownload(ctx: SimContext, key: string | null): void {
  ctx.stats.downloadRequests++;
  if (key) bumpMap(ctx.stats.downloadsByKey, key);
}

/** The signature of an asset-API pre-signed storage URL (checked by the storage server). */
export function assetUrlSignature(ctx: SimContext, method: string, key: string, exp: string | number): string {
  return createHmac('sha256', ctx.secret).update(`${method}\n${key}\n${exp}`).digest('hex');
}

function presign(ctx: SimContext, method: string, key: string): string {
  const exp = Math.floor((ctx.clock() + ctx.settings.presignTtlMs) / 1000);
  const sig = assetUrlSignature(ctx, method, key, exp);
  return `${ctx.urls.storage}/${encodeKeyPath(key)}?exp=${exp}&sig=${sig}`;
}

function ifRangeMatches(req: Req, asset: Asset): boolean {
  const v = req.headers['if-range'];
  if (v === undefined) return true;
  const t = String(v).trim();
  if (t.startsWith('"') || t.startsWith('W/')) return t === asset.etag; // strong comparison: weak never matches
  return t === httpDate(asset.lastModifiedMs);
}

/** Send an asset's bytes (or a range of them), with the body faults applied. */
export async function serveContent(ctx: SimContext, req: Req, res: Res, asset: Asset, xml: boolean, extraHeaders: http.OutgoingHttpHeaders = {}): Promise<void> {
  const { faults, stats, rng } = ctx;
  const size = asset.size;
  let status = 200;
  let start = 0;
  let end = size - 1;
  const rangeHeader = req.headers.range;
  if (rangeHeader !== undefined && ifRangeMatches(req, asset)) {
    const r = parseRange(rangeHeader, size);
    if (r === 'unsatisfiable') {
      const h = { 'Content-Range': `bytes */${size}` };
      if (xml) sendXml(res, 416, 'InvalidRange', 'The requested range is not satisfiable', h);
      else sendJson(res, 416, { detail: 'Requested Range Not Satisfiable' }, h);
      return;
    }
    if (r) {
      status = 206;
      start = r.start;
      end = r.end;
    }
  }
  const len = Math.max(0, end - start + 1);
  const headers: http.OutgoingHttpHeaders = { 'Content-Type': 'application/octet-stream', 'Accept-Ranges': 'bytes' };
  if (!faults.omitEtag) headers.ETag = asset.etag;
  if (!faults.omitLastModified) headers['Last-Modified'] = httpDate(asset.lastModifiedMs);
  Object.assign(headers, extraHeaders);
  if (status === 206) headers['Content-Range'] = `bytes ${start}-${end}/${size}`;
  const isHead = req.method === 'HEAD';
  let cutoff = start + len; // absolute end (exclusive) of what is actually sent
  let mode: 'full' | 'reset' | 'truncate' = 'full';
  if (!isHead && len > 0) {
    const r = rng.next();
    if (r < faults.resetRate) mode = 'reset';
    else if (r < faults.resetRate + faults.truncateRate) mode = 'truncate';
    if (mode !== 'full') {
      cutoff = start + Math.floor(rng.next() * len);
      injected(ctx, mode);
    }
  }
  if (mode === 'truncate') {
    // close-delimited body: no Content-Length and no chunked encoding, ends with FIN
    res.useChunkedEncodingByDefault = false;
    res.shouldKeepAlive = false;
    headers.Connection = 'close';
  } else {
    headers['Content-Length'] = len;
  }
  res.writeHead(status, headers);
  if (isHead) {
    res.end();
    return;
  }
  let pos = start;
  let lastFlush: Promise<void> = Promise.resolve();
  while (pos < cutoff) {
    if (ctx.closed || res.destroyed) return;
    let n = Math.min(WRITE_SIZE, cutoff - pos);
    const bps = faults.bodyBytesPerSecond;
    if (bps > 0) n = Math.min(n, Math.max(1, Math.floor(bps / 20)));
    const buf = fillContent(asset.seed, pos, Buffer.allocUnsafe(n));
    pos += n;
    let ok = true;
    lastFlush = new Promise<void>((resolve) => {
      ok = res.write(buf, (err) => {
        if (!err) stats.bytesServed += n;
        resolve();
      });
    });
    if (bps > 0) await sleep(ctx, (n / bps) * 1000);
    // 'drain' may already have fired during the throttle sleep: ask the stream, not the old `ok`
    if (!ok && res.writableNeedDrain && !res.destroyed) await drained(res);
  }
  if (ctx.closed || res.destroyed) return;
  if (mode === 'reset') {
    // flush what was written, then RST so the client sees ECONNRESET mid-body
    await Promise.race([lastFlush, drained(res)]);
    const sock = res.socket;
    if (sock && !sock.destroyed) sock.resetAndDestroy();
    return;
  }
  res.end(() => {
    if (mode === 'full') bumpMap(stats.completedDownloadsByKey, asset.key);
  });
}

export async function handleApiDownload(ctx: SimContext, req: Req, res: Res, rawKey: string): Promise<void> {
  const { faults, stats } = ctx;
  const redirect = ctx.settings.redirect;
  const isGet = req.method === 'GET';
  const key = safeDecode(rawKey);
  if (!isGet) stats.headRequests++;
  else if (!redirect) countDownload(ctx, key);
  if (faults.latencyMs > 0) await sleep(ctx, faults.latencyMs);
  if (rateFault(ctx, res, false)) return;
  if (!authenticate(ctx, req, res, 'assets')) return;
  if (!key) return sendJson(res, 404, { detail: 'Not found' });
  if (redirect) {
    // presigners do not check existence: a missing key surfaces as an XML 404 at storage
    if (isGet) stats.redirects++;
    res.writeHead(302, { Location: presign(ctx, req.method ?? 'GET', key), 'Content-Length': 0 });
    res.end();
    return;
  }
  if (ctx.notFound.has(key)) {
    injected(ctx, 'notFound');
    return sendJson(res, 404, { detail: 'Not found' });
  }
  const asset = ctx.catalogue.get(key);
  if (!asset) return sendJson(res, 404, { detail: 'Not found' });
  await serveContent(ctx, req, res, asset, false);
}

// ---- storage ---------------------------------------------------------------
export async function handleStorage(ctx: SimContext, req: Req, res: Res): Promise<void> {
  const { faults, stats } = ctx;
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    return sendXml(res, 405, 'MethodNotAllowed', 'The specified method is not allowed against this resource.');
  }
  const { path, query } = splitUrl(req.url);
  const q = new URLSearchParams(query);
  const decoded = safeDecode(path.slice(1));
  const stacReq = ctx.stac !== undefined && Presigner.isPresigned(q);
  const stacCheck = stacReq && decoded !== null ? ctx.presigner.check(req.method ?? 'GET', decoded, q, ctx.clock()) : null;
  const key = stacCheck?.ok ? stacCheck.key : decoded;
  const isGet = req.method === 'GET';
  if (isGet) countDownload(ctx, key);
  else stats.headRequests++;
  if (faults.latencyMs > 0) await sleep(ctx, faults.latencyMs);
  if (req.headers.authorization !== undefined || req.headers['x-api-key'] !== undefined) {
    stats.storageCredentialRejects++;
    return sendXml(res, 400, 'InvalidArgument', 'Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified');
  }
  if (stacReq) return serveStacObject(ctx, req, res, stacCheck);
  const sig = q.get('sig');
  const exp = q.get('exp');
  if (!sig || !exp || !key) {
    return sendXml(res, 403, 'AccessDenied', 'Query-string authentication requires the sig and exp parameters');
  }
  const expected = assetUrlSignature(ctx, String(req.method), key, exp);
  if (sig !== expected) {
    return sendXml(res, 403, 'SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided.');
  }
  if (!/^\d+$/.test(exp) || ctx.clock() >= Number(exp) * 1000) {
    return sendXml(res, 403, 'AccessDenied', 'Request has expired');
  }
  if (rateFault(ctx, res, true)) return;
  if (ctx.notFound.has(key)) {
    injected(ctx, 'notFound');
    return sendXml(res, 404, 'NoSuchKey', 'The specified key does not exist.');
  }
  const asset = ctx.catalogue.get(key);
  if (!asset) return sendXml(res, 404, 'NoSuchKey', 'The specified key does not exist.');
  await serveContent(ctx, req, res, asset, true);
}

/** A pre-signed STAC asset URL (signature already checked): faults, then the bytes. */
async function serveStacObject(ctx: SimContext, req: Req, res: Res, check: ReturnType<Presigner['check']> | null): Promise<void> {
  if (!check) return sendXml(res, 403, 'AccessDenied', 'Access Denied');
  if (!check.ok) return sendXml(res, check.status, check.code, check.message);
  if (rateFault(ctx, res, true)) return;
  if (ctx.notFound.has(check.key)) {
    injected(ctx, 'notFound');
    return sendXml(res, 404, 'NoSuchKey', 'The specified key does not exist.');
  }
  const obj = ctx.stac?.objects.get(check.key);
  if (!obj) return sendXml(res, 404, 'NoSuchKey', 'The specified key does not exist.');
  const name = check.key.slice(check.key.lastIndexOf('/') + 1);
  const type = name.endsWith('.tiff') || name.endsWith('.tif') ? 'image/tiff' : name.endsWith('.json') ? 'application/json' : 'application/octet-stream';
  const ascii = name.replace(/[^\x20-\x7e]|["\\]/g, '_');
  await serveContent(ctx, req, res, obj, true, {
    'Content-Type': type,
    'Content-Disposition': `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(name)}`,
  });
}

// ---- admin -----------------------------------------------------------------
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
  const catalogue = ctx.catalogue;
  if (path === '/assets' && m === 'PUT') {
    const body = await jsonBody<AssetInput | AssetInput[]>(req);
    const list = Array.isArray(body) ? body : [body];
    try {
      const assets = list.map((a) => catalogue.put(a));
      return sendJson(res, 200, { count: assets.length, assets: assets.length <= 100 ? assets.map(adminAsset) : undefined });
    } catch (e) {
      throw new HttpError(400, (e as Error).message);
    }
  }
  if (path === '/assets' && m === 'GET') {
    // JSON lines, streamed with backpressure so a 1M catalogue does not build one giant string
    res.writeHead(200, { 'Content-Type': 'application/x-ndjson' });
    let batch: string[] = [];
    for (const a of catalogue) {
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
      const a = catalogue.get(key);
      return a ? sendJson(res, 200, adminAsset(a)) : sendJson(res, 404, { detail: 'Not found' });
    }
    if (!catalogue.remove(key)) return sendJson(res, 404, { detail: 'Not found' });
    res.writeHead(204);
    res.end();
    return;
  }
  sendJson(res, 404, { detail: 'Not Found' });
}

function adminAsset(a: Asset): Record<string, unknown> {
  return { key: a.key, size: a.size, lastModified: isoSeconds(a.lastModifiedMs), etag: a.etag, seed: a.seed };
}
