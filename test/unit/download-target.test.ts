// download/target.ts: the key's mirror target is worked out once per claimed job. claimPath (run by
// the claim window's transaction) maps the key; fileTarget, when the job starts, takes that target
// instead of mapping the key again, and maps it afresh for a job claimPath never saw.
import { describe, expect, it, vi } from 'vitest';
import * as layout from '../../src/mirror/layout.js';
import { claimPath, fileTarget } from '../../src/download/target.js';
import type { FileContext, FileRun } from '../../src/download/context.js';
import type { ClaimedJob } from '../../src/store/types.js';

vi.mock('../../src/mirror/layout.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/mirror/layout.js')>();
  return { ...real, mirrorTarget: vi.fn(real.mirrorTarget) };
});

const job = (key: string): ClaimedJob =>
  ({ id: 1, key, remoteModifiedMs: 0, remoteSize: 10, remoteEtag: null, revision: 0, attempts: 1, leaseToken: 't', leaseUntil: 0, localPath: null, locator: null }) as ClaimedJob;

describe('fileTarget after claimPath', () => {
  const ctx = { api: {}, root: '/mirror', settings: {} } as unknown as FileContext;
  const run = (j: ClaimedJob) => ({ job: j, signal: new AbortController().signal }) as unknown as FileRun;

  it('takes the target the claim worked out (the key is mapped once) and maps a job the claim did not see', async () => {
    const mapped = vi.mocked(layout.mirrorTarget);
    const j = job('a/b.bin');
    const want = claimPath(ctx, j);
    expect(want).toEqual({ mirrorPath: 'a/b.bin', pathFold: expect.any(String) });
    j.reservedPath = want!.mirrorPath;
    mapped.mockClear();
    expect(await fileTarget(ctx, run(j))).toMatchObject({ relPath: 'a/b.bin', absPath: '/mirror/a/b.bin' });
    expect(mapped).not.toHaveBeenCalled();
    const other = { ...job('c/d.bin'), reservedPath: 'c/d.bin' };
    expect(await fileTarget(ctx, run(other))).toMatchObject({ relPath: 'c/d.bin' });
    expect(mapped).toHaveBeenCalledTimes(1);
  });
});
