// A CQL2-JSON evaluator for the simulator's item search: and/or/not, comparisons (also by their draft
// names eq, neq, lt, lte, gt, gte, as Constellr's documentation filters), isNull, in,
// between, like, the temporal functions (t_after, t_before, t_intersects, …) and s_intersects /
// s_disjoint with a bbox or a GeoJSON Point/Polygon/MultiPolygon. The expression is validated and
// compiled once; evaluation uses CQL2's three-valued logic (a comparison with null is unknown, and
// only `true` selects an item).
import { type Geometry, bboxPolygon, geometryError, intersects, parseBBox } from './geo.js';

export class Cql2Error extends Error {}

/** Interval in ms; an instant has t0 === t1. Open ends are ±Infinity. */
export interface Interval {
  readonly t0: number;
  readonly t1: number;
}

export type Value = string | number | boolean | null | Interval | Geometry | Value[];

/** Reads a queryable of one item: `datetime`/`updated` as Intervals, `geometry` as Geometry. */
export type PropertyReader = (name: string) => Value;

type Tri = boolean | null;
type Pred = (get: PropertyReader) => Tri;
type Expr = (get: PropertyReader) => Value;

const MAX_DEPTH = 64;
const MAX_NODES = 10_000;
const ISO_TS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})$/i;
const ISO_DATE = /^\d{4}-\d{2}-\d{2}$/;
const DAY = 86_400_000;
/**
 * Operator names of the CQL2 drafts that servers still accept beside the CQL2 1.0 symbols; Constellr's
 * documentation and download script filter with `{"op": "eq", …}`.
 */
const ALIASES: Record<string, string> = { eq: '=', neq: '<>', lt: '<', lte: '<=', gt: '>', gte: '>=' };

export function isInterval(v: unknown): v is Interval {
  return typeof v === 'object' && v !== null && 't0' in v && 't1' in v;
}

function isGeometry(v: unknown): v is Geometry {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && 'type' in v && 'coordinates' in v;
}

export function parseTimestamp(s: unknown): number {
  if (typeof s !== 'string' || !ISO_TS.test(s)) throw new Cql2Error(`invalid timestamp ${JSON.stringify(s)} (RFC 3339 with a time zone)`);
  const ms = Date.parse(s);
  if (!Number.isFinite(ms)) throw new Cql2Error(`invalid timestamp ${JSON.stringify(s)}`);
  return ms;
}

function parseDate(s: unknown): Interval {
  if (typeof s !== 'string' || !ISO_DATE.test(s) || !Number.isFinite(Date.parse(`${s}T00:00:00Z`))) {
    throw new Cql2Error(`invalid date ${JSON.stringify(s)} (YYYY-MM-DD)`);
  }
  const t0 = Date.parse(`${s}T00:00:00Z`);
  return { t0, t1: t0 + DAY - 1 };
}

function intervalEnd(v: unknown, open: number): number {
  if (v === '..') return open;
  if (typeof v === 'string' && ISO_DATE.test(v)) {
    const d = parseDate(v);
    return open < 0 ? d.t0 : d.t1;
  }
  if (typeof v === 'object' && v !== null && 'timestamp' in v) return parseTimestamp((v as { timestamp: unknown }).timestamp);
  if (typeof v === 'object' && v !== null && 'date' in v) return open < 0 ? parseDate((v as { date: unknown }).date).t0 : parseDate((v as { date: unknown }).date).t1;
  return parseTimestamp(v);
}

class Compiler {
  private nodes = 0;

