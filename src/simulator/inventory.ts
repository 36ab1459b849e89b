// In-memory object inventory with S3 semantics: keys ordered by UTF-8 bytes,
// LastModified with one-second granularity, ETag changing on every overwrite.
// Sized for 1,000,000 assets: bulk inserts sort once, lookups use binary search.
import { hash } from 'node:crypto';
import { Rng } from './rng.js';

export interface Asset {
  readonly key: string;
  readonly size: number;
  /** Whole seconds, like S3: always a multiple of 1000. */
  readonly lastModifiedMs: number;
  /** Quoted, e.g. '"9b2cf5..."'. */
  readonly etag: string;
  /** Content seed: content is a pure function of (seed, size). */
  readonly seed: string;
}

export interface AssetInput {
  key: string;
  size: number;
  lastModified?: Date | number | string;
  seed?: string;
}

export type FilterMode = 'strict' | 'inclusive';

export interface ListOptions {
  /** lastModifiedAfter in ms: `>` (strict) or `>=` (inclusive). */
  after?: number;
  /** lastModifiedBefore in ms: always `<`. */
  before?: number;
  /** S3 start-after: only keys sorting strictly after this one. */
  startAfterKey?: string;
  limit: number;
  filterMode?: FilterMode;
}

export interface ListResult {
  items: Asset[];
  truncated: boolean;
  /** Key of the last returned item (undefined for an empty page). */
  lastKey: string | undefined;
}

// Code units >= 0xD800 are where UTF-16 order differs from code point (= UTF-8 byte) order.
const HIGH_UNITS = /[\uD800-\uFFFF]/;

/**
 * A string whose JS (UTF-16 code unit) order equals the UTF-8 byte order of `key`:
 * BMP chars U+E000..U+FFFF must sort below surrogate pairs, so swap those ranges.
 * Keys without such chars are returned as-is (no extra memory).
 */
export function utf8SortKey(key: string): string {
  if (!HIGH_UNITS.test(key)) return key;
  let out = '';
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    out += String.fromCharCode(c >= 0xe000 ? c - 0x800 : c >= 0xd800 ? c + 0x2000 : c);
  }
  return out;
}

/** Compare two keys in S3 order (UTF-8 bytes); equivalent to Buffer.compare on their UTF-8 encodings. */
export function compareKeys(a: string, b: string): number {
  const sa = utf8SortKey(a);
  const sb = utf8SortKey(b);
  return sa < sb ? -1 : sa > sb ? 1 : 0;
}

class Entry implements Asset {
  constructor(
    readonly key: string,
    readonly size: number,
    readonly lastModifiedMs: number,
    readonly etag: string,
    readonly seed: string,
    /** Revision counter per key, so an overwrite always gets a new etag. */
    readonly rev: number,
    readonly sk: string,
  ) {}
}

const BLOCK = 1024;

function byEntry(a: Entry, b: Entry): number {
  return a.sk < b.sk ? -1 : a.sk > b.sk ? 1 : 0;
}

export function toLastModifiedMs(v: Date | number | string | undefined, nowMs: number): number {
  let ms: number;
  if (v === undefined) ms = nowMs;
  else if (v instanceof Date) ms = v.getTime();
  else if (typeof v === 'number') ms = v;
  else ms = Date.parse(v);
  if (!Number.isFinite(ms)) throw new TypeError(`invalid lastModified: ${String(v)}`);
  return Math.floor(ms / 1000) * 1000;
}

export class AssetInventory implements Iterable<Asset> {
  private readonly byKey = new Map<string, Entry>();
  // sorted by sk unless `dirty`; when dirty it is rebuilt from byKey on the next read
  private sorted: Entry[] = [];
  private dirty = false;
  private bytes = 0;
  // newest LastModified per block of BLOCK sorted entries, so a lastModifiedAfter listing skips old
  // blocks instead of scanning a 1M inventory per page; dropped on every mutation, rebuilt lazily
  private blockMax: Float64Array | null = null;

  constructor(assets?: Iterable<AssetInput>) {
    if (assets) this.putMany(assets);
  }

