// Collections: which ones a poll searches (the configured ones, or every one the API lists) and the
// collection documents the mirror's catalog keeps.
import type { StacApi } from './boundary.js';
import { getPages } from './paging.js';
import { parseCollectionDoc } from './record.js';
import { parseCollections, type OnDroppedLink } from './documents.js';

const LIST = 'GET /stac/collections';

/** The configured collections, or every id GET /stac/collections lists (paged, duplicates dropped). */
export async function resolveCollections(api: StacApi, configured: readonly string[] | null, pageSize: number, signal?: AbortSignal): Promise<string[]> {
  if (configured) return [...configured];
  const first = api.url('stac/collections');
  first.searchParams.set('limit', String(Math.min(pageSize, 1000)));
  const read = (body: unknown) => {
    const page = parseCollections(body, LIST);
    return { ...page, size: page.ids.length };
  };
  const ids: string[] = [];
  for await (const page of getPages(api, first, LIST, read, signal)) ids.push(...page.ids);
  return [...new Set(ids)];
}

/** A collection document as the API has it (validated, malformed links dropped). */
export function fetchCollectionDoc(api: StacApi, id: string, onDrop: OnDroppedLink, signal?: AbortSignal): Promise<Record<string, unknown>> {
  return api.get(`stac/collections/${encodeURIComponent(id)}`, (body, context) => parseCollectionDoc(body, id, context, onDrop), signal);
}
