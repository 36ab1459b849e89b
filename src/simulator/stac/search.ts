// Item search: one parser per transport (GET query, POST body) into one SearchRequest, one
// executor with keyset paging. The `token` is opaque to clients: the sort key of the last item
// returned, so deletions and insertions between pages never repeat or skip the items around it.
import { type BBox, type Geometry, bboxPolygon, geometryError, intersects, parseBBox } from './geo.js';
import { Cql2Error, type Interval, type PropertyReader, compileCql2 } from './cql2.js';
import { parseCql2Text } from './cql2-text.js';
import type { StacItemRecord, StacStore } from './model.js';

export class BadRequest extends Error {
  constructor(
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

export interface SortField {
  field: string;
  direction: 'asc' | 'desc';
}

export interface SearchRequest {
  collections?: string[];
  ids?: string[];
  bbox?: BBox;
  intersects?: Geometry;
  datetime?: Interval;
  limit: number;
  sortby: SortField[];
  filter?: (get: PropertyReader) => boolean;
  after?: unknown[];
  /** The token as received (for the nextLinkLoops fault). */
  token?: string;
}

const SORTABLE = new Set(['id', 'collection', 'datetime', 'updated', 'order:id', 'gsd', 'platform', 'constellation']);
const DEFAULT_SORT: SortField[] = [{ field: 'datetime', direction: 'desc' }];
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:[Zz]|[+-]\d{2}:\d{2})$/;

export function reader(store: StacStore, rec: StacItemRecord): PropertyReader {
  return (name) => {
    switch (name) {
      case 'id': return rec.id;
      case 'collection': return rec.collection;
      case 'datetime': return { t0: rec.datetimeMs, t1: rec.datetimeMs };
      case 'updated': return store.showsUpdated(rec) ? { t0: rec.updatedMs!, t1: rec.updatedMs! } : null;
      case 'order:id': return rec.orderId;
      case 'gsd': return rec.gsd;
      case 'platform': return rec.satellite;
      case 'constellation': return 'constellr';
      case 'geometry': return rec.geometry;
      default: return null;
    }
  };
}

function sortValue(store: StacStore, rec: StacItemRecord, field: string): string | number | null {
  const v = reader(store, rec)(field);
  if (v === null || typeof v === 'string' || typeof v === 'number') return v;
  if (typeof v === 'object' && 't0' in v) return v.t0;
  return null;
}

function cmpValue(a: unknown, b: unknown): number {
  // nulls sort last in both directions
  if (a === null || b === null) return a === b ? 0 : a === null ? 1 : -1;
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  const sa = String(a);
  const sb = String(b);
  return sa < sb ? -1 : sa > sb ? 1 : 0;
}

function sortKey(store: StacStore, rec: StacItemRecord, sortby: SortField[]): unknown[] {
  return [...sortby.map((s) => sortValue(store, rec, s.field)), rec.collection, rec.id];
}

function cmpKeys(a: unknown[], b: unknown[], sortby: SortField[]): number {
  for (let i = 0; i < a.length; i++) {
    const desc = sortby[i]?.direction === 'desc';
    const x = a[i];
    const y = b[i];
    let c = cmpValue(x, y);
    if (desc && x !== null && y !== null) c = -c;
    if (c !== 0) return c;
  }
  return 0;
}

function parseDatetime(v: unknown): Interval {
  if (typeof v !== 'string' || v.length > 100) throw new BadRequest('datetime must be an RFC 3339 date-time or an interval "start/end" with ".." for an open end');
  const end = (s: string, open: number): number => {
    if (s === '' || s === '..') return open;
    if (!RFC3339.test(s)) throw new BadRequest(`invalid datetime ${JSON.stringify(s)}: RFC 3339 date-time with a time zone expected`);
    const ms = Date.parse(s.toUpperCase());
    if (!Number.isFinite(ms)) throw new BadRequest(`invalid datetime ${JSON.stringify(s)}`);
    return ms;
  };
  const parts = v.split('/');
  if (parts.length === 1) {
    const t = end(parts[0]!, NaN);
    if (Number.isNaN(t)) throw new BadRequest('datetime must not be empty');
    return { t0: t, t1: t };
  }
  if (parts.length !== 2) throw new BadRequest('datetime interval must have exactly one "/"');
  const iv = { t0: end(parts[0]!, -Infinity), t1: end(parts[1]!, Infinity) };
  if (iv.t0 === -Infinity && iv.t1 === Infinity) throw new BadRequest('datetime interval must have at least one closed end');
  if (iv.t0 > iv.t1) throw new BadRequest('datetime interval start is after its end');
  return iv;
}

function parseLimit(v: unknown, store: StacStore): number {
  if (v === undefined) return store.knobs.defaultLimit;
  const n = typeof v === 'string' && /^\s*\d{1,15}\s*$/.test(v) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 1) throw new BadRequest('limit must be an integer >= 1');
  return Math.min(n, store.knobs.maxLimit);
}

