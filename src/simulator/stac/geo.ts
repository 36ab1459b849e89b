// Planar geometry for the STAC simulator: bboxes, geohashes, and an intersection test good
// enough for item footprints (small polygons, no antimeridian crossing).

export type Position = [number, number];
export type BBox = [number, number, number, number];

export interface PointGeometry {
  type: 'Point';
  coordinates: Position;
}
export interface PolygonGeometry {
  type: 'Polygon';
  coordinates: Position[][];
}
export interface MultiPolygonGeometry {
  type: 'MultiPolygon';
  coordinates: Position[][][];
}
export type Geometry = PointGeometry | PolygonGeometry | MultiPolygonGeometry;

/** A geometry as a list of closed rings (outer rings only; holes are ignored) or a point. */
type Shape = { points: Position[]; rings: Position[][] };

const GEOHASH_ALPHABET = '0123456789bcdefghjkmnpqrstuvwxyz';

/** Standard geohash of (lon, lat) with `precision` characters. */
export function geohash(lon: number, lat: number, precision: number): string {
  let lonLo = -180;
  let lonHi = 180;
  let latLo = -90;
  let latHi = 90;
  let out = '';
  let bit = 0;
  let ch = 0;
  let even = true;
  while (out.length < precision) {
    if (even) {
      const mid = (lonLo + lonHi) / 2;
      if (lon >= mid) {
        ch = (ch << 1) | 1;
        lonLo = mid;
      } else {
        ch <<= 1;
        lonHi = mid;
      }
    } else {
      const mid = (latLo + latHi) / 2;
      if (lat >= mid) {
        ch = (ch << 1) | 1;
        latLo = mid;
      } else {
        ch <<= 1;
        latHi = mid;
      }
    }
    even = !even;
    if (++bit === 5) {
      out += GEOHASH_ALPHABET[ch];
      bit = 0;
      ch = 0;
    }
  }
  return out;
}

export function bboxPolygon(b: BBox): PolygonGeometry {
  const [w, s, e, n] = b;
  return { type: 'Polygon', coordinates: [[[w, s], [e, s], [e, n], [w, n], [w, s]]] };
}

export function geometryBBox(g: Geometry): BBox {
  const pts: Position[] =
    g.type === 'Point' ? [g.coordinates] : g.type === 'Polygon' ? g.coordinates.flat() : g.coordinates.flat(2);
  let w = Infinity;
  let s = Infinity;
  let e = -Infinity;
  let n = -Infinity;
  for (const [x, y] of pts) {
    w = Math.min(w, x);
    e = Math.max(e, x);
    s = Math.min(s, y);
    n = Math.max(n, y);
  }
  return [w, s, e, n];
}

function isPosition(v: unknown): v is Position {
  return (
    Array.isArray(v) &&
    (v.length === 2 || v.length === 3) &&
    v.every((x) => typeof x === 'number' && Number.isFinite(x)) &&
    Math.abs(v[0] as number) <= 180 &&
    Math.abs(v[1] as number) <= 90
  );
}

function isRing(v: unknown): v is Position[] {
  if (!Array.isArray(v) || v.length < 4 || !v.every(isPosition)) return false;
  const a = v[0] as Position;
  const b = v[v.length - 1] as Position;
  return a[0] === b[0] && a[1] === b[1];
}

/** Validate an untrusted GeoJSON geometry; returns an error message or null. */
export function geometryError(v: unknown): string | null {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return 'geometry must be a GeoJSON object';
  const g = v as { type?: unknown; coordinates?: unknown };
  switch (g.type) {
    case 'Point':
      return isPosition(g.coordinates) ? null : 'Point coordinates must be [lon, lat]';
    case 'Polygon':
      return Array.isArray(g.coordinates) && g.coordinates.length > 0 && g.coordinates.every(isRing)
        ? null
        : 'Polygon coordinates must be closed linear rings of at least 4 positions';
    case 'MultiPolygon':
      return Array.isArray(g.coordinates) &&
        g.coordinates.length > 0 &&
        g.coordinates.every((p) => Array.isArray(p) && p.length > 0 && p.every(isRing))
        ? null
        : 'MultiPolygon coordinates must be arrays of closed linear rings';
    default:
      return `unsupported geometry type ${JSON.stringify(g.type)} (Point, Polygon, MultiPolygon)`;
  }
}

