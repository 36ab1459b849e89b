// Issue 26 §3: a size the listing does not give is null in memory, summed never, and -1 only in the
// state's remote_size column (store/rows.ts converts in one place).
import { describe, expect, it } from 'vitest';
import { sumSizes } from '../../src/lib/size.js';
import { claimedInOrder } from '../../src/store/sql/claim-jobs.js';
import { sizeColumn, sizeOfColumn } from '../../src/store/rows.js';
import { compileFilter } from '../../src/config/filters.js';
import { manifestRow } from '../../src/mirror/manifest.js';
import type { Job } from '../../src/store/types.js';

describe('ListedSize', () => {
  it('sums known sizes and counts unknown ones apart', () => {
    expect(sumSizes([])).toEqual({ bytes: 0, unknown: 0 });
    expect(sumSizes([10, null, 0, null, 5])).toEqual({ bytes: 15, unknown: 2 });
  });

  it('round-trips through the remote_size column: null is -1 there and null again when read', () => {
    expect(sizeColumn(null)).toBe(-1);
    expect(sizeColumn(0)).toBe(0);
    expect(sizeColumn(123)).toBe(123);
    expect(sizeOfColumn(-1)).toBeNull();
    expect(sizeOfColumn(0)).toBe(0);
    // PostgreSQL's bigint may arrive as text
    expect(sizeOfColumn('4096')).toBe(4096);
    for (const s of [null, 0, 1, 2 ** 40]) expect(sizeOfColumn(sizeColumn(s))).toBe(s);
  });

  it('smallest-first hands out unknown sizes first, as remote_size -1 sorts in SQL', () => {
    const jobs = [
      { id: 1, key: 'a', remoteModifiedMs: 0, remoteSize: 50 },
      { id: 2, key: 'b', remoteModifiedMs: 0, remoteSize: null },
      { id: 3, key: 'c', remoteModifiedMs: 0, remoteSize: 0 },
    ];
    expect(claimedInOrder(jobs, 'smallest-first').map((j) => j.key)).toEqual(['b', 'c', 'a']);
  });

  it('an unknown size passes the size window of a filter', () => {
    const f = compileFilter({ include: [], exclude: [], minSize: 10, maxSize: 20, sinceMs: null });
    expect(f({ key: 'k', size: null, lastModifiedMs: 0 })).toBe(true);
    expect(f({ key: 'k', size: 5, lastModifiedMs: 0 })).toBe(false);
    expect(f({ key: 'k', size: 25, lastModifiedMs: 0 })).toBe(false);
    expect(f({ key: 'k', size: 15, lastModifiedMs: 0 })).toBe(true);
  });

  it('a manifest row says null for an unknown size, the bytes written once done', () => {
    const job = { key: 'k', localPath: null, remoteSize: null, remoteModifiedMs: 0, state: 'queued', bytesWritten: null, sha256: null, shortened: false, remoteDeletedAt: null } as unknown as Job;
    expect(manifestRow(job).size).toBeNull();
    expect(manifestRow({ ...job, state: 'done', localPath: 'k', bytesWritten: 7 }).size).toBe(7);
  });
});
