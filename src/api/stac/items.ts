// From a STAC item to jobs: each selected asset is one job keyed `<collection>/<item id>/<file name>`.
// The file name is the basename of the href's path, decoded, when it reads as a file name (it has an
// extension); else (an opaque object id, or no path) the asset key plus an extension from the media
// type, which stays the same across versions, and the worker asks the server for the file's name
// (Content-Disposition) at its first download (Locator.namedByServer). Ids and names are untrusted:
// they are kept as they are (the mirror's path rules refuse `..`, NUL and the like per job), except
// that `/`, `\` and `%` are percent-escaped inside a segment so that one id or name is always exactly
// one path segment and distinct ids stay distinct.
// The version is (updated or datetime, file:size, file:checksum).
import { StacWireError, type StacAsset, type StacItem } from './documents.js';
import type { ListedSize } from '../../lib/size.js';
import type { RemoteAsset } from '../wire.js';
import { looksLikeFileName } from '../file-name.js';
import { printLocator } from './locator.js';

/** `%`, `/` and `\` escaped so that the text is one path segment and the mapping stays one-to-one. */
export function escapeSegment(s: string): string {
  return s.replace(/%/g, '%25').replace(/\//g, '%2F').replace(/\\/g, '%5C');
}

const MEDIA_EXT: Record<string, string> = {
  'image/tiff': '.tiff',
  'image/png': '.png',
  'image/jpeg': '.jpg',
  'application/json': '.json',
  'application/geo+json': '.geojson',
  'application/xml': '.xml',
  'text/xml': '.xml',
  'text/plain': '.txt',
  'text/csv': '.csv',
  'text/html': '.html',
  'application/zip': '.zip',
  'application/x-netcdf': '.nc',
  'application/netcdf': '.nc',
  'application/x-hdf5': '.h5',
  'application/vnd.apache.parquet': '.parquet',
  'application/x-parquet': '.parquet',
};

/** The extension for a media type ("image/tiff; application=geotiff" → ".tiff"); '' when unknown. */
export function extensionFor(mediaType: string | undefined): string {
  if (!mediaType) return '';
  return MEDIA_EXT[mediaType.split(';')[0]!.trim().toLowerCase()] ?? '';
}

/** The basename of a URL's path, percent-decoded; null when the path ends without a name. */
export function hrefBasename(url: URL): string | null {
  const last = url.pathname.split('/').at(-1) ?? '';
  if (last === '') return null;
  try {
    return decodeURIComponent(last);
  } catch {
    return last; // not valid percent-encoding: keep it as it is
  }
}

/**
 * When a pre-signed URL stops working, from its own parameters: X-Amz-Date + X-Amz-Expires (AWS
 * SigV4), Expires/expires (epoch seconds, as S3 v2 and GCS use), or se (Azure SAS). Null if none.
 */
export function hrefExpiry(url: URL): number | null {
  const q = url.searchParams;
  const amzDate = q.get('X-Amz-Date') ?? q.get('x-amz-date');
  const amzExpires = q.get('X-Amz-Expires') ?? q.get('x-amz-expires');
  if (amzDate && amzExpires && /^\d+$/.test(amzExpires)) {
    const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(amzDate);
    if (m) return Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!) + Number(amzExpires) * 1000;
  }
  const expires = q.get('Expires') ?? q.get('expires');
  if (expires) {
    if (/^\d+$/.test(expires)) return Number(expires) * 1000;
    const t = Date.parse(expires);
    if (!Number.isNaN(t)) return t;
  }
  const se = q.get('se');
  if (se) {
    const t = Date.parse(se);
    if (!Number.isNaN(t)) return t;
  }
  return null;
}

/** The hex SHA-256 of a sha2-256 multihash (`1220` + 64 hex digits); null for other hashes. */
export function sha256FromMultihash(checksum: string | undefined): string | null {
  if (!checksum) return null;
  const m = /^1220([0-9a-fA-F]{64})$/.exec(checksum);
  return m ? m[1]!.toLowerCase() : null;
}

/** Whether an asset is selected by stac.assets (asset keys or roles; empty = all). */
export function assetSelected(key: string, asset: StacAsset, wanted: readonly string[]): boolean {
  if (wanted.length === 0) return true;
  return wanted.includes(key) || (asset.roles ?? []).some((r) => wanted.includes(r));
}

function itemName(item: StacItem): string {
  return `item ${JSON.stringify(item.id)}${item.collection ? ` of collection ${JSON.stringify(item.collection)}` : ''}`;
}

