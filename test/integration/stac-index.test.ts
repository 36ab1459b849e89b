// The GeoParquet index (items.parquet) beside the catalog writer, against a real SQLite state and
// mirror folder: it lists exactly the catalog's items with the catalog's files, follows changes,
// leaves before reconcile removes files, and waits for another replica's writer. Read back with
// hyparquet (a reader independent of the writer's encoding code paths).
import { mkdtempSync, promises as fsp, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects, parquetSchema } from 'hyparquet';
import { afterEach, describe, expect, it } from 'vitest';
import { waitUntil } from '../helpers/harness.js';
import type { StacItemRecord } from '../../src/api/wire.js';
import { indexLock } from '../../src/daemon/catalog.js';
import { createLogger } from '../../src/lib/logger.js';
import { StacCatalog } from '../../src/mirror/stac-catalog.js';
import { collectionDir } from '../../src/mirror/stac-names.js';
import { INDEX_FILE, StacIndex } from '../../src/mirror/stac-index.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const LM = 1_700_000_000_000;

async function setup(o: { lock?: () => Promise<{ release(): void }>; delayMs?: number; retryMs?: number } = {}) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cs-index-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const root = path.join(dir, 'mirror');
  await fsp.mkdir(root, { recursive: true });
  const store = SqliteStore.open(path.join(dir, 'state'), { maxAttempts: 3 });
  cleanups.push(() => store.close());
  const catStore = store.catalog;
  const logger = createLogger({ level: 'silent' });
  // A long delay: the tests flush when they want the index written.
  let lockWaits = 0;
  const index = new StacIndex({ store: catStore, root, logger, lock: o.lock ?? indexLock(root, () => lockWaits++), delayMs: o.delayMs ?? 3_600_000, retryMs: o.retryMs });
  const catalog = new StacCatalog({ store: catStore, jobs: store, root, logger, clock: Date.now, index });

  /** List an item, download its assets, let the catalog write it. */
  async function addItem(collection: string, id: string, lon: number, lat: number, datetime: string, extra: Record<string, unknown> = {}): Promise<void> {
    const assets = { lst: { href: `https://storage/${id}/lst.tif?X-Amz-Signature=abc`, type: 'image/tiff', roles: ['data'] }, meta: { href: `https://storage/${id}/meta.json`, type: 'application/json', roles: ['metadata'] } };
    const raw = {
      type: 'Feature',
      stac_version: '1.0.0',
      id,
      collection,
      geometry: { type: 'Polygon', coordinates: [[[lon, lat], [lon + 0.1, lat], [lon + 0.1, lat + 0.1], [lon, lat + 0.1], [lon, lat]]] },
      bbox: [lon, lat, lon + 0.1, lat + 0.1],
      properties: { datetime, gsd: 30, platform: 'SBA01', ...extra },
      links: [
        { rel: 'self', href: `https://api/stac/collections/${collection}/items/${id}` },
        { rel: 'license', href: 'https://example.com/license' },
        { rel: 'alternate', href: 'https://user:secret@example.com/x' },
        { rel: 'via', href: 'https://storage/x?X-Amz-Date=20260101T000000Z&X-Amz-Expires=60&X-Amz-Signature=f' },
      ],
      assets,
    };
    const keys = Object.keys(assets).map((a) => ({ asset: a, key: `${collection}/${id}/${a}.bin`, version: LM }));
    const rec: StacItemRecord = { collection, id, raw: JSON.stringify(raw), assets: keys, apiUrl: `https://api/stac/collections/${collection}/items/${id}` };
    await catalog.record([rec]);
    await store.upsertPage(
      keys.map((k) => ({ key: k.key, lastModifiedMs: LM, size: 5, etag: null })),
      Date.now(),
    );
    for (const k of keys) {
      const [job] = await store.claimJobs(1, { owner: 't/w', leaseMs: 60_000, now: Date.now(), order: 'key' });
      // where the worker puts it: the collection's folder by the reserved-names rule (stac-names.ts)
      const localPath = [collectionDir(collection), ...job!.key.split('/').slice(1)].join('/');
      await fsp.mkdir(path.join(root, path.dirname(localPath)), { recursive: true });
      await fsp.writeFile(path.join(root, localPath), 'bytes');
      expect(await store.complete(job!.id, job!.leaseToken, { localPath, bytes: 5, sha256: 'ab'.repeat(32), now: Date.now() })).toBe('done');
      catalog.noteKey(k.key);
    }
    await catalog.flush();
  }

  async function read(file = path.join(root, INDEX_FILE)) {
    const buf = await asyncBufferFromFile(file);
    const meta = await parquetMetadataAsync(buf);
    const rows = (await parquetReadObjects({ file: buf, utf8: true })) as Record<string, unknown>[];
    return { meta, rows, kv: Object.fromEntries((meta.key_value_metadata ?? []).map((k) => [k.key, k.value])) };
  }

  return { root, store, catStore, index, catalog, addItem, read, lockWaits: () => lockWaits };
}

