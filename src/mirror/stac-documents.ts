// The catalog's documents, built from the state: an item JSON beside its assets (hrefs to the local
// files, file:size and file:checksum of the bytes written), a collection.json linking its written
// items, the root catalog.json linking its collections. Pure: no I/O (stac-catalog.ts writes them).
import path from 'node:path';
import type { StoredItem } from '../store/catalog-store.js';
import type { Job } from '../store/types.js';
import { extentOf } from './stac-extent.js';
import { keptCollectionAssets, keptLinks, publicUrl, publicUrlsIn, type Link } from './stac-hrefs.js';
import { CATALOG_FILE, collectionFile, itemJsonFile } from './stac-names.js';

/** The STAC version of every document the catalog writes. */
export const STAC_VERSION = '1.1.0';
export const FILE_EXTENSION = 'https://stac-extensions.github.io/file/v2.1.0/schema.json';
const STRUCTURAL = new Set(['self', 'root', 'parent', 'collection', 'child', 'item', 'items', 'next', 'prev', 'canonical']);

function rel(fromFile: string, to: string): string {
  const r = path.posix.relative(path.posix.dirname(fromFile), to);
  return r.startsWith('.') ? r : `./${r}`;
}

/** The item JSON and where it goes: its own folder in its collection's, named after the item. */
export function buildItem(row: StoredItem, jobs: readonly Job[]): { text: string; jsonPath: string } {
  const listed = JSON.parse(row.raw) as Record<string, unknown> & { assets: Record<string, Record<string, unknown>>; links?: Link[]; stac_extensions?: string[] };
  const kept = keptLinks(listed.links, STRUCTURAL);
  // Every URL the item keeps is public (a state written before they were stripped on the way in).
  const raw = publicUrlsIn(listed);
  const byKey = new Map(jobs.map((j) => [j.key, j]));
  const refs = [...row.assets].sort((a, b) => (a.asset < b.asset ? -1 : a.asset > b.asset ? 1 : 0));
  // Its own path by the layout rule: no asset can be there (stac-names.ts), whatever the server names.
  const jsonPath = itemJsonFile(row.collection, row.id);
  const assets: Record<string, Record<string, unknown>> = {};
  for (const ref of refs) {
    const j = byKey.get(ref.key)!;
    // The pre-signed href expires: only the local path is kept.
    assets[ref.asset] = { ...(raw.assets[ref.asset] ?? {}), href: rel(jsonPath, j.localPath!), 'file:size': j.bytesWritten, 'file:checksum': `1220${j.sha256}` };
  }
  const collFile = collectionFile(row.collection);
  const links = [
    { rel: 'root', href: rel(jsonPath, CATALOG_FILE), type: 'application/json' },
    { rel: 'parent', href: rel(jsonPath, collFile), type: 'application/json' },
    { rel: 'collection', href: rel(jsonPath, collFile), type: 'application/json' },
    { rel: 'canonical', href: publicUrl(row.apiUrl), type: 'application/geo+json' },
    ...kept,
  ];
  const ext = [...new Set([...(raw.stac_extensions ?? []).filter((e) => !/stac-extensions\.github\.io\/file\//.test(e)), FILE_EXTENSION])];
  const item = { ...raw, stac_version: STAC_VERSION, stac_extensions: ext, collection: row.collection, links, assets };
  return { text: `${JSON.stringify(item, null, 2)}\n`, jsonPath };
}

export function buildCollection(doc: Record<string, unknown>, file: string, items: readonly (StoredItem & { writtenExtent: string })[]): string {
  const links = keptLinks(doc.links, STRUCTURAL);
  const assets = keptCollectionAssets((doc.assets ?? {}) as Record<string, { href?: unknown }>);
  const out: Record<string, unknown> = {
    ...publicUrlsIn(doc),
    type: 'Collection',
    stac_version: STAC_VERSION,
    description: doc.description ?? `Collection ${String(doc.id)}`,
    license: doc.license ?? 'other',
    extent: extentOf(doc, items),
    links: [
      { rel: 'root', href: rel(file, CATALOG_FILE), type: 'application/json' },
      { rel: 'parent', href: rel(file, CATALOG_FILE), type: 'application/json' },
      ...items.map((i) => ({ rel: 'item', href: rel(file, i.jsonPath!), type: 'application/geo+json' })),
      ...links,
    ],
  };
  if (doc.assets !== undefined) out.assets = assets;
  return `${JSON.stringify(out, null, 2)}\n`;
}

export function buildCatalog(collections: readonly string[]): string {
  const cat = {
    type: 'Catalog',
    stac_version: STAC_VERSION,
    id: 'constellr-sync-mirror',
    description: 'A local mirror kept by constellr-sync: a self-contained STAC catalog with assets.',
    links: [
      { rel: 'root', href: `./${CATALOG_FILE}`, type: 'application/json' },
      ...collections.map((c) => ({ rel: 'child', href: `./${collectionFile(c)}`, type: 'application/json' })),
    ],
  };
  return `${JSON.stringify(cat, null, 2)}\n`;
}
