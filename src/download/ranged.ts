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
import { ByteSteps, ChunkReleaser, consumeBody, dropBody, mismatch, normalizeEtag, resumeValidator, writeAllAt, type TransferInput, type TransferResult } from './transfer-parts.js';

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
  const t = new RangedTransfer(input, size);
  if (!(await t.start())) return 'single';
  const digest = await t.run();
  if (digest === 'single') return 'single';
  const expected = input.api.expect(input.job);
  if (expected.sha256 && digest !== expected.sha256) {
    await discardStaging(input.staging);
    throw mismatch(input.job, `the bytes hash to sha256 ${digest}, but file:checksum says ${expected.sha256}`, 'checksum_mismatch');
  }
  return { bytes: size, sha256: digest, received: t.received, resumedFrom: t.resumedFrom };
}

/** The state of one ranged attempt: its parts, the open partial, the hash, the checkpoints. */
class RangedTransfer {
  readonly #input: TransferInput;
  readonly #size: number;
  readonly #abort = new AbortController();
  readonly #signal: AbortSignal;
  #parts: StagedPart[] = [];
  #validator: string | null = null;
  /** A fresh start's first range, requested before the partial is opened. */
  #first: { part: StagedPart; res: DownloadResponse } | null = null;
  #fh: FileHandle | null = null;
  #hasher: FileHasher;
  #hashedTo = 0;
  #failure: unknown = null;
  #checkpointing: Promise<void> | null = null;
  #total = 0;
  #durableParts = 0;
  #sinceCheckpoint = 0;
  resumedFrom = 0;
  /** Bytes received over the network in this attempt. */
  received = 0;

  constructor(input: TransferInput, size: number) {
    this.#input = input;
    this.#size = size;
    this.#signal = AbortSignal.any([input.signal, this.#abort.signal]);
    this.#hasher = new FileHasher(input.staging.partial);
  }

  #record(): StagingRecord & { parts: StagedPart[] } {
    const { job } = this.#input;
    const parts = this.#parts.map((p) => ({ ...p }));
    return { key: job.key, lastModifiedMs: job.remoteModifiedMs, size: this.#size, validator: this.#validator, updatedAt: (this.#input.clock ?? Date.now)(), parts };
  }

