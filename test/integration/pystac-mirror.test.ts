// A real STAC client and constellr-sync agree (issue 14 §5): pystac-client (in the venv made by
// .ci/run) searches the simulator with one order's filter, sortby and a small limit, paging to the
// end; constellr-sync mirrors the same scope through the STAC source. The mirror must hold exactly one
// file per (item id, asset) pystac-client saw, named after its href, with the bytes of the storage
// object pystac-client's href serves; the job keeps the item and asset, and no signed href once done.
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { StoredLocator } from '../../src/api/stac/locator.js';
import { sampleStacStore, startSimulator, type Simulator } from '../../src/simulator/index.js';
import { mirrorFiles, openStore, syncInProcess, tempDirs, type TempDirs } from '../helpers/harness.js';
import { pystacUnavailable, runPystacCheck, skipPystac } from '../helpers/pystac.js';
import { isCatalogFile } from '../helpers/stac.js';

const KEY = 'pystac-mirror-key-0123456789';

let sim: Simulator | undefined;
let dirs: TempDirs | undefined;
afterEach(async () => {
  await sim?.close();
  await dirs?.cleanup();
});

describe.skipIf(skipPystac())('pystac-client and constellr-sync see the same items and hrefs', () => {
  it('the venv exists (required when CI=true)', () => {
    expect(pystacUnavailable()).toBeNull();
  });

  it('one order, filtered and sorted, paged with a small limit: ids, files and hrefs agree', async () => {
    const store = sampleStacStore(7, { items: 40, maxSize: 32 * 1024 });
    sim = await startSimulator({ stac: store, apiKeys: [{ key: KEY }], adminPort: false });
    // the order with the most items
    const byOrder = new Map<string, number>();
    for (const r of store.all()) byOrder.set(r.orderId, (byOrder.get(r.orderId) ?? 0) + 1);
    const order = [...byOrder.entries()].sort((a, b) => b[1] - a[1])[0]![0];
    const filter = { op: '=', args: [{ property: 'order:id' }, order] };

    const py = await runPystacCheck(`${sim.url}/stac`, KEY, { filter, sortby: [{ field: 'datetime', direction: 'asc' }], limit: 2, method: 'POST' });
    expect(py.items.length).toBe(byOrder.get(order));
    expect(py.pages).toBeGreaterThan(1);

    dirs = await tempDirs('pystac-mirror');
    const r = await syncInProcess({ sim, dirs, apiKey: KEY, config: { source: 'stac', 'stac.filter': filter, 'stac.pageSize': 2 } });
    expect(r.summary.pollError).toBeNull();

    // one mirrored file per (item, asset) pystac-client saw, named after the href's basename
    const expected = new Map<string, string>();
    const hrefs = new Map<string, string>();
    for (const it of py.items)
      for (const [k, href] of Object.entries(it.assets)) {
        const key = `${it.collection}/${it.id}/${decodeURIComponent(path.posix.basename(new URL(href).pathname))}`;
        expected.set(key, `${it.id}#${k}`);
        hrefs.set(key, href);
      }
    const files = await mirrorFiles(dirs.mirror);
    expect([...files.keys()].filter((f) => !isCatalogFile(f)).sort()).toEqual([...expected.keys()].sort());
    // ... and the mirror's STAC catalog holds one item JSON per item pystac-client saw
    const itemFiles = [...files.keys()].filter((f) => isCatalogFile(f) && f !== 'catalog.json' && f !== 'items.parquet' && !f.endsWith('/collection.json'));
    expect(itemFiles.sort()).toEqual(py.items.map((it) => `${it.collection}/${it.id}/${it.id}.json`).sort());

    // each job names the item and asset pystac-client saw, and keeps no signed href once done (issue 22 §6)
    const s = openStore(dirs.state);
    try {
      for (const [key, want] of expected) {
        const job = await s.getJob(key);
        expect(job?.state, key).toBe('done');
        const raw = JSON.parse((s.db.prepare('SELECT locator FROM jobs WHERE key = ?').get(key) as { locator: string }).locator) as StoredLocator;
        expect(`${raw.i}#${raw.a}`).toBe(want);
        expect(raw.h, key).toBe('');
      }
    } finally {
      await s.close();
    }
    // ... and the mirrored bytes are the storage object pystac-client's href serves
    for (const [key, href] of hrefs) {
      const res = await fetch(href);
      expect(res.status, key).toBe(200);
      expect(Buffer.from(await res.arrayBuffer()).equals(await fsp.readFile(path.join(dirs.mirror, key))), key).toBe(true);
    }
    for (const f of files.keys()) expect((await fsp.stat(path.join(dirs.mirror, f))).size).toBeGreaterThan(0);
  });
});
