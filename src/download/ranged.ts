// A large file as parallel ranges (issue 13 §2): `streams` GETs with `Range: bytes=a-b` write into one
// preallocated partial with positional writes. The parts and how far each got are recorded next to
// the partial after an fdatasync, so a crash resumes only the missing ranges. The first response
// brings the validator; every other range is asked under If-Range, so a changed object answers 200
// instead of splicing two versions. A 200 (the server ignores Range, or If-Range failed), a 416 or an
// unexpected Content-Range falls back to one stream: the partial is discarded and the caller fetches
// the whole object as before. The streams take parts in order, so the hash thread (hash.ts)
// follows the growing contiguous prefix from the page cache.
import type { FileHandle } from 'node:fs/promises';
import type { DownloadResponse } from '../api/client.js';
import { SyncError, classifyError, isSyncError } from '../errors.js';
import { crashPoint, isArmed } from '../lib/crash-point.js';
import { beginRanged, checkpointRanged, discardStaging, resumeRanged, sealPartial } from './partial.js';
import type { StagedPart, StagingRecord } from './staging.js';
import { FileHasher } from './hash.js';
import { mismatch, normalizeEtag, resumeValidator, writeAllAt, type TransferInput, type TransferResult } from './transfer-parts.js';

const WRITE_BATCH = 1 << 20;
/** Progress is recorded (fdatasync, then the record) at most once per this many bytes written. */
const CHECKPOINT_BYTES = 32 << 20;
/**
 * Checkpoints in flight in this process. An fdatasync holds one of libuv's 4 threads, which every
 * write shares: while one runs, other files skip theirs (their next one records the progress).
 */
let checkpointsInFlight = 0;

/** The server did not serve the range as asked: fetch the object in one stream instead. */
class RangesRefused extends Error {}

/** Longest part: the streams take parts in order, so the hashed prefix grows as they land. */
const MAX_PART = 16 << 20;

/**
 * Split [from, size) into parts of nearly equal length: `streams` of them, or more of at most
 * MAX_PART bytes, so the contiguous prefix (which the hash thread follows) keeps growing.
 */
export function splitParts(from: number, size: number, streams: number): StagedPart[] {
  const n = Math.max(1, Math.min(size - from, Math.max(streams, Math.ceil((size - from) / MAX_PART))));
  const len = Math.ceil((size - from) / n);
  const parts: StagedPart[] = [];
  for (let start = from; start < size; start += len) parts.push({ start, end: Math.min(size, start + len), done: 0 });
  return parts;
}

/** Whether this download should be ranged. */
export function wantsRanges(input: TransferInput, size: number | null): boolean {
  const r = input.ranged;
  return r !== undefined && r.streams > 1 && size !== null && size >= r.threshold && size >= r.streams;
}

/**
 * One attempt of a ranged download. Resolves with the result, or with 'single' when the server will
 * not serve ranges (the staging was discarded). Throws like the single-stream transfer: the caller's
 * retry continues with the missing ranges.
 */
