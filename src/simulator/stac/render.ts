// JSON documents of the STAC API: items (with pre-signed asset hrefs) and collections.
import type { BBox } from './geo.js';
import { COLLECTIONS, type CollectionDef, FILE_EXTENSION, STAC_VERSION, type StacItemRecord, type StacStore } from './model.js';
import type { Presigner } from './presign.js';

export interface Urls {
  /** API origin, e.g. http://127.0.0.1:8080 (the STAC root is `${api}/stac`). */
  api: string;
  /** Storage origin that serves pre-signed URLs. */
  storage: string;
}

export const GEOJSON = 'application/geo+json';
export const JSON_TYPE = 'application/json';

export function iso(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 19)}Z`;
}

export function enc(s: string): string {
  return encodeURIComponent(s);
}

export function itemUrl(urls: Urls, collection: string, id: string): string {
  return `${urls.api}/stac/collections/${enc(collection)}/items/${enc(id)}`;
}

export async function renderItem(
  store: StacStore,
  presigner: Presigner,
  urls: Urls,
  rec: StacItemRecord,
  nowMs: number,
): Promise<Record<string, unknown>> {
  const root = `${urls.api}/stac`;
  const properties: Record<string, unknown> = {
    datetime: iso(rec.datetimeMs),
    'order:id': rec.orderId,
    gsd: rec.gsd,
    platform: rec.satellite,
    constellation: 'constellr',
  };
  if (store.showsUpdated(rec)) properties.updated = iso(rec.updatedMs!);
  const assets: Record<string, unknown> = {};
  for (const a of rec.assets) {
    const obj = store.object(a);
    const asset: Record<string, unknown> = {
      href: a.href ?? (obj ? presigner.url(urls.storage, store.hrefKey(rec, a, obj), nowMs, store.knobs.urlTtlSeconds) : ''),
      type: a.mediaType,
      title: a.title,
      roles: [...a.roles],
    };
    if (obj && store.assetShowsSize(rec, a)) asset['file:size'] = obj.size;
    if (obj && store.assetShowsChecksum(rec, a)) asset['file:checksum'] = await store.multihash(obj);
    assets[a.key] = asset;
  }
  return {
    type: 'Feature',
    stac_version: STAC_VERSION,
    stac_extensions: [FILE_EXTENSION],
    id: rec.id,
    collection: rec.collection,
    geometry: rec.geometry,
    bbox: [...rec.bbox],
    properties,
    links: [
      { rel: 'self', href: itemUrl(urls, rec.collection, rec.id), type: GEOJSON },
      { rel: 'parent', href: `${root}/collections/${enc(rec.collection)}`, type: JSON_TYPE },
      { rel: 'collection', href: `${root}/collections/${enc(rec.collection)}`, type: JSON_TYPE },
      { rel: 'root', href: root, type: JSON_TYPE },
    ],
    assets,
  };
}

export function renderCollection(store: StacStore, urls: Urls, def: CollectionDef): Record<string, unknown> {
  const root = `${urls.api}/stac`;
  let bbox: BBox | null = null;
  let t0 = Infinity;
  let t1 = -Infinity;
  for (const rec of store.all()) {
    if (rec.collection !== def.id) continue;
    const b = rec.bbox;
    bbox = bbox ? [Math.min(bbox[0], b[0]), Math.min(bbox[1], b[1]), Math.max(bbox[2], b[2]), Math.max(bbox[3], b[3])] : [...b];
    t0 = Math.min(t0, rec.datetimeMs);
    t1 = Math.max(t1, rec.datetimeMs);
  }
  const self = `${root}/collections/${enc(def.id)}`;
  return {
    type: 'Collection',
    stac_version: STAC_VERSION,
    stac_extensions: [FILE_EXTENSION],
    id: def.id,
    title: def.title,
    description: def.description,
    license: 'proprietary',
    keywords: ['land surface temperature', 'LST', 'thermal'],
    providers: [{ name: 'constellr', roles: ['producer', 'processor', 'licensor', 'host'], url: 'https://www.constellr.com' }],
    extent: {
      spatial: { bbox: [bbox ?? [-180, -90, 180, 90]] },
      temporal: { interval: [[Number.isFinite(t0) ? iso(t0) : null, Number.isFinite(t1) ? iso(t1) : null]] },
    },
    summaries: { gsd: [def.gsd], platform: ['SBA01', 'SBA02'], constellation: ['constellr'] },
    item_assets: {
      lst: { type: 'image/tiff; application=geotiff', roles: ['data'], title: 'Land surface temperature (K)' },
      mask: { type: 'image/tiff; application=geotiff', roles: ['data', 'mask'], title: 'Quality mask' },
      metadata: { type: 'application/json', roles: ['metadata'], title: 'Product metadata' },
    },
    links: [
      { rel: 'self', href: self, type: JSON_TYPE },
      { rel: 'parent', href: root, type: JSON_TYPE },
      { rel: 'root', href: root, type: JSON_TYPE },
      { rel: 'items', href: `${self}/items`, type: GEOJSON },
    ],
  };
}

export function allCollections(): readonly CollectionDef[] {
  return COLLECTIONS;
}
