// The columns of a stac-geoparquet file (radiantearth/stac-geoparquet-spec 1.x, as stac-utils/stac-geoparquet
// writes it), inferred from the items themselves: one row per item, the properties pulled up to top-level
// columns, `geometry` (and any `proj:geometry`) as WKB, `bbox` as a struct of doubles, the spec's
// timestamp properties as timestamp[us, UTC], `links` a list of structs, `assets` a struct of asset
// structs, nested JSON as nested Parquet (structs and lists). Integers are int64, other numbers double.
// A value whose JSON types conflict across items (a string here, a number there), and an empty object,
// have no Parquet type: that column holds the JSON text instead. Pure: no I/O, no writer library.
import type { SchemaElement } from 'hyparquet';

/** Top-level keys of an item; a property of the same name is left out (the spec does not support it). */
export const TOP_LEVEL = ['type', 'stac_version', 'stac_extensions', 'id', 'geometry', 'bbox', 'links', 'assets', 'collection'] as const;
/** Properties stored as timestamps (stac-geoparquet's list: common metadata and the timestamps extension). */
export const TIMESTAMP_PROPERTIES = new Set(['datetime', 'start_datetime', 'end_datetime', 'created', 'updated', 'expires', 'published', 'unpublished']);

export type Kind = 'null' | 'bool' | 'int' | 'double' | 'string' | 'timestamp' | 'wkb' | 'json' | 'list' | 'struct' | 'bbox';

export interface TypeNode {
  kind: Kind;
  /** list: its element. */
  element?: TypeNode;
  /** struct: its fields in first-seen order. */
  fields?: Map<string, TypeNode>;
  /** bbox: 6 numbers (with heights) seen. */
  z?: boolean;
}

/** A value of a stac-geoparquet row does not fit the inferred columns (the items changed meanwhile). */
export class SchemaDrift extends Error {}

const RFC3339 = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})$/i;

/** RFC 3339 text → microseconds since the epoch (bigint); null when it is not RFC 3339. */
export function timestampMicros(s: string): bigint | null {
  const m = RFC3339.exec(s);
  if (!m) return null;
  const ms = Date.parse(`${m[1]}${m[3]!.toUpperCase()}`);
  if (Number.isNaN(ms)) return null;
  const frac = (m[2] ?? '').padEnd(6, '0').slice(0, 6);
  return BigInt(ms) * 1000n + BigInt(frac);
}

function leaf(kind: Kind): TypeNode {
  return { kind };
}

function kindOf(v: unknown, special: Kind | null): TypeNode {
  if (special === 'wkb') return leaf('wkb');
  if (v === null || v === undefined) return leaf(special === 'timestamp' ? 'timestamp' : 'null');
  if (special === 'timestamp') return leaf(typeof v === 'string' && timestampMicros(v) !== null ? 'timestamp' : 'json');
  if (typeof v === 'boolean') return leaf('bool');
  if (typeof v === 'number') return leaf(Number.isSafeInteger(v) ? 'int' : 'double');
  if (typeof v === 'string') return leaf('string');
  if (Array.isArray(v)) {
    let el: TypeNode = leaf('null');
    for (const x of v) el = merge(el, kindOf(x, null));
    return { kind: 'list', element: el };
  }
  if (typeof v === 'object') {
    const fields = new Map<string, TypeNode>();
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) fields.set(k, kindOf(x, null));
    return fields.size === 0 ? leaf('json') : { kind: 'struct', fields };
  }
  return leaf('json');
}