/** Validate a bbox array (4 numbers, or 6 with heights); returns the 2D bbox or an error message. */
export function parseBBox(v: unknown): BBox | string {
  if (!Array.isArray(v) || (v.length !== 4 && v.length !== 6) || !v.every((x) => typeof x === 'number' && Number.isFinite(x))) {
    return 'bbox must be 4 (or 6) numbers';
  }
  const n = v as number[];
  const b: BBox = n.length === 4 ? [n[0]!, n[1]!, n[2]!, n[3]!] : [n[0]!, n[1]!, n[3]!, n[4]!];
  if (b[1] > b[3]) return 'bbox south must not exceed north';
  if (Math.abs(b[0]) > 180 || Math.abs(b[2]) > 180 || Math.abs(b[1]) > 90 || Math.abs(b[3]) > 90) {
    return 'bbox is out of range for WGS 84';
  }
  if (b[0] > b[2]) return 'bbox crossing the antimeridian is not supported';
  return b;
}

function shape(g: Geometry): Shape {
  if (g.type === 'Point') return { points: [g.coordinates], rings: [] };
  if (g.type === 'Polygon') return { points: [], rings: [g.coordinates[0]!] };
  return { points: [], rings: g.coordinates.map((p) => p[0]!) };
}

function cross(o: Position, a: Position, b: Position): number {
  return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]);
}

function onSegment(p: Position, a: Position, b: Position): boolean {
  return (
    Math.min(a[0], b[0]) <= p[0] && p[0] <= Math.max(a[0], b[0]) && Math.min(a[1], b[1]) <= p[1] && p[1] <= Math.max(a[1], b[1])
  );
}

function segmentsIntersect(p1: Position, p2: Position, q1: Position, q2: Position): boolean {
  const d1 = cross(q1, q2, p1);
  const d2 = cross(q1, q2, p2);
  const d3 = cross(p1, p2, q1);
  const d4 = cross(p1, p2, q2);
  if (((d1 > 0 && d2 < 0) || (d1 < 0 && d2 > 0)) && ((d3 > 0 && d4 < 0) || (d3 < 0 && d4 > 0))) return true;
  return (
    (d1 === 0 && onSegment(p1, q1, q2)) ||
    (d2 === 0 && onSegment(p2, q1, q2)) ||
    (d3 === 0 && onSegment(q1, p1, p2)) ||
    (d4 === 0 && onSegment(q2, p1, p2))
  );
}

/** Point in ring (boundary counts as inside). */
function inRing(p: Position, ring: Position[]): boolean {
  let inside = false;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
    const a = ring[i]!;
    const b = ring[j]!;
    if (cross(a, b, p) === 0 && onSegment(p, a, b)) return true;
    if (a[1] > p[1] !== b[1] > p[1] && p[0] < ((b[0] - a[0]) * (p[1] - a[1])) / (b[1] - a[1]) + a[0]) inside = !inside;
  }
  return inside;
}

function ringsIntersect(r1: Position[], r2: Position[]): boolean {
  for (let i = 0; i + 1 < r1.length; i++) {
    for (let j = 0; j + 1 < r2.length; j++) {
      if (segmentsIntersect(r1[i]!, r1[i + 1]!, r2[j]!, r2[j + 1]!)) return true;
    }
  }
  return inRing(r1[0]!, r2) || inRing(r2[0]!, r1);
}

/** True when the two geometries share at least one point (outer rings only). */
export function intersects(a: Geometry, b: Geometry): boolean {
  const sa = shape(a);
  const sb = shape(b);
  for (const p of sa.points) {
    if (sb.points.some((q) => q[0] === p[0] && q[1] === p[1])) return true;
    if (sb.rings.some((r) => inRing(p, r))) return true;
  }
  for (const p of sb.points) if (sa.rings.some((r) => inRing(p, r))) return true;
  for (const r1 of sa.rings) for (const r2 of sb.rings) if (ringsIntersect(r1, r2)) return true;
  return false;
}
