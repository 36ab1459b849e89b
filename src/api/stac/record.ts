// What the mirror's STAC catalog keeps of a listed item (the raw JSON, validated, and which job holds
// each selected asset) and the validation of collection documents.
import { z } from 'zod';
import { publicUrl, publicUrlsIn, withSlash } from '../../lib/url-safety.js';
import type { RemoteAsset, StacItemRecord } from '../wire.js';
import { parseLocator } from './locator.js';
import { StacWireError, documentLinksSchema, issues, keepValidLinks, type OnDroppedLink, type StacItem } from './documents.js';

/** The item and its jobs as one record; null when no asset of the item is selected. */
export function itemRecord(item: StacItem, assets: readonly RemoteAsset[], apiBase: string): StacItemRecord | null {
  const first = assets[0];
  if (!first) return null;
  const c = parseLocator(first.locator ?? null, first.key).collection;
  const refs = assets.map((a) => ({ asset: parseLocator(a.locator ?? null, a.key).asset, key: a.key, version: a.lastModifiedMs }));
  // The item's address in the API, as the catalog's `canonical` link: never api.url's user:password@.
  const apiUrl = publicUrl(new URL(`stac/collections/${encodeURIComponent(c)}/items/${encodeURIComponent(item.id)}`, withSlash(apiBase)).href);
  return { collection: c, id: item.id, raw: keptItemJson(item, refs.map((r) => r.asset)), assets: refs, apiUrl };
}

/**
 * What the state keeps of a listed item (stac_items.raw): the selected assets only, and every URL
 * public (lib/url-safety.ts). So no pre-signed href is stored there, ever: the jobs' locators hold
 * the selected ones while they are needed, and the catalog points at the local files.
 */
export function keptItemJson(item: { assets?: unknown }, selected: readonly string[]): string {
  const all = (item.assets ?? {}) as Record<string, unknown>;
  const assets = Object.fromEntries(selected.filter((k) => Object.hasOwn(all, k)).map((k) => [k, all[k]]));
  return JSON.stringify(publicUrlsIn({ ...item, assets }));
}

const bbox = z.array(z.number()).refine((b) => b.length === 4 || b.length === 6, 'a bbox has 4 or 6 numbers');
const collectionSchema = z.looseObject({
  type: z.literal('Collection').optional(),
  id: z.string().min(1),
  description: z.string().optional(),
  license: z.string().optional(),
  extent: z
    .looseObject({
      spatial: z.looseObject({ bbox: z.array(bbox).min(1) }),
      temporal: z.looseObject({ interval: z.array(z.tuple([z.string().nullable(), z.string().nullable()])).min(1) }),
    })
    .optional(),
  links: documentLinksSchema.optional(),
});

/**
 * Validate a collection document (GET /stac/collections/{id}); its id must be the one asked for. A
 * malformed link is dropped (reported through `onDrop`).
 */
export function parseCollectionDoc(body: unknown, id: string, context: string, onDrop?: OnDroppedLink): Record<string, unknown> {
  const r = collectionSchema.safeParse(body);
  if (!r.success) throw new StacWireError(`${context}: malformed collection: ${issues(r.error)}`);
  if (r.data.id !== id) throw new StacWireError(`${context}: the collection document names ${JSON.stringify(r.data.id)}, not ${JSON.stringify(id)}`);
  const doc = r.data as Record<string, unknown>;
  return r.data.links === undefined ? doc : { ...doc, links: keepValidLinks(r.data.links, `collection ${JSON.stringify(id)}`, onDrop) };
}
