// The disk probe: free space on the filesystem holding a directory.
import { promises as fsp } from 'node:fs';

/** Free bytes available to this (unprivileged) process on the filesystem holding `dir`. */
export async function freeBytes(dir: string): Promise<number> {
  const s = await fsp.statfs(dir);
  return Number(s.bavail) * Number(s.bsize);
}

/**
 * freeBytes, reusing a reading younger than `maxAgeMs` (small files do not need a statfs each; a
 * write that runs out of space still fails with ENOSPC and is handled).
 */
export function createFreeSpaceProbe(dir: string, maxAgeMs: number, clock: () => number = Date.now) {
  let last: { at: number; free: number } | null = null;
  return async (fresh: boolean): Promise<number> => {
    const now = clock();
    if (!fresh && last && now - last.at < maxAgeMs) return last.free;
    last = { at: now, free: await freeBytes(dir) };
    return last.free;
  };
}