/** The type that holds values of both. */
export function merge(a: TypeNode, b: TypeNode): TypeNode {
  if (a.kind === 'null') return b;
  if (b.kind === 'null') return a;
  if (a.kind === 'json' || b.kind === 'json') return leaf('json');
  if (a.kind !== b.kind) {
    if ((a.kind === 'int' && b.kind === 'double') || (a.kind === 'double' && b.kind === 'int')) return leaf('double');
    return leaf('json');
  }
  if (a.kind === 'list') return { kind: 'list', element: merge(a.element!, b.element!) };
  if (a.kind === 'struct') {
    const fields = new Map(a.fields!);
    for (const [k, t] of b.fields!) fields.set(k, fields.has(k) ? merge(fields.get(k)!, t) : t);
    return { kind: 'struct', fields };
  }
  if (a.kind === 'bbox') return { kind: 'bbox', z: a.z === true || b.z === true };
  return a;
}

/** An item's columns: top-level keys, then its properties (minus colliding names). */
export function rowOf(item: Record<string, unknown>): Map<string, unknown> {
  const row = new Map<string, unknown>();
  for (const k of TOP_LEVEL) row.set(k, item[k] ?? null);
  const props = item.properties;
  if (props && typeof props === 'object' && !Array.isArray(props)) {
    for (const [k, v] of Object.entries(props as Record<string, unknown>)) if (!row.has(k)) row.set(k, v);
  }
  return row;
}

function columnKind(name: string, v: unknown): TypeNode {
  if (name === 'geometry' || name === 'proj:geometry') return leaf('wkb');
  if (name === 'bbox') {
    if (v === null || v === undefined) return leaf('null');
    const ok = Array.isArray(v) && (v.length === 4 || v.length === 6) && v.every((n) => typeof n === 'number');
    return ok ? { kind: 'bbox', z: v.length === 6 } : leaf('json');
  }
  if (name === 'stac_extensions') return { kind: 'list', element: leaf('string') };
  if (name === 'assets' && v && typeof v === 'object') {
    const fields = new Map<string, TypeNode>();
    for (const [k, a] of Object.entries(v as Record<string, unknown>)) {
      const t = kindOf(a, null);
      // An asset's own proj:geometry is GeoJSON too: WKB, like the item's.
      if (t.kind === 'struct' && t.fields!.has('proj:geometry')) t.fields!.set('proj:geometry', leaf('wkb'));
      fields.set(k, t);
    }
    return fields.size === 0 ? leaf('null') : { kind: 'struct', fields };
  }
  return kindOf(v, TIMESTAMP_PROPERTIES.has(name) ? 'timestamp' : null);
}

/** Accumulates the columns of every item seen. */
export class SchemaInference {
  readonly columns = new Map<string, TypeNode>();
  readonly geometryTypes = new Set<string>();
  rows = 0;

  add(item: Record<string, unknown>): void {
    this.rows++;
    for (const [name, v] of rowOf(item)) {
      const t = columnKind(name, v);
      const had = this.columns.get(name);
      this.columns.set(name, had ? merge(had, t) : t);
    }
    const g = item.geometry as { type?: unknown; coordinates?: unknown } | null;
    if (g && typeof g.type === 'string') this.geometryTypes.add(`${g.type}${hasZ(g.coordinates) ? ' Z' : ''}`);
  }
}

function hasZ(c: unknown): boolean {
  let x = c;
  while (Array.isArray(x) && Array.isArray(x[0])) x = x[0];
  return Array.isArray(x) && x.length >= 3;
}

const STRING: Omit<SchemaElement, 'name'> = { type: 'BYTE_ARRAY', converted_type: 'UTF8', logical_type: { type: 'STRING' } };

