// The STAC item model: three LST collections, items with `order:id`, `datetime`, `updated`, a
// footprint and three assets (LST raster, mask, metadata JSON). Asset bytes live in a AssetInventory of
// storage objects, so content is deterministic and every replacement changes it (and its ETag).
import { AssetInventory, type Asset } from '../inventory.js';
import { createHash } from 'node:crypto';
import { contentBytes, contentSha256 } from '../content.js';
import { type BBox, type PolygonGeometry, geohash, geometryBBox, geometryError } from './geo.js';

export const STAC_VERSION = '1.1.0';
export const FILE_EXTENSION = 'https://stac-extensions.github.io/file/v2.1.0/schema.json';

export interface CollectionDef {
  readonly id: string;
  readonly product: string;
  readonly title: string;
  readonly description: string;
  readonly gsd: number;
}

export const COLLECTIONS: readonly CollectionDef[] = [
  { id: 'lstprecision', product: 'LSTPRECISION', title: 'LSTprecision Level-3 UTM LST Product', description: 'Land surface temperature at 30 m from the constellr HiVE constellation, Level-3, UTM grid.', gsd: 30 },
  { id: 'lstzoom', product: 'LSTZOOM', title: 'LSTzoom Level-3 UTM LST Product', description: 'Land surface temperature sharpened to 10 m, Level-3, UTM grid.', gsd: 10 },
  { id: 'lstfusion', product: 'LSTFUSION', title: 'LSTfusion Level-3 UTM LST Product', description: 'Daily land surface temperature fused from several missions, Level-3, UTM grid.', gsd: 30 },
];

export function collectionDef(id: string): CollectionDef | undefined {
  return COLLECTIONS.find((c) => c.id === id);
}

/** Which items (or assets) carry an optional field: all, two in three (by a hash of the name), or none. */
export type Presence = 'all' | 'some' | 'none';

export interface StacKnobs {
  /** Lifetime of pre-signed asset hrefs (X-Amz-Expires), seconds. */
  urlTtlSeconds: number;
  /** Which items carry `properties.updated`. */
  updated: Presence;
  /** Which assets carry `file:size`. */
  fileSize: Presence;
  /** Which assets carry `file:checksum`. */
  fileChecksum: Presence;
  /** Advertise and accept CQL2 `filter` (false: conformance omits it and a filter is a 400). */
  filter: boolean;
  /** Advertise and accept `sortby`. */
  sort: boolean;
  /** Fault: every `next` link points back at the page it is on (same token), so paging never ends. */
  nextLinkLoops: boolean;
  /** Page size when a request names no `limit`. */
  defaultLimit: number;
  /** Larger limits are capped silently to this. */
  maxLimit: number;
  /**
   * Which assets get an opaque href: `<storage>/<bucket>/o/<object id>`, an id that changes with every
   * version and names no file (the file's name comes from Content-Disposition only).
   */
  opaqueHrefs: Presence;
  /** Downloads send Content-Disposition with the file's name (false: they send none). */
  contentDisposition: boolean;
}

export function defaultStacKnobs(): StacKnobs {
  return { urlTtlSeconds: 900, updated: 'all', fileSize: 'all', fileChecksum: 'all', filter: true, sort: true, nextLinkLoops: false, defaultLimit: 10, maxLimit: 1000, opaqueHrefs: 'none', contentDisposition: true };
}

export interface StacAssetRecord {
  readonly key: string;
  readonly fileType: string;
  readonly fileName: string;
  readonly mediaType: string;
  readonly roles: readonly string[];
  readonly title: string;
  readonly storageKey: string;
  readonly omitSize: boolean;
  readonly omitChecksum: boolean;
  /** Served verbatim instead of a pre-signed URL (hostile-href tests). */
  readonly href: string | null;
}

export interface StacItemRecord {
  readonly collection: string;
  readonly id: string;
  readonly datetimeMs: number;
  /** null: the item carries no `updated`. */
  readonly updatedMs: number | null;
  readonly orderId: string;
  readonly satellite: string;
  readonly gsd: number;
  readonly geometry: PolygonGeometry;
  readonly bbox: BBox;
  readonly assets: readonly StacAssetRecord[];
}

export interface StacAssetInput {
  key: string;
  size?: number;
  fileType?: string;
  fileName?: string;
  mediaType?: string;
  roles?: string[];
  title?: string;
  omitSize?: boolean;
  omitChecksum?: boolean;
  href?: string;
}

