// STAC API wire types, validated at the boundary (zod). A malformed FeatureCollection or item is an
// error that names the item, never "zero results". Items become jobs in items.ts.
import { z } from 'zod';

const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})$/i;

const headersSchema = z.record(z.string(), z.union([z.string(), z.array(z.string())]));

export const linkSchema = z.looseObject({
  rel: z.string(),
  href: z.string().min(1),
  type: z.string().optional(),
  method: z.string().optional(),
  body: z.record(z.string(), z.unknown()).optional(),
  merge: z.boolean().optional(),
  headers: headersSchema.optional(),
});
export type StacLink = z.infer<typeof linkSchema>;

/**
 * Whether an href is a URL reference at all: `new URL` accepts it, a relative one against some base.
 * `^https?://` is not enough (`http://[x` passes it and throws in `new URL`).
 */
export function isUrlReference(href: string): boolean {
  return URL.canParse(href, 'http://base.invalid/');
}

/** A link of an item or collection that was dropped at the boundary, and why (never its href: it may be signed). */
export interface DroppedLink {
  /** "item \"x\"" or "collection \"x\"" */
  owner: string;
  index: number;
  rel: string | null;
  why: string;
}

/** Called once per link dropped while a document is parsed. */
export type OnDroppedLink = (d: DroppedLink) => void;

/**
 * A document's own links (not paging links): each is validated on its own and a malformed one is
 * dropped (reported through `onDrop`), so one bad link never makes the whole item or collection unreadable.
 */
export const documentLinksSchema = z.array(z.unknown());

export function keepValidLinks(links: readonly unknown[] | undefined, owner: string, onDrop: OnDroppedLink | undefined): StacLink[] {
  const out: StacLink[] = [];
  (links ?? []).forEach((l, index) => {
    const r = linkSchema.safeParse(l);
    const rel = typeof l === 'object' && l !== null && typeof (l as { rel?: unknown }).rel === 'string' ? (l as { rel: string }).rel : null;
    if (!r.success) onDrop?.({ owner, index, rel, why: issues(r.error) });
    else if (!isUrlReference(r.data.href)) onDrop?.({ owner, index, rel, why: 'href is not a URL' });
    else out.push(r.data);
  });
  return out;
}

export const assetSchema = z.looseObject({
  href: z.string().min(1, 'empty href'),
  type: z.string().optional(),
  roles: z.array(z.string()).optional(),
  'file:size': z.number().int('file:size is not an integer').nonnegative('file:size is negative').optional(),
  'file:checksum': z.string().regex(/^[0-9a-fA-F]+$/, 'file:checksum is not a hex multihash').optional(),
});
export type StacAsset = z.infer<typeof assetSchema>;

const timestamp = z.string().regex(ISO_UTC, 'not an RFC 3339 timestamp with a zone');

export const itemSchema = z.looseObject({
  type: z.literal('Feature'),
  id: z.string().min(1, 'empty id'),
  collection: z.string().min(1).optional(),
  properties: z.looseObject({
    datetime: timestamp.nullable(),
    start_datetime: timestamp.optional(),
    updated: timestamp.optional(),
  }),
  assets: z.record(z.string(), assetSchema),
  links: documentLinksSchema.optional(),
});
export type StacItem = z.infer<typeof itemSchema> & { links?: StacLink[] };

const featureCollectionSchema = z.looseObject({
  type: z.literal('FeatureCollection'),
  features: z.array(z.unknown()),
  links: z.array(linkSchema).optional(),
  numberMatched: z.number().int().nonnegative().optional(),
  numberReturned: z.number().int().nonnegative().optional(),
  token: z.string().optional(),
  next: z.string().optional(),
});

const collectionsSchema = z.looseObject({
  collections: z.array(z.looseObject({ id: z.string().min(1) })),
  links: z.array(linkSchema).optional(),
  numberMatched: z.number().int().nonnegative().optional(),
  numberReturned: z.number().int().nonnegative().optional(),
});

const conformanceSchema = z.looseObject({ conformsTo: z.array(z.string()) });

export class StacWireError extends Error {}

/** The first three problems zod found, as `path: message; …` for an error message. */
export function issues(e: z.ZodError): string {
  return e.issues
    .slice(0, 3)
    .map((i) => `${i.path.join('.') || '(document)'}: ${i.message}`)
    .join('; ');
}

/** Name an item in messages: its id when it has a usable one, and its position. */
function describeFeature(f: unknown, index: number): string {
  const id = typeof f === 'object' && f !== null ? (f as { id?: unknown }).id : undefined;
  return typeof id === 'string' ? `item ${JSON.stringify(id)} (features[${index}])` : `features[${index}]`;
}

export interface FeaturePage {
  items: StacItem[];
  links: StacLink[];
  numberReturned: number | undefined;
  /** A bare paging token when the server sends one instead of a next link. */
  token: string | null;
}

/** An item as validated, its malformed links dropped. */
function validItem(data: z.infer<typeof itemSchema>, onDrop: OnDroppedLink | undefined): StacItem {
  if (data.links === undefined) return data as StacItem;
  return { ...data, links: keepValidLinks(data.links, `item ${JSON.stringify(data.id)}`, onDrop) };
}

/**
 * Validate a search page; every feature is validated on its own so the error names it. A malformed
 * link of an item is dropped and reported through `onDrop`; a malformed page link fails the page.
 */
export function parseFeatureCollection(body: unknown, context: string, onDrop?: OnDroppedLink): FeaturePage {
  const r = featureCollectionSchema.safeParse(body);
  if (!r.success) throw new StacWireError(`${context}: malformed FeatureCollection: ${issues(r.error)}`);
  const items: StacItem[] = [];
  r.data.features.forEach((f, i) => {
    const it = itemSchema.safeParse(f);
    if (!it.success) throw new StacWireError(`${context}: malformed ${describeFeature(f, i)}: ${issues(it.error)}`);
    items.push(validItem(it.data, onDrop));
  });
  if (r.data.numberReturned !== undefined && r.data.numberReturned !== items.length)
    throw new StacWireError(`${context}: numberReturned is ${r.data.numberReturned} but the page holds ${items.length} features`);
  return { items, links: r.data.links ?? [], numberReturned: r.data.numberReturned, token: r.data.token ?? r.data.next ?? null };
}

/** Validate one item (GET /stac/collections/{c}/items/{id}). */
export function parseItem(body: unknown, context: string, onDrop?: OnDroppedLink): StacItem {
  const it = itemSchema.safeParse(body);
  if (!it.success) throw new StacWireError(`${context}: malformed ${describeFeature(body, 0).replace(' (features[0])', '').replace('features[0]', 'item')}: ${issues(it.error)}`);
  return validItem(it.data, onDrop);
}

export function parseCollections(body: unknown, context: string): { ids: string[]; links: StacLink[] } {
  const r = collectionsSchema.safeParse(body);
  if (!r.success) throw new StacWireError(`${context}: malformed collections page: ${issues(r.error)}`);
  return { ids: r.data.collections.map((c) => c.id), links: r.data.links ?? [] };
}

export function parseConformance(body: unknown, context: string): string[] {
  const r = conformanceSchema.safeParse(body);
  if (!r.success) throw new StacWireError(`${context}: malformed conformance document: ${issues(r.error)}`);
  return r.data.conformsTo;
}
