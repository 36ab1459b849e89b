// A faithful, pessimistic model of the Constellr asset API over real HTTP:
// FastAPI-style token endpoint, S3-ListObjectsV2-shaped listing, range-capable
// downloads (optionally via a presigned-URL storage server) and injectable faults.
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { ApiKeyRegistry, FULL_ACCESS, type ApiKeyInput, type Principal } from './apikeys.js';
import { Catalogue, type Asset, type AssetInput, type FilterMode } from './catalogue.js';
import { fillContent } from './content.js';
import {
  HttpError,
  type Req,
  type Res,
  b64url,
  contentTypeOf,
  drained,
  encodeKeyPath,
  httpDate,
  isoSeconds,
  readBody,
  safeDecode,
  sendBody,
  sendJson,
  sendXml,
  splitUrl,
} from './http.js';
import { Rng } from './rng.js';
import { type StacContext, type StacStats, malformedFeatureCollection, newStacStats, stacStatsToJson } from './stac/http.js';
import { StacStore } from './stac/model.js';
import { Presigner } from './stac/presign.js';
import { routeStac, routeStacAdmin } from './stac/router.js';

export interface FaultConfig {
  /** Fraction of list+download requests answered 500/502/503. */
  errorRate: number;
  /** Fraction of list+download requests answered 429. */
  rate429: number;
  /** Retry-After for 429 in seconds; null = no header. */
  retryAfterSeconds: number | null;
  /** Send Retry-After as an HTTP date instead of seconds. */
  retryAfterHttpDate: boolean;
  /** Fraction of downloads whose socket is reset mid-body. */
  resetRate: number;
  /** Fraction of downloads sent close-delimited (no Content-Length) and ended early with a clean FIN. */
  truncateRate: number;
  /** Throttle every body to this many bytes/s; 0 = unlimited. */
  bodyBytesPerSecond: number;
  /** Delay before response headers. */
  latencyMs: number;
  /** Extra fraction of listing requests answered 5xx (independent of errorRate). */
  listFaultRate: number;
  /** Answer listing pages with a 200 JSON body that is not the documented shape. */
  malformedListing: false | 'once' | 'always';
  /** Overrides the token TTL live, also for tokens already issued. */
  tokenTtlMs: number | null;
  /** Token endpoint answers 401 even for good credentials. */
  failToken: boolean;
  /** Keys that are listed but whose download answers 404. */
  notFoundKeys: string[];
  /** Downloads carry no ETag header (storage that sends none: resume must use Last-Modified). */
  omitEtag: boolean;
  /** Downloads carry no Last-Modified header. */
  omitLastModified: boolean;
}

export function defaultFaults(): FaultConfig {
  return {
    errorRate: 0,
    rate429: 0,
    retryAfterSeconds: null,
    retryAfterHttpDate: false,
    resetRate: 0,
    truncateRate: 0,
    bodyBytesPerSecond: 0,
    latencyMs: 0,
    listFaultRate: 0,
    malformedListing: false,
    tokenTtlMs: null,
    failToken: false,
    notFoundKeys: [],
    omitEtag: false,
    omitLastModified: false,
  };
}

export type TokenEncoding = 'json' | 'form' | 'both';
export type TokenFormat = 'jwt' | 'opaque';

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