export interface StacItemInput {
  collection: string;
  id?: string;
  datetime?: string | number;
  /** null: no `updated`; omitted: now (new item or replacement). */
  updated?: string | number | null;
  orderId?: string;
  satellite?: string;
  /** Footprint centre [lon, lat] (a ~0.1° square is built around it) or an explicit polygon. */
  center?: [number, number];
  geometry?: PolygonGeometry;
  gsd?: number;
  assets?: StacAssetInput[];
  /** Replacement keeps the bytes of assets whose size did not change. */
  keepContent?: boolean;
}

const DEFAULT_ASSETS: readonly Required<Pick<StacAssetInput, 'key' | 'fileType' | 'mediaType' | 'roles' | 'title'>>[] = [
  { key: 'lst', fileType: 'LST', mediaType: 'image/tiff; application=geotiff', roles: ['data'], title: 'Land surface temperature (K)' },
  { key: 'mask', fileType: 'MASK', mediaType: 'image/tiff; application=geotiff', roles: ['data', 'mask'], title: 'Quality mask' },
  { key: 'metadata', fileType: 'METADATA', mediaType: 'application/json', roles: ['metadata'], title: 'Product metadata' },
];

function extFor(mediaType: string): string {
  if (mediaType.startsWith('image/tiff')) return 'tiff';
  if (mediaType.startsWith('application/json')) return 'json';
  if (mediaType.startsWith('text/plain')) return 'txt';
  return 'bin';
}

