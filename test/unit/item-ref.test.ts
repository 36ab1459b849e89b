// Issue 26 §3: an item is an ItemRef (collection, id) with one map-key printer, not a NUL-joined string.
import { describe, expect, it } from 'vitest';
import { ItemRefSet, itemRefKey } from '../../src/lib/item-ref.js';

describe('ItemRef', () => {
  it('keys tell every (collection, id) pair apart, whatever characters they hold', () => {
    expect(itemRefKey({ collection: 'a\u0000b', id: 'c' })).not.toBe(itemRefKey({ collection: 'a', id: 'b\u0000c' }));
    expect(itemRefKey({ collection: 'a","b', id: 'c' })).not.toBe(itemRefKey({ collection: 'a', id: 'b","c' }));
    expect(itemRefKey({ collection: 'c', id: 'i' })).toBe(itemRefKey({ collection: 'c', id: 'i' }));
  });

  it('a set holds each item once, keeps only its name, and hands out the oldest first', () => {
    const s = new ItemRefSet();
    s.add({ collection: 'c', id: '1' });
    s.add({ collection: 'c', id: '2', extra: 'row' } as { collection: string; id: string });
    s.add({ collection: 'c', id: '1' });
    s.add({ collection: 'd', id: '1' });
    expect(s.size).toBe(3);
    expect(s.has({ collection: 'c', id: '2' })).toBe(true);
    expect([...s][1]).toEqual({ collection: 'c', id: '2' });
    expect(s.take(2)).toEqual([
      { collection: 'c', id: '1' },
      { collection: 'c', id: '2' },
    ]);
    expect(s.size).toBe(1);
    expect(s.take(5)).toEqual([{ collection: 'd', id: '1' }]);
    expect(s.take(5)).toEqual([]);
    expect(new ItemRefSet([{ collection: 'x', id: 'y' }, { collection: 'x', id: 'y' }]).size).toBe(1);
  });
});
