// Writes STAC items as stac-geoparquet (the columns: geoparquet-schema.ts) into an open file, in row
// groups, with hyparquet-writer (chosen by measurement: bench/README.md "GeoParquet writer libraries").
// The library is imported here, on the first write, never at start-up: a mirror without the index
// never loads it. Two passes over the items: the first infers the columns, the second writes them, so
// memory holds one row group, not the whole index. The rows are what the second pass reads (items
// added or withdrawn in between are fine); only an item that no longer fits the first pass's columns
// (a new property, another type) starts the file over, a few times at most.
import type { FileHandle } from 'node:fs/promises';
import { convert, merge, parquetSchema, SchemaDrift, SchemaInference, rowOf, type ToWkb, type TypeNode } from './geoparquet-schema.js';

/** Rows per row group: readers skip groups by their statistics (bbox, datetime). */
export const ROW_GROUP_SIZE = 10_000;
const TRIES = 3;

/** OGC:CRS84 (longitude, latitude on WGS 84), the CRS of STAC geometries, as PROJJSON. */
export const CRS84_PROJJSON = {
  $schema: 'https://proj.org/schemas/v0.7/projjson.schema.json',
  type: 'GeographicCRS',
  name: 'WGS 84 (CRS84)',
  datum_ensemble: {
    name: 'World Geodetic System 1984 ensemble',
    members: [
      { name: 'World Geodetic System 1984 (Transit)', id: { authority: 'EPSG', code: 1166 } },
      { name: 'World Geodetic System 1984 (G730)', id: { authority: 'EPSG', code: 1152 } },
      { name: 'World Geodetic System 1984 (G873)', id: { authority: 'EPSG', code: 1153 } },
      { name: 'World Geodetic System 1984 (G1150)', id: { authority: 'EPSG', code: 1154 } },
      { name: 'World Geodetic System 1984 (G1674)', id: { authority: 'EPSG', code: 1155 } },
      { name: 'World Geodetic System 1984 (G1762)', id: { authority: 'EPSG', code: 1156 } },
      { name: 'World Geodetic System 1984 (G2139)', id: { authority: 'EPSG', code: 1309 } },
      { name: 'World Geodetic System 1984 (G2296)', id: { authority: 'EPSG', code: 1383 } },
    ],
    ellipsoid: { name: 'WGS 84', semi_major_axis: 6378137, inverse_flattening: 298.257223563 },
    accuracy: '2.0',
    id: { authority: 'EPSG', code: 6326 },
  },
  coordinate_system: {
    subtype: 'ellipsoidal',
    axis: [
      { name: 'Geodetic longitude', abbreviation: 'Lon', direction: 'east', unit: 'degree' },
      { name: 'Geodetic latitude', abbreviation: 'Lat', direction: 'north', unit: 'degree' },
    ],
  },
  scope: 'Not known.',
  area: 'World.',
  bbox: { south_latitude: -90, west_longitude: -180, north_latitude: 90, east_longitude: 180 },
  id: { authority: 'OGC', code: 'CRS84' },
};

/** The stac-geoparquet metadata version (the spec's JSON schema and stac-utils/stac-geoparquet write 1.0.0). */
export const STAC_GEOPARQUET_VERSION = '1.0.0';

export type Item = Record<string, unknown>;

/** Columns every index has, even an empty one (the spec's required columns and `datetime`). */
function seeded(): Map<string, TypeNode> {
  const str = (): TypeNode => ({ kind: 'string' });
  return new Map<string, TypeNode>([
    ['type', str()],
    ['stac_version', str()],
    ['stac_extensions', { kind: 'list', element: str() }],
    ['id', str()],
    ['geometry', { kind: 'wkb' }],
    ['bbox', { kind: 'bbox', z: false }],
    ['links', { kind: 'list', element: { kind: 'struct', fields: new Map([['rel', str()], ['href', str()]]) } }],
    ['assets', { kind: 'null' }],
    ['collection', str()],
    ['datetime', { kind: 'timestamp' }],
  ]);
}

function extentOf(bbox: number[] | null, b: unknown): number[] | null {
  if (!Array.isArray(b) || (b.length !== 4 && b.length !== 6) || b.some((n) => typeof n !== 'number')) return bbox;
  const [x0, y0, x1, y1] = b.length === 6 ? [b[0], b[1], b[3], b[4]] : b;
  return bbox ? [Math.min(bbox[0]!, x0), Math.min(bbox[1]!, y0), Math.max(bbox[2]!, x1), Math.max(bbox[3]!, y1)] : [x0, y0, x1, y1];
}