function stringList(v: unknown, name: string): string[] {
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string' && x !== '')) throw new BadRequest(`${name} must be an array of non-empty strings`);
  if (v.length > 10_000) throw new BadRequest(`${name} is too long`);
  return v as string[];
}

function parseSortby(v: unknown, store: StacStore): SortField[] {
  if (v === undefined) return DEFAULT_SORT;
  if (!store.knobs.sort) throw new BadRequest('sortby is not supported by this server');
  if (!Array.isArray(v) || v.length === 0 || v.length > 8) throw new BadRequest('sortby must be a non-empty array of {field, direction}');
  return v.map((s) => {
    const o = s as { field?: unknown; direction?: unknown };
    if (typeof o !== 'object' || o === null || typeof o.field !== 'string') throw new BadRequest('sortby entries need a "field"');
    const field = o.field.startsWith('properties.') ? o.field.slice('properties.'.length) : o.field;
    if (!SORTABLE.has(field)) throw new BadRequest(`cannot sort by ${JSON.stringify(o.field)}; sortable: ${[...SORTABLE].join(', ')}`);
    const d = o.direction === undefined ? 'asc' : String(o.direction).toLowerCase();
    if (d !== 'asc' && d !== 'desc') throw new BadRequest('sortby direction must be "asc" or "desc"');
    return { field, direction: d };
  });
}

function parseFilter(v: unknown, lang: unknown, store: StacStore, getDefault: boolean): (get: PropertyReader) => boolean {
  if (!store.knobs.filter) throw new BadRequest('filter is not supported by this server');
  const l = lang === undefined ? (getDefault && typeof v === 'string' ? 'cql2-text' : 'cql2-json') : lang;
  try {
    if (l === 'cql2-json') {
      const expr = typeof v === 'string' ? (JSON.parse(v) as unknown) : v;
      return compileCql2(expr);
    }
    if (l === 'cql2-text') {
      if (typeof v !== 'string') throw new BadRequest('a cql2-text filter must be a string');
      return compileCql2(parseCql2Text(v));
    }
  } catch (e) {
    if (e instanceof Cql2Error || e instanceof SyntaxError) throw new BadRequest(`invalid filter: ${e.message}`);
    throw e;
  }
  throw new BadRequest(`unsupported filter-lang ${JSON.stringify(l)} (cql2-json, cql2-text)`);
}

function parseToken(v: unknown, sortby: SortField[]): unknown[] {
  if (typeof v !== 'string' || !/^[A-Za-z0-9_-]{1,4096}$/.test(v)) throw new BadRequest('invalid token');
  let k: unknown;
  try {
    k = JSON.parse(Buffer.from(v, 'base64url').toString('utf8'));
  } catch {
    throw new BadRequest('invalid token');
  }
  if (!Array.isArray(k) || k.length !== sortby.length + 2 || !k.every((x) => x === null || typeof x === 'string' || typeof x === 'number')) {
    throw new BadRequest('invalid token (it belongs to a different sort order)');
  }
  return k;
}

function checkCrs(v: unknown): void {
  if (v !== undefined && v !== 'http://www.opengis.net/def/crs/OGC/1.3/CRS84') throw new BadRequest('filter-crs must be http://www.opengis.net/def/crs/OGC/1.3/CRS84');
}

/** Parse a POST /search body (already JSON-decoded). */
export function parsePostSearch(body: unknown, store: StacStore): SearchRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new BadRequest('the search body must be a JSON object');
  const b = body as Record<string, unknown>;
  const sortby = parseSortby(b.sortby, store);
  const req: SearchRequest = { limit: parseLimit(b.limit, store), sortby };
  if (b.collections !== undefined) req.collections = stringList(b.collections, 'collections');
  if (b.ids !== undefined) req.ids = stringList(b.ids, 'ids');
  if (b.bbox !== undefined && b.intersects !== undefined) throw new BadRequest('bbox and intersects are mutually exclusive');
  if (b.bbox !== undefined) {
    const bb = parseBBox(b.bbox);
    if (typeof bb === 'string') throw new BadRequest(bb);
    req.bbox = bb;
  }
  if (b.intersects !== undefined) {
    const err = geometryError(b.intersects);
    if (err) throw new BadRequest(`intersects: ${err}`);
    req.intersects = b.intersects as Geometry;
  }
  if (b.datetime !== undefined) req.datetime = parseDatetime(b.datetime);
  checkCrs(b['filter-crs']);
  if (b.filter !== undefined) req.filter = parseFilter(b.filter, b['filter-lang'], store, false);
  if (b.token !== undefined) {
    req.after = parseToken(b.token, sortby);
    req.token = b.token as string;
  }
  return req;
}

