import { describe, expect, it } from 'vitest';
import { Cql2Error, compileCql2, parseCql2Text } from '../../src/simulator/index.js';

type V = string | number | boolean | null | { t0: number; t1: number } | Record<string, unknown>;

const T = (s: string): { t0: number; t1: number } => ({ t0: Date.parse(s), t1: Date.parse(s) });

const footprint = { type: 'Polygon', coordinates: [[[8, 47], [9, 47], [9, 48], [8, 48], [8, 47]]] };

const item: Record<string, V> = {
  id: 'LSTZOOM_SBA01_U0QJ_20260701T103000Z',
  collection: 'lstzoom',
  'order:id': 'ord-1',
  gsd: 10,
  datetime: T('2026-07-01T10:30:00Z'),
  updated: T('2026-07-02T04:00:00Z'),
  created: null,
  geometry: footprint,
};

function run(filter: unknown, props: Record<string, V> = item): boolean {
  const f = compileCql2(filter);
  return f((name) => (name in props ? (props[name] as never) : null));
}

const p = (property: string): { property: string } => ({ property });
const op = (o: string, ...args: unknown[]): unknown => ({ op: o, args });

describe('CQL2-JSON evaluator', () => {
  it('compares strings, numbers and timestamps', () => {
    expect(run(op('=', p('order:id'), 'ord-1'))).toBe(true);
    expect(run(op('<>', p('order:id'), 'ord-1'))).toBe(false);
    expect(run(op('<', p('gsd'), 30))).toBe(true);
    expect(run(op('<=', p('gsd'), 10))).toBe(true);
    expect(run(op('>', p('gsd'), 10))).toBe(false);
    expect(run(op('>=', p('gsd'), 10))).toBe(true);
    expect(run(op('>', p('updated'), { timestamp: '2026-07-02T03:59:59Z' }))).toBe(true);
    expect(run(op('>', p('updated'), { timestamp: '2026-07-02T04:00:00Z' }))).toBe(false);
    expect(run(op('>=', p('updated'), { timestamp: '2026-07-02T06:00:00+02:00' }))).toBe(true);
    // a plain RFC 3339 string against a temporal property compares as an instant
    expect(run(op('=', p('datetime'), '2026-07-01T10:30:00Z'))).toBe(true);
    // `properties.` prefix is accepted
    expect(run(op('=', p('properties.gsd'), 10))).toBe(true);
    // mismatched types never match
    expect(run(op('=', p('gsd'), '10'))).toBe(false);
  });

  it("accepts Constellr's documented eq and every operator name of its documentation, in any case (issue 22 item 15)", () => {
    // The filter of Constellr's documentation and official download script, verbatim.
    expect(run({ op: 'eq', args: [{ property: 'order:id' }, 'ord-1'] })).toBe(true);
    expect(run({ op: 'eq', args: [{ property: 'order:id' }, 'ord-2'] })).toBe(false);
    // the older draft names beside the CQL2 1.0 symbols, each the same as its symbol
    const pairs: [string, string][] = [['eq', '='], ['neq', '<>'], ['lt', '<'], ['lte', '<='], ['gt', '>'], ['gte', '>=']];
    for (const [alias, symbol] of pairs) {
      for (const v of [5, 10, 30]) expect(run(op(alias, p('gsd'), v)), `${alias} ${v}`).toBe(run(op(symbol, p('gsd'), v)));
      expect(run(op(alias.toUpperCase(), p('gsd'), 10)), alias.toUpperCase()).toBe(run(op(symbol, p('gsd'), 10)));
    }
    // the CQL2 names the documentation lists
    const eq = op('eq', p('order:id'), 'ord-1');
    expect(run(op('and', eq, op('=', p('gsd'), 10)))).toBe(true);
    expect(run(op('or', op('eq', p('gsd'), 1), eq))).toBe(true);
    expect(run(op('not', eq))).toBe(false);
    expect(run(op('in', p('order:id'), ['ord-0', 'ord-1']))).toBe(true);
    expect(run(op('between', p('gsd'), 5, 10))).toBe(true);
    expect(run(op('like', p('id'), 'LSTZOOM%'))).toBe(true);
    expect(run(op('isNull', p('created')))).toBe(true);
    expect(() => compileCql2(op('equals', p('gsd'), 10))).toThrow(/unsupported operator "equals"/);
  });

  it('uses three-valued logic: null is unknown, and not(unknown) is still unknown', () => {
    const missing = op('=', p('created'), 'x');
    expect(run(missing)).toBe(false);
    expect(run(op('not', missing))).toBe(false);
    expect(run(op('or', missing, op('=', p('gsd'), 10)))).toBe(true);
    expect(run(op('and', missing, op('=', p('gsd'), 10)))).toBe(false);
    expect(run(op('not', op('and', missing, op('=', p('gsd'), 30))))).toBe(true);
    expect(run(op('isNull', p('created')))).toBe(true);
    expect(run(op('isNull', p('updated')))).toBe(false);
    expect(run(op('not', op('isNull', p('nonexistent'))))).toBe(false);
  });

  it('supports in, between and like', () => {
    expect(run(op('in', p('collection'), ['lstprecision', 'lstzoom']))).toBe(true);
    expect(run(op('in', p('collection'), ['lstfusion']))).toBe(false);
    expect(run(op('between', p('gsd'), 5, 10))).toBe(true);
    expect(run(op('between', p('gsd'), 11, 20))).toBe(false);
    expect(run(op('like', p('id'), 'LSTZOOM\\_%'))).toBe(true);
    expect(run(op('like', p('id'), 'LSTZOOM_SBA0_%'))).toBe(true);
    expect(run(op('like', p('id'), 'LSTPRECISION%'))).toBe(false);
    expect(run(op('like', p('id'), '%_20260701T103000Z'))).toBe(true);
    expect(run(op('like', p('id'), '%%Z'))).toBe(true);
    expect(run(op('like', p('order:id'), 'ord-_'))).toBe(true);
    expect(run(op('like', p('order:id'), 'ord-__'))).toBe(false);
    // a pattern that sends a backtracking regex engine into exponential time answers at once
    const hostile = `${'%a'.repeat(30)}%b`;
    expect(run(op('like', p('id'), hostile), { ...item, id: 'a'.repeat(5000) })).toBe(false);
    expect(run(op('like', p('id'), `${'%a'.repeat(30)}%`), { ...item, id: 'a'.repeat(5000) })).toBe(true);
  });

  it('implements the temporal functions over instants, dates and intervals', () => {
    const dt = p('datetime');
    expect(run(op('t_after', dt, { timestamp: '2026-07-01T10:29:59Z' }))).toBe(true);
    expect(run(op('t_after', dt, { timestamp: '2026-07-01T10:30:00Z' }))).toBe(false);
    expect(run(op('t_before', dt, { timestamp: '2026-07-01T10:30:01Z' }))).toBe(true);
    expect(run(op('t_before', dt, { date: '2026-07-01' }))).toBe(false);
    expect(run(op('t_intersects', dt, { date: '2026-07-01' }))).toBe(true);
    expect(run(op('t_intersects', dt, { interval: ['2026-07-01T10:30:00Z', '..'] }))).toBe(true);
    expect(run(op('t_intersects', dt, { interval: ['..', '2026-06-30'] }))).toBe(false);
    expect(run(op('t_intersects', dt, { interval: ['2026-06-30', '2026-07-01'] }))).toBe(true);
    expect(run(op('t_during', dt, { interval: ['2026-07-01T00:00:00Z', '2026-07-02T00:00:00Z'] }))).toBe(true);
    expect(run(op('t_disjoint', dt, { interval: ['2026-07-02T00:00:00Z', '..'] }))).toBe(true);
    expect(run(op('t_equals', dt, { timestamp: '2026-07-01T10:30:00Z' }))).toBe(true);
    expect(run(op('t_meets', { interval: ['2026-07-01T00:00:00Z', '2026-07-01T10:30:00Z'] }, dt))).toBe(true);
    expect(run(op('t_after', p('created'), { timestamp: '2026-07-01T00:00:00Z' }))).toBe(false);
  });

  it('evaluates s_intersects and s_disjoint with a bbox, a point and a polygon', () => {
    const g = p('geometry');
    expect(run(op('s_intersects', g, { bbox: [8.5, 47.5, 10, 49] }))).toBe(true);
    expect(run(op('s_intersects', g, { bbox: [9.01, 47, 10, 48] }))).toBe(false);
    // touching edges count
    expect(run(op('s_intersects', g, { bbox: [9, 47, 10, 48] }))).toBe(true);
    expect(run(op('s_intersects', g, { type: 'Point', coordinates: [8.5, 47.5] }))).toBe(true);
    expect(run(op('s_intersects', g, { type: 'Point', coordinates: [7.5, 47.5] }))).toBe(false);
    // a polygon that crosses without containing any vertex of the other
    const cross = { type: 'Polygon', coordinates: [[[8.4, 46], [8.6, 46], [8.6, 49], [8.4, 49], [8.4, 46]]] };
    expect(run(op('s_intersects', g, cross))).toBe(true);
    // a polygon containing the footprint entirely
    const around = { type: 'Polygon', coordinates: [[[0, 40], [20, 40], [20, 60], [0, 60], [0, 40]]] };
    expect(run(op('s_intersects', g, around))).toBe(true);
    expect(run(op('s_disjoint', g, { bbox: [-10, -10, -5, -5] }))).toBe(true);
    const multi = { type: 'MultiPolygon', coordinates: [[[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]], around.coordinates] };
    expect(run(op('s_intersects', g, multi))).toBe(true);
  });

  it('rejects malformed and hostile expressions with Cql2Error', () => {
    const bad: unknown[] = [
      null,
      'gsd = 10',
      [],
      { op: 'frobnicate', args: [] },
      { op: '=', args: [p('gsd')] },
      { op: '=' },
      { op: 'and', args: [op('=', p('gsd'), 1)] },
      { op: 'not', args: [true, false] },
      op('=', { property: '' }, 1),
      op('t_after', p('datetime'), { timestamp: '2026-07-01' }),
      op('t_after', p('datetime'), { timestamp: '2026-07-01T10:00:00' }),
      op('t_after', p('datetime'), { date: '2026-13-45' }),
      op('t_after', p('datetime'), { interval: ['2026-07-02', '2026-07-01'] }),
      op('s_intersects', p('geometry'), { bbox: [1, 2, 3] }),
      op('s_intersects', p('geometry'), { type: 'LineString', coordinates: [[0, 0], [1, 1]] }),
      op('s_intersects', p('geometry'), { type: 'Polygon', coordinates: [[[0, 0], [1, 0], [0, 0]]] }),
      op('=', op('+', 1, 2), 3),
      op('in', p('gsd'), 10),
      op('like', p('id'), 5),
    ];
    for (const b of bad) expect(() => compileCql2(b), JSON.stringify(b)).toThrow(Cql2Error);
    // depth and size limits
    let deep: unknown = op('=', p('gsd'), 10);
    for (let i = 0; i < 100; i++) deep = op('not', deep);
    expect(() => compileCql2(deep)).toThrow(/deeper/);
    expect(() => compileCql2(op('in', p('gsd'), Array.from({ length: 20_000 }, (_, i) => i)))).toThrow(/nodes/);
  });
});

