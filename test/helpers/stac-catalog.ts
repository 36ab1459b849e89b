// Runs test/python/stac_catalog_check.py (pystac + stac-pydantic in the venv .ci/run makes) on a mirror
// and returns what the real STAC tools saw. Skipping rules as for pystac-client (helpers/pystac.ts).
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { verifyCatalog } from '../../src/mirror/stac-verify.js';
import type { StacStore } from '../../src/simulator/index.js';
import { pystacUnavailable, runPythonJson } from './pystac.js';

const SCRIPT = path.resolve(import.meta.dirname, '../python/stac_catalog_check.py');

export interface CatalogCheck {
  catalogType: string | null;
  collections: Record<string, { items: number; extent: { spatial: { bbox: number[][] }; temporal: { interval: (string | null)[][] } } }>;
  items: {
    collection: string;
    id: string;
    geometry: unknown;
    bbox: number[] | null;
    properties: Record<string, unknown>;
    canonical: string | null;
    path: string;
    assets: Record<string, { path: string; size: number; checksum: string }>;
  }[];
  problems: string[];
}

export function runCatalogCheck(mirror: string, timeoutMs = 120_000): Promise<CatalogCheck> {
  return runPythonJson<CatalogCheck>(SCRIPT, [mirror], {}, timeoutMs);
}

/**
 * The mirror's catalog against the simulator's items: opened by pystac (when the venv is there; a
 * failure under CI=true when it is not) and by our own verifier; ids, collections, geometry, bbox and
 * properties must equal what the simulator serves. Returns problems ([] = exact).
 */
export async function catalogProblems(mirror: string, store: StacStore): Promise<string[]> {
  const problems: string[] = [];
  const own = await verifyCatalog(mirror, { deep: true });
  problems.push(...own.issues.map((i) => `verify: ${i.file}: ${i.detail}`));
  if (own.items !== store.size) problems.push(`verify walked ${own.items} items, the simulator has ${store.size}`);
  if (pystacUnavailable()) {
    if (process.env.CI === 'true') problems.push(`pystac: ${pystacUnavailable()}`);
    else console.log(`catalog checked without pystac: ${pystacUnavailable()}`);
    return problems;
  }
  const r = await runCatalogCheck(mirror);
  problems.push(...r.problems.map((p) => `pystac: ${p}`));
  const got = new Map(r.items.map((i) => [`${i.collection}/${i.id}`, i]));
  for (const rec of store.all()) {
    const it = got.get(`${rec.collection}/${rec.id}`);
    if (!it) {
      problems.push(`catalog lacks ${rec.collection}/${rec.id}`);
      continue;
    }
    got.delete(`${rec.collection}/${rec.id}`);
    const props: Record<string, unknown> = { datetime: new Date(rec.datetimeMs).toISOString().replace('.000Z', 'Z'), 'order:id': rec.orderId, gsd: rec.gsd, platform: rec.satellite, constellation: 'constellr' };
    if (store.showsUpdated(rec)) props.updated = new Date(rec.updatedMs!).toISOString().replace('.000Z', 'Z');
    if (!isDeepStrictEqual(it.geometry, rec.geometry)) problems.push(`geometry of ${rec.id}`);
    if (!isDeepStrictEqual(it.bbox, [...rec.bbox])) problems.push(`bbox of ${rec.id}`);
    if (!isDeepStrictEqual(it.properties, props)) problems.push(`properties of ${rec.id}: ${JSON.stringify(it.properties)} != ${JSON.stringify(props)}`);
    if (!isDeepStrictEqual(Object.keys(it.assets).sort(), rec.assets.map((a) => a.key).sort())) problems.push(`asset keys of ${rec.id}`);
  }
  for (const k of got.keys()) problems.push(`catalog has ${k}, the simulator does not`);
  return problems;
}

const VALIDATOR_SCRIPT = path.resolve(import.meta.dirname, '../python/stac_validator_check.py');

export interface ValidatorCheck {
  valid: boolean;
  files: { path: string; type: string; version: string; valid: boolean; error: string | null; schema: string[] | null }[];
  /** Connections and DNS look-ups the validator attempted (the check refuses every one). */
  network: string[];
  schemaMap: Record<string, string>;
}

/**
 * stac-validator (test/python/stac_validator_check.py) over <mirror>/catalog.json, recursively, with
 * the network switched off and the schemas taken from packages in the venv. `schemaMap: false` leaves
 * the map out, so the validator tries to fetch (which the check must catch).
 */
export function runStacValidator(mirror: string, o: { schemaMap?: boolean } = {}, timeoutMs = 120_000): Promise<ValidatorCheck> {
  return runPythonJson<ValidatorCheck>(VALIDATOR_SCRIPT, [path.join(mirror, 'catalog.json'), ...(o.schemaMap === false ? ['--no-schema-map'] : [])], {}, timeoutMs);
}
