// The catalogue writer against a real SQLite state and mirror folder, in the orders a listing and
// the workers produce: an item's record arrives before its jobs exist (the poller commits the jobs
// of many pages together), and a flush in between must keep the record, not take the item for gone.
import { mkdtempSync, promises as fsp, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { StacItemRecord } from '../../src/api/wire.js';
import { createLogger } from '../../src/lib/logger.js';
import { StacCatalog } from '../../src/mirror/stac-catalog.js';
import { catalogStoreFor } from '../../src/store/catalog-store.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const LM = 1_700_000_000_000;

describe('StacCatalog', () => {
  it('a flush while the jobs of a listed item are not yet queued keeps the item, which is written once they are done', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'cs-catw-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const root = path.join(dir, 'mirror');
    await fsp.mkdir(root, { recursive: true });
    const store = SqliteStore.open(path.join(dir, 'state'), { maxAttempts: 3 });
    cleanups.push(() => store.close());
    const catStore = catalogStoreFor(store);
    const catalog = new StacCatalog({ store: catStore, jobs: store, root, logger: createLogger({ level: 'silent' }), clock: Date.now });

    const key = 'c1/item-1/a.tif';
    const raw = { type: 'Feature', stac_version: '1.0.0', id: 'item-1', collection: 'c1', geometry: { type: 'Point', coordinates: [1, 2] }, bbox: [1, 2, 1, 2], properties: { datetime: '2026-01-02T03:04:05Z' }, links: [], assets: { lst: { href: 'https://storage/a.tif', type: 'image/tiff' } } };
    const rec: StacItemRecord = { collection: 'c1', id: 'item-1', raw: JSON.stringify(raw), assets: [{ asset: 'lst', key, version: LM }], apiUrl: 'https://api/stac/collections/c1/items/item-1' };

    // The listing stores the record; the writer runs before the page's jobs are committed.
    await catalog.record([rec]);
    await catalog.flush();
    expect(await catStore.getItem('c1', 'item-1')).not.toBeNull();

    // The jobs arrive, the file is downloaded and committed, the worker notes the key.
    await store.upsertPage([{ key, lastModifiedMs: LM, size: 5, etag: null }], Date.now());
    const [job] = await store.claimJobs(1, { owner: 't/w', leaseMs: 60_000, now: Date.now(), order: 'key' });
    await fsp.mkdir(path.join(root, 'c1/item-1'), { recursive: true });
    await fsp.writeFile(path.join(root, key), 'bytes');
    expect(await store.complete(job!.id, job!.leaseToken, { localPath: key, bytes: 5, sha256: 'ab'.repeat(32), now: Date.now() })).toBe('done');
    catalog.noteKey(key);
    await catalog.flush();

    const item = JSON.parse(await fsp.readFile(path.join(root, 'c1/item-1/item-1.json'), 'utf8')) as { id: string; assets: Record<string, { href: string }> };
    expect(item.id).toBe('item-1');
    expect(item.assets.lst!.href).toBe('./a.tif');
    const collection = JSON.parse(await fsp.readFile(path.join(root, 'c1/collection.json'), 'utf8')) as { links: { rel: string; href: string }[] };
    expect(collection.links.filter((l) => l.rel === 'item').map((l) => l.href)).toEqual(['./item-1/item-1.json']);
  });
});