export async function transferRanges(input: TransferInput, size: number): Promise<TransferResult | 'single'> {
  const { api, job, staging } = input;
  const streams = input.ranged!.streams;
  const expected = api.expect(job);
  const state = await resumeRanged(staging, { key: job.key, lastModifiedMs: job.remoteModifiedMs, size }, (from) => splitParts(from, size, streams));
  let parts = state.parts;
  let validator = state.validator;
  const resumedFrom = parts.reduce((n, p) => n + p.done, 0);
  const abort = new AbortController();
  const signal = AbortSignal.any([input.signal, abort.signal]);
  const record = (): StagingRecord & { parts: StagedPart[] } => ({
    key: job.key,
    lastModifiedMs: job.remoteModifiedMs,
    size,
    validator,
    updatedAt: (input.clock ?? Date.now)(),
    parts: parts.map((p) => ({ ...p })),
  });

  // A fresh start: the first range brings the validator the others are asked under.
  let first: { part: StagedPart; res: DownloadResponse } | null = null;
  if (parts.length === 0) {
    parts = splitParts(0, size, streams);
    const res = await requestPart(input, parts[0]!, null, size, signal).catch((e: unknown) => {
      if (e instanceof RangesRefused) return null;
      throw e;
    });
    if (res === null) return 'single';
    validator = resumeValidator(res);
    if (validator === null) {
      // Nothing could tell the ranges of two versions apart.
      drop(res);
      return 'single';
    }
    first = { part: parts[0]!, res };
  }

  let fh: FileHandle;
  try {
    fh = await beginRanged(input.root, staging, record());
  } catch (e) {
    if (first) drop(first.res);
    throw e;
  }
  // The hash thread follows the contiguous prefix of done parts (sha256 only goes in order).
  const hasher = new FileHasher(staging.partial);
  let hashedTo = 0;
  const followPrefix = (): void => {
    let at = 0;
    for (const p of parts) {
      at = p.start + p.done;
      if (p.done < p.end - p.start) break;
    }
    if (at > hashedTo) hasher.advance((hashedTo = at));
  };
  followPrefix();
  let received = 0;
  let failure: unknown = null;
  let checkpointing: Promise<void> | null = null;
  let total = resumedFrom;
  let durableParts = parts.filter((p) => p.done === p.end - p.start).length;
  // The parts are captured when a checkpoint is asked for; checkpoints are written in that order.
  const checkpoint = async (rec = record(), force = false): Promise<void> => {
    if (!force && checkpointing === null && checkpointsInFlight > 0) return;
    while (checkpointing) await checkpointing;
    checkpointsInFlight++;
    checkpointing = checkpointRanged(fh, staging, rec).finally(() => {
      checkpointing = null;
      checkpointsInFlight--;
    });
    await checkpointing;
    const complete = rec.parts.filter((p) => p.done === p.end - p.start).length;
    if (complete > durableParts) crashPoint('after_part');
    durableParts = complete;
  };
  let sinceCheckpoint = 0;
  const wrote = (n: number): void => {
    followPrefix();
    sinceCheckpoint += n;
    total += n;
    if (isArmed('mid_ranges') && total >= size / 2 && total - n < size / 2) {
      // Record the parts as they are at half way (other ranges still in flight), then die.
      void checkpoint(record(), true).then(() => crashPoint('mid_ranges'));
      return;
    }
    if (sinceCheckpoint >= CHECKPOINT_BYTES && !checkpointing) {
      sinceCheckpoint = 0;
      checkpoint().catch((e: unknown) => fail(e));
    }
  };
  const fail = (e: unknown): void => {
    if (failure === null) failure = e;
    abort.abort(e);
  };

  const pending = parts.filter((p) => p.done < p.end - p.start);
  const runner = async (): Promise<void> => {
    for (let part = pending.shift(); part && failure === null; part = pending.shift()) {
      try {
        const res = first?.part === part ? first.res : await requestPart(input, part, validator, size, signal);
        if (first?.part === part) first = null;
        const n = await pump(input, fh, part, res, signal, wrote);
        received += n;
        await checkpoint();
      } catch (e) {
        fail(e);
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(streams, pending.length) }, runner));
    if (first) drop(first.res);
    if (failure !== null) {
      // Keep what arrived for the next attempt, unless the server refused ranges.
      hasher.cancel();
      if (failure instanceof RangesRefused) {
        await fh.close();
        await discardStaging(staging);
        return 'single';
      }
      await checkpoint(record(), true).catch(() => undefined);
      throw input.signal.aborted && input.signal.reason instanceof SyncError ? input.signal.reason : classifyError(failure, `GET ${job.key}`);
    }
    // Every part done, on record: a crash before the rename finds the partial complete.
    await checkpoint(record(), true);
    await sealPartial(fh, job.remoteModifiedMs);
  } catch (e) {
    hasher.cancel();
    throw e;
  } finally {
    await fh.close().catch(() => undefined);
  }
  const digest = await hasher.finish(size);
  if (expected.sha256 && digest !== expected.sha256) {
    await discardStaging(staging);
    throw mismatch(job, `the bytes hash to sha256 ${digest}, but file:checksum says ${expected.sha256}`, 'checksum_mismatch');
  }
  return { bytes: size, sha256: digest, received, resumedFrom };
}

