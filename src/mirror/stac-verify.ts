// `verify` for the mirror's STAC catalog: catalog.json → every child collection → every item → every
// asset. Each structural link must be relative, stay inside the mirror and resolve to a readable JSON
// file; there is no `self`; each asset href resolves to a regular file of the recorded file:size and
// (with deep) whose bytes hash to file:checksum. The files are untrusted here too: anything unreadable
// is reported, never thrown. Hrefs are literal relative paths (as written; not percent-decoded).
// Repair rewrites the catalog from the state (see stac-catalog.ts).
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { redactUrl } from '../lib/url-safety.js';
import { CATALOG_FILE } from './stac-catalog.js';
import { lstatOrNull } from './fs-safe.js';
import { sha256File } from './verify.js';

export interface CatalogIssue {
  /** The file (relative to the mirror root) where the problem is. */
  file: string;
  detail: string;
}

export interface CatalogVerifyResult {
  collections: number;
  items: number;
  assets: number;
  issues: CatalogIssue[];
}

type Doc = { type?: unknown; links?: unknown; assets?: unknown };
const STRUCTURAL = new Set(['root', 'parent', 'child', 'item', 'collection']);

export async function verifyCatalog(root: string, o: { deep?: boolean; onIssue?: (i: CatalogIssue) => void } = {}): Promise<CatalogVerifyResult> {
  const res: CatalogVerifyResult = { collections: 0, items: 0, assets: 0, issues: [] };
  const absRoot = path.resolve(root);
  const issue = (file: string, detail: string) => {
    const i = { file, detail };
    res.issues.push(i);
    o.onIssue?.(i);
  };
  const read = async (rel: string): Promise<Doc | null> => {
    const st = await lstatOrNull(path.join(absRoot, rel));
    if (!st) return (issue(rel, 'missing'), null);
    if (!st.isFile()) return (issue(rel, 'not a regular file'), null);
    try {
      const doc = JSON.parse(await fsp.readFile(path.join(absRoot, rel), 'utf8')) as unknown;
      if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return (issue(rel, 'not a JSON object'), null);
      return doc as Doc;
    } catch (e) {
      return (issue(rel, `unreadable JSON: ${(e as Error).message}`), null);
    }
  };
  /** A relative href from `from` to a file inside the mirror, or null (reported). */
  const resolve = (from: string, href: unknown, what: string): string | null => {
    if (typeof href !== 'string' || href === '') return (issue(from, `${what} has no href`), null);
    if (/^[a-z][a-z0-9+.-]*:/i.test(href) || href.startsWith('/')) return (issue(from, `${what} is not relative: ${redactUrl(href)}`), null);
    const target = path.posix.normalize(path.posix.join(path.posix.dirname(from), href));
    if (target.startsWith('../') || target === '..') return (issue(from, `${what} leaves the mirror: ${href}`), null);
    return target;
  };
  /** Structural links resolve; returns the targets by rel. */
  const links = async (file: string, doc: Doc): Promise<Map<string, string[]>> => {
    const out = new Map<string, string[]>();
    if (!Array.isArray(doc.links)) return (issue(file, 'links is not an array'), out);
    for (const l of doc.links as { rel?: unknown; href?: unknown }[]) {
      if (l?.rel === 'self') issue(file, 'has a self link (a self-contained catalog has none)');
      if (typeof l?.rel !== 'string' || !STRUCTURAL.has(l.rel)) continue;
      const t = resolve(file, l.href, `${l.rel} link`);
      if (t === null) continue;
      if (l.rel === 'root' || l.rel === 'parent' || l.rel === 'collection') {
        const st = await lstatOrNull(path.join(absRoot, t));
        if (!st?.isFile()) issue(file, `${l.rel} link does not resolve: ${String(l.href)}`);
      }
      out.set(l.rel, [...(out.get(l.rel) ?? []), t]);
    }
    return out;
  };

  if (!(await lstatOrNull(path.join(absRoot, CATALOG_FILE)))) return (issue(CATALOG_FILE, 'missing'), res);
  const cat = await read(CATALOG_FILE);
  if (!cat) return res;
  if (cat.type !== 'Catalog') issue(CATALOG_FILE, `type is ${JSON.stringify(cat.type)}, not "Catalog"`);
  for (const collFile of (await links(CATALOG_FILE, cat)).get('child') ?? []) {
    const coll = await read(collFile);
    if (!coll) continue;
    res.collections++;
    if (coll.type !== 'Collection') issue(collFile, `type is ${JSON.stringify(coll.type)}, not "Collection"`);
    for (const itemFile of (await links(collFile, coll)).get('item') ?? []) {
      const item = await read(itemFile);
      if (!item) continue;
      res.items++;
      if (item.type !== 'Feature') issue(itemFile, `type is ${JSON.stringify(item.type)}, not "Feature"`);
      await links(itemFile, item);
      if (typeof item.assets !== 'object' || item.assets === null) {
        issue(itemFile, 'assets is not an object');
        continue;
      }
      for (const [key, a] of Object.entries(item.assets as Record<string, { href?: unknown; 'file:size'?: unknown; 'file:checksum'?: unknown }>)) {
        res.assets++;
        const t = resolve(itemFile, a?.href, `asset ${JSON.stringify(key)}`);
        if (t === null) continue;
        const st = await lstatOrNull(path.join(absRoot, t));
        if (!st?.isFile()) {
          issue(itemFile, `asset ${JSON.stringify(key)} does not resolve: ${String(a.href)}`);
          continue;
        }
        if (st.size !== a['file:size']) issue(itemFile, `asset ${JSON.stringify(key)}: size ${st.size}, file:size ${String(a['file:size'])}`);
        else if (o.deep && a['file:checksum'] !== `1220${await sha256File(path.join(absRoot, t))}`) issue(itemFile, `asset ${JSON.stringify(key)}: the bytes do not match file:checksum`);
      }
    }
  }
  return res;
}