/** Parquet schema elements (depth-first) of one column. */
function elementsOf(name: string, t: TypeNode): SchemaElement[] {
  const opt = { name, repetition_type: 'OPTIONAL' as const };
  switch (t.kind) {
    case 'bool':
      return [{ ...opt, type: 'BOOLEAN' }];
    case 'int':
      return [{ ...opt, type: 'INT64' }];
    case 'double':
      return [{ ...opt, type: 'DOUBLE' }];
    case 'timestamp':
      return [{ ...opt, type: 'INT64', logical_type: { type: 'TIMESTAMP', isAdjustedToUTC: true, unit: 'MICROS' } }];
    case 'wkb':
      return [{ ...opt, type: 'BYTE_ARRAY' }];
    case 'bbox': {
      const axes = t.z ? ['xmin', 'ymin', 'zmin', 'xmax', 'ymax', 'zmax'] : ['xmin', 'ymin', 'xmax', 'ymax'];
      return [{ ...opt, num_children: axes.length }, ...axes.map((a) => ({ name: a, repetition_type: 'OPTIONAL' as const, type: 'DOUBLE' as const }))];
    }
    case 'list':
      return [
        { ...opt, num_children: 1, converted_type: 'LIST', logical_type: { type: 'LIST' } },
        { name: 'list', repetition_type: 'REPEATED', num_children: 1 },
        ...elementsOf('element', t.element!),
      ];
    case 'struct': {
      const children = [...t.fields!].flatMap(([k, f]) => elementsOf(k, f));
      return [{ ...opt, num_children: t.fields!.size }, ...children];
    }
    default:
      // null (never a value: a string column of nulls) and json (the JSON text).
      return [{ ...opt, ...STRING }];
  }
}

export function parquetSchema(columns: ReadonlyMap<string, TypeNode>): SchemaElement[] {
  const out: SchemaElement[] = [{ name: 'root', num_children: columns.size }];
  for (const [name, t] of columns) out.push(...elementsOf(name, t));
  return out;
}

/** GeoJSON → WKB, given by the writer library. */
export type ToWkb = (g: Record<string, unknown>) => Uint8Array;

/** A JSON value as the writer takes it for type `t`; SchemaDrift when it does not fit. */
export function convert(t: TypeNode, v: unknown, wkb: ToWkb, where: string): unknown {
  if (v === null || v === undefined) return null;
  const drift = (): never => {
    throw new SchemaDrift(`${where}: ${JSON.stringify(v).slice(0, 80)} is not ${t.kind}`);
  };
  switch (t.kind) {
    case 'null':
      return drift();
    case 'json':
      return JSON.stringify(v);
    case 'bool':
      return typeof v === 'boolean' ? v : drift();
    case 'int':
      return typeof v === 'number' && Number.isSafeInteger(v) ? BigInt(v) : drift();
    case 'double':
      return typeof v === 'number' ? v : drift();
    case 'string':
      return typeof v === 'string' ? v : drift();
    case 'timestamp': {
      const us = typeof v === 'string' ? timestampMicros(v) : null;
      return us === null ? drift() : us;
    }
    case 'wkb':
      // Validated at the boundary (api/stac/record.ts); a geometry the encoder still refuses is left empty.
      try {
        return wkb(v as Record<string, unknown>);
      } catch {
        return null;
      }
    case 'bbox': {
      if (!Array.isArray(v) || (v.length !== 4 && v.length !== 6) || v.some((n) => typeof n !== 'number') || (v.length === 6 && !t.z)) return drift();
      const b = v as number[];
      if (!t.z) return { xmin: b[0], ymin: b[1], xmax: b[2], ymax: b[3] };
      return b.length === 6 ? { xmin: b[0], ymin: b[1], zmin: b[2], xmax: b[3], ymax: b[4], zmax: b[5] } : { xmin: b[0], ymin: b[1], zmin: null, xmax: b[2], ymax: b[3], zmax: null };
    }
    case 'list':
      return Array.isArray(v) ? v.map((x, i) => convert(t.element!, x, wkb, `${where}[${i}]`)) : drift();
    case 'struct': {
      if (typeof v !== 'object' || Array.isArray(v)) return drift();
      const o = v as Record<string, unknown>;
      for (const k of Object.keys(o)) if (!t.fields!.has(k)) drift();
      const out: Record<string, unknown> = {};
      for (const [k, f] of t.fields!) out[k] = convert(f, o[k], wkb, `${where}.${k}`);
      return out;
    }
  }
}