  /** The parts staged (or, on a fresh start, the first range and its validator); then the partial opened. False: one stream instead. */
  async start(): Promise<boolean> {
    const { job, staging } = this.#input;
    const streams = this.#input.ranged!.streams;
    const state = await resumeRanged(staging, { key: job.key, lastModifiedMs: job.remoteModifiedMs, size: this.#size }, (from) => splitParts(from, this.#size, streams));
    this.#parts = state.parts;
    this.#validator = state.validator;
    this.resumedFrom = this.#total = this.#parts.reduce((n, p) => n + p.done, 0);
    if (this.#parts.length === 0 && !(await this.#firstRange(streams))) return false;
    try {
      this.#fh = await beginRanged(this.#input.root, staging, this.#record());
    } catch (e) {
      if (this.#first) dropBody(this.#first.res.body);
      throw e;
    }
    this.#followPrefix();
    this.#durableParts = this.#parts.filter((p) => p.done === p.end - p.start).length;
    return true;
  }

  /** A fresh start: the first range brings the validator the others are asked under. */
  async #firstRange(streams: number): Promise<boolean> {
    this.#parts = splitParts(0, this.#size, streams);
    const res = await requestPart(this.#input, this.#parts[0]!, { validator: null, size: this.#size, signal: this.#signal }).catch((e: unknown) => {
      if (e instanceof RangesRefused) return null;
      throw e;
    });
    if (res === null) return false;
    this.#validator = resumeValidator(res);
    if (this.#validator === null) {
      // Nothing could tell the ranges of two versions apart.
      dropBody(res.body);
      return false;
    }
    this.#first = { part: this.#parts[0]!, res };
    return true;
  }

  /** The hash thread follows the contiguous prefix of done parts (sha256 only goes in order). */
  #followPrefix(): void {
    let at = 0;
    for (const p of this.#parts) {
      at = p.start + p.done;
      if (p.done < p.end - p.start) break;
    }
    if (at > this.#hashedTo) this.#hasher.advance((this.#hashedTo = at));
  }

  /** The parts are captured when a checkpoint is asked for; checkpoints are written in that order. */
  async #checkpoint(rec = this.#record(), force = false): Promise<void> {
    if (!force && this.#checkpointing === null && checkpointsInFlight > 0) return;
    while (this.#checkpointing) await this.#checkpointing;
    checkpointsInFlight++;
    this.#checkpointing = checkpointRanged(this.#fh!, this.#input.staging, rec).finally(() => {
      this.#checkpointing = null;
      checkpointsInFlight--;
    });
    await this.#checkpointing;
    const complete = rec.parts.filter((p) => p.done === p.end - p.start).length;
    if (complete > this.#durableParts) crashPoint('after_part');
    this.#durableParts = complete;
  }

  readonly #wrote = (n: number): void => {
    this.#followPrefix();
    this.#sinceCheckpoint += n;
    this.#total += n;
    if (isArmed('mid_ranges') && this.#total >= this.#size / 2 && this.#total - n < this.#size / 2) {
      // Record the parts as they are at half way (other ranges still in flight), then die.
      void this.#checkpoint(this.#record(), true).then(() => crashPoint('mid_ranges'));
      return;
    }
    if (this.#sinceCheckpoint >= CHECKPOINT_BYTES && !this.#checkpointing) {
      this.#sinceCheckpoint = 0;
      this.#checkpoint().catch((e: unknown) => this.#fail(e));
    }
  };

  #fail(e: unknown): void {
    if (this.#failure === null) this.#failure = e;
    this.#abort.abort(e);
  }

  /** One stream: takes the next missing part until none is left or one failed. */
  async #runner(pending: StagedPart[]): Promise<void> {
    for (let part = pending.shift(); part && this.#failure === null; part = pending.shift()) {
      try {
        const first = this.#first?.part === part ? this.#first.res : null;
        if (first) this.#first = null;
        const res = first ?? (await requestPart(this.#input, part, { validator: this.#validator, size: this.#size, signal: this.#signal }));
        const n = await pump(this.#input, part, { fh: this.#fh!, res, signal: this.#signal, wrote: this.#wrote });
        this.received += n; // after the await: other streams add theirs meanwhile
        await this.#checkpoint();
      } catch (e) {
        this.#fail(e);
      }
    }
  }

  /** Fetch every missing part; sealed and on record when all are done. The digest, or 'single'. */
  async run(): Promise<string | 'single'> {
    const input = this.#input;
    const pending = this.#parts.filter((p) => p.done < p.end - p.start);
    try {
      await Promise.all(Array.from({ length: Math.min(input.ranged!.streams, pending.length) }, () => this.#runner(pending)));
      if (this.#first) dropBody(this.#first.res.body);
      if (this.#failure !== null) {
        // Keep what arrived for the next attempt, unless the server refused ranges.
        this.#hasher.cancel();
        if (this.#failure instanceof RangesRefused) {
          await this.#fh!.close();
          await discardStaging(input.staging);
          return 'single';
        }
        await this.#checkpoint(this.#record(), true).catch(() => undefined);
        throw input.signal.aborted && input.signal.reason instanceof SyncError ? input.signal.reason : classifyError(this.#failure, `GET ${input.job.key}`);
      }
      // Every part done, on record: a crash before the rename finds the partial complete.
      await this.#checkpoint(this.#record(), true);
      await sealPartial(this.#fh!, input.job.remoteModifiedMs);
    } catch (e) {
      this.#hasher.cancel();
      throw e;
    } finally {
      await this.#fh!.close().catch(() => undefined);
    }
    return await this.#hasher.finish(this.#size);
  }
}

/** GET the missing rest of one part; anything but the exact 206 asked for refuses ranges. */
async function requestPart(input: TransferInput, part: StagedPart, at: { validator: string | null; size: number; signal: AbortSignal }): Promise<DownloadResponse> {
  const { job } = input;
  const { validator, size, signal } = at;
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
    dropBody(res.body);
    throw new RangesRefused(`status ${res.status}`);
  }
  const listed = normalizeEtag(input.api.expect(job).etag);
  const got = normalizeEtag(res.etag);
  if ((res.contentLength !== null && res.contentLength !== last - from + 1) || (listed && got && listed !== got)) {
    dropBody(res.body);
    throw mismatch(job, `range ${from}-${last}: Content-Length ${res.contentLength}, ETag ${res.etag}; the asset changed since it was listed`, 'size_mismatch');
  }
  return res;
}

/**
 * Write one range's body at its offsets, one write in flight while the next batch is read. `part.done`
 * grows only when a write has completed, so a checkpoint never counts bytes still in flight. The body
 * comes through consumeBody and written chunks are released at once, as for one stream (transfer.ts).
 */
async function pump(input: TransferInput, part: StagedPart, to: { fh: FileHandle; res: DownloadResponse; signal: AbortSignal; wrote: (n: number) => void }): Promise<number> {
  const { fh, res, signal, wrote } = to;
  const want = part.end - part.start - part.done;
  let received = 0;
  let batch: Buffer[] = [];
  let batchBytes = 0;
  let inFlight: Promise<void> | null = null;
  const releaser = new ChunkReleaser();
  const flush = async (): Promise<void> => {
    if (inFlight) await inFlight;
    inFlight = null;
    if (batchBytes === 0) return;
    const bufs = batch;
    const n = batchBytes;
    batch = [];
    batchBytes = 0;
    inFlight = writeAllAt(fh, bufs, part.start + part.done).then(() => {
      releaser.written(bufs);
      part.done += n;
      wrote(n);
    });
    // A failed write surfaces at the next flush; until then nobody awaits it.
    inFlight.catch(() => undefined);
  };
  const bytes = new ByteSteps(input.onBytes);
  const take = (chunk: Buffer): Promise<void> | null => {
    if (signal.aborted) throw signal.reason;
    received += chunk.length;
    if (received > want) throw mismatch(input.job, `range ${part.start}-${part.end - 1} is longer than asked`, 'size_mismatch');
    batch.push(chunk);
    batchBytes += chunk.length;
    const waits: Promise<unknown>[] = batchBytes >= WRITE_BATCH ? [flush()] : [];
    const reported = bytes.add(chunk.length, received === want);
    if (reported) waits.push(reported);
    return waits.length === 0 ? null : Promise.all(waits).then(() => undefined);
  };
  try {
    await consumeBody(res.body, take);
    await flush();
    await flush();
  } catch (e) {
    dropBody(res.body);
    if (inFlight) await (inFlight as Promise<void>).catch(() => undefined);
    throw signal.aborted ? signal.reason : e;
  }
  await bytes.add(0, true);
  if (signal.aborted) throw signal.reason;
  if (received < want) {
    throw new SyncError(`GET ${input.job.key}: range ${part.start}-${part.end - 1} ended after ${received} of ${want} bytes`, {
      code: 'SYNC_TRANSFER_SHORT_BODY',
    });
  }
  return received;
}