  get size(): number {
    return this.byKey.size;
  }

  get totalBytes(): number {
    return this.bytes;
  }

  get(key: string): Asset | undefined {
    return this.byKey.get(key);
  }

  has(key: string): boolean {
    return this.byKey.has(key);
  }

  /** Add or replace one asset. Replacing always changes etag (and the default seed, hence content). */
  put(input: AssetInput): Asset {
    return this.add(input, false);
  }

  /** Bulk add/replace: out-of-order inserts just mark the index dirty; it is sorted once on the next read. */
  putMany(inputs: Iterable<AssetInput>): number {
    let n = 0;
    for (const input of inputs) {
      this.add(input, true);
      n++;
    }
    return n;
  }

  remove(key: string): boolean {
    const e = this.byKey.get(key);
    if (!e) return false;
    this.blockMax = null;
    this.byKey.delete(key);
    this.bytes -= e.size;
    if (!this.dirty) {
      const i = this.lowerBound(e.sk);
      if (this.sorted[i] === e) this.sorted.splice(i, 1);
      else this.dirty = true;
    }
    return true;
  }

  clear(): void {
    this.byKey.clear();
    this.sorted = [];
    this.dirty = false;
    this.bytes = 0;
    this.blockMax = null;
  }

  list(opts: ListOptions): ListResult {
    const arr = this.ensureSorted();
    const limit = Math.max(0, Math.floor(opts.limit));
    const inclusive = opts.filterMode === 'inclusive';
    const after = opts.after;
    const before = opts.before;
    const filtered = after !== undefined || before !== undefined;
    let i = opts.startAfterKey === undefined ? 0 : this.upperBound(utf8SortKey(opts.startAfterKey));
    const items: Asset[] = [];
    const blocks = after !== undefined ? this.blockMaxima(arr) : null;
    // true at a block boundary when no entry of the block can pass the `after` filter
    const skip = (j: number): boolean =>
      blocks !== null && j % BLOCK === 0 && (inclusive ? blocks[j / BLOCK]! < after! : blocks[j / BLOCK]! <= after!);
    const matches = (e: Entry): boolean => {
      if (!filtered) return true;
      const lm = e.lastModifiedMs;
      if (after !== undefined && (inclusive ? lm < after : lm <= after)) return false;
      if (before !== undefined && lm >= before) return false;
      return true;
    };
    for (; i < arr.length && items.length < limit; i++) {
      if (skip(i)) {
        i += BLOCK - 1;
        continue;
      }
      const e = arr[i] as Entry;
      if (matches(e)) items.push(e);
    }
    // truncated only if another matching item follows
    let truncated = false;
    for (; i < arr.length; i++) {
      if (skip(i)) {
        i += BLOCK - 1;
        continue;
      }
      if (matches(arr[i] as Entry)) {
        truncated = true;
        break;
      }
    }
    return { items, truncated, lastKey: items.length ? items[items.length - 1]!.key : undefined };
  }

  /** All assets in key order. */
  *[Symbol.iterator](): Iterator<Asset> {
    // snapshot so mutation during iteration is safe
    const arr = this.ensureSorted().slice();
    for (const e of arr) yield e;
  }

  values(): IterableIterator<Asset> {
    return this[Symbol.iterator]() as IterableIterator<Asset>;
  }

  keys(): string[] {
    return this.ensureSorted().map((e) => e.key);
  }