export interface SimulatorStats {
  tokenRequests: number;
  tokensIssued: number;
  tokenRequestsByEncoding: { json: number; form: number };
  listRequests: number;
  /** GET downloads at the serving server (API, or storage in redirect mode), any outcome. */
  downloadRequests: number;
  /** 302s issued by the API in redirect mode. */
  redirects: number;
  headRequests: number;
  downloadsByKey: Map<string, number>;
  /** Downloads whose requested body was fully sent. */
  completedDownloadsByKey: Map<string, number>;
  /** Body bytes flushed to sockets, including partial bodies. */
  bytesServed: number;
  statusCounts: Record<string, number>;
  unauthorized: number;
  /** Requests that presented an X-Api-Key / a bearer token (any outcome). */
  authByApiKey: number;
  authByBearer: number;
  /** Storage requests refused because they carried X-Api-Key or Authorization. */
  storageCredentialRejects: number;
  stac: StacStats;
  faultsInjected: Record<string, number>;
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

function newStats(): SimulatorStats {
  return {
    tokenRequests: 0,
    tokensIssued: 0,
    tokenRequestsByEncoding: { json: 0, form: 0 },
    listRequests: 0,
    downloadRequests: 0,
    redirects: 0,
    headRequests: 0,
    downloadsByKey: new Map(),
    completedDownloadsByKey: new Map(),
    bytesServed: 0,
    statusCounts: {},
    unauthorized: 0,
    authByApiKey: 0,
    authByBearer: 0,
    storageCredentialRejects: 0,
    stac: newStacStats(),
    faultsInjected: {},
  };
}

function statsToJson(s: SimulatorStats): Record<string, unknown> {
  return {
    ...s,
    tokenRequestsByEncoding: { ...s.tokenRequestsByEncoding },
    downloadsByKey: Object.fromEntries(s.downloadsByKey),
    completedDownloadsByKey: Object.fromEntries(s.completedDownloadsByKey),
    statusCounts: { ...s.statusCounts },
    faultsInjected: { ...s.faultsInjected },
    stac: stacStatsToJson(s.stac),
  };
}

const WRITE_SIZE = 256 * 1024;
const ISO_RE = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|z|[+-]\d{2}(?::?\d{2})?)?)?$/;

function validationError(loc: (string | number)[], type: string, msg: string, input: unknown): unknown {
  return { detail: [{ type, loc, msg, input }] };
}

/** Parse an ISO 8601 query datetime (naive = UTC). Undefined when invalid. */
function parseIsoMs(v: string): number | undefined {
  if (!ISO_RE.test(v)) return undefined;
  let s = v.replace(' ', 'T');
  if (s.length === 10) s += 'T00:00:00Z';
  else if (!/(?:Z|z|[+-]\d{2}(?::?\d{2})?)$/.test(s.slice(10))) s += 'Z';
  const ms = Date.parse(s);
  return Number.isFinite(ms) ? ms : undefined;
}

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

