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
  links: z.array(linkSchema).optional(),
});
export type StacItem = z.infer<typeof itemSchema>;

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

function issues(e: z.ZodError): string {
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

/** Validate a search page; every feature is validated on its own so the error names it. */
export function parseFeatureCollection(body: unknown, context: string): FeaturePage {
  const r = featureCollectionSchema.safeParse(body);
  if (!r.success) throw new StacWireError(`${context}: malformed FeatureCollection: ${issues(r.error)}`);
  const items: StacItem[] = [];
  r.data.features.forEach((f, i) => {
    const it = itemSchema.safeParse(f);
    if (!it.success) throw new StacWireError(`${context}: malformed ${describeFeature(f, i)}: ${issues(it.error)}`);
    items.push(it.data);
  });
  if (r.data.numberReturned !== undefined && r.data.numberReturned !== items.length)
    throw new StacWireError(`${context}: numberReturned is ${r.data.numberReturned} but the page holds ${items.length} features`);
  return { items, links: r.data.links ?? [], numberReturned: r.data.numberReturned, token: r.data.token ?? r.data.next ?? null };
}

/** Validate one item (GET /stac/collections/{c}/items/{id}). */
export function parseItem(body: unknown, context: string): StacItem {
  const it = itemSchema.safeParse(body);
  if (!it.success) throw new StacWireError(`${context}: malformed ${describeFeature(body, 0).replace(' (features[0])', '').replace('features[0]', 'item')}: ${issues(it.error)}`);
  return it.data;
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
