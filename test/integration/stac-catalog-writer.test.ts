// The catalog writer against a real SQLite state and mirror folder, in the orders a listing and
// the workers produce: an item's record arrives before its jobs exist (the poller commits the jobs
// of many pages together), and a flush in between must keep the record, not take the item for gone.
import { createHash } from 'node:crypto';
import { mkdtempSync, promises as fsp, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { StacItemRecord } from '../../src/api/wire.js';
import { loadConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/lib/logger.js';
import { mirrorTarget } from '../../src/mirror/layout.js';
import { StacCatalog } from '../../src/mirror/stac-catalog.js';
import { CATALOG_TMP_DIR, clearCatalogTmp } from '../../src/mirror/stac-files.js';
import { buildStatusReport } from '../../src/ops/status/report.js';
import { statusLines } from '../../src/cli/commands/status.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import { waitUntil } from '../helpers/harness.js';
import { runCatalogCheck } from '../helpers/stac-catalog.js';
import { skipPystac } from '../helpers/pystac.js';

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
    const catStore = store.catalog;
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

  it('a catalog write error is logged once with its path, recorded for status, retried, and never rejects (issue 22 item 1)', async () => {
    const w = await world();
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown) => unhandled.push(e);
    process.on('unhandledRejection', onUnhandled);
    cleanups.push(() => process.off('unhandledRejection', onUnhandled));
    await w.done('c1', 'i1', 'a.tif', 'one');
    // Something in the way of the collection's document (a planted folder; ENOSPC or EIO the same).
    await fsp.rm(path.join(w.root, 'c1/collection.json'));
    await fsp.mkdir(path.join(w.root, 'c1/collection.json/x'), { recursive: true });
    await w.catalog.markAll();
    const f1 = await w.catalog.flush();
    expect(f1).toMatchObject({ path: 'c1/collection.json', errorClass: 'io' });
    w.catalog.noteKey('c1/i1/a.tif');
    await w.catalog.rebuild();
    await new Promise((r) => setImmediate(r));
    expect(unhandled).toEqual([]);
    expect(w.logs().filter((l) => l.msg?.startsWith('could not write the STAC catalog')), JSON.stringify(w.logs())).toHaveLength(1);
    expect(w.logs().find((l) => l.msg?.startsWith('could not write'))).toMatchObject({ level: 'error', path: 'c1/collection.json' });
    const report = await buildStatusReport(loadConfig({ flags: { 'mirror-dir': w.root, 'state-dir': w.stateDir, source: 'stac' }, env: {} }), w.store, { now: Date.now() });
    expect(report.catalog).toMatchObject({ failing: true, path: 'c1/collection.json', errorClass: 'io' });
    // `catalogue` is the deprecated old name of the same field (status --json, /api/status), kept for scripts.
    expect(report.catalogue).toEqual(report.catalog);
    expect(statusLines(report, 60_000)).toEqual(expect.arrayContaining([expect.stringMatching(/^CATALOG FAILED: {7}since .*: \[io\] /), '                      downloads go on; the STAC catalog is written again once this clears']));
    // Cleared: the next flush writes everything and the state forgets the error.
    await fsp.rm(path.join(w.root, 'c1/collection.json'), { recursive: true });
    // Nothing is dirty (the item was written), only its collection: a kick (maintenance's) retries it.
    w.catalog.kick();
    await waitUntil(() => w.catalog.failure === null, 10_000, 20, 'the retried write');
    expect(w.catalog.failure).toBeNull();
    expect((await w.store.catalog.getStatus()).error).toBeNull();
    expect(JSON.parse(await fsp.readFile(path.join(w.root, 'c1/collection.json'), 'utf8')).links.filter((l: { rel: string }) => l.rel === 'item')).toHaveLength(1);
  });

  it('the collection extent comes from the item version on disk, not a newer listing still downloading (issue 22 item 13)', async () => {
    const w = await world();
    await w.done('c1', 'i1', 'a.tif', 'one', { bbox: [1, 1, 2, 2], datetime: '2026-01-01T00:00:00Z' });
    // A newer version is listed (moved far away, later), its asset not downloaded yet.
    await w.catalog.record([w.record('c1', 'i1', 'a.tif', LM + 1000, { bbox: [50, 50, 60, 60], datetime: '2026-06-01T00:00:00Z' })]);
    await w.catalog.markAll();
    await w.catalog.flush();
    const c = JSON.parse(await fsp.readFile(path.join(w.root, 'c1/collection.json'), 'utf8')) as { extent: { spatial: { bbox: number[][] }; temporal: { interval: string[][] } } };
    expect(c.extent.spatial.bbox).toEqual([[1, 1, 2, 2]]);
    expect(c.extent.temporal.interval).toEqual([['2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z']]);
  });

  it('two writers: catalog.json is rewritten until the collections it was built from stop changing (issue 22 item 3)', async () => {
    const w = await world();
    await w.done('c1', 'i1', 'a.tif', 'one');
    // Writer A builds the root from a state without c2; while it does, writer B completes c2 and
    // writes its own root. A's write lands last: without a second look it would drop c2.
    const cat = w.store.catalog;
    let raced = false;
    let rootBuild = false;
    const collections = async () => ((rootBuild = true), cat.collections());
    const writtenItems = async (c: string) => {
      const r = await cat.writtenItems(c);
      // The race inside the root's build: A has read the collections, B adds one.
      if (!raced && rootBuild && c === 'c1') {
        raced = true;
        await w.done('c2', 'i2', 'b.tif', 'two');
      }
      return r;
    };
    const slow = new Proxy(cat, { get: (t, k) => (k === 'writtenItems' ? writtenItems : k === 'collections' ? collections : (t[k as keyof typeof t] as (...a: unknown[]) => unknown).bind(t)) });
    const a = new StacCatalog({ store: slow, jobs: w.store, root: w.root, logger: createLogger({ level: 'silent' }), clock: Date.now });
    await a.markAll();
    rootBuild = false;
    expect(await a.flush()).toBeNull();
    expect(raced).toBe(true);
    const root = JSON.parse(await fsp.readFile(path.join(w.root, 'catalog.json'), 'utf8')) as { links: { rel: string; href: string }[] };
    expect(root.links.filter((l) => l.rel === 'child').map((l) => l.href).sort()).toEqual(['./c1/collection.json', './c2/collection.json']);
  });

  it("one job query per batch of items, never one per asset (issue 26 §3)", async () => {
    const w = await world();
    for (let i = 0; i < 5; i++) await w.done('c1', `i${i}`, 'a.tif', `bytes ${i}`);
    const calls = { getJobs: 0, keys: 0, getJob: 0 };
    const jobs = {
      getJobs: (keys: readonly string[]) => ((calls.getJobs++, (calls.keys += keys.length)), w.store.getJobs(keys)),
      getJob: (key: string) => (calls.getJob++, w.store.getJob(key)),
    };
    const c = new StacCatalog({ store: w.store.catalog, jobs, root: w.root, logger: createLogger({ level: 'silent' }), clock: Date.now });
    expect(await c.markAll()).toBe(5);
    expect(await c.flush()).toBeNull();
    expect(calls).toEqual({ getJobs: 1, keys: 5, getJob: 0 });
  });

  it('flush trusts what the state says was written; rebuild rewrites every item and takes out an incomplete one (verify --repair)', async () => {
    const w = await world();
    await w.done('c1', 'i1', 'a.tif', 'one');
    await w.done('c1', 'i2', 'b.tif', 'two');
    const i1 = path.join(w.root, 'c1/i1/i1.json');
    const good = await fsp.readFile(i1, 'utf8');
    await fsp.writeFile(i1, '{"tampered": true}\n');
    // i2's asset is gone from disk: the item is no longer complete.
    await fsp.rm(path.join(w.root, 'c1/i2/b.tif'));
    await w.catalog.markAll();
    expect(await w.catalog.flush()).toBeNull();
    expect(await fsp.readFile(i1, 'utf8')).toBe('{"tampered": true}\n');
    expect(await fsp.readFile(path.join(w.root, 'c1/i2/i2.json'), 'utf8')).toContain('"i2"');
    expect(await w.catalog.rebuild()).toBeNull();
    expect(await fsp.readFile(i1, 'utf8')).toBe(good);
    await expect(fsp.stat(path.join(w.root, 'c1/i2/i2.json'))).rejects.toThrow(/ENOENT/);
    const coll = JSON.parse(await fsp.readFile(path.join(w.root, 'c1/collection.json'), 'utf8')) as { links: { rel: string; href: string }[] };
    expect(coll.links.filter((l) => l.rel === 'item').map((l) => l.href)).toEqual(['./i1/i1.json']);
    // Once looked at, an item is trusted again: the next flush leaves it as it is.
    await fsp.writeFile(i1, '{"tampered": true}\n');
    await w.catalog.markAll();
    expect(await w.catalog.flush()).toBeNull();
    expect(await fsp.readFile(i1, 'utf8')).toBe('{"tampered": true}\n');
  });

  it('temporary files belong to their writer: start-up leaves a live one alone, removes old ones (issue 22 item 3)', async () => {
    const w = await world();
    const peer = path.join(w.root, CATALOG_TMP_DIR, '99-peer');
    await fsp.mkdir(peer, { recursive: true });
    await fsp.writeFile(path.join(peer, 'live.json'), '{}');
    await fsp.writeFile(path.join(peer, 'dead.json'), '{}');
    const old = new Date(Date.now() - 2 * 3600_000);
    await fsp.utimes(path.join(peer, 'dead.json'), old, old);
    expect(await clearCatalogTmp(w.root, Date.now())).toBe(1);
    expect(await fsp.readdir(peer)).toEqual(['live.json']);
  });

  it.skipIf(skipPystac())('collection ids catalog.json and Catalog.JSON get their own folders: the root and every link resolve (pystac)', async () => {
    const w = await world();
    for (const c of ['catalog.json', 'Catalog.JSON', '.constellr-sync']) await w.done(c, 'collection.json', 'catalog.json', `bytes of ${c}`);
    expect(await w.catalog.flush()).toBeNull();
    const r = await runCatalogCheck(w.root);
    expect(r.problems).toEqual([]);
    expect(Object.keys(r.collections).sort()).toEqual(['.constellr-sync', 'Catalog.JSON', 'catalog.json']);
    expect(r.items).toHaveLength(3);
    expect((await fsp.stat(path.join(w.root, 'catalog.json'))).isFile()).toBe(true);
  });
});

