// Wire types of the Constellr API, validated at the boundary. A page that is not the documented shape
// is an error, never "zero assets".
import { z } from 'zod';
import type { ListedSize } from '../lib/size.js';

const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})$/;

const listPage = z
  .looseObject({
    // The items are checked by listItems, without a copy of each one (1,000 per page on the hot path).
    Contents: z.array(z.unknown()).optional(),
    IsTruncated: z.boolean().optional(),
    NextContinuationToken: z.string().nullish(),
    continuation_token: z.string().nullish(),
    next_continuation_token: z.string().nullish(),
    ContinuationToken: z.string().nullish(),
    KeyCount: z.number().int().nonnegative().optional(),
  })
  .refine((p) => p.Contents !== undefined || p.KeyCount === 0, {
    message: 'Contents is missing (and KeyCount is not 0)',
  });

export const tokenResponse = z.looseObject({
  access_token: z.string().min(1),
  expires_in: z.number().positive().optional(),
});

/** One asset as listed by the API, normalised. */
export interface RemoteAsset {
  key: string;
  lastModifiedMs: number;
  /** Bytes; null when the listing does not say (a STAC asset without file:size: learned from Content-Length). */
  size: ListedSize;
  etag: string | null;
  /**
   * Where the bytes are, for sources that say more than the key (STAC: JSON, see stac/items.ts). A
   * JSON object whose `h` is the URL to fetch, which may be signed, and `x` its expiry: once the job
   * is settled (done, failed, gone) the store blanks both (`"h": ""`, `"x": 0`), so a signed URL stays
   * in the state only while a download needs it. A settled job queued again finds its URL anew (STAC:
   * an expired href, so the item is fetched again).
   */
  locator?: string | null | undefined;
  /** The value the high-water mark follows when it is not lastModifiedMs (STAC: updated or datetime). */
  cursorMs?: number | undefined;
}

/** One selected asset of a STAC item: the job that mirrors it and the version it was listed at. */
export interface ItemAssetRef {
  /** Asset key in the item. */
  asset: string;
  /** Job key (`<collection>/<item>/<file>`). */
  key: string;
  /** Listed version (the job's remote_modified_ms); the item JSON waits until the job is done at it. */
  version: number;
}

/** A STAC item as listed (the mirror's catalog is built from these): raw JSON and selected assets. */
export interface StacItemRecord {
  collection: string;
  id: string;
  /** The item as the API returned it (validated), JSON text. */
  raw: string;
  assets: ItemAssetRef[];
  /** The item's URL in the API (the catalog's `canonical` link). */
  apiUrl: string;
}

export interface ListPage {
  items: RemoteAsset[];
  nextToken: string | null;
  /** The response's `Date` header (the server's clock, whole seconds); null when absent or invalid. */
  serverDateMs?: number | null;
  /** Our clock when the response arrived (to measure the skew against serverDateMs). */
  receivedAtMs?: number;
  /** STAC: the items behind `items` (the catalog writer keeps them). */
  records?: StacItemRecord[] | undefined;
}

/** An HTTP `Date` header as epoch ms; null when absent or not an HTTP date (untrusted input). */
export function parseHttpDate(v: string | string[] | undefined): number | null {
  const s = (Array.isArray(v) ? v[0] : v)?.trim();
  // IMF-fixdate, as RFC 9110 requires servers to send: "Sun, 06 Nov 1994 08:49:37 GMT".
  if (!s || !/^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/.test(s)) return null;
  const ms = Date.parse(s);
  return Number.isFinite(ms) ? ms : null;
}

export class WireError extends Error {}

/**
 * The listing's items, checked strictly (untrusted input: Key a non-empty string, LastModified an ISO
 * 8601 timestamp with a zone, Size a non-negative integer, ETag a string if present, extra fields
 * ignored) and mapped straight to RemoteAsset: no intermediate object per item.
 */
function badItem(i: number, field: string, what: string): WireError {
  return new WireError(`malformed listing page: Contents.${i}${field}: ${what}`);
}

function listItems(contents: readonly unknown[]): RemoteAsset[] {
  const items: RemoteAsset[] = new Array(contents.length);
  for (let i = 0; i < contents.length; i++) {
    const c = contents[i];
    if (typeof c !== 'object' || c === null || Array.isArray(c)) throw badItem(i, '', 'not an object');
    const { Key: key, LastModified: lm, Size: size, ETag: etag } = c as Record<string, unknown>;
    if (typeof key !== 'string') throw badItem(i, '.Key', 'not a string');
    if (key.length === 0) throw badItem(i, '.Key', 'empty Key');
    if (typeof lm !== 'string' || !ISO_UTC.test(lm)) throw badItem(i, '.LastModified', 'LastModified is not an ISO 8601 timestamp with a zone');
    const ms = Date.parse(lm);
    if (Number.isNaN(ms)) throw new WireError(`malformed listing page: bad LastModified for ${JSON.stringify(key)}`);
    if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) throw badItem(i, '.Size', 'not a non-negative integer');
    if (etag !== undefined && typeof etag !== 'string') throw badItem(i, '.ETag', 'not a string');
    items[i] = { key, lastModifiedMs: ms, size, etag: etag ?? null };
  }
  return items;
}

/** Validate and normalise one listing page. Throws WireError naming what is wrong. */
export function parseListPage(body: unknown): ListPage {
  const r = listPage.safeParse(body);
  if (!r.success) {
    const first = r.error.issues
      .slice(0, 3)
      .map((i) => `${i.path.join('.') || '(page)'}: ${i.message}`)
      .join('; ');
    throw new WireError(`malformed listing page: ${first}`);
  }
  const p = r.data;
  const items = p.Contents === undefined ? [] : listItems(p.Contents);
  const token = p.NextContinuationToken ?? p.next_continuation_token ?? p.continuation_token ?? p.ContinuationToken ?? null;
  if (p.IsTruncated === true && !token) throw new WireError('malformed listing page: IsTruncated is true but no continuation token was given');
  const nextToken = p.IsTruncated === false ? null : token || null;
  return { items, nextToken };
}
