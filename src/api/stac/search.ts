// The search requests: the body for the configured scope, the first request of a walk (narrowed for an
// incremental poll), and the next one from a page's links[rel=next] (href, method, body with merge,
// headers) or a bare token. A request, serialised, is the listing's opaque continuation token.
import { StacWireError, type StacLink } from './documents.js';

/** One search request. */
export interface SearchRequest {
  method: 'GET' | 'POST';
  href: string;
  body?: Record<string, unknown> | undefined;
  headers?: Record<string, string> | undefined;
}

/** What the configured scope asks for (stac.*), with the collections a poll resolved. */
export interface SearchScope {
  collections: readonly string[] | null;
  filter: Record<string, unknown> | null;
  bbox: readonly number[] | null;
  datetime: string | null;
}

/** The field an incremental poll follows: properties.updated, or a window on datetime. */
export type Strategy = 'updated' | 'datetime';

/** Headers a next link may not set: credentials and framing stay ours. */
const FORBIDDEN_LINK_HEADERS = /^(authorization|x-api-key|cookie|host|content-length|transfer-encoding|connection)$/i;

/** An instant as STAC writes it, whole seconds (`2026-01-01T00:00:00Z`). */
export function iso(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}

/** The configured datetime narrowed to start no earlier than `after` (an instant is left alone). */
export function windowDatetime(configured: string | null, after: number): string {
  if (configured === null) return `${iso(after)}/..`;
  const parts = configured.split('/');
  if (parts.length !== 2) return configured;
  const [a, b] = parts as [string, string];
  const start = a === '' || a === '..' ? null : Date.parse(a);
  const from = start === null || Number.isNaN(start) || start < after ? iso(after) : a;
  return `${from}/${b === '' ? '..' : b}`;
}

/** The configured CQL2 filter and `updated >= ms`. */
export function updatedSince(filter: Record<string, unknown> | null, ms: number): Record<string, unknown> {
  const since = { op: '>=', args: [{ property: 'updated' }, { timestamp: iso(ms) }] };
  return filter ? { op: 'and', args: [filter, since] } : since;
}

/** The search body for the scope, `limit` items a page. */
export function scopeBody(scope: SearchScope, limit: number): Record<string, unknown> {
  const body: Record<string, unknown> = { limit };
  if (scope.collections) body.collections = scope.collections;
  if (scope.bbox) body.bbox = [...scope.bbox];
  if (scope.datetime) body.datetime = scope.datetime;
  if (scope.filter) {
    body.filter = scope.filter;
    body['filter-lang'] = 'cql2-json';
  }
  return body;
}

export interface FirstRequest {
  /** The search endpoint's URL. */
  href: string;
  strategy: Strategy;
  /** Whether the server advertises sortby on /search (conformance item-search#sort). */
  serverSorts: boolean;
  /** The incremental poll's start, epoch ms; null for a full walk. */
  after: number | null;
  limit: number;
}

/** The first request of a walk: the scope, narrowed to `after` for an incremental poll. */
export function firstRequest(scope: SearchScope, o: FirstRequest): SearchRequest {
  const body = scopeBody(scope, o.limit);
  if (o.after !== null) {
    if (o.strategy === 'updated') {
      body.filter = updatedSince(scope.filter, o.after);
      body['filter-lang'] = 'cql2-json';
    } else {
      body.datetime = windowDatetime(scope.datetime, o.after);
    }
  }
  // The updated strategy was chosen because the server accepted sortby on /search; for datetime, its
  // conformance says.
  if (o.strategy === 'updated' || o.serverSorts) body.sortby = [{ field: o.strategy, direction: 'asc' }];
  return { method: 'POST', href: o.href, body };
}

/** The request for the next page, from a next link (or a bare token), or null at the end. Throws StacWireError. */
export function nextRequest(prev: SearchRequest, links: readonly StacLink[], token: string | null, returned: number): SearchRequest | null {
  const next = links.find((l) => l.rel === 'next');
  if (!next) {
    if (token === null || returned === 0 || prev.method !== 'POST') return null;
    return { ...prev, body: { ...(prev.body ?? {}), token } };
  }
  let href: URL;
  try {
    href = new URL(next.href, prev.href);
  } catch {
    throw new StacWireError('POST /stac/search: the next link has an invalid href');
  }
  if (href.protocol !== 'http:' && href.protocol !== 'https:') throw new StacWireError(`POST /stac/search: the next link is a ${href.protocol} URL`);
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(next.headers ?? {})) if (!FORBIDDEN_LINK_HEADERS.test(k)) headers[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : v;
  const method = (next.method ?? 'GET').toUpperCase();
  if (method !== 'GET' && method !== 'POST') throw new StacWireError(`POST /stac/search: the next link asks for method ${method}`);
  if (method === 'GET') return { method: 'GET', href: href.href, headers };
  // STAC API: with merge, the link's body is merged into the previous request's; else it replaces it.
  const body = next.merge ? { ...(prev.body ?? {}), ...(next.body ?? {}) } : (next.body ?? prev.body ?? {});
  return { method: 'POST', href: href.href, body, headers };
}

/** A request as the listing's continuation token (the listing compares tokens to detect loops). */
export function printSearchToken(req: SearchRequest): string {
  return JSON.stringify(req);
}

/** The request a continuation token stands for (only printSearchToken's output is ever passed in). */
export function parseSearchToken(token: string): SearchRequest {
  return JSON.parse(token) as SearchRequest;
}