  private add(input: AssetInput, bulk: boolean): Entry {
    const { key, size } = input;
    if (typeof key !== 'string' || key.length === 0) throw new TypeError('asset key must be a non-empty string');
    if (!Number.isSafeInteger(size) || size < 0) throw new TypeError(`invalid size for ${key}: ${String(size)}`);
    const lm = toLastModifiedMs(input.lastModified, Date.now());
    const prev = this.byKey.get(key);
    const rev = prev ? prev.rev + 1 : 0;
    let etag: string;
    let seed: string;
    if (input.seed !== undefined) {
      // explicit seed: etag is a content hash, like a single-part S3 upload
      seed = input.seed;
      etag = `"${hash('md5', `seed\0${seed}\0${size}`)}"`;
    } else {
      etag = `"${hash('md5', `${key}\0${size}\0${lm}\0${rev}`)}"`;
      seed = `${key}\n${etag}`;
    }
    const sk = prev ? prev.sk : utf8SortKey(key);
    const e = new Entry(key, size, lm, etag, seed, rev, sk);
    this.byKey.set(key, e);
    this.blockMax = null;
    this.bytes += size - (prev ? prev.size : 0);
    if (this.dirty) return e;
    const arr = this.sorted;
    if (prev) {
      const i = this.lowerBound(sk);
      if (arr[i] === prev) arr[i] = e;
      else this.dirty = true;
    } else if (arr.length === 0 || (arr[arr.length - 1] as Entry).sk < sk) {
      arr.push(e);
    } else if (bulk) {
      this.dirty = true;
    } else {
      arr.splice(this.lowerBound(sk), 0, e);
    }
    return e;
  }

  private ensureSorted(): Entry[] {
    if (this.dirty) {
      this.sorted = Array.from(this.byKey.values()).sort(byEntry);
      this.dirty = false;
    }
    return this.sorted;
  }

  private blockMaxima(arr: Entry[]): Float64Array {
    if (this.blockMax) return this.blockMax;
    const m = new Float64Array(Math.ceil(arr.length / BLOCK)).fill(-Infinity);
    for (let j = 0; j < arr.length; j++) {
      const b = (j / BLOCK) | 0;
      const lm = arr[j]!.lastModifiedMs;
      if (lm > m[b]!) m[b] = lm;
    }
    this.blockMax = m;
    return m;
  }

