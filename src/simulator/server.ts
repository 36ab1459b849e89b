// A faithful, pessimistic model of the Constellr asset API over real HTTP: FastAPI-style token
// endpoint, S3-ListObjectsV2-shaped listing, range-capable downloads (optionally via a presigned-URL
// storage server) and injectable faults. This file owns the HTTP servers, the shared context and
// the dispatch; each route lives in its own file (token, listing, downloads, storage, admin,
// faults; stac/ for the STAC API) and works on the one SimContext.
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { handleAdmin } from './admin.js';
import { ApiKeyRegistry, type ApiKeyInput, type Principal } from './apikeys.js';
import { AssetInventory, type AssetInput, type FilterMode } from './inventory.js';
import { type SimContext, type SimulatorStats, type TokenEncoding, type TokenFormat, bump, newStats, resetStats, sleep, statsToJson } from './context.js';
import { handleApiDownload } from './downloads.js';
import { type FaultConfig, defaultFaults, injected, rateFault, setFaults } from './faults.js';
import { HttpError, type Req, type Res, readBody, sendJson, splitUrl } from './route-helpers.js';
import { handleList } from './listing.js';
import { Rng } from './rng.js';
import { type StacContext, malformedFeatureCollection } from './stac/route-context.js';
import { StacStore } from './stac/model.js';
import { Presigner } from './stac/presign.js';
import { routeStac } from './stac/router.js';
import { handleStorage } from './storage.js';
import { authenticate, handleToken, issueToken } from './token.js';

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
  inventory?: AssetInventory;
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
  readonly inventory: AssetInventory;
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
  /** The STAC catalog, when STAC is served. */
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
  const inventory = opts.inventory ?? new AssetInventory();
  if (opts.assets) inventory.putMany(opts.assets);
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
    inventory,
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
    inventory: ctx.inventory,
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
