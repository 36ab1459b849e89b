// A download's partial, from the resume check to the seal: what of this version is staged already,
// opening and growing the partial, checkpoints of a ranged one, and the fsync (with the remote
// LastModified) before it may be placed (place.ts). The transfers (transfer.ts, ranged.ts) call these
// steps and never touch the staging files themselves; discardStaging when the partial is worthless.
import { promises as fsp, constants as C } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import type { ListedSize } from '../lib/size.js';
import { readRecord, removeStaging, stagingDir, writeRecord, type StagedPart, type StagingPaths, type StagingRecord } from './staging.js';

/**
 * Below this size a download is not worth resuming: it restarts from byte 0 and skips the staging
 * record (three file operations per small file).
 */
export const RESUMABLE_MIN_BYTES = 1024 * 1024;

/** Whether a download of this size keeps a staging record (unknown sizes always do). */
export function isResumable(size: ListedSize): boolean {
  return size === null || size >= RESUMABLE_MIN_BYTES;
}

/** What of this version is already staged. */
export interface StagedState {
  /** The partial and its record belong to this version; `offset` bytes of it can be kept. */
  matched: boolean;
  /** The size: the listed one, or the one the record learned for an unknown size; null if neither. */
  size: ListedSize;
  /** Bytes already staged, a gapless prefix of the object. */
  offset: number;
  /** If-Range validator of those bytes. */
  validator: string | null;
}

/**
 * The resume check: keep a partial only when its record names the same (key, LastModified, Size) and
 * it is no longer than that size; anything else staged under this name is removed.
 */
export async function resumeCheck(staging: StagingPaths, want: { key: string; lastModifiedMs: number; size: ListedSize }): Promise<StagedState> {
  const none: StagedState = { matched: false, size: want.size, offset: 0, validator: null };
  if (!isResumable(want.size)) return none;
  const [rec, st] = await Promise.all([readRecord(staging.record), fsp.stat(staging.partial).catch(() => null)]);
  const known = want.size !== null;
  // A ranged partial (rec.parts) is preallocated, not a prefix: a single stream starts over.
  if (rec && st && !rec.parts && rec.key === want.key && (known ? rec.size === want.size : rec.size >= 0) && rec.lastModifiedMs === want.lastModifiedMs && st.size <= rec.size) {
    return { matched: true, size: rec.size, offset: st.size, validator: rec.validator };
  }
  if (rec || st) await removeStaging(staging);
  return none;
}

/** Bytes staged for this version's partial (the free-space check counts only what is still missing). */
export async function stagedBytes(staging: StagingPaths, size: ListedSize): Promise<number> {
  if (size === null || size < RESUMABLE_MIN_BYTES) return 0;
  const parts = (await readRecord(staging.record))?.parts;
  if (parts) return parts.reduce((n, p) => n + p.done, 0);
  return await partialBytes(staging);
}

/** What of a ranged download is already staged. */
export interface RangedState {
  /** Covering [0, size) in order; empty when nothing could be kept (a fresh start). */
  parts: StagedPart[];
  /** If-Range validator of the bytes done; null on a fresh start. */
  validator: string | null;
}

function coversExactly(parts: readonly StagedPart[], size: number): boolean {
  let at = 0;
  for (const p of parts) {
    if (p.start !== at || !(p.end > p.start) || !(p.done >= 0 && p.done <= p.end - p.start)) return false;
    at = p.end;
  }
  return at === size;
}

/**
 * The resume check of a ranged download. Its own record's parts are kept; a single-stream prefix
 * becomes a first part that is done, and `split` divides the rest. Either needs a validator, or the
 * bytes kept could belong to another version than the ranges fetched now; without one, or on any
 * mismatch, everything staged under this name is removed.
 */
export async function resumeRanged(staging: StagingPaths, want: { key: string; lastModifiedMs: number; size: number }, split: (from: number) => StagedPart[]): Promise<RangedState> {
  const [rec, st] = await Promise.all([readRecord(staging.record), fsp.stat(staging.partial).catch(() => null)]);
  if (rec && st && rec.validator && rec.key === want.key && rec.size === want.size && rec.lastModifiedMs === want.lastModifiedMs && st.size <= rec.size) {
    if (rec.parts && coversExactly(rec.parts, want.size)) return { parts: rec.parts, validator: rec.validator };
    if (!rec.parts && st.size === want.size) return { parts: [{ start: 0, end: want.size, done: want.size }], validator: rec.validator };
    if (!rec.parts && st.size > 0) return { parts: [{ start: 0, end: st.size, done: st.size }, ...split(st.size)], validator: rec.validator };
  }
  if (rec || st) await removeStaging(staging);
  return { parts: [], validator: null };
}

/**
 * Start (or continue) a ranged partial: its record, with every part, is written durably first, and
 * only then is the partial grown to its full size, so a full-length partial always has its parts on
 * record. Returns the open partial.
 */
export async function beginRanged(root: string, staging: StagingPaths, rec: StagingRecord & { parts: StagedPart[] }): Promise<FileHandle> {
  await fsp.mkdir(stagingDir(root), { recursive: true });
  await writeRecord(staging.record, rec, true);
  const fh = await fsp.open(staging.partial, C.O_RDWR | C.O_CREAT);
  try {
    await fh.truncate(rec.size);
  } catch (e) {
    await fh.close();
    throw e;
  }
  return fh;
}

/**
 * Record the parts' progress: the bytes are fsynced (fdatasync) before the record says they are
 * there, so a record never claims bytes a power cut could take back. The record itself is not
 * fsynced: an older one only means fetching some bytes again.
 */
export async function checkpointRanged(fh: FileHandle, staging: StagingPaths, rec: StagingRecord & { parts: StagedPart[] }): Promise<void> {
  await fh.datasync();
  await writeRecord(staging.record, rec);
}

/** The partial's length on disk, 0 when there is none. */
export async function partialBytes(staging: StagingPaths): Promise<number> {
  return (await fsp.stat(staging.partial).catch(() => null))?.size ?? 0;
}

/** Write the staging record, creating the staging folder if needed. */
export async function recordStaging(root: string, staging: StagingPaths, rec: StagingRecord): Promise<void> {
  await fsp.mkdir(stagingDir(root), { recursive: true });
  await writeRecord(staging.record, rec);
}

/** Open the partial, creating the staging folder if something removed it. */
export async function openPartial(root: string, staging: StagingPaths, flags: string): Promise<FileHandle> {
  try {
    return await fsp.open(staging.partial, flags);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    await fsp.mkdir(stagingDir(root), { recursive: true });
    return await fsp.open(staging.partial, flags);
  }
}

/** Make the written bytes durable and give the file the remote LastModified, before it is placed. */
export async function sealPartial(fh: FileHandle, lastModifiedMs: number): Promise<void> {
  await fh.sync();
  await fh.utimes(lastModifiedMs / 1000, lastModifiedMs / 1000);
}

/** Seal a partial that is already complete (a crash after the last byte, before the rename). */
export async function sealStagedFile(staging: StagingPaths, lastModifiedMs: number): Promise<void> {
  const fh = await fsp.open(staging.partial, 'r+');
  try {
    await sealPartial(fh, lastModifiedMs);
  } finally {
    await fh.close();
  }
}

/** Remove the partial, its record and a leftover temporary record. */
export async function discardStaging(staging: StagingPaths): Promise<void> {
  await removeStaging(staging);
}
