// `export --format stac-ndjson`: one STAC item per line, as the catalogue holds it, with asset hrefs
// relative to the mirror root (the file is meant to sit there; stac-geoparquet and similar tools read
// newline-delimited items). Structural links (root, parent, collection) only make sense beside the
// item file and are left out; `canonical` (the API's copy) stays.
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { publicUrlsIn } from '../lib/url-safety.js';
import type { CatalogStore } from '../store/catalog-store.js';

const DROP = new Set(['self', 'root', 'parent', 'collection']);

/** Items whose JSON is in the catalogue, in (collection, id) order; `missing` counts unreadable ones. */
export async function* stacNdjsonLines(store: CatalogStore, root: string, stats: { missing: number } = { missing: 0 }): AsyncGenerator<string> {
  let after: { collection: string; id: string } | null = null;
  for (;;) {
    const page = await store.listItems(after, 500);
    for (const row of page) {
      if (!row.jsonPath) continue;
      let item: { assets?: Record<string, { href?: string }>; links?: { rel: string }[] };
      try {
        item = JSON.parse(await fsp.readFile(path.join(root, ...row.jsonPath.split('/')), 'utf8')) as typeof item;
      } catch {
        stats.missing++;
        continue;
      }
      const dir = path.posix.dirname(row.jsonPath);
      for (const a of Object.values(item.assets ?? {})) if (typeof a.href === 'string') a.href = path.posix.normalize(path.posix.join(dir, a.href));
      item.links = (item.links ?? []).filter((l) => !DROP.has(l.rel));
      // What the catalogue holds is public already; a file written by an older version may not be.
      yield JSON.stringify(publicUrlsIn(item));
    }
    const last = page.at(-1);
    if (!last || page.length < 500) return;
    after = { collection: last.collection, id: last.id };
  }
}
