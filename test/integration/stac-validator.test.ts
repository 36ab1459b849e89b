// Issue 22, acceptance: stac-validator (PyPI) validates the mirrored catalog, every document
// reachable from catalog.json, offline (test/python/stac_validator_check.py). The schemas come from
// packages installed in the venv (.ci/run): pystac's STAC 1.1.0 core and GeoJSON schemas
// (pystac/validation/jsonschemas) and jsonschema-specifications' draft-07 metaschema, given to
// stac-validator as its schema map (--schema-map); nothing is copied into this repository. The check
// switches the network off in the validator's process and reports every attempt.
// Not validated: the schemas of extensions. No package in the venv ships the file extension's schema
// (https://stac-extensions.github.io/file/v2.1.0/schema.json), which every mirrored item lists. So
// each document is validated in core mode (--core); stac-validator's --recursive always validates
// extensions as well, so the check follows the child and item links itself, as --recursive does.
// file:size and file:checksum are checked against the bytes by stac_catalog_check.py and `verify`.
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { sampleStacStore, startSimulator, type Simulator } from '../../src/simulator/index.js';
import { syncInProcess, tempDirs, type TempDirs } from '../helpers/harness.js';
import { pystacUnavailable, skipPystac } from '../helpers/pystac.js';
import { runStacValidator } from '../helpers/stac-catalog.js';

const KEY = 'stac-validator-key-0123456789';
const SEED = 2207;

let sim: Simulator | undefined;
let dirs: TempDirs | undefined;
afterEach(async () => {
  await sim?.close();
  await dirs?.cleanup();
});

async function mirrored(items: number, name: string): Promise<{ mirror: string; collections: number }> {
  const store = sampleStacStore(SEED, { items, maxSize: 4 * 1024 });
  sim = await startSimulator({ stac: store, apiKeys: [{ key: KEY }], adminPort: false });
  dirs = await tempDirs(name);
  const r = await syncInProcess({ sim, dirs, apiKey: KEY, config: { source: 'stac' } });
  expect(r.summary.pollError, `seed ${SEED}`).toBeNull();
  return { mirror: dirs.mirror, collections: new Set(store.all().map((x) => x.collection)).size };
}

describe.skipIf(skipPystac())('stac-validator on the mirrored catalog', () => {
  it('the venv exists (required when CI=true)', () => {
    expect(pystacUnavailable()).toBeNull();
  });

  it('validates catalog.json, every collection and every item, with no network access', async () => {
    const { mirror, collections } = await mirrored(14, 'stac-validator');
    const v = await runStacValidator(mirror);
    expect(v.network, 'stac-validator tried to reach the network').toEqual([]);
    expect(v.files.filter((f) => !f.valid), `seed ${SEED}`).toEqual([]);
    expect(v.valid).toBe(true);
    expect(v.files.filter((f) => f.type === 'CATALOG')).toHaveLength(1);
    expect(v.files.filter((f) => f.type === 'COLLECTION')).toHaveLength(collections);
    expect(v.files.filter((f) => f.type === 'ITEM')).toHaveLength(14);
    for (const f of v.files) expect(f.version, f.path).toBe('1.1.0');
    // every schema used is a file of an installed package, never a URL
    for (const f of v.files) for (const s of f.schema ?? []) expect(s, f.path).toMatch(/\/site-packages\/pystac\/validation\/jsonschemas\//);
    for (const p of Object.values(v.schemaMap)) expect(p).toMatch(/\/site-packages\/(pystac|jsonschema_specifications)\//);
  });

  it('the check can fail: an invalid item is reported, and a validator reaching for the network is caught', async () => {
    const { mirror } = await mirrored(3, 'stac-validator-neg');
    const cat = JSON.parse(await fsp.readFile(path.join(mirror, 'catalog.json'), 'utf8')) as { links: { rel: string; href: string }[] };
    const collFile = path.join(mirror, cat.links.find((l) => l.rel === 'child')!.href);
    const coll = JSON.parse(await fsp.readFile(collFile, 'utf8')) as { links: { rel: string; href: string }[] };
    const itemFile = path.join(path.dirname(collFile), coll.links.find((l) => l.rel === 'item')!.href);
    const item = JSON.parse(await fsp.readFile(itemFile, 'utf8')) as { properties: Record<string, unknown> };
    item.properties.datetime = 'yesterday';
    await fsp.writeFile(itemFile, JSON.stringify(item));
    const bad = await runStacValidator(mirror);
    expect(bad.valid).toBe(false);
    expect(bad.files.filter((f) => !f.valid).map((f) => [f.path, f.error])).toEqual([[itemFile, expect.stringMatching(/datetime/)]]);
    expect(bad.network).toEqual([]);
    // without the schema map stac-validator fetches schemas.stacspec.org: refused and listed
    const net = await runStacValidator(mirror, { schemaMap: false });
    expect(net.network.join(' ')).toMatch(/schemas\.stacspec\.org/);
    expect(net.valid).toBe(false);
  });
});