export function compactTime(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 19).replace(/[-:]/g, '')}Z`;
}

function toMs(v: string | number, what: string): number {
  const ms = typeof v === 'number' ? v : Date.parse(v);
  if (!Number.isFinite(ms)) throw new TypeError(`invalid ${what}: ${String(v)}`);
  return Math.floor(ms / 1000) * 1000;
}

export function squareAround(lon: number, lat: number, half = 0.05): PolygonGeometry {
  const r = (x: number): number => Math.round(x * 1e6) / 1e6;
  // counter-clockwise, closed, like GeoJSON (RFC 7946) wants outer rings
  return {
    type: 'Polygon',
    coordinates: [[[r(lon - half), r(lat - half)], [r(lon + half), r(lat - half)], [r(lon + half), r(lat + half)], [r(lon - half), r(lat + half)], [r(lon - half), r(lat - half)]]],
  };
}

/** For "some": two in three items/assets carry the field, chosen by a stable hash of the name. */
function picked(p: Presence, name: string): boolean {
  if (p === 'all') return true;
  if (p === 'none') return false;
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  return (h >>> 0) % 3 !== 0;
}

export class StacStore {
  readonly objects = new AssetInventory();
  readonly knobs: StacKnobs = defaultStacKnobs();
  /** Opaque href ids (knob opaqueHrefs) → object keys. */
  private readonly opaque = new Map<string, string>();
  private readonly items = new Map<string, StacItemRecord>();
  private readonly checksums = new Map<string, string>();

  constructor(private readonly clock: () => number = Date.now) {}

  static itemKey(collection: string, id: string): string {
    return `${collection}\n${id}`;
  }

  get size(): number {
    return this.items.size;
  }

  get(collection: string, id: string): StacItemRecord | undefined {
    return this.items.get(StacStore.itemKey(collection, id));
  }

  all(): StacItemRecord[] {
    return [...this.items.values()];
  }

  setKnobs(p: Partial<StacKnobs>): void {
    const k = this.knobs;
    const presence = (v: unknown, name: string): Presence => {
      if (v === 'all' || v === 'some' || v === 'none') return v;
      throw new TypeError(`${name} must be "all", "some" or "none"`);
    };
    const posInt = (v: unknown, name: string): number => {
      if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) throw new TypeError(`${name} must be a positive integer`);
      return v;
    };
    const bool = (v: unknown, name: string): boolean => {
      if (typeof v !== 'boolean') throw new TypeError(`${name} must be a boolean`);
      return v;
    };
    const next: StacKnobs = { ...k };
    for (const [name, v] of Object.entries(p)) {
      if (v === undefined) continue;
      switch (name) {
        case 'urlTtlSeconds': next.urlTtlSeconds = posInt(v, name); break;
        case 'defaultLimit': next.defaultLimit = posInt(v, name); break;
        case 'maxLimit': next.maxLimit = posInt(v, name); break;
        case 'updated': next.updated = presence(v, name); break;
        case 'fileSize': next.fileSize = presence(v, name); break;
        case 'fileChecksum': next.fileChecksum = presence(v, name); break;
        case 'filter': next.filter = bool(v, name); break;
        case 'sort': next.sort = bool(v, name); break;
        case 'nextLinkLoops': next.nextLinkLoops = bool(v, name); break;
        case 'opaqueHrefs': next.opaqueHrefs = presence(v, name); break;
        case 'contentDisposition': next.contentDisposition = bool(v, name); break;
        default: throw new TypeError(`unknown STAC knob ${name}`);
      }
    }
    Object.assign(k, next);
  }

  /** Add or replace an item; unspecified fields keep the previous item's values. */
  put(input: StacItemInput): StacItemRecord {
    const def = collectionDef(input.collection);
    if (!def) throw new TypeError(`unknown collection ${JSON.stringify(input.collection)}`);
    const now = this.clock();
    const id0 = input.id;
    const prev = id0 !== undefined ? this.get(def.id, id0) : undefined;
    const datetimeMs = input.datetime !== undefined ? toMs(input.datetime, 'datetime') : (prev?.datetimeMs ?? Math.floor(now / 1000) * 1000);
    let geometry = input.geometry ?? prev?.geometry;
    if (input.center) geometry = squareAround(input.center[0], input.center[1]);
    geometry ??= squareAround(8.54, 47.37);
    const gErr = geometryError(geometry);
    if (gErr || geometry.type !== 'Polygon') throw new TypeError(`item geometry: ${gErr ?? 'must be a Polygon'}`);
    const bbox = geometryBBox(geometry);
    const satellite = input.satellite ?? prev?.satellite ?? 'SBA02';
    const base = baseName(def, satellite, bbox, datetimeMs);
    const id = id0 ?? base;
    if (typeof id !== 'string' || id.length === 0 || id.length > 1024) throw new TypeError('item id must be a non-empty string');
    const prevItem = prev ?? this.get(def.id, id);
    const updatedMs = input.updated === null ? null : input.updated !== undefined ? toMs(input.updated, 'updated') : Math.floor(now / 1000) * 1000;
    const inputs: StacAssetInput[] = input.assets ?? (prevItem ? prevItem.assets.map((a) => ({ key: a.key })) : DEFAULT_ASSETS.map((a) => ({ key: a.key })));
    const seen = new Set<string>();
    const assets: StacAssetRecord[] = [];
    for (const a of inputs) {
      if (typeof a.key !== 'string' || a.key === '' || seen.has(a.key)) throw new TypeError(`asset keys must be unique non-empty strings (${String(a.key)})`);
      seen.add(a.key);
      const was = prevItem?.assets.find((x) => x.key === a.key);
      const std = DEFAULT_ASSETS.find((x) => x.key === a.key);
      const fileType = a.fileType ?? was?.fileType ?? std?.fileType ?? a.key.toUpperCase();
      const mediaType = a.mediaType ?? was?.mediaType ?? std?.mediaType ?? 'application/octet-stream';
      const fileName = a.fileName ?? (was && input.datetime === undefined && !input.center && !input.geometry && !input.satellite ? was.fileName : `${base}_${fileType}.${extFor(mediaType)}`);
      const storageKey = `${def.id}/${encodeURIComponent(id)}/${encodeURIComponent(a.key)}/${fileName}`;
      const oldObj = was ? this.objects.get(was.storageKey) : undefined;
      const size = a.size ?? oldObj?.size ?? defaultSize(fileType);
      if (!Number.isSafeInteger(size) || size < 0) throw new TypeError(`invalid size for asset ${a.key}`);
      if (was && was.storageKey !== storageKey) this.objects.remove(was.storageKey);
      if (!(input.keepContent && oldObj && oldObj.key === storageKey && oldObj.size === size)) {
        // bulk mode: the object index is only read by key, so no sorted insert per object
        this.objects.putMany([{ key: storageKey, size, lastModified: updatedMs ?? datetimeMs }]);
      }
      assets.push({
        key: a.key,
        fileType,
        fileName,
        mediaType,
        roles: a.roles ?? was?.roles ?? std?.roles ?? ['data'],
        title: a.title ?? was?.title ?? std?.title ?? a.key,
        storageKey,
        omitSize: a.omitSize ?? was?.omitSize ?? false,
        omitChecksum: a.omitChecksum ?? was?.omitChecksum ?? false,
        href: a.href ?? was?.href ?? null,
      });
    }
    for (const old of prevItem?.assets ?? []) if (!seen.has(old.key)) this.objects.remove(old.storageKey);
    const rec: StacItemRecord = {
      collection: def.id,
      id,
      datetimeMs,
      updatedMs,
      orderId: input.orderId ?? prevItem?.orderId ?? 'ord-0000000-0000',
      satellite,
      gsd: input.gsd ?? prevItem?.gsd ?? def.gsd,
      geometry,
      bbox,
      assets,
    };
    this.items.set(StacStore.itemKey(def.id, id), rec);
    return rec;
  }

  remove(collection: string, id: string): boolean {
    const rec = this.get(collection, id);
    if (!rec) return false;
    for (const a of rec.assets) this.objects.remove(a.storageKey);
    this.items.delete(StacStore.itemKey(collection, id));
    return true;
  }

  /** Whether the item shows `updated` (per-item null wins, then the knob). */
  showsUpdated(rec: StacItemRecord): boolean {
    return rec.updatedMs !== null && picked(this.knobs.updated, `${rec.collection}/${rec.id}`);
  }

  object(a: StacAssetRecord): Asset | undefined {
    return this.objects.get(a.storageKey);
  }

  /** sha2-256 multihash (hex) of the asset's current bytes; cached per object version. */
  async multihash(obj: Asset): Promise<string> {
    const k = `${obj.key}\n${obj.etag}`;
    let h = this.checksums.get(k);
    if (h === undefined) {
      // small objects in one right-sized buffer: contentSha256 allocates 1 MiB per call
      const hex = obj.size <= 4 * 1024 * 1024 ? createHash('sha256').update(contentBytes(obj.seed, obj.size)).digest('hex') : await contentSha256(obj.seed, obj.size);
      h = `1220${hex}`;
      if (this.checksums.size > 100_000) this.checksums.clear();
      this.checksums.set(k, h);
    }
    return h;
  }

  assetShowsSize(rec: StacItemRecord, a: StacAssetRecord): boolean {
    return !a.omitSize && picked(this.knobs.fileSize, `${rec.collection}/${rec.id}/${a.key}`);
  }

  assetShowsChecksum(rec: StacItemRecord, a: StacAssetRecord): boolean {
    return !a.omitChecksum && picked(this.knobs.fileChecksum, `${rec.collection}/${rec.id}/${a.key}#`);
  }

  /**
   * The storage key an href names: the object's own key, or with the opaqueHrefs knob `o/<id>`, an id
   * of this version of the object (remembered, so storage can serve it).
   */
  hrefKey(rec: StacItemRecord, a: StacAssetRecord, obj: Asset): string {
    if (!picked(this.knobs.opaqueHrefs, `${rec.collection}/${rec.id}/${a.key}~`)) return a.storageKey;
    const id = createHash('sha256').update(`${a.storageKey}\n${obj.etag}`).digest('hex').slice(0, 32);
    if (this.opaque.size > 100_000) this.opaque.clear();
    this.opaque.set(id, a.storageKey);
    return `o/${id}`;
  }

  /** The object key behind an href key (`o/<id>` or the key itself); undefined for an unknown id. */
  objectKey(hrefKey: string): string | undefined {
    return hrefKey.startsWith('o/') ? this.opaque.get(hrefKey.slice(2)) : hrefKey;
  }
}

/** `[PRODUCT]_[SATELLITE]_[GEOHASH]_[ACQUISITION TIME]`: the default item id and file-name stem. */
export function baseName(def: CollectionDef, satellite: string, bbox: BBox, datetimeMs: number): string {
  const gh = geohash((bbox[0] + bbox[2]) / 2, (bbox[1] + bbox[3]) / 2, 8).toUpperCase();
  return `${def.product}_${satellite}_${gh}_${compactTime(datetimeMs)}`;
}

function defaultSize(fileType: string): number {
  return fileType === 'METADATA' ? 2048 : fileType === 'MASK' ? 16 * 1024 : 64 * 1024;
}
