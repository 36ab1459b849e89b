// A small file's partial stays open after its transfer for the group commit's fsync (deferSync). When
// the job's signal aborts (shutdown, a lost lease) right as the transfer succeeds, lib/retry.ts
// throws the abort instead of returning the result: that partial must be closed all the same, not
// left to the garbage collector.
import type { FileHandle } from 'node:fs/promises';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createLogger } from '../../src/lib/logger.js';
import { CommitBatcher } from '../../src/download/group-commit.js';
import { processJob } from '../../src/sync/worker.js';
import { oneClaimedJob } from '../helpers/one-job.js';

const hooks = vi.hoisted(() => ({ afterTransfer: null as null | ((handle: FileHandle | undefined) => void) }));

vi.mock('../../src/download/transfer.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/download/transfer.js')>();
  return {
    ...real,
    transferToStaging: async (input: Parameters<typeof real.transferToStaging>[0]) => {
      const result = await real.transferToStaging(input);
      hooks.afterTransfer?.(result.handle);
      return result;
    },
  };
});

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  hooks.afterTransfer = null;
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

describe('a batched partial when the job aborts as its transfer succeeds', () => {
  it('is closed, and the job is released', async () => {
    const KEY = 'a/small.bin';
    const { store, root, job, context } = await oneClaimedJob(KEY, cleanups);
    const logger = createLogger({ level: 'error', destination: { write: () => undefined } as never });
    const shutdown = new AbortController();
    let handle: FileHandle | undefined;
    hooks.afterTransfer = (h) => {
      handle = h;
      shutdown.abort(new Error('shutting down'));
    };
    const ctx = context({ logger, shutdownSignal: shutdown.signal, commits: new CommitBatcher({ store, root, logger, leaseMs: () => 60_000 }) });
    await processJob(ctx, job);
    expect(handle).toBeDefined(); // the file took the batched path
    expect(handle!.fd).toBe(-1); // closed
    expect(await store.getJob(KEY)).toMatchObject({ state: 'queued' });
  });
});
