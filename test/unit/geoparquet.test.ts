// stac-geoparquet columns inferred from items (geoparquet-schema.ts) and the two-pass writer
// (geoparquet.ts): types as the spec and stac-utils/stac-geoparquet give them, JSON text where JSON
// types conflict, and a catalog that changes between the passes starts the file over.
import { mkdtempSync, promises as fsp, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects, parquetSchema } from 'hyparquet';
import { afterEach, describe, expect, it } from 'vitest';
import { SchemaDrift, SchemaInference, timestampMicros } from '../../src/mirror/geoparquet-schema.js';
import { writeStacGeoParquet, type Item } from '../../src/mirror/geoparquet.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function item(id: string, properties: Record<string, unknown>, extra: Record<string, unknown> = {}): Item {
  return { type: 'Feature', stac_version: '1.0.0', stac_extensions: [], id, collection: 'c', geometry: { type: 'Point', coordinates: [1, 2] }, bbox: [1, 2, 1, 2], properties: { datetime: '2026-01-01T00:00:00Z', ...properties }, links: [], assets: { a: { href: `c/${id}/a.tif` } }, ...extra };
}

async function* from(items: Item[]): AsyncGenerator<Item> {
  for (const it of items) yield it;
}

async function writeRead(items: () => AsyncIterable<Item>) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cs-gp-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'x.parquet');
  const fh = await fsp.open(file, 'w');
  try {
    await writeStacGeoParquet(fh, items, { c: { id: 'c', type: 'Collection' } }, 2);
  } finally {
    await fh.close();
  }
  const buf = await asyncBufferFromFile(file);
  const meta = await parquetMetadataAsync(buf);
  return { schema: parquetSchema(meta), rows: (await parquetReadObjects({ file: buf, utf8: true })) as Record<string, unknown>[], groups: meta.row_groups.length };
}

describe('stac-geoparquet columns', () => {
  it('RFC 3339 to microseconds: fractions to the microsecond, offsets to UTC, anything else refused', () => {
    expect(timestampMicros('2026-07-03T10:00:00.123456Z')).toBe(BigInt(Date.parse('2026-07-03T10:00:00.123Z')) * 1000n + 456n);
    expect(timestampMicros('2026-07-03T10:00:00.5Z')).toBe(BigInt(Date.parse('2026-07-03T10:00:00.500Z')) * 1000n);
    expect(timestampMicros('2026-07-03T12:00:00+02:00')).toBe(BigInt(Date.parse('2026-07-03T10:00:00Z')) * 1000n);
    for (const bad of ['2026-07-03', 'yesterday', '2026-07-03T10:00:00', '2026-13-03T10:00:00Z']) expect(timestampMicros(bad), bad).toBeNull();
  });

  it('integers int64, mixed numbers double, conflicting JSON types and empty objects as JSON text, timestamps only when every value is one', () => {
    const s = new SchemaInference();
    s.add(item('1', { n: 1, x: 1, mixed: 'a', empty: {}, created: '2026-01-01T00:00:00Z', updated: 'soon', nested: { a: [1, 2], b: 'x' }, id: 'shadow' }, { bbox: [0, 0, 0, 1, 1, 1] }));
    s.add(item('2', { n: 2, x: 1.5, mixed: 3, created: null, updated: '2026-01-01T00:00:00Z', nested: { a: [3.5] } }, { bbox: [0, 0, 1, 1] }));
    const k = (name: string) => s.columns.get(name);
    expect(k('n')).toEqual({ kind: 'int' });
    expect(k('x')).toEqual({ kind: 'double' });
    expect(k('mixed')).toEqual({ kind: 'json' });
    expect(k('empty')).toEqual({ kind: 'json' });
    expect(k('created')).toEqual({ kind: 'timestamp' });
    expect(k('updated')).toEqual({ kind: 'json' });
    expect(k('datetime')).toEqual({ kind: 'timestamp' });
    expect(k('nested')).toEqual({ kind: 'struct', fields: new Map([['a', { kind: 'list', element: { kind: 'double' } }], ['b', { kind: 'string' }]]) });
    expect(k('bbox')).toEqual({ kind: 'bbox', z: true });
    // a property named like a top-level key is not a column of its own (the spec does not support it)
    expect(k('id')).toEqual({ kind: 'string' });
    expect(s.geometryTypes).toEqual(new Set(['Point']));
  });

  it('writes and reads back: typed columns, JSON text for conflicts, row groups of the given size', async () => {
    const items = [item('1', { n: 1, mixed: 'a' }), item('2', { n: 2, mixed: 3, datetime: '2026-01-02T00:00:00.000001Z' }), item('3', { n: null })];
    const { schema, rows, groups } = await writeRead(() => from(items));
    expect(groups).toBe(2);
    expect(rows.map((r) => [r.id, r.n, r.mixed])).toEqual([
      ['1', 1n, '"a"'],
      ['2', 2n, '3'],
      ['3', null, null],
    ]);
    expect(schema.children.find((c) => c.element.name === 'n')!.element.type).toBe('INT64');
    expect(rows[1]!.datetime).toEqual(new Date('2026-01-02T00:00:00.000Z'));
  });

  it('no items (every item withdrawn): a file with the spec columns and no rows', async () => {
    const { schema, rows, groups } = await writeRead(() => from([]));
    expect(rows).toEqual([]);
    expect(groups).toBe(0);
    expect(schema.children.map((c) => c.element.name)).toEqual(['type', 'stac_version', 'stac_extensions', 'id', 'geometry', 'bbox', 'links', 'assets', 'collection', 'datetime']);
  });

  it('an item that changed between the passes starts the file over, which then holds the change', async () => {
    let calls = 0;
    const { rows, schema } = await writeRead(() => {
      calls++;
      // the first pass sees the old item; from the second pass on, it has a new property
      return from([item('1', calls === 1 ? {} : { 'new:prop': 'x' })]);
    });
    expect(calls).toBe(4);
    expect(rows[0]!['new:prop']).toBe('x');
    expect(schema.children.some((c) => c.element.name === 'new:prop')).toBe(true);
  });

  it('items added or withdrawn between the passes are no reason to start over: the rows are what the second pass read', async () => {
    // (the chaos test, STAC source: a busy catalog changed between every pair of passes, three tries
    // failed, and the rejection ended the daemon)
    let calls = 0;
    const { rows } = await writeRead(() => {
      calls++;
      return from(calls === 1 ? [item('1', { n: 1 }), item('2', { n: 2 })] : [item('2', { n: 2 }), item('3', { n: 3 }), item('4', { n: 4 })]);
    });
    expect(calls).toBe(2);
    expect(rows.map((r) => r.id)).toEqual(['2', '3', '4']);
  });

  it('a catalog that keeps changing gives up after three tries (the previous index stays)', async () => {
    let calls = 0;
    await expect(writeRead(() => from([item('1', { [`p${calls++}`]: 1 })]))).rejects.toThrow(SchemaDrift);
    expect(calls).toBe(6);
  });
});