/** The `geo` file metadata (GeoParquet 1.1): WKB geometry in OGC:CRS84, the bbox struct as its covering. */
export function geoMetadata(geometryTypes: Iterable<string>, extent: number[] | null, projGeometry: boolean): Record<string, unknown> {
  const columns: Record<string, unknown> = {
    geometry: {
      encoding: 'WKB',
      geometry_types: [...geometryTypes].sort(),
      crs: CRS84_PROJJSON,
      edges: 'planar',
      ...(extent ? { bbox: extent } : {}),
      covering: { bbox: { xmin: ['bbox', 'xmin'], ymin: ['bbox', 'ymin'], xmax: ['bbox', 'xmax'], ymax: ['bbox', 'ymax'] } },
    },
  };
  // Projected geometries have a CRS per row (proj:code): unknown for the column, as stac-geoparquet writes it.
  if (projGeometry) columns['proj:geometry'] = { encoding: 'WKB', geometry_types: [], crs: null };
  return { version: '1.1.0', primary_column: 'geometry', columns };
}

export interface WriteResult {
  rows: number;
  bytes: number;
}

/**
 * Write the items into `fh` (from offset 0, truncating) as one stac-geoparquet file. `items` is called
 * once per pass and must yield the same items each time; `collections` go into the file metadata.
 * Does not fsync: the caller decides.
 */
export async function writeStacGeoParquet(fh: FileHandle, items: () => AsyncIterable<Item>, collections: Record<string, unknown>, rowGroupSize = ROW_GROUP_SIZE): Promise<WriteResult> {
  const lib = await import('hyparquet-writer');
  const wkb: ToWkb = (g) => lib.geojsonToWkb(g as unknown as Parameters<typeof lib.geojsonToWkb>[0]);
  for (let attempt = 1; ; attempt++) {
    try {
      await fh.truncate(0);
      return await writeOnce(lib, fh, items, collections, rowGroupSize, wkb);
    } catch (e) {
      if (!(e instanceof SchemaDrift) || attempt >= TRIES) throw e;
    }
  }
}

async function writeOnce(lib: typeof import('hyparquet-writer'), fh: FileHandle, items: () => AsyncIterable<Item>, collections: Record<string, unknown>, rowGroupSize: number, wkb: ToWkb): Promise<WriteResult> {
  const inference = new SchemaInference();
  let extent: number[] | null = null;
  for await (const it of items()) {
    inference.add(it);
    extent = extentOf(extent, it.bbox);
  }
  const columns = seeded();
  for (const [k, t] of inference.columns) columns.set(k, merge(columns.get(k) ?? { kind: 'null' }, t));
  const names = [...columns.keys()];

  let pos = 0;
  const out: InstanceType<typeof lib.ByteWriter> & { flush?: () => Promise<void> } = new lib.ByteWriter(1 << 20);
  const drain = async (): Promise<void> => {
    let off = 0;
    while (off < out.index) {
      const { bytesWritten } = await fh.write(new Uint8Array(out.buffer, off, out.index - off), 0, out.index - off, pos);
      off += bytesWritten;
      pos += bytesWritten;
    }
    out.index = 0;
  };
  out.flush = drain;
  out.finish = drain;
  const writer = new lib.ParquetWriter({
    writer: out,
    schema: parquetSchema(columns),
    createdBy: 'constellr-sync',
    kvMetadata: [
      { key: 'geo', value: JSON.stringify(geoMetadata(inference.geometryTypes, extent, columns.has('proj:geometry'))) },
      { key: 'stac-geoparquet', value: JSON.stringify({ version: STAC_GEOPARQUET_VERSION, collections }) },
    ],
  });

  let rows = 0;
  let group: unknown[][] = names.map(() => []);
  const writeGroup = async (): Promise<void> => {
    if (group[0]!.length === 0) return;
    await writer.write({ columnData: names.map((name, i) => ({ name, data: group[i]! })), rowGroupSize });
    group = names.map(() => []);
  };
  for await (const it of items()) {
    const row = rowOf(it);
    for (const k of row.keys()) if (!columns.has(k)) throw new SchemaDrift(`column ${k} appeared`);
    const id = typeof it.id === 'string' ? it.id : '?';
    names.forEach((name, i) => group[i]!.push(convert(columns.get(name)!, row.get(name), wkb, `${id}.${name}`)));
    rows++;
    if (group[0]!.length >= rowGroupSize) await writeGroup();
  }
  await writeGroup();
  await writer.finish();
  return { rows, bytes: pos };
}