/** A state, a mirror and a writer; `done` lists an item with one asset, downloads it and notes it. */
async function world() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cs-catw-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const root = path.join(dir, 'mirror');
  const stateDir = path.join(dir, 'state');
  await fsp.mkdir(root, { recursive: true });
  const store = SqliteStore.open(stateDir, { maxAttempts: 3 });
  cleanups.push(() => store.close());
  const lines: string[] = [];
  const logger = createLogger({ level: 'info', destination: { write: (l: string) => void lines.push(l) } });
  const catalog = new StacCatalog({ store: store.catalog, jobs: store, root, logger, clock: Date.now });
  const key = (c: string, id: string, f: string) => [c, id, f].map((s) => s.replace(/%/g, '%25').replace(/\//g, '%2F')).join('/');
  const record = (c: string, id: string, f: string, version: number, o: { bbox?: number[]; datetime?: string } = {}): StacItemRecord => {
    const raw = { type: 'Feature', stac_version: '1.0.0', id, collection: c, geometry: { type: 'Point', coordinates: [1, 2] }, bbox: o.bbox ?? [1, 2, 1, 2], properties: { datetime: o.datetime ?? '2026-01-02T03:04:05Z' }, links: [], assets: { lst: { href: 'https://storage/a.tif', type: 'image/tiff' } } };
    return { collection: c, id, raw: JSON.stringify(raw), assets: [{ asset: 'lst', key: key(c, id, f), version }], apiUrl: `https://api/stac/collections/${c}/items/${id}` };
  };
  const done = async (c: string, id: string, f: string, bytes: string, o: { bbox?: number[]; datetime?: string } = {}) => {
    const k = key(c, id, f);
    await catalog.record([record(c, id, f, LM, o)]);
    await store.upsertPage([{ key: k, lastModifiedMs: LM, size: bytes.length, etag: null }], Date.now());
    const [job] = await store.claimJobs(1, { owner: 't/w', leaseMs: 60_000, now: Date.now(), order: 'key' });
    const t = mirrorTarget(root, k, bytes.length, { names: 'stac' });
    await fsp.mkdir(path.dirname(t.absPath), { recursive: true });
    await fsp.writeFile(t.absPath, bytes);
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    expect(await store.complete(job!.id, job!.leaseToken, { localPath: t.relPath, bytes: bytes.length, sha256, now: Date.now() })).toBe('done');
    catalog.noteKey(k);
    await catalog.flush();
  };
  const logs = () => lines.map((l) => JSON.parse(l) as { level: string; msg?: string; path?: string });
  return { root, stateDir, store, catalog, done, record, logs };
}