  /** First index with sk >= target. */
  private lowerBound(target: string): number {
    const arr = this.sorted;
    let lo = 0;
    let hi = arr.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((arr[mid] as Entry).sk < target) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** First index with sk > target. */
  private upperBound(target: string): number {
    const arr = this.sorted;
    let lo = 0;
    let hi = arr.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((arr[mid] as Entry).sk <= target) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

export interface SampleInventoryOptions {
  /** Number of assets (default 120). */
  count?: number;
  /** Largest .tif size in bytes (default 4 MiB). */
  maxSize?: number;
  /** Reference "now" in ms; LastModified values spread over the 6 weeks before it (default: start of the current UTC day). */
  now?: number;
  /** Include awkward-but-legal keys (default true). */
  awkwardKeys?: boolean;
}

const PRODUCTS = ['LSTprecision', 'LSTprecision', 'LSTprecision', 'LSTzoom', 'LSTfusion'] as const;
const TILE_BANDS = 'CDEFGHJKLMNPQRSTUV';

function pad(n: number, w: number): string {
  return String(n).padStart(w, '0');
}

function ymd(ms: number): { dash: string; compact: string } {
  const d = new Date(ms);
  const y = pad(d.getUTCFullYear(), 4);
  const m = pad(d.getUTCMonth() + 1, 2);
  const day = pad(d.getUTCDate(), 2);
  return { dash: `${y}-${m}-${day}`, compact: `${y}${m}${day}` };
}

/**
 * A realistic, deterministic LST account: orders with per-date GeoTIFFs, masks and
 * JSON metadata, README files, one empty object and a few awkward-but-legal keys.
 * Several assets share the same LastModified second.
 */
export function sampleInventory(seed: number, opts: SampleInventoryOptions = {}): AssetInventory {
  const count = Math.max(0, Math.floor(opts.count ?? 120));
  const maxSize = Math.max(1, Math.floor(opts.maxSize ?? 4 * 1024 * 1024));
  const now = opts.now ?? Math.floor(Date.now() / 86_400_000) * 86_400_000;
  const rng = new Rng(seed);
  const windowMs = 42 * 86_400_000;
  const inputs: AssetInput[] = [];
  const sizeBetween = (lo: number, hi: number): number => {
    const a = Math.max(0, Math.min(lo, hi));
    const b = Math.max(a + 1, hi);
    return rng.int(a, b);
  };
  const secondIn = (fromMs: number, toMs: number): number =>
    Math.floor((fromMs + rng.next() * Math.max(1, toMs - fromMs)) / 1000) * 1000;

  const awkward = opts.awkwardKeys ?? true;
  const extras: AssetInput[] = [];
  let orderNo = 0;
  while (inputs.length + extras.length < count) {
    const orderId = `ord-${pad(2024000 + orderNo * 7 + rng.int(0, 7), 7)}-${rng.int(0, 0xffff).toString(16).padStart(4, '0')}`;
    const orderStart = now - windowMs + rng.next() * windowMs * 0.5;
    const prefix = `orders/${orderId}`;
    const readmeAt = secondIn(orderStart, orderStart + 3_600_000);
    inputs.push({ key: `${prefix}/README.txt`, size: sizeBetween(400, 1200), lastModified: readmeAt });
    if (orderNo === 0 && awkward) {
      // the order's first batch of extras: empty marker, unicode, reserved URL chars
      const at = readmeAt; // same second as README on purpose
      extras.push(
        { key: `${prefix}/_SUCCESS`, size: 0, lastModified: at },
        { key: `${prefix}/notes/Zürich Übersicht.txt`, size: sizeBetween(300, 900), lastModified: at },
        { key: `${prefix}/notes/a+b=c & d.json`, size: sizeBetween(300, 900), lastModified: at },
        { key: `${prefix}/notes/#1 report?.txt`, size: sizeBetween(300, 900), lastModified: at + 1000 },
        { key: `${prefix}/notes/100% coverage.json`, size: sizeBetween(300, 900), lastModified: at + 1000 },
        { key: `${prefix}/notes/literal%2Fslash.txt`, size: sizeBetween(100, 300), lastModified: at + 2000 },
        { key: `${prefix}/notes/🛰️ preview.json`, size: sizeBetween(300, 900), lastModified: at + 2000 },
        // U+FF5E sorts before the emoji in UTF-8 but after it in UTF-16
        { key: `${prefix}/notes/～wave.json`, size: sizeBetween(300, 900), lastModified: at + 2000 },
        { key: `${prefix}/notes/ leading and trailing space .txt`, size: sizeBetween(100, 300), lastModified: at + 3000 },
      );
    }
    const product = rng.pick(PRODUCTS);
    const dates = rng.int(1, 6);
    const tileSet = new Set<string>();
    const tileCount = rng.int(1, 4);
    while (tileSet.size < tileCount) {
      const band = TILE_BANDS[rng.int(0, TILE_BANDS.length)] ?? 'U';
      const sq = String.fromCharCode(65 + rng.int(0, 26), 65 + rng.int(0, 26));
      tileSet.add(`${pad(rng.int(28, 37), 2)}${band}${sq}`);
    }
    const tiles = [...tileSet];
    for (let d = 0; d < dates && inputs.length + extras.length < count; d++) {
      const acquired = orderStart + d * 3 * 86_400_000;
      const { dash, compact } = ymd(acquired);
      // a delivery batch: all files of a date uploaded within a few seconds
      const batchAt = secondIn(acquired + 6 * 3_600_000, acquired + 30 * 3_600_000);
      for (const tile of tiles) {
        const at = rng.chance(0.6) ? batchAt : batchAt + rng.int(1, 4) * 1000;
        const base = `${prefix}/${dash}/${product}_${tile}_${compact}`;
        inputs.push(
          { key: `${base}.tif`, size: sizeBetween(Math.floor(maxSize / 4), maxSize), lastModified: at },
          { key: `${base}_mask.tif`, size: sizeBetween(Math.floor(maxSize / 16), Math.floor(maxSize / 4)), lastModified: at },
          { key: `${base}_metadata.json`, size: sizeBetween(300, 4000), lastModified: at },
        );
      }
    }
    orderNo++;
  }
  // extras first so small counts still contain the awkward keys
  const all = extras.concat(inputs).slice(0, count);
  for (const a of all) {
    if (typeof a.lastModified === 'number' && a.lastModified > now - 1000) a.lastModified = now - 1000;
  }
  return new AssetInventory(all);
}
