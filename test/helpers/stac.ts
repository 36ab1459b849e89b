// STAC fixtures for integration tests: the simulator serving a sample STAC catalog with an API key,
// and a byte-for-byte comparison of a mirror with the simulator's STAC items (key
// `<collection>/<item id>/<file name>`, content from the storage objects).
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { contentSha256, sampleStacStore, startSimulator, type Simulator, type SimulatorOptions, type StacStore } from '../../src/simulator/index.js';
import { stagingDir } from '../../src/download/staging.js';
import { mirrorFiles, openStore, sha256File } from './harness.js';

export const STAC_KEY = 'csk_live_integration_0123456789abcdef';

/** The simulator with STAC over `items` sample items (3 assets each) and one accepted API key. */
export function startStacSim(seed: number, items: number, o: SimulatorOptions & { maxSize?: number } = {}): Promise<Simulator> {
  const { maxSize, ...rest } = o;
  return startSimulator({ stac: sampleStacStore(seed, { items, maxSize }), apiKeys: [{ key: STAC_KEY }], adminPort: false, seed, ...rest });
}

/** The mirror key of every asset of the store's items, with the sha256 of its current bytes. */
export async function expectedStacFiles(store: StacStore): Promise<Map<string, { sha256: string; size: number }>> {
  const out = new Map<string, { sha256: string; size: number }>();
  for (const rec of store.all()) {
    for (const a of rec.assets) {
      const obj = store.object(a);
      if (!obj) throw new Error(`no storage object for ${rec.id}/${a.key}`);
      out.set(`${rec.collection}/${rec.id}/${a.fileName}`, { sha256: await contentSha256(obj.seed, obj.size), size: obj.size });
    }
  }
  return out;
}

/** A file of the mirror's STAC catalog (stac.catalog): catalog.json, collection.json, item JSON (layout: mirror/stac-names.ts), and its index items.parquet (stac.geoparquet). */
export function isCatalogFile(key: string): boolean {
  return key === 'catalog.json' || key === 'items.parquet' || /^[^/]+\/collection\.json$/.test(key) || /^[^/]+\/(?:%%)?([^/]+)\/\1\.json$/.test(key);
}

/** Differences between the mirror and the store's items (empty = byte-exact, nothing extra). */
export async function verifyStacMirror(mirrorDir: string, store: StacStore): Promise<string[]> {
  const problems: string[] = [];
  const want = await expectedStacFiles(store);
  const have = await mirrorFiles(mirrorDir);
  for (const [key, w] of want) {
    const file = path.join(mirrorDir, ...key.split('/'));
    const st = await fsp.stat(file).catch(() => null);
    if (!st) problems.push(`missing ${key}`);
    else if (st.size !== w.size) problems.push(`size ${key}: ${st.size} != ${w.size}`);
    else if ((await sha256File(file)) !== w.sha256) problems.push(`content ${key}`);
  }
  // The STAC catalog's own files (stac.catalog) are checked by stac-catalog.test.ts.
  for (const key of have.keys()) if (!want.has(key) && !isCatalogFile(key)) problems.push(`extra ${key}`);
  return problems;
}

/**
 * The end state the STAC fault tests want: the mirror holds exactly the store's assets (sha256,
 * size), nothing else outside `.constellr-sync/`, staging is empty, every job is done and the
 * high-water mark is set. Returns problems ([] = clean).
 */
export async function stacEndStateProblems(mirror: string, stateDir: string, store: StacStore): Promise<string[]> {
  const problems = await verifyStacMirror(mirror, store);
  const staged = await fsp.readdir(stagingDir(mirror)).catch(() => [] as string[]);
  if (staged.length > 0) problems.push(`staging is not empty: ${staged.join(', ')}`);
  const s = openStore(stateDir);
  try {
    const counts = await s.counts();
    const want = (await expectedStacFiles(store)).size;
    if (counts.done !== want) problems.push(`job counts ${JSON.stringify(counts)}, expected ${want} done`);
    if ((await s.getCursor()).hwmMs === null) problems.push('no high-water mark');
  } finally {
    await s.close();
  }
  return problems;
}