export async function startSimulator(opts: SimulatorOptions = {}): Promise<Simulator> {
  const host = opts.host ?? '127.0.0.1';
  const username = opts.username ?? 'demo';
  const password = opts.password ?? 'demo-password';
  const tokenEncoding: TokenEncoding = opts.tokenEncoding ?? 'both';
  const tokenFormat: TokenFormat = opts.tokenFormat ?? 'jwt';
  const tokenTtlMs = opts.tokenTtlMs ?? 24 * 3_600_000;
  const filterMode: FilterMode = opts.filterMode ?? 'strict';
  const defaultPageSize = opts.defaultPageSize ?? 10;
  const maxPageSize = opts.maxPageSize ?? 1000;
  const redirect = opts.redirect ?? false;
  const presignTtlMs = opts.presignTtlMs ?? 15 * 60_000;
  const clock = opts.clock ?? Date.now;
  const rng = new Rng(opts.seed ?? 1);
  const catalogue = opts.catalogue ?? new Catalogue();
  if (opts.assets) catalogue.putMany(opts.assets);

  const secret = randomBytes(32);
  const faults: FaultConfig = { ...defaultFaults() };
  let notFound = new Set<string>();
  const setFaults = (p: Partial<FaultConfig>): void => {
    for (const [k, v] of Object.entries(p)) {
      if (v !== undefined && k in faults) (faults as unknown as Record<string, unknown>)[k] = v;
    }
    faults.notFoundKeys = [...faults.notFoundKeys];
    notFound = new Set(faults.notFoundKeys);
  };
  setFaults(opts.faults ?? {});

  const stats = newStats();
  const resetStats = (): void => {
    // mutate in place so references held by callers stay live
    Object.assign(stats, newStats());
  };
  const bump = (rec: Record<string, number>, k: string): void => {
    rec[k] = (rec[k] ?? 0) + 1;
  };
  const bumpMap = (m: Map<string, number>, k: string): void => {
    m.set(k, (m.get(k) ?? 0) + 1);
  };
  const injected = (kind: string): void => bump(stats.faultsInjected, kind);

  // ---- timers and shutdown -------------------------------------------------
  let closed = false;
  const timers = new Map<NodeJS.Timeout, () => void>();
  const sleep = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      if (closed || ms <= 0) return resolve();
      const t = setTimeout(() => {
        timers.delete(t);
        resolve();
      }, ms);
      timers.set(t, resolve);
    });

  // ---- tokens --------------------------------------------------------------
  const tokens = new Map<string, { iatMs: number; expMs: number }>();
  const issueToken = (): string => {
    const now = clock();
    const ttl = faults.tokenTtlMs ?? tokenTtlMs;
    const expMs = now + ttl;
    let token: string;
    if (tokenFormat === 'jwt') {
      const header = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
      const payload = b64url(
        JSON.stringify({ sub: username, exp: Math.floor(expMs / 1000), iat: Math.floor(now / 1000), jti: randomUUID() }),
      );
      const sig = createHmac('sha256', secret).update(`${header}.${payload}`).digest('base64url');
      token = `${header}.${payload}.${sig}`;
    } else {
      token = randomBytes(32).toString('hex');
    }
    if (tokens.size > 10_000) {
      for (const [t, v] of tokens) if (v.expMs <= now) tokens.delete(t);
    }
    tokens.set(token, { iatMs: now, expMs });
    stats.tokensIssued++;
    return token;
  };
  const authorized = (req: Req): boolean => {
    const h = req.headers.authorization;
    if (!h) return false;
    const m = /^Bearer\s+(\S+)\s*$/i.exec(h);
    if (!m || !m[1]) return false;
    const t = tokens.get(m[1]);
    if (!t) return false;
    let exp = t.expMs;
    if (faults.tokenTtlMs !== null) exp = Math.min(exp, t.iatMs + faults.tokenTtlMs);
    return clock() < exp;
  };
  const unauthorized = (res: Res): void => {
    sendJson(res, 401, { detail: 'Not authenticated' }, { 'WWW-Authenticate': 'Bearer' });
  };
  const apiKeys = new ApiKeyRegistry();
  for (const k of opts.apiKeys ?? []) apiKeys.put(k);
  let legacyTokens = opts.legacyTokens ?? true;
  /** X-Api-Key wins over a bearer token; answers 401/403 itself and returns null then. */
  const authenticate = (req: Req, res: Res, api: 'assets' | 'stac'): Principal | null => {
    const presented = req.headers['x-api-key'];
    if (presented !== undefined) {
      stats.authByApiKey++;
      const r = apiKeys.check(Array.isArray(presented) ? presented.join(',') : presented, clock());
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
    if (req.headers.authorization !== undefined) stats.authByBearer++;
    if (legacyTokens && authorized(req)) return FULL_ACCESS;
    if (!legacyTokens && req.headers.authorization !== undefined) {
      sendJson(res, 401, { detail: 'Bearer tokens are not accepted for accounts in several workspaces: use a workspace API key' });
      return null;
    }
    unauthorized(res);
    return null;
  };

  // ---- faults --------------------------------------------------------------
  /** 5xx/429 faults shared by listing and downloads. True when a response was sent. */
  const rateFault = (res: Res, xml: boolean, extra5xxRate = 0): boolean => {
    const r = rng.next();
    if (r < faults.errorRate) {
      send5xx(res, xml);
      return true;
    }
    if (r < faults.errorRate + faults.rate429) {
      injected('429');
      const headers: http.OutgoingHttpHeaders = {};
      if (faults.retryAfterSeconds !== null) {
        headers['Retry-After'] = faults.retryAfterHttpDate
          ? httpDate(clock() + faults.retryAfterSeconds * 1000)
          : String(faults.retryAfterSeconds);
      }
      if (xml) sendXml(res, 429, 'SlowDown', 'Please reduce your request rate.', headers);
      else sendJson(res, 429, { message: 'Too Many Requests' }, headers);
      return true;
    }
    if (extra5xxRate > 0 && rng.next() < extra5xxRate) {
      injected('listFault');
      send5xx(res, xml);
      return true;
    }
    return false;
  };
  const send5xx = (res: Res, xml: boolean): void => {
    const status = rng.pick([500, 502, 503] as const);
    injected(String(status));
    if (xml) {
      sendXml(res, status, status === 503 ? 'SlowDown' : 'InternalError', 'We encountered an internal error. Please try again.');
    } else if (status === 500) {
      sendBody(res, 500, 'text/plain; charset=utf-8', 'Internal Server Error');
    } else if (status === 502) {
      // gateways answer with HTML, not JSON
      sendBody(res, 502, 'text/html', '<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center></body></html>\n');
    } else {
      sendJson(res, 503, { message: 'Service Unavailable' });
    }
  };

  // ---- token endpoint ------------------------------------------------------
  const handleToken = async (req: Req, res: Res): Promise<void> => {
    stats.tokenRequests++;
    const ct = contentTypeOf(req);
    const enc = ct === 'application/json' ? 'json' : ct === 'application/x-www-form-urlencoded' ? 'form' : null;
    if (enc) stats.tokenRequestsByEncoding[enc]++;
    const body = await readBody(req);
    if (faults.latencyMs > 0) await sleep(faults.latencyMs);
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
    if (!legacyTokens && user === username && pass === password) {
      sendJson(res, 401, { detail: 'This account belongs to several workspaces: use a workspace API key' });
      return;
    }
    if (faults.failToken) {
      injected('failToken');
      sendJson(res, 401, { detail: 'Invalid credentials' });
      return;
    }
    if (user !== username || pass !== password) {
      sendJson(res, 401, { detail: 'Invalid credentials' });
      return;
    }
    sendJson(res, 200, { access_token: issueToken(), token_type: 'bearer' });
  };

  // ---- listing -------------------------------------------------------------
  let malformedCounter = 0;
  const handleList = async (req: Req, res: Res, query: string): Promise<void> => {
    stats.listRequests++;
    if (faults.latencyMs > 0) await sleep(faults.latencyMs);
    if (rateFault(res, false, faults.listFaultRate)) return;
    if (!authenticate(req, res, 'assets')) return;
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
    let limit = defaultPageSize;
    const rawLimit = q.get('limit');
    if (rawLimit !== null) {
      const n = /^\s*\d+\s*$/.test(rawLimit) ? Number(rawLimit) : NaN;
      if (!Number.isSafeInteger(n)) {
        errors.push({ type: 'int_parsing', loc: ['query', 'limit'], msg: 'Input should be a valid integer, unable to parse string as an integer', input: rawLimit });
      } else if (n < 1) {
        errors.push({ type: 'greater_than_equal', loc: ['query', 'limit'], msg: 'Input should be greater than or equal to 1', input: rawLimit, ctx: { ge: 1 } });
      } else {
        limit = Math.min(n, maxPageSize); // capped silently, like S3 MaxKeys
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
    const page = catalogue.list({ after, before, startAfterKey, limit, filterMode });
    if (faults.malformedListing) {
      if (faults.malformedListing === 'once') faults.malformedListing = false;
      injected('malformedListing');
      sendJson(res, 200, malformedPage(page.items, malformedCounter++));
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
  };

  // ---- downloads -----------------------------------------------------------
  const countDownload = (key: string | null): void => {
    stats.downloadRequests++;
    if (key) bumpMap(stats.downloadsByKey, key);
  };

  const presign = (method: string, key: string): string => {
    const exp = Math.floor((clock() + presignTtlMs) / 1000);
    const sig = createHmac('sha256', secret).update(`${method}\n${key}\n${exp}`).digest('hex');
    return `${storageUrl}/${encodeKeyPath(key)}?exp=${exp}&sig=${sig}`;
  };

  const ifRangeMatches = (req: Req, asset: Asset): boolean => {
    const v = req.headers['if-range'];
    if (v === undefined) return true;
    const t = String(v).trim();
    if (t.startsWith('"') || t.startsWith('W/')) return t === asset.etag; // strong comparison: weak never matches
    return t === httpDate(asset.lastModifiedMs);
  };

  const serveContent = async (req: Req, res: Res, asset: Asset, xml: boolean, extraHeaders: http.OutgoingHttpHeaders = {}): Promise<void> => {
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
        injected(mode);
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
      if (closed || res.destroyed) return;
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
      if (bps > 0) await sleep((n / bps) * 1000);
      // 'drain' may already have fired during the throttle sleep: ask the stream, not the old `ok`
      if (!ok && res.writableNeedDrain && !res.destroyed) await drained(res);
    }
    if (closed || res.destroyed) return;
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
  };

  const handleApiDownload = async (req: Req, res: Res, rawKey: string): Promise<void> => {
    const isGet = req.method === 'GET';
    const key = safeDecode(rawKey);
    if (!isGet) stats.headRequests++;
    else if (!redirect) countDownload(key);
    if (faults.latencyMs > 0) await sleep(faults.latencyMs);
    if (rateFault(res, false)) return;
    if (!authenticate(req, res, 'assets')) return;
    if (!key) return sendJson(res, 404, { detail: 'Not found' });
    if (redirect) {
      // presigners do not check existence: a missing key surfaces as an XML 404 at storage
      if (isGet) stats.redirects++;
      res.writeHead(302, { Location: presign(req.method ?? 'GET', key), 'Content-Length': 0 });
      res.end();
      return;
    }
    if (notFound.has(key)) {
      injected('notFound');
      return sendJson(res, 404, { detail: 'Not found' });
    }
    const asset = catalogue.get(key);
    if (!asset) return sendJson(res, 404, { detail: 'Not found' });
    await serveContent(req, res, asset, false);
  };

  const handleStorage = async (req: Req, res: Res): Promise<void> => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      return sendXml(res, 405, 'MethodNotAllowed', 'The specified method is not allowed against this resource.');
    }
    const { path, query } = splitUrl(req.url);
    const q = new URLSearchParams(query);
    const decoded = safeDecode(path.slice(1));
    const stacReq = stac !== undefined && Presigner.isPresigned(q);
    const stacCheck = stacReq && decoded !== null ? presigner.check(req.method ?? 'GET', decoded, q, clock()) : null;
    const key = stacCheck?.ok ? stacCheck.key : decoded;
    const isGet = req.method === 'GET';
    if (isGet) countDownload(key);
    else stats.headRequests++;
    if (faults.latencyMs > 0) await sleep(faults.latencyMs);
    if (req.headers.authorization !== undefined || req.headers['x-api-key'] !== undefined) {
      stats.storageCredentialRejects++;
      return sendXml(res, 400, 'InvalidArgument', 'Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified');
    }
    if (stacReq) return serveStacObject(req, res, stacCheck);
    const sig = q.get('sig');
    const exp = q.get('exp');
    if (!sig || !exp || !key) {
      return sendXml(res, 403, 'AccessDenied', 'Query-string authentication requires the sig and exp parameters');
    }
    const expected = createHmac('sha256', secret).update(`${req.method}\n${key}\n${exp}`).digest('hex');
    if (sig !== expected) {
      return sendXml(res, 403, 'SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided.');
    }
    if (!/^\d+$/.test(exp) || clock() >= Number(exp) * 1000) {
      return sendXml(res, 403, 'AccessDenied', 'Request has expired');
    }
    if (rateFault(res, true)) return;
    if (notFound.has(key)) {
      injected('notFound');
      return sendXml(res, 404, 'NoSuchKey', 'The specified key does not exist.');
    }
    const asset = catalogue.get(key);
    if (!asset) return sendXml(res, 404, 'NoSuchKey', 'The specified key does not exist.');
    await serveContent(req, res, asset, true);
  };

  /** A pre-signed STAC asset URL (signature already checked): faults, then the bytes. */
  const serveStacObject = async (req: Req, res: Res, check: ReturnType<Presigner['check']> | null): Promise<void> => {
    if (!check) return sendXml(res, 403, 'AccessDenied', 'Access Denied');
    if (!check.ok) return sendXml(res, check.status, check.code, check.message);
    if (rateFault(res, true)) return;
    if (notFound.has(check.key)) {
      injected('notFound');
      return sendXml(res, 404, 'NoSuchKey', 'The specified key does not exist.');
    }
    const obj = stac?.objects.get(check.key);
    if (!obj) return sendXml(res, 404, 'NoSuchKey', 'The specified key does not exist.');
    const name = check.key.slice(check.key.lastIndexOf('/') + 1);
    const type = name.endsWith('.tiff') || name.endsWith('.tif') ? 'image/tiff' : name.endsWith('.json') ? 'application/json' : 'application/octet-stream';
    const ascii = name.replace(/[^\x20-\x7e]|["\\]/g, '_');
    await serveContent(req, res, obj, true, {
      'Content-Type': type,
      'Content-Disposition': `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(name)}`,
    });
  };

  // ---- STAC ------------------------------------------------------------------
  const stac: StacStore | undefined = opts.stac === true ? new StacStore(clock) : opts.stac ? opts.stac : undefined;
  const presigner = new Presigner(secret);
  const stacCtx: StacContext | undefined = stac && {
    store: stac,
    presigner,
    get stats() {
      return stats.stac;
    },
    urls: () => ({ api: url, storage: storageUrl! }),
    clock,
    readBody,
  };
  const stacGate = async (req: Req, res: Res, kind: 'search' | 'read'): Promise<Principal | null> => {
    if (faults.latencyMs > 0) await sleep(faults.latencyMs);
    if (rateFault(res, false, kind === 'search' ? faults.listFaultRate : 0)) return null;
    const p = authenticate(req, res, 'stac');
    if (p && kind === 'search' && faults.malformedListing) {
      // malformedListing applies to search and item pages as it does to /assets listings
      if (faults.malformedListing === 'once') faults.malformedListing = false;
      injected('malformedListing');
      sendJson(res, 200, malformedFeatureCollection(malformedCounter++));
      return null;
    }
    return p;
  };

  const handleApi = async (req: Req, res: Res): Promise<void> => {
    const { path, query } = splitUrl(req.url);
    if (stacCtx && (path === '/stac' || path.startsWith('/stac/'))) return routeStac(stacCtx, stacGate, req, res, path, query);
    if (path === '/token') {
      if (req.method !== 'POST') return sendJson(res, 405, { detail: 'Method Not Allowed' }, { Allow: 'POST' });
      return handleToken(req, res);
    }
    if (path === '/assets') {
      if (req.method !== 'GET') return sendJson(res, 405, { detail: 'Method Not Allowed' }, { Allow: 'GET' });
      return handleList(req, res, query);
    }
    if (path.startsWith('/assets/')) {
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        return sendJson(res, 405, { detail: 'Method Not Allowed' }, { Allow: 'GET' });
      }
      return handleApiDownload(req, res, path.slice('/assets/'.length));
    }
    sendJson(res, 404, { detail: 'Not Found' });
  };

  // ---- admin ---------------------------------------------------------------
  const handleAdmin = async (req: Req, res: Res): Promise<void> => {
    const { path } = splitUrl(req.url);
    const m = req.method ?? 'GET';
    if (path === '/stats' && m === 'GET') return sendJson(res, 200, statsToJson(stats));
    if (path === '/stats/reset' && m === 'POST') {
      resetStats();
      return sendJson(res, 200, { ok: true });
    }
    if (path === '/faults' && m === 'GET') return sendJson(res, 200, faults);
    if (path === '/faults' && m === 'PUT') {
      const body = JSON.parse((await readBody(req)).toString('utf8')) as Partial<FaultConfig>;
      setFaults(body);
      return sendJson(res, 200, faults);
    }
    if (path === '/tokens/expire' && m === 'POST') {
      tokens.clear();
      return sendJson(res, 200, { ok: true });
    }
    if (path === '/health' && m === 'GET') return sendJson(res, 200, { ok: true });
    if (path === '/api-keys' && m === 'GET') return sendJson(res, 200, { keys: apiKeys.list(), legacyTokens });
    if (path === '/api-keys' && m === 'PUT') {
      const body = JSON.parse((await readBody(req)).toString('utf8')) as ApiKeyInput | ApiKeyInput[];
      try {
        const ids = (Array.isArray(body) ? body : [body]).map((k) => apiKeys.put(k).id);
        return sendJson(res, 200, { ids });
      } catch (e) {
        throw new HttpError(400, (e as Error).message);
      }
    }
    if (path === '/api-keys/revoke' && m === 'POST') {
      const body = JSON.parse((await readBody(req)).toString('utf8')) as { key?: unknown; id?: unknown };
      const which = typeof body.key === 'string' ? body.key : typeof body.id === 'string' ? body.id : '';
      return apiKeys.revoke(which) ? sendJson(res, 200, { revoked: true }) : sendJson(res, 404, { detail: 'No such key' });
    }
    if (path === '/auth' && m === 'PUT') {
      const body = JSON.parse((await readBody(req)).toString('utf8')) as { legacyTokens?: unknown };
      if (typeof body.legacyTokens !== 'boolean') throw new HttpError(400, 'legacyTokens must be a boolean');
      legacyTokens = body.legacyTokens;
      return sendJson(res, 200, { legacyTokens });
    }
    if (stacCtx && (await routeStacAdmin(stacCtx, req, res, path))) return;
    if (path === '/assets' && m === 'PUT') {
      const body = JSON.parse((await readBody(req)).toString('utf8')) as AssetInput | AssetInput[];
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
  };

  // ---- servers -------------------------------------------------------------
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

  let storageUrl: string | undefined;
  let adminUrl: string | undefined;
  let url: string;
  try {
    if (redirect || stac) storageUrl = await listen(make(handleStorage, true), opts.storagePort ?? 0);
    url = await listen(make(handleApi, true), opts.port ?? 0);
    if (opts.adminPort !== false) adminUrl = await listen(make(handleAdmin, false), opts.adminPort ?? 0);
  } catch (e) {
    for (const s of servers) s.close();
    throw e;
  }

  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    for (const [t, resolve] of timers) {
      clearTimeout(t);
      resolve();
    }
    timers.clear();
    const done = servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve())));
    for (const s of sockets) s.destroy();
    sockets.clear();
    await Promise.all(done);
  };

  return {
    url,
    adminUrl,
    storageUrl,
    catalogue,
    stats,
    get faults() {
      return faults;
    },
    username,
    password,
    setFaults,
    resetStats,
    statsSnapshot: () => statsToJson(stats),
    issueToken,
    expireTokens: () => tokens.clear(),
    stac,
    apiKeys,
    setLegacyTokens: (enabled: boolean) => {
      legacyTokens = enabled;
    },
    close,
  };
}

function adminAsset(a: Asset): Record<string, unknown> {
  return { key: a.key, size: a.size, lastModified: isoSeconds(a.lastModifiedMs), etag: a.etag, seed: a.seed };
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
