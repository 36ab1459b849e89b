// The mirror's GeoParquet index (items.parquet) against its STAC catalog: the same items, each with
// the same geometry, bbox, datetime and asset files (hrefs relative to the mirror root naming the files
// the item JSON names, with the same file:size and file:checksum). Read with hyparquet here, and with
// stac-geoparquet, GeoPandas and DuckDB (test/python/geoparquet_check.py) when the venv is there (under
// CI=true its absence is a problem). Returns problems ([] = exact).
import { existsSync, promises as fsp } from 'node:fs';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { asyncBufferFromFile, parquetReadObjects } from 'hyparquet';
import { pystacUnavailable, runPythonJson } from './pystac.js';

const SCRIPT = path.resolve(import.meta.dirname, '../python/geoparquet_check.py');

interface Link {
  rel: string;
  href: string;
}
interface ItemJson {
  id: string;
  collection: string;
  geometry: unknown;
  bbox: number[];
  properties: { datetime: string };
  assets: Record<string, { href: string; 'file:size'?: number; 'file:checksum'?: string }>;
}

async function readJson<T>(file: string): Promise<T> {
  return JSON.parse(await fsp.readFile(file, 'utf8')) as T;
}

/** Every item the catalog links, by `<collection>/<id>`, with its JSON's path relative to the mirror. */
export async function catalogItems(mirror: string): Promise<Map<string, { rel: string; item: ItemJson }>> {
  const out = new Map<string, { rel: string; item: ItemJson }>();
  const cat = await readJson<{ links: Link[] }>(path.join(mirror, 'catalog.json'));
  for (const child of cat.links.filter((l) => l.rel === 'child')) {
    const cRel = path.posix.normalize(child.href);
    const coll = await readJson<{ links: Link[] }>(path.join(mirror, cRel));
    for (const l of coll.links.filter((x) => x.rel === 'item')) {
      const rel = path.posix.join(path.posix.dirname(cRel), l.href);
      const item = await readJson<ItemJson>(path.join(mirror, rel));
      out.set(`${item.collection}/${item.id}`, { rel, item });
    }
  }
  return out;
}

export async function indexProblems(mirror: string): Promise<string[]> {
  const file = path.join(mirror, 'items.parquet');
  if (!existsSync(file)) return ['no items.parquet'];
  const problems: string[] = [];
  const cat = await catalogItems(mirror);
  const rows = (await parquetReadObjects({ file: await asyncBufferFromFile(file), utf8: true })) as {
    id: string;
    collection: string;
    geometry: unknown;
    bbox: Record<string, number>;
    datetime: Date;
    assets: Record<string, { href: string; 'file:size': bigint | null; 'file:checksum': string | null } | null>;
  }[];
  const seen = new Set<string>();
  for (const r of rows) {
    const k = `${r.collection}/${r.id}`;
    seen.add(k);
    const c = cat.get(k);
    if (!c) {
      problems.push(`index has ${k}, the catalog does not`);
      continue;
    }
    const { item, rel } = c;
    if (!isDeepStrictEqual(r.geometry, item.geometry)) problems.push(`geometry of ${k}`);
    if (!isDeepStrictEqual([r.bbox.xmin, r.bbox.ymin, r.bbox.xmax, r.bbox.ymax], item.bbox)) problems.push(`bbox of ${k}`);
    if (r.datetime.getTime() !== Date.parse(item.properties.datetime)) problems.push(`datetime of ${k}: ${r.datetime.toISOString()} != ${item.properties.datetime}`);
    const got = Object.entries(r.assets).filter(([, a]) => a !== null);
    if (!isDeepStrictEqual(got.map(([a]) => a).sort(), Object.keys(item.assets).sort())) problems.push(`asset keys of ${k}`);
    for (const [a, v] of got) {
      const want = item.assets[a];
      if (!want) continue;
      if (v!.href !== path.posix.join(path.posix.dirname(rel), want.href)) problems.push(`asset ${a} of ${k}: ${v!.href} is not ${want.href} beside ${rel}`);
      if ((v!['file:size'] === null ? undefined : Number(v!['file:size'])) !== want['file:size'] || (v!['file:checksum'] ?? undefined) !== want['file:checksum']) problems.push(`file:size/checksum of ${a} of ${k}`);
    }
  }
  for (const k of cat.keys()) if (!seen.has(k)) problems.push(`catalog has ${k}, the index does not`);
  if (seen.size !== rows.length) problems.push(`${rows.length} rows for ${seen.size} items`);
  const why = pystacUnavailable();
  if (why) {
    if (process.env.CI === 'true') problems.push(`stac-geoparquet: ${why}`);
    return problems;
  }
  const py = await runPythonJson<{ problems: string[] }>(SCRIPT, [mirror, file], {}, 180_000);
  problems.push(...py.problems.map((p) => `stac-geoparquet: ${p}`));
  return problems;
}