  pred(node: unknown, depth: number): Pred {
    this.guard(depth);
    if (typeof node === 'boolean') return () => node;
    if (typeof node !== 'object' || node === null || Array.isArray(node)) throw new Cql2Error('a filter must be a boolean expression object {"op": …, "args": […]}');
    const { op, args } = node as { op?: unknown; args?: unknown };
    if (typeof op !== 'string') throw new Cql2Error('expression without an "op"');
    if (!Array.isArray(args)) throw new Cql2Error(`"${op}" needs an "args" array`);
    const name = ALIASES[op.toLowerCase()] ?? op.toLowerCase();
    const arity = (n: number): void => {
      if (args.length !== n) throw new Cql2Error(`"${op}" takes ${n} argument${n === 1 ? '' : 's'}`);
    };
    switch (name) {
      case 'and':
      case 'or': {
        if (args.length < 2) throw new Cql2Error(`"${op}" takes at least 2 arguments`);
        const ps = args.map((a) => this.pred(a, depth + 1));
        return name === 'and' ? (g) => and(ps, g) : (g) => or(ps, g);
      }
      case 'not': {
        arity(1);
        const p = this.pred(args[0], depth + 1);
        return (g) => {
          const r = p(g);
          return r === null ? null : !r;
        };
      }
      case '=':
      case '<>':
      case '<':
      case '<=':
      case '>':
      case '>=': {
        arity(2);
        const [a, b] = [this.expr(args[0], depth + 1), this.expr(args[1], depth + 1)];
        return (g) => compare(name, a(g), b(g));
      }
      case 'isnull': {
        arity(1);
        const a = this.expr(args[0], depth + 1);
        return (g) => a(g) === null;
      }
      case 'in': {
        arity(2);
        const a = this.expr(args[0], depth + 1);
        if (!Array.isArray(args[1])) throw new Cql2Error('"in" needs a list as its second argument');
        const list = (args[1] as unknown[]).map((x) => this.expr(x, depth + 1));
        return (g) => {
          const v = a(g);
          if (v === null) return null;
          return list.some((e) => compare('=', v, e(g)) === true);
        };
      }
      case 'between': {
        arity(3);
        const [a, lo, hi] = args.map((x) => this.expr(x, depth + 1)) as [Expr, Expr, Expr];
        return (g) => {
          const v = a(g);
          const l = compare('>=', v, lo(g));
          const h = compare('<=', v, hi(g));
          return l === null || h === null ? null : l && h;
        };
      }
      case 'like': {
        arity(2);
        const a = this.expr(args[0], depth + 1);
        if (typeof args[1] !== 'string') throw new Cql2Error('"like" needs a string pattern');
        const re = likePattern(args[1]);
        return (g) => {
          const v = a(g);
          return typeof v === 'string' ? re.test(v) : null;
        };
      }
      case 's_intersects':
      case 's_disjoint': {
        arity(2);
        const [a, b] = [this.expr(args[0], depth + 1), this.expr(args[1], depth + 1)];
        return (g) => {
          const x = a(g);
          const y = b(g);
          if (!isGeometry(x) || !isGeometry(y)) return null;
          const hit = intersects(x, y);
          return name === 's_intersects' ? hit : !hit;
        };
      }
      default: {
        const t = TEMPORAL[name];
        if (!t) throw new Cql2Error(`unsupported operator "${op}"`);
        arity(2);
        const [a, b] = [this.expr(args[0], depth + 1), this.expr(args[1], depth + 1)];
        return (g) => {
          const x = a(g);
          const y = b(g);
          return isInterval(x) && isInterval(y) ? t(x, y) : null;
        };
      }
    }
  }

  expr(node: unknown, depth: number): Expr {
    this.guard(depth);
    if (node === null || typeof node === 'string' || typeof node === 'boolean') return () => node;
    if (typeof node === 'number') {
      if (!Number.isFinite(node)) throw new Cql2Error('numbers must be finite');
      return () => node;
    }
    if (Array.isArray(node)) {
      const list = node.map((x) => this.expr(x, depth + 1));
      return (g) => list.map((e) => e(g));
    }
    if (typeof node !== 'object') throw new Cql2Error('unsupported literal');
    const o = node as Record<string, unknown>;
    if ('property' in o) {
      if (typeof o.property !== 'string' || o.property === '') throw new Cql2Error('"property" must be a non-empty string');
      const p = o.property.startsWith('properties.') ? o.property.slice('properties.'.length) : o.property;
      return (g) => g(p);
    }
    if ('timestamp' in o) {
      const t = parseTimestamp(o.timestamp);
      return () => ({ t0: t, t1: t });
    }
    if ('date' in o) {
      const d = parseDate(o.date);
      return () => d;
    }
    if ('interval' in o) {
      const iv = o.interval;
      if (!Array.isArray(iv) || iv.length !== 2) throw new Cql2Error('"interval" must be [start, end]');
      const v = { t0: intervalEnd(iv[0], -Infinity), t1: intervalEnd(iv[1], Infinity) };
      if (v.t0 > v.t1) throw new Cql2Error('interval start is after its end');
      return () => v;
    }
    if ('bbox' in o) {
      const b = parseBBox(o.bbox);
      if (typeof b === 'string') throw new Cql2Error(b);
      const g = bboxPolygon(b);
      return () => g;
    }
    if ('type' in o) {
      const err = geometryError(o);
      if (err) throw new Cql2Error(err);
      return () => o as unknown as Geometry;
    }
    if ('op' in o) throw new Cql2Error(`"${String(o.op)}" cannot be used as a value (no arithmetic or function calls)`);
    throw new Cql2Error('unsupported literal');
  }

  private guard(depth: number): void {
    if (depth > MAX_DEPTH) throw new Cql2Error(`filter nested deeper than ${MAX_DEPTH}`);
    if (++this.nodes > MAX_NODES) throw new Cql2Error(`filter has more than ${MAX_NODES} nodes`);
  }
}

function and(ps: Pred[], g: PropertyReader): Tri {
  let unknown = false;
  for (const p of ps) {
    const r = p(g);
    if (r === false) return false;
    if (r === null) unknown = true;
  }
  return unknown ? null : true;
}