function drop(res: DownloadResponse): void {
  // destroy() without an error makes undici emit RequestAbortedError: nobody listens any more.
  res.body.on('error', () => undefined);
  res.body.destroy();
}

/** GET the missing rest of one part; anything but the exact 206 asked for refuses ranges. */
async function requestPart(input: TransferInput, part: StagedPart, validator: string | null, size: number, signal: AbortSignal): Promise<DownloadResponse> {
  const { job } = input;
  const from = part.start + part.done;
  const last = part.end - 1;
  let res: DownloadResponse;
  try {
    res = await input.api.download(job, { rangeStart: from, rangeEnd: last, ifRange: validator, signal });
  } catch (e) {
    if (isSyncError(e) && e.status === 416) throw new RangesRefused('416');
    throw e;
  }
  const cr = res.contentRange;
  if (res.status !== 206 || !cr || cr.start !== from || cr.end !== last || (cr.total !== null && cr.total !== size)) {
    drop(res);
    throw new RangesRefused(`status ${res.status}`);
  }
  const listed = normalizeEtag(input.api.expect(job).etag);
  const got = normalizeEtag(res.etag);
  if ((res.contentLength !== null && res.contentLength !== last - from + 1) || (listed && got && listed !== got)) {
    drop(res);
    throw mismatch(job, `range ${from}-${last}: Content-Length ${res.contentLength}, ETag ${res.etag}; the asset changed since it was listed`, 'size_mismatch');
  }
  return res;
}

/**
 * Write one range's body at its offsets, one write in flight while the next batch is read. `part.done`
 * grows only when a write has completed, so a checkpoint never counts bytes still in flight.
 */
async function pump(input: TransferInput, fh: FileHandle, part: StagedPart, res: DownloadResponse, signal: AbortSignal, wrote: (n: number) => void): Promise<number> {
  const want = part.end - part.start - part.done;
  let received = 0;
  let batch: Buffer[] = [];
  let batchBytes = 0;
  let inFlight: Promise<void> | null = null;
  const flush = async (): Promise<void> => {
    if (inFlight) await inFlight;
    inFlight = null;
    if (batchBytes === 0) return;
    const bufs = batch;
    const n = batchBytes;
    batch = [];
    batchBytes = 0;
    inFlight = writeAllAt(fh, bufs, part.start + part.done).then(() => {
      part.done += n;
      wrote(n);
    });
    // A failed write surfaces at the next flush; until then nobody awaits it.
    inFlight.catch(() => undefined);
  };
  try {
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      if (signal.aborted) break;
      received += chunk.length;
      if (received > want) throw mismatch(input.job, `range ${part.start}-${part.end - 1} is longer than asked`, 'size_mismatch');
      batch.push(chunk);
      batchBytes += chunk.length;
      if (batchBytes >= WRITE_BATCH) await flush();
      if (input.onBytes) await input.onBytes(chunk.length);
    }
    await flush();
    await flush();
  } catch (e) {
    drop(res);
    if (inFlight) await (inFlight as Promise<void>).catch(() => undefined);
    throw e;
  }
  if (signal.aborted) throw signal.reason;
  if (received < want) {
    throw new SyncError(`GET ${input.job.key}: range ${part.start}-${part.end - 1} ended after ${received} of ${want} bytes`, {
      code: 'SYNC_TRANSFER_SHORT_BODY',
    });
  }
  return received;
}
