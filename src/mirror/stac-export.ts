// The mirror's catalog as a stream of STAC items, for `export --format stac-ndjson` (one item per line)
// and the GeoParquet index (stac-index.ts, `export --format stac-geoparquet`): each item as the
// catalog holds it, read from its item JSON, with asset hrefs relative to the mirror root (the
// files are meant to sit there). Structural links (root, parent, collection) only make sense beside the
// item file and are left out; `canonical` (the API's copy) stays. No URL keeps credentials or a
// signature (lib/url-safety.ts).
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { publicUrlsIn } from '../lib/url-safety.js';
import type { CatalogStore } from '../store/catalog-store.js';

const DROP = new Set(['self', 'root', 'parent', 'collection']);
/** Item JSON files read ahead of the one being yielded. */
const READ_AHEAD = 16;
export type ExportedItem = Record<string, unknown> & { id: string; collection: string; assets?: Record<string, { href?: string }>; links?: { rel: string; href: string }[] };

/** Items whose JSON is in the catalog, in (collection, id) order; `missing` counts unreadable ones. */
export async function* stacItems(store: CatalogStore, root: string, stats: { missing: number } = { missing: 0 }): AsyncGenerator<ExportedItem> {
  let after: { collection: string; id: string } | null = null;
  for (;;) {
    const page = await store.listItems(after, 500);
    const rows = page.filter((r) => r.jsonPath !== null);
    // Read READ_AHEAD files at a time, in order: one at a time waits on the filesystem for each.
    const texts: Promise<string | null>[] = [];
    const read = (i: number) => fsp.readFile(path.join(root, ...rows[i]!.jsonPath!.split('/')), 'utf8').catch(() => null);
    for (let i = 0; i < Math.min(READ_AHEAD, rows.length); i++) texts.push(read(i));
    for (const [n, row] of rows.entries()) {
      if (n + READ_AHEAD < rows.length) texts.push(read(n + READ_AHEAD));
      const text = await texts[n]!;
      let item: ExportedItem;
      try {
        if (text === null) throw new Error('unreadable');
        item = JSON.parse(text) as ExportedItem;
      } catch {
        stats.missing++;
        continue;
      }
      const dir = path.posix.dirname(row.jsonPath!);
      for (const a of Object.values(item.assets ?? {})) if (typeof a.href === 'string') a.href = path.posix.normalize(path.posix.join(dir, a.href));
      item.links = (item.links ?? []).filter((l) => !DROP.has(l.rel));
      // What the catalog holds is public already; a file written by an older version may not be.
      yield publicUrlsIn(item);
    }
    const last = page.at(-1);
    if (!last || page.length < 500) return;
    after = { collection: last.collection, id: last.id };
  }
}

/** `export --format stac-ndjson`: the same items, one JSON document per line. */
export async function* stacNdjsonLines(store: CatalogStore, root: string, stats: { missing: number } = { missing: 0 }): AsyncGenerator<string> {
  for await (const item of stacItems(store, root, stats)) yield JSON.stringify(item);
}
