// The one state model every route shares: the resolved settings, the asset inventory, the live fault
// knobs, the stats, the issued tokens and API keys, and the timers that close() cancels.
import type { ApiKeyRegistry } from './apikeys.js';
import type { AssetInventory, FilterMode } from './inventory.js';
import type { FaultConfig } from './faults.js';
import type { Rng } from './rng.js';
import { type StacContext, type StacStats, newStacStats, stacStatsToJson } from './stac/route-context.js';
import type { StacStore } from './stac/model.js';
import type { Presigner } from './stac/presign.js';

export type TokenEncoding = 'json' | 'form' | 'both';
export type TokenFormat = 'jwt' | 'opaque';

/** Options resolved to their defaults; fixed for the simulator's life. */
export interface Settings {
  readonly username: string;
  readonly password: string;
  readonly tokenEncoding: TokenEncoding;
  readonly tokenFormat: TokenFormat;
  readonly tokenTtlMs: number;
  readonly filterMode: FilterMode;
  readonly defaultPageSize: number;
  readonly maxPageSize: number;
  /** Downloads answer 302 to a presigned URL on the storage server. */
  readonly redirect: boolean;
  readonly presignTtlMs: number;
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
  /** Per object key, each GET body in order: its first byte and the end (exclusive) of what was flushed. */
  bodiesByKey: Map<string, { start: number; end: number }[]>;
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

export interface SimContext {
  readonly settings: Settings;
  /** Clock for token and presigned-URL expiry. */
  readonly clock: () => number;
  /** Fault RNG: every fault decision draws from it, in request order. */
  readonly rng: Rng;
  readonly inventory: AssetInventory;
  /** Signs JWTs and pre-signed storage URLs. */
  readonly secret: Buffer;
  /** Live fault knobs, mutated in place (callers hold references). */
  readonly faults: FaultConfig;
  /** faults.notFoundKeys as a set. */
  notFound: Set<string>;
  /** Mutated in place by resetStats, so references held by callers stay live. */
  readonly stats: SimulatorStats;
  readonly tokens: Map<string, { iatMs: number; expMs: number }>;
  readonly apiKeys: ApiKeyRegistry;
  /** False: the account is in two workspaces, /token and bearer tokens answer 401. */
  legacyTokens: boolean;
  /** Rotates the malformed 200 bodies of listings and STAC pages. */
  malformedCounter: number;
  closed: boolean;
  /** Pending sleeps and how to end them early (close() does). */
  readonly timers: Map<NodeJS.Timeout, () => void>;
  readonly stac?: StacStore;
  readonly stacCtx?: StacContext;
  readonly presigner: Presigner;
  /** Base URLs, known once the servers listen. */
  readonly urls: { api?: string; storage?: string };
}

export function newStats(): SimulatorStats {
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
    bodiesByKey: new Map(),
    statusCounts: {},
    unauthorized: 0,
    authByApiKey: 0,
    authByBearer: 0,
    storageCredentialRejects: 0,
    stac: newStacStats(),
    faultsInjected: {},
  };
}

export function resetStats(ctx: SimContext): void {
  Object.assign(ctx.stats, newStats());
}

export function statsToJson(s: SimulatorStats): Record<string, unknown> {
  return {
    ...s,
    tokenRequestsByEncoding: { ...s.tokenRequestsByEncoding },
    downloadsByKey: Object.fromEntries(s.downloadsByKey),
    completedDownloadsByKey: Object.fromEntries(s.completedDownloadsByKey),
    bodiesByKey: Object.fromEntries(s.bodiesByKey),
    statusCounts: { ...s.statusCounts },
    faultsInjected: { ...s.faultsInjected },
    stac: stacStatsToJson(s.stac),
  };
}

export function bump(rec: Record<string, number>, k: string): void {
  rec[k] = (rec[k] ?? 0) + 1;
}

export function bumpMap(m: Map<string, number>, k: string): void {
  m.set(k, (m.get(k) ?? 0) + 1);
}

/** A sleep that close() ends at once; resolves at once after close. */
export function sleep(ctx: SimContext, ms: number): Promise<void> {
  return new Promise((resolve) => {
    if (ctx.closed || ms <= 0) return resolve();
    const t = setTimeout(() => {
      ctx.timers.delete(t);
      resolve();
    }, ms);
    ctx.timers.set(t, resolve);
  });
}

