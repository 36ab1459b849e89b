// The STAC mirror's layout rule for reserved names (source: stac). Asset keys are
// `<collection>/<item id>/<file name>`, each segment escaped by the STAC source (`%` → `%25`, `/` → `%2F`,
// `\` → `%5C`), and the catalog writes into the same tree:
//   catalog.json, items.parquet                    depth 1, beside the collection folders
//   <collection>/collection.json                   depth 2, beside the item folders
//   <collection>/<item>/<item>.json                depth 3, beside the asset files
// A segment that would take the catalog's name at its depth (compared as the most lenient filesystem
// compares names: any case, NFC/NFD/NFKC spellings, trailing dots or spaces) is stored with `%%` in
// front instead. An escaped segment never contains `%%` (every `%` it has is followed by 25, 2F or 5C),
// so a mapped name can never be another segment's name, and no server name can reach a catalog path.
// The mapping is recorded where the path is: the manifest (key → path) and the item's asset href.
import { escapeSegment } from '../api/stac/items.js';
import type { ItemRef } from '../lib/item-ref.js';
import { FOLD_ALL, foldName, isReservedSegment, shortenSegment } from './paths.js';

export const CATALOG_FILE = 'catalog.json';
export const COLLECTION_FILE = 'collection.json';
/** The GeoParquet index of the catalog (stac-index.ts), beside catalog.json. */
export const INDEX_FILE = 'items.parquet';
/** Put in front of a segment that would take a reserved name. */
export const MAPPED_PREFIX = '%%';

/** How the mirror maps key segments to names on disk: plain (assets) or with the STAC catalog's names reserved. */
export type NameRules = 'plain' | 'stac';

/** A name as the most lenient filesystem compares it: any case, NFKC, trailing dots and spaces dropped (SMB). */
export function looseFold(seg: string): string {
  return foldName(seg.normalize('NFKC').replace(/[. ]+$/, ''), FOLD_ALL);
}

/** Names the catalog uses at the root, beside the collection folders: catalog.json, and the
 * GeoParquet index (stac-index.ts INDEX_FILE; test/unit/stac-names.test.ts checks they agree). */
const ROOT_NAMES = new Set([looseFold(CATALOG_FILE), looseFold(INDEX_FILE)]);
/** Names the catalog uses inside a collection folder, beside the item folders. */
const COLLECTION_NAMES = new Set([looseFold(COLLECTION_FILE)]);

/** The item JSON's file name, from the item's key segment (escaped id). */
export function itemJsonName(itemSeg: string): string {
  return shortenSegment(`${itemSeg}.json`);
}

function mapped(seg: string): string {
  return shortenSegment(`${MAPPED_PREFIX}${seg}`);
}

/** Is this on-disk segment at this depth (0: collection folder, 1: item folder, 2: file) a catalog name? */
export function isCatalogName(depth: number, seg: string, itemSeg?: string): boolean {
  const f = looseFold(seg);
  if (depth === 0) return ROOT_NAMES.has(f) || isReservedSegment(seg);
  if (depth === 1) return COLLECTION_NAMES.has(f);
  if (depth === 2 && itemSeg !== undefined) return f === looseFold(itemJsonName(itemSeg));
  return false;
}

/**
 * The on-disk segments of a STAC key with the catalog's names mapped away. `keySegs` are the key's
 * segments as listed (escaped), `onDisk` the same after shortening; both have the same length.
 */
export function mapStacSegments(keySegs: readonly string[], onDisk: readonly string[]): string[] {
  return onDisk.map((s, i) => (isCatalogName(i, s, i === 2 ? keySegs[1] : undefined) ? mapped(s) : s));
}

/** The collection's folder: its id escaped like a key segment, shortened, mapped. */
export function collectionFolder(escapedId: string): string {
  const s = shortenSegment(escapedId);
  return isCatalogName(0, s) ? mapped(s) : s;
}

/** The item's folder inside its collection's. */
export function itemFolder(escapedId: string): string {
  const s = shortenSegment(escapedId);
  return isCatalogName(1, s) ? mapped(s) : s;
}

/** Where the catalog keeps a collection's document and an item's JSON (relative to the mirror root). */
export function collectionFilePath(escapedCollection: string): string {
  return `${collectionFolder(escapedCollection)}/${COLLECTION_FILE}`;
}

export function itemJsonPath(escapedCollection: string, escapedItem: string): string {
  return `${collectionFolder(escapedCollection)}/${itemFolder(escapedItem)}/${itemJsonName(escapedItem)}`;
}

/** `<collection>/<item>/…` job keys back to (collection, item id); see escapeSegment. */
export function itemOfKey(key: string): ItemRef | null {
  const parts = key.split('/');
  if (parts.length < 3) return null;
  const un = (s: string) => s.replace(/%(25|2F|5C)/g, (m) => ({ '%25': '%', '%2F': '/', '%5C': '\\' })[m]!);
  return { collection: un(parts[0]!), id: un(parts[1]!) };
}

/**
 * Does an asset's path on disk take a catalog name at its depth (placed by an earlier version,
 * before this rule)? `key` is the asset's key (its item segment names the item JSON).
 */
export function takesCatalogName(key: string, localPath: string): boolean {
  const k = key.split('/');
  const p = localPath.split('/');
  return p.some((s, i) => isCatalogName(i, s, i === 2 ? k[1] : undefined));
}

/** The collection's folder in the mirror, from its id. */
export function collectionDir(collection: string): string {
  return collectionFolder(escapeSegment(collection));
}

/** The collection's document, from its id. */
export function collectionFile(collection: string): string {
  return collectionFilePath(escapeSegment(collection));
}

/** Where an item's JSON goes, from the ids: `<collection>/<item>/<item>.json` by the rule above. */
export function itemJsonFile(collection: string, id: string): string {
  return itemJsonPath(escapeSegment(collection), escapeSegment(id));
}
