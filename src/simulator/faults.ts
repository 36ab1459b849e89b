// Fault injection: the knobs (changed live through setFaults or PUT /faults) and the 5xx/429
// answers shared by the asset listing, downloads, storage and the STAC routes.
import type http from 'node:http';
import { type Res, httpDate, sendBody, sendJson, sendXml } from './route-helpers.js';
import type { Rng } from './rng.js';

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

/** The part of the simulator's context that fault injection reads and writes. */
export interface FaultState {
  readonly faults: FaultConfig;
  notFound: Set<string>;
  readonly rng: Rng;
  readonly clock: () => number;
  readonly stats: { faultsInjected: Record<string, number> };
}

/** Merge known knobs into the live config (in place: callers hold references to it). */
export function setFaults(st: FaultState, p: Partial<FaultConfig>): void {
  const faults = st.faults;
  for (const [k, v] of Object.entries(p)) {
    if (v !== undefined && k in faults) (faults as unknown as Record<string, unknown>)[k] = v;
  }
  faults.notFoundKeys = [...faults.notFoundKeys];
  st.notFound = new Set(faults.notFoundKeys);
}

/** Count one injected fault of this kind. */
export function injected(st: Pick<FaultState, 'stats'>, kind: string): void {
  st.stats.faultsInjected[kind] = (st.stats.faultsInjected[kind] ?? 0) + 1;
}

/** 5xx/429 faults shared by listing and downloads. True when a response was sent. */
export function rateFault(st: FaultState, res: Res, xml: boolean, extra5xxRate = 0): boolean {
  const faults = st.faults;
  const r = st.rng.next();
  if (r < faults.errorRate) {
    send5xx(st, res, xml);
    return true;
  }
  if (r < faults.errorRate + faults.rate429) {
    injected(st, '429');
    const headers: http.OutgoingHttpHeaders = {};
    if (faults.retryAfterSeconds !== null) {
      headers['Retry-After'] = faults.retryAfterHttpDate
        ? httpDate(st.clock() + faults.retryAfterSeconds * 1000)
        : String(faults.retryAfterSeconds);
    }
    if (xml) sendXml(res, 429, 'SlowDown', 'Please reduce your request rate.', headers);
    else sendJson(res, 429, { message: 'Too Many Requests' }, headers);
    return true;
  }
  if (extra5xxRate > 0 && st.rng.next() < extra5xxRate) {
    injected(st, 'listFault');
    send5xx(st, res, xml);
    return true;
  }
  return false;
}

function send5xx(st: FaultState, res: Res, xml: boolean): void {
  const status = st.rng.pick([500, 502, 503] as const);
  injected(st, String(status));
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
}