describe('StacIndex', () => {
  it('lists every cataloged item with the spec columns, the geo and stac-geoparquet metadata, and the catalog hrefs', async () => {
    const t = await setup();
    await t.addItem('lst', 'a-1', 13.0, 52.0, '2026-07-03T10:00:00.123456Z', { 'eo:cloud_cover': 3, start_datetime: '2026-07-03T09:59:00Z', end_datetime: '2026-07-03T10:01:00Z' });
    await t.addItem('lst', 'a-2', 8.0, 47.0, '2026-06-01T10:00:00Z', { 'eo:cloud_cover': 12.5 });
    await t.addItem('other', 'b-1', -3.0, 40.0, '2025-01-01T00:00:00+01:00');
    expect(t.index.dirty).toBe(true);
    await t.catalog.flushIndex();
    expect(t.index.writes).toBe(1);

    const { meta, rows, kv } = await t.read();
    expect(rows.map((r) => `${String(r.collection)}/${String(r.id)}`)).toEqual(['lst/a-1', 'lst/a-2', 'other/b-1']);

    const geo = JSON.parse(kv.geo!) as { version: string; primary_column: string; columns: Record<string, { encoding: string; crs: { id: { authority: string; code: string } }; geometry_types: string[]; covering: unknown; bbox: number[] }> };
    expect(geo.version).toBe('1.1.0');
    expect(geo.primary_column).toBe('geometry');
    expect(geo.columns.geometry!.encoding).toBe('WKB');
    expect(geo.columns.geometry!.crs.id).toEqual({ authority: 'OGC', code: 'CRS84' });
    expect(geo.columns.geometry!.geometry_types).toEqual(['Polygon']);
    expect(geo.columns.geometry!.bbox).toEqual([-3, 40, 13.1, 52.1]);
    expect(geo.columns.geometry!.covering).toEqual({ bbox: { xmin: ['bbox', 'xmin'], ymin: ['bbox', 'ymin'], xmax: ['bbox', 'xmax'], ymax: ['bbox', 'ymax'] } });
    const sg = JSON.parse(kv['stac-geoparquet']!) as { version: string; collections: Record<string, { id: string; links: { rel: string }[] }> };
    expect(sg.version).toBe('1.0.0');
    expect(Object.keys(sg.collections).sort()).toEqual(['lst', 'other']);
    expect(sg.collections.lst!.id).toBe('lst');
    expect(sg.collections.lst!.links.filter((l) => ['root', 'parent', 'item'].includes(l.rel))).toEqual([]);

    // Column types: timestamps with time zone in microseconds, bbox a struct of doubles, integers and doubles.
    const schema = parquetSchema(meta);
    const col = (name: string) => schema.children.find((c) => c.element.name === name)!;
    for (const ts of ['datetime', 'start_datetime', 'end_datetime']) expect(col(ts).element.logical_type, ts).toEqual({ type: 'TIMESTAMP', isAdjustedToUTC: true, unit: 'MICROS' });
    expect(col('bbox').children.map((c) => [c.element.name, c.element.type])).toEqual([['xmin', 'DOUBLE'], ['ymin', 'DOUBLE'], ['xmax', 'DOUBLE'], ['ymax', 'DOUBLE']]);
    expect(col('eo:cloud_cover').element.type).toBe('DOUBLE');
    expect(col('gsd').element.type).toBe('INT64');
    expect(col('geometry').element.type).toBe('BYTE_ARRAY');
    expect(col('stac_extensions').element.logical_type).toEqual({ type: 'LIST' });
    expect(col('assets').children.map((c) => c.element.name)).toEqual(['lst', 'meta']);
    expect(schema.children.some((c) => c.element.name === 'properties')).toBe(false);

    const a1 = rows[0]!;
    // microseconds kept; an offset is normalised to UTC
    expect(a1.datetime).toEqual(new Date('2026-07-03T10:00:00.123Z'));
    expect(rows[2]!.datetime).toEqual(new Date('2024-12-31T23:00:00Z'));
    expect(a1.bbox).toEqual({ xmin: 13, ymin: 52, xmax: 13.1, ymax: 52.1 });
    expect(a1.geometry).toEqual({ type: 'Polygon', coordinates: [[[13, 52], [13.1, 52], [13.1, 52.1], [13, 52.1], [13, 52]]] });
    // the catalog's files, relative to the mirror root (where items.parquet is)
    const itemJson = JSON.parse(await fsp.readFile(path.join(t.root, 'lst/a-1/a-1.json'), 'utf8')) as { assets: Record<string, { href: string; 'file:size': number }> };
    const assets = a1.assets as Record<string, { href: string; 'file:size': bigint; 'file:checksum': string }>;
    for (const k of ['lst', 'meta']) {
      expect(assets[k]!.href).toBe(path.posix.join('lst/a-1', itemJson.assets[k]!.href));
      expect(assets[k]!.href).toBe(`lst/a-1/${k}.bin`);
      expect(Number(assets[k]!['file:size'])).toBe(5);
    }
    // links: no structural ones, no expiring one (the catalog drops it); none keeps credentials or a signature (lib/url-safety.ts)
    const links = a1.links as { rel: string; href: string }[];
    expect(links.map((l) => l.rel)).toEqual(['canonical', 'license', 'alternate']);
    for (const l of links) expect(l.href).not.toMatch(/secret|Signature|X-Amz/);
    expect(a1.stac_extensions).toEqual(['https://stac-extensions.github.io/file/v2.1.0/schema.json']);
  });

  it('follows changes: an item added after a rewrite is in the next one; nothing changed, nothing rewritten', async () => {
    const t = await setup();
    await t.addItem('lst', 'a-1', 13.0, 52.0, '2026-07-03T10:00:00Z');
    await t.catalog.flushIndex();
    expect((await t.read()).rows.map((r) => r.id)).toEqual(['a-1']);
    await t.catalog.flushIndex();
    expect(t.index.writes).toBe(1);
    await t.addItem('lst', 'a-2', 13.5, 52.0, '2026-07-04T10:00:00Z', { 'new:prop': 'x' });
    await t.catalog.flushIndex();
    expect(t.index.writes).toBe(2);
    const { rows } = await t.read();
    expect(rows.map((r) => [r.id, r['new:prop']])).toEqual([
      ['a-1', null],
      ['a-2', 'x'],
    ]);
  });

  it('before reconcile removes files, the index stops listing their items', async () => {
    const t = await setup();
    await t.addItem('lst', 'a-1', 13.0, 52.0, '2026-07-03T10:00:00Z');
    await t.addItem('lst', 'a-2', 13.5, 52.0, '2026-07-04T10:00:00Z');
    await t.catalog.flushIndex();
    expect((await t.read()).rows.map((r) => r.id)).toEqual(['a-1', 'a-2']);
    // Reconcile's hook; the files are removed only after it returns.
    await t.catalog.beforeRemove([{ key: 'lst/a-1/lst.bin' }]);
    expect((await t.read()).rows.map((r) => r.id)).toEqual(['a-2']);
    // Nothing is left dirty that a later flush would still have to write.
    expect(t.index.dirty).toBe(false);
  });

  it('waits while another replica holds the index lock, then writes', async () => {
    const t = await setup();
    await t.addItem('lst', 'a-1', 13.0, 52.0, '2026-07-03T10:00:00Z');
    const other = await indexLock(t.root)();
    let done = false;
    const p = t.index.flush().then(() => (done = true));
    // The writer has found the lock held three times (not a fixed sleep), and has not gone ahead.
    await waitUntil(() => t.lockWaits() >= 3, 10_000, 20, 'the writer waiting on the held lock');
    expect(done).toBe(false);
    await expect(fsp.access(path.join(t.root, INDEX_FILE))).rejects.toThrow();
    other.release();
    await p;
    expect((await t.read()).rows.map((r) => r.id)).toEqual(['a-1']);
  });

  it('a rewrite that failed is tried again without another change (backing off)', async () => {
    let fails = 2;
    const t = await setup({
      delayMs: 10,
      retryMs: 20,
      lock: async () => {
        if (fails-- > 0) throw new Error('EIO: the lock folder went away');
        return { release() {} };
      },
    });
    await t.addItem('lst', 'a-1', 13.0, 52.0, '2026-07-03T10:00:00Z');
    // addItem's flush told the index of the change; no other change follows
    await waitUntil(async () => t.index.writes === 1, 10_000, 20, 'the index written after two failed tries');
    expect(fails).toBe(-1);
    expect((await t.read()).rows.map((r) => r.id)).toEqual(['a-1']);
    expect(t.index.dirty).toBe(false);
  });

  it('a collection named items.parquet gets a folder of its own; the index is the file at the root and lists its items', async () => {
    const t = await setup();
    await t.addItem('items.parquet', 'x-1', 13.0, 52.0, '2026-07-03T10:00:00Z');
    await t.catalog.flushIndex();
    expect((await fsp.stat(path.join(t.root, INDEX_FILE))).isFile()).toBe(true);
    const { rows, kv } = await t.read();
    expect(rows.map((r) => [r.collection, r.id])).toEqual([['items.parquet', 'x-1']]);
    const href = (rows[0]!.assets as Record<string, { href: string }>).lst!.href;
    expect(href.split('/')[0]).not.toBe(INDEX_FILE);
    expect((await fsp.stat(path.join(t.root, ...href.split('/')))).isFile()).toBe(true);
    expect(Object.keys((JSON.parse(kv['stac-geoparquet']!) as { collections: object }).collections)).toEqual(['items.parquet']);
  });
});