/** An http(s) URL for the asset's href, or an error naming the item and the asset. */
export function assetUrl(item: StacItem, assetKey: string, href: string, base?: string): URL {
  let url: URL;
  try {
    url = base ? new URL(href, base) : new URL(href);
  } catch {
    throw new StacWireError(`${itemName(item)}: asset ${JSON.stringify(assetKey)} has an href that is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new StacWireError(`${itemName(item)}: asset ${JSON.stringify(assetKey)} has a ${url.protocol.replace(/:$/, '')}:// href; only http(s) can be downloaded`);
  return url;
}

/** One asset's version as a job records it: (updated or datetime, file:size, file:checksum). */
export interface AssetVersion {
  ms: number;
  size: ListedSize;
  etag: string | null;
}

/** The version of `asset` of `item`; null when the item's times are unreadable. */
export function assetVersion(item: StacItem, asset: StacAsset): AssetVersion | null {
  const t = item.properties.updated ?? item.properties.datetime ?? item.properties.start_datetime ?? null;
  const ms = t === null ? Number.NaN : Date.parse(t);
  if (Number.isNaN(ms)) return null;
  return { ms, size: asset['file:size'] ?? null, etag: asset['file:checksum']?.toLowerCase() ?? null };
}

/** Whether a job was listed for exactly this version. */
export function isJobVersion(job: { remoteModifiedMs: number; remoteSize: ListedSize; remoteEtag: string | null }, v: AssetVersion | null): boolean {
  return v !== null && v.ms === job.remoteModifiedMs && v.size === job.remoteSize && v.etag === job.remoteEtag;
}

export interface ItemOptions {
  /** Asset keys or roles to take; empty = all. */
  assets: readonly string[];
  /** The collection searched, when the item does not name its own and only one was searched. */
  defaultCollection: string | null;
  /** The value the high-water mark follows: 'updated' or 'datetime'. */
  cursorField: 'updated' | 'datetime';
  /** Cap for cursor values: the server's clock minus a margin (the mark never runs ahead of it). */
  cursorCapMs: number | null;
  /** The URL the item came from, for relative hrefs. */
  baseUrl?: string | undefined;
}

/** One item's selected assets as listed assets (jobs). Throws StacWireError naming the item. */
export function itemToAssets(item: StacItem, o: ItemOptions): RemoteAsset[] {
  const collection = item.collection ?? o.defaultCollection;
  if (!collection) throw new StacWireError(`${itemName(item)}: the item names no collection`);
  const datetime = item.properties.datetime ?? item.properties.start_datetime ?? null;
  if (datetime === null) throw new StacWireError(`${itemName(item)}: properties.datetime is null and there is no start_datetime`);
  const datetimeMs = Date.parse(datetime);
  const updatedMs = item.properties.updated ? Date.parse(item.properties.updated) : null;
  if (Number.isNaN(datetimeMs) || (updatedMs !== null && Number.isNaN(updatedMs))) throw new StacWireError(`${itemName(item)}: unreadable datetime or updated`);
  const versionMs = updatedMs ?? datetimeMs;
  let cursorMs = o.cursorField === 'updated' ? (updatedMs ?? datetimeMs) : datetimeMs;
  if (o.cursorCapMs !== null) cursorMs = Math.min(cursorMs, o.cursorCapMs);

  const chosen: { key: string; asset: StacAsset; url: URL; name: string; ask: boolean }[] = [];
  for (const [key, asset] of Object.entries(item.assets)) {
    if (!assetSelected(key, asset, o.assets)) continue;
    const url = assetUrl(item, key, asset.href, o.baseUrl);
    const base = hrefBasename(url);
    const named = base !== null && looksLikeFileName(base);
    chosen.push({ key, asset, url, name: named ? base : `${key}${extensionFor(asset.type)}`, ask: !named });
  }
  // Two assets of one item with the same file name: both are prefixed with their (unique) asset key.
  const count = new Map<string, number>();
  for (const c of chosen) count.set(c.name, (count.get(c.name) ?? 0) + 1);
  for (const c of chosen) if ((count.get(c.name) ?? 0) > 1) c.name = `${c.key}_${c.name}`;
  const seen = new Set<string>();
  for (const c of chosen) {
    if (seen.has(c.name)) throw new StacWireError(`${itemName(item)}: assets map to the same file name ${JSON.stringify(c.name)} even when prefixed with their asset keys`);
    seen.add(c.name);
  }

  return chosen.map((c) => {
    const locator = printLocator({
      collection,
      item: item.id,
      asset: c.key,
      href: c.url.href,
      expiresAt: hrefExpiry(c.url),
      sha256: sha256FromMultihash(c.asset['file:checksum']),
      namedByServer: c.ask,
    });
    return {
      key: `${escapeSegment(collection)}/${escapeSegment(item.id)}/${escapeSegment(c.name)}`,
      lastModifiedMs: versionMs,
      size: c.asset['file:size'] ?? null,
      etag: c.asset['file:checksum']?.toLowerCase() ?? null,
      locator,
      cursorMs,
    };
  });
}