function or(ps: Pred[], g: PropertyReader): Tri {
  let unknown = false;
  for (const p of ps) {
    const r = p(g);
    if (r === true) return true;
    if (r === null) unknown = true;
  }
  return unknown ? null : false;
}

/** A temporal property against a plain RFC 3339 string: compare as instants (lenient, like pgstac). */
function coerce(a: Value, b: Value): [Value, Value] {
  if (isInterval(a) && typeof b === 'string' && ISO_TS.test(b)) return [a, { t0: Date.parse(b), t1: Date.parse(b) }];
  if (isInterval(b) && typeof a === 'string' && ISO_TS.test(a)) return [{ t0: Date.parse(a), t1: Date.parse(a) }, b];
  return [a, b];
}

function compare(op: string, x: Value, y: Value): Tri {
  const [a, b] = coerce(x, y);
  if (a === null || b === null) return null;
  let c: number;
  if (typeof a === 'number' && typeof b === 'number') c = a - b;
  else if (typeof a === 'string' && typeof b === 'string') c = a < b ? -1 : a > b ? 1 : 0;
  else if (typeof a === 'boolean' && typeof b === 'boolean') {
    if (op !== '=' && op !== '<>') return null;
    c = a === b ? 0 : 1;
  } else if (isInterval(a) && isInterval(b)) {
    if (a.t0 !== a.t1 || b.t0 !== b.t1) {
      // an interval (a date) equals only itself; order by start
      if (op === '=' || op === '<>') c = a.t0 === b.t0 && a.t1 === b.t1 ? 0 : 1;
      else c = a.t0 - b.t0;
    } else c = a.t0 - b.t0;
  } else return null;
  switch (op) {
    case '=': return c === 0;
    case '<>': return c !== 0;
    case '<': return c < 0;
    case '<=': return c <= 0;
    case '>': return c > 0;
    default: return c >= 0;
  }
}

/** A LIKE pattern as tokens: literal characters, '%' (any run) and '_' (any one character). */
function likePattern(p: string): { test(s: string): boolean } {
  const toks: (string | 0 | 1)[] = []; // 0 = '%', 1 = '_'
  for (let i = 0; i < p.length; i++) {
    const ch = p[i]!;
    if (ch === '\\' && i + 1 < p.length) toks.push(p[++i]!);
    else if (ch === '%') {
      if (toks[toks.length - 1] !== 0) toks.push(0);
    } else if (ch === '_') toks.push(1);
    else toks.push(ch);
  }
  return { test: (s) => likeMatch([...s], toks) };
}

/** Wildcard matching without backtracking blow-up: greedy with one remembered '%' (O(n·m)). */
function likeMatch(s: string[], p: (string | 0 | 1)[]): boolean {
  let i = 0;
  let j = 0;
  let star = -1;
  let mark = 0;
  while (i < s.length) {
    const t = p[j];
    if (j < p.length && t !== 0 && (t === 1 || t === s[i])) {
      i++;
      j++;
    } else if (j < p.length && t === 0) {
      star = j++;
      mark = i;
    } else if (star >= 0) {
      j = star + 1;
      i = ++mark;
    } else {
      return false;
    }
  }
  while (j < p.length && p[j] === 0) j++;
  return j === p.length;
}

const TEMPORAL: Record<string, (a: Interval, b: Interval) => boolean> = {
  t_after: (a, b) => a.t0 > b.t1,
  t_before: (a, b) => a.t1 < b.t0,
  t_intersects: (a, b) => a.t0 <= b.t1 && a.t1 >= b.t0,
  t_disjoint: (a, b) => !(a.t0 <= b.t1 && a.t1 >= b.t0),
  t_equals: (a, b) => a.t0 === b.t0 && a.t1 === b.t1,
  t_contains: (a, b) => a.t0 < b.t0 && a.t1 > b.t1,
  t_during: (a, b) => a.t0 > b.t0 && a.t1 < b.t1,
  t_finishedby: (a, b) => a.t0 < b.t0 && a.t1 === b.t1,
  t_finishes: (a, b) => a.t0 > b.t0 && a.t1 === b.t1,
  t_meets: (a, b) => a.t1 === b.t0,
  t_metby: (a, b) => a.t0 === b.t1,
  t_overlappedby: (a, b) => a.t0 > b.t0 && a.t0 < b.t1 && a.t1 > b.t1,
  t_overlaps: (a, b) => a.t0 < b.t0 && a.t1 > b.t0 && a.t1 < b.t1,
  t_startedby: (a, b) => a.t0 === b.t0 && a.t1 > b.t1,
  t_starts: (a, b) => a.t0 === b.t0 && a.t1 < b.t1,
};

/** Validate and compile a CQL2-JSON filter; throws Cql2Error with a message fit for a 400 body. */
export function compileCql2(filter: unknown): (get: PropertyReader) => boolean {
  const p = new Compiler().pred(filter, 0);
  return (get) => p(get) === true;
}
