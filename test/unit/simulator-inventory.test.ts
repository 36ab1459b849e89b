// The simulator's lastModifiedAfter listing skips blocks of old entries (added for the 1M-asset
// benchmarks). It must return exactly what a full scan returns, across mutations, both filter modes,
// `before`, start-after keys and page limits.
import { describe, expect, it } from 'vitest';
import { AssetInventory, compareKeys, type Asset, type FilterMode } from '../../src/simulator/index.js';
import { Rng } from '../../src/simulator/rng.js';

function bruteForce(all: Asset[], o: { after?: number; before?: number; startAfterKey?: string; limit: number; filterMode: FilterMode }) {
  const sorted = [...all].sort((a, b) => compareKeys(a.key, b.key));
  const ok = (a: Asset) =>
    (o.after === undefined || (o.filterMode === 'inclusive' ? a.lastModifiedMs >= o.after : a.lastModifiedMs > o.after)) &&
    (o.before === undefined || a.lastModifiedMs < o.before) &&
    (o.startAfterKey === undefined || compareKeys(a.key, o.startAfterKey) > 0);
  const m = sorted.filter(ok);
  return { keys: m.slice(0, o.limit).map((a) => a.key), truncated: m.length > o.limit };
}

describe('AssetInventory.list with lastModifiedAfter (block skipping)', () => {
  const seed = 20261127;
  it(`matches a full scan across mutations (seed ${seed})`, () => {
    const rng = new Rng(seed);
    const base = Date.parse('2026-01-01T00:00:00Z');
    const c = new AssetInventory();
    // 5,000 assets: mostly old, some recent ones scattered through the key space
    c.putMany(
      Array.from({ length: 5000 }, (_, i) => ({
        key: `k/${String(rng.int(0, 1_000_000)).padStart(7, '0')}-${i}`,
        size: 1,
        lastModified: base + (rng.chance(0.02) ? 86_400_000 + rng.int(0, 3600) * 1000 : rng.int(0, 86_400) * 1000),
      })),
    );
    for (let round = 0; round < 60; round++) {
      // mutate: put (new or overwrite), remove
      const op = rng.int(0, 3);
      const keys = c.keys();
      if (op === 0) c.put({ key: `k/new-${round}`, size: 2, lastModified: base + rng.int(0, 2 * 86_400) * 1000 });
      else if (op === 1) c.put({ key: keys[rng.int(0, keys.length)]!, size: 3, lastModified: base + rng.int(0, 2 * 86_400) * 1000 });
      else c.remove(keys[rng.int(0, keys.length)]!);
      const all = [...c];
      const filterMode: FilterMode = rng.chance(0.5) ? 'strict' : 'inclusive';
      const after = base + rng.int(0, 2 * 86_400) * 1000;
      const before = rng.chance(0.3) ? after + rng.int(1, 86_400) * 1000 : undefined;
      const startAfterKey = rng.chance(0.5) ? all[rng.int(0, all.length)]!.key : undefined;
      const limit = rng.int(1, 200);
      const got = c.list({ after, before, startAfterKey, limit, filterMode });
      const want = bruteForce(all, { after, before, startAfterKey, limit, filterMode });
      expect({ keys: got.items.map((a) => a.key), truncated: got.truncated }, `seed ${seed} round ${round}`).toEqual(want);
    }
  });

  it('lists the only recent asset at the end of a large old inventory, and nothing after it', () => {
    const base = Date.parse('2026-01-01T00:00:00Z');
    const c = new AssetInventory(Array.from({ length: 10_000 }, (_, i) => ({ key: `a/${String(i).padStart(5, '0')}`, size: 1, lastModified: base })));
    c.put({ key: 'z/recent', size: 1, lastModified: base + 5000 });
    expect(c.list({ after: base, limit: 10 }).items.map((a) => a.key)).toEqual(['z/recent']);
    expect(c.list({ after: base, limit: 20_000, filterMode: 'inclusive' }).items).toHaveLength(10_001);
    expect(c.list({ after: base + 5000, limit: 10 }).items).toEqual([]);
    expect(c.list({ after: base + 4000, limit: 1, filterMode: 'strict' })).toMatchObject({ truncated: false, lastKey: 'z/recent' });
  });
});