function csv(v: string): string[] {
  return v.split(',').map((s) => s.trim()).filter((s) => s !== '');
}

/** Parse GET /search (or /collections/{id}/items) query parameters. */
export function parseGetSearch(q: URLSearchParams, store: StacStore): SearchRequest {
  const one = (name: string): string | undefined => {
    const all = q.getAll(name);
    if (all.length > 1) throw new BadRequest(`${name} given more than once`);
    return all[0];
  };
  let sortby: SortField[] = DEFAULT_SORT;
  const rawSort = one('sortby');
  if (rawSort !== undefined) {
    // an unencoded '+' arrives as a space
    sortby = parseSortby(
      csv(rawSort.replace(/(^|,)\s+/g, '$1+')).map((s) =>
        s.startsWith('-') ? { field: s.slice(1), direction: 'desc' } : { field: s.startsWith('+') ? s.slice(1) : s, direction: 'asc' },
      ),
      store,
    );
  }
  const req: SearchRequest = { limit: parseLimit(one('limit'), store), sortby };
  const c = one('collections');
  if (c !== undefined) req.collections = csv(c);
  const ids = one('ids');
  if (ids !== undefined) req.ids = csv(ids);
  const bb = one('bbox');
  const inter = one('intersects');
  if (bb !== undefined && inter !== undefined) throw new BadRequest('bbox and intersects are mutually exclusive');
  if (bb !== undefined) {
    const nums = csv(bb).map(Number);
    const parsed = parseBBox(nums);
    if (typeof parsed === 'string') throw new BadRequest(parsed);
    req.bbox = parsed;
  }
  if (inter !== undefined) {
    let g: unknown;
    try {
      g = JSON.parse(inter);
    } catch {
      throw new BadRequest('intersects must be a GeoJSON geometry');
    }
    const err = geometryError(g);
    if (err) throw new BadRequest(`intersects: ${err}`);
    req.intersects = g as Geometry;
  }
  const dt = one('datetime');
  if (dt !== undefined) req.datetime = parseDatetime(dt);
  checkCrs(one('filter-crs'));
  const f = one('filter');
  if (f !== undefined) req.filter = parseFilter(f, one('filter-lang'), store, true);
  const token = one('token');
  if (token !== undefined) {
    req.after = parseToken(token, sortby);
    req.token = token;
  }
  return req;
}

export interface SearchResult {
  items: StacItemRecord[];
  numberMatched: number;
  /** Token for the next page, when there is one; null = the first page (the nextLinkLoops fault). */
  next?: string | null;
}

/** Run a search; `allowed` restricts the collections (API-key scope), null = all. */
export function runSearch(store: StacStore, req: SearchRequest, allowed: ReadonlySet<string> | null): SearchResult {
  const cols = req.collections ? new Set(req.collections) : null;
  const ids = req.ids ? new Set(req.ids) : null;
  const area = req.intersects ?? (req.bbox ? bboxPolygon(req.bbox) : null);
  const matched: { rec: StacItemRecord; key: unknown[] }[] = [];
  for (const rec of store.all()) {
    if (allowed && !allowed.has(rec.collection)) continue;
    if (cols && !cols.has(rec.collection)) continue;
    if (ids && !ids.has(rec.id)) continue;
    if (req.datetime && (rec.datetimeMs < req.datetime.t0 || rec.datetimeMs > req.datetime.t1)) continue;
    if (area && !intersects(rec.geometry, area)) continue;
    if (req.filter && !req.filter(reader(store, rec))) continue;
    matched.push({ rec, key: sortKey(store, rec, req.sortby) });
  }
  matched.sort((a, b) => cmpKeys(a.key, b.key, req.sortby));
  let start = 0;
  if (req.after) {
    const after = req.after;
    // first index whose key sorts strictly after the token
    let lo = 0;
    let hi = matched.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cmpKeys(matched[mid]!.key, after, req.sortby) <= 0) lo = mid + 1;
      else hi = mid;
    }
    start = lo;
  }
  const page = matched.slice(start, start + req.limit);
  const res: SearchResult = { items: page.map((m) => m.rec), numberMatched: matched.length };
  if (start + req.limit < matched.length && page.length > 0) {
    res.next = store.knobs.nextLinkLoops
      ? (req.token ?? null)
      : Buffer.from(JSON.stringify(page[page.length - 1]!.key)).toString('base64url');
  }
  return res;
}