describe('CQL2-Text', () => {
  it('parses into the equivalent CQL2-JSON', () => {
    expect(parseCql2Text(`"order:id" = 'ord-1' AND gsd >= 10`)).toEqual(op('and', op('=', p('order:id'), 'ord-1'), op('>=', p('gsd'), 10)));
    expect(parseCql2Text(`a = 1 OR b = 2 AND c = 3`)).toEqual(op('or', op('=', p('a'), 1), op('and', op('=', p('b'), 2), op('=', p('c'), 3))));
    expect(parseCql2Text(`NOT (a <> 'it''s')`)).toEqual(op('not', op('<>', p('a'), "it's")));
    expect(parseCql2Text(`updated IS NOT NULL`)).toEqual(op('not', op('isNull', p('updated'))));
    expect(parseCql2Text(`collection IN ('lstzoom', 'lstfusion')`)).toEqual(op('in', p('collection'), ['lstzoom', 'lstfusion']));
    expect(parseCql2Text(`gsd NOT BETWEEN 1 AND 5`)).toEqual(op('not', op('between', p('gsd'), 1, 5)));
    expect(parseCql2Text(`T_AFTER(datetime, TIMESTAMP('2026-07-01T00:00:00Z'))`)).toEqual(op('t_after', p('datetime'), { timestamp: '2026-07-01T00:00:00Z' }));
    expect(parseCql2Text(`t_intersects(datetime, INTERVAL('2026-07-01', '..'))`)).toEqual(op('t_intersects', p('datetime'), { interval: ['2026-07-01', '..'] }));
    expect(parseCql2Text(`S_INTERSECTS(geometry, BBOX(8, 47, 9, 48))`)).toEqual(op('s_intersects', p('geometry'), { bbox: [8, 47, 9, 48] }));
    expect(parseCql2Text(`s_intersects(geometry, POLYGON((8 47, 9 47, 9 48, 8 47)))`)).toEqual(
      op('s_intersects', p('geometry'), { type: 'Polygon', coordinates: [[[8, 47], [9, 47], [9, 48], [8, 47]]] }),
    );
    expect(parseCql2Text(`s_intersects(geometry, POINT(8.5 47.5))`)).toEqual(op('s_intersects', p('geometry'), { type: 'Point', coordinates: [8.5, 47.5] }));
    expect(parseCql2Text(`id LIKE 'LST%'`)).toEqual(op('like', p('id'), 'LST%'));
  });

  it('evaluates what it parses, and rejects syntax errors', () => {
    expect(run(parseCql2Text(`"order:id" = 'ord-1' AND datetime >= TIMESTAMP('2026-07-01T00:00:00Z')`))).toBe(true);
    expect(run(parseCql2Text(`s_intersects(geometry, BBOX(20, 20, 21, 21))`))).toBe(false);
    expect(() => parseCql2Text(`${'NOT '.repeat(10_000)} a = 1`)).toThrow(/deeper/);
    expect(() => parseCql2Text(`${'('.repeat(10_000)} a = 1 ${')'.repeat(10_000)}`)).toThrow(/deeper/);
    for (const bad of ['', 'a =', "a = 'open", 'a = 1 AND', '(a = 1', 'a ~ 1', 'a IS 1', 'FOO(1)', 'a = 1 b']) {
      expect(() => compileCql2(parseCql2Text(bad)), bad).toThrow(Cql2Error);
    }
  });
});
