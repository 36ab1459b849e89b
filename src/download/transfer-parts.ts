// What both kinds of download share: the request's input and result, the checks of a response
// (validators, ETags, mismatches) and a positional write that never leaves a hole.
import type { FileHandle } from 'node:fs/promises';
import { finished, type Readable } from 'node:stream';
import type { Source } from '../api/source.js';
import type { DownloadResponse } from '../api/client.js';
import { MISMATCH_CODES, SyncError } from '../errors.js';
import type { StagingPaths } from './staging.js';
import type { ClaimedJob } from '../store/types.js';

export interface TransferInput {
  /** The source (asset API or STAC) that locates and starts the download. */
  api: Source;
  root: string;
  job: ClaimedJob;
  staging: StagingPaths;
  signal: AbortSignal;
  /** Called with each chunk's size as it arrives (progress, metrics, bandwidth). */
  onBytes?: ((n: number) => void | Promise<void>) | undefined;
  clock?: () => number;
  /** Files of at least `threshold` bytes are fetched as `streams` parallel ranges (sync.ranged*). */
  ranged?: { threshold: number; streams: number } | undefined;
  /**
   * Leave the fsync of a single-stream file to the caller (group commit fsyncs a batch at once);
   * the mtime is still set. The file must not be placed before it is fsynced.
   */
  deferSync?: boolean | undefined;
}

export interface TransferResult {
  bytes: number;
  sha256: string;
  /** Bytes received over the network in this attempt. */
  received: number;
  resumedFrom: number;
  /**
   * deferSync: the partial, still open, for the group commit's fsync (no second open per file).
   * Whoever holds the result closes it (closing twice is harmless).
   */
  handle?: FileHandle;
}

/** Strip weak prefix and quotes so "abc", W/"abc" and abc compare equal. */
export function normalizeEtag(e: string | null | undefined): string | null {
  if (!e) return null;
  return e.replace(/^W\//, '').replace(/^"(.*)"$/, '$1');
}

/**
 * What a partial written by this response can be resumed under (If-Range): its strong ETag, else its
 * Last-Modified date. A weak ETag never matches in If-Range (RFC 9110 §13.1.5), so it is no validator.
 */
export function resumeValidator(res: Pick<DownloadResponse, 'etag' | 'lastModified'>): string | null {
  const etag = res.etag?.trim();
  if (etag && !etag.startsWith('W/')) return etag;
  const lm = res.lastModified?.trim();
  return lm && !Number.isNaN(Date.parse(lm)) ? lm : null;
}

export function mismatch(job: ClaimedJob, why: string, errorClass: 'size_mismatch' | 'range_mismatch' | 'checksum_mismatch'): SyncError {
  return new SyncError(`GET ${job.key}: ${why}`, { code: MISMATCH_CODES[errorClass] });
}

/**
 * writev that never leaves a hole: on a nearly full disk write(2) may write only part and return a
 * short count (the ENOSPC comes with the next call). Write the rest until it is all there or fails.
 */
export async function writeAllAt(fh: FileHandle, bufs: Buffer[], at: number): Promise<void> {
  const total = bufs.reduce((n, b) => n + b.length, 0);
  const { bytesWritten } = await fh.writev(bufs, at);
  if (bytesWritten >= total) return;
  const rest = Buffer.concat(bufs).subarray(bytesWritten);
  let done = 0;
  while (done < rest.length) {
    const { bytesWritten: n } = await fh.write(rest, done, rest.length - done, at + bytesWritten + done);
    if (n === 0) throw Object.assign(new Error(`short write to the staging file at ${at + bytesWritten + done}`), { code: 'ENOSPC' });
    done += n;
  }
}


/** Bytes are reported to onBytes (progress, metrics, the bandwidth limit) in steps of about this size. */
export const REPORT_STEP = 256 * 1024;

/** A body's bytes for onBytes: summed per chunk, reported in steps of REPORT_STEP and at the body's end. */
export class ByteSteps {
  #unreported = 0;

  constructor(readonly onBytes: TransferInput['onBytes']) {}

  /** `n` bytes more; `end`: the body is complete. What onBytes returned (a promise to wait on), if it was called. */
  add(n: number, end: boolean): void | Promise<void> {
    if (!this.onBytes) return;
    this.#unreported += n;
    if ((this.#unreported < REPORT_STEP && !end) || this.#unreported === 0) return;
    const step = this.#unreported;
    this.#unreported = 0;
    return this.onBytes(step);
  }
}

/** Stop reading a body nobody wants any more. */
export function dropBody(body: Readable): void {
  // destroy() without an error makes undici emit RequestAbortedError: nobody listens any more.
  body.on('error', () => undefined);
  body.destroy();
}

/**
 * Feed a response body to `take` chunk by chunk through 'data' events. An async iterator costs a
 * promise per chunk and, when several chunks wait in the stream's buffer, copies them into one new
 * Buffer (bench/README.md, "Large files against curl + sync"). When `take` returns a promise the
 * body is paused until it settles. Resolves at the body's end, once the last `take` settled;
 * rejects with the first error of the body or of `take`, and the body is then destroyed.
 */
export function consumeBody(body: Readable, take: (chunk: Buffer) => Promise<void> | null): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let settled = false;
    let waiting: Promise<void> | null = null;
    const fail = (e: unknown): void => {
      if (settled) return;
      settled = true;
      body.off('data', onData);
      dropBody(body);
      reject(e);
    };
    const onData = (chunk: Buffer): void => {
      let p: Promise<void> | null;
      try {
        p = take(chunk);
      } catch (e) {
        fail(e);
        return;
      }
      if (p === null) return;
      body.pause();
      const w: Promise<void> = p.then(() => {
        if (waiting === w) waiting = null;
        if (!settled) body.resume();
      }, fail);
      waiting = w;
    };
    // finished() also answers for a body that failed or closed before this was called (a reset
    // while the partial was being opened): its 'error' and 'close' events are already past.
    finished(body, { writable: false }, (e) => {
      if (e) {
        fail(e);
        return;
      }
      const done = (): void => {
        if (settled) return;
        settled = true;
        resolve();
      };
      if (waiting) void waiting.then(done);
      else done();
    });
    if (!settled) body.on('data', onData);
  });
}

/**
 * Gives the memory of written chunks back now rather than at V8's next full collection. A socket read
 * is its own ArrayBuffer (64 KiB at most); undici hands out a body chunk as a view into it. Left to
 * the garbage collector, 2 GiB of body means ~40–90 MiB of dead buffers at any time and a full
 * collection every ~40 MiB of them (external memory pressure): most of the GC threads' CPU in a large
 * download (bench/README.md, "Large files against curl + sync"). An ArrayBuffer is released only
 * once chunks of this body that have been written cover all of it: no other view can then read it. A
 * read that also holds headers, or another response, is never all ours and is left to the collector.
 * When a body pauses, undici puts the unparsed rest of a read back as a view into the same
 * ArrayBuffer and hands it out later: that buffer is released once the rest, too, is written.
 */
export class ChunkReleaser {
  /** Bytes of each ArrayBuffer written so far; weak, so a buffer never covered is still collected. */
  readonly #written = new WeakMap<ArrayBufferLike, number>();

  /** These chunks have been written (each chunk once). */
  written(bufs: readonly Buffer[]): void {
    for (const b of bufs) {
      const ab = b.buffer;
      if (ab.byteLength < RELEASE_MIN) continue;
      const n = (this.#written.get(ab) ?? 0) + b.byteLength;
      if (n < ab.byteLength) {
        this.#written.set(ab, n);
        continue;
      }
      this.#written.delete(ab);
      if (!(ab instanceof ArrayBuffer)) continue;
      try {
        // ES2024's ArrayBuffer.prototype.transfer (Node 22+): detaches `ab` and frees its memory
        (ab as ArrayBuffer & { transfer(length: number): ArrayBuffer }).transfer(0);
      } catch {
        // not detachable (e.g. a buffer Node keeps for itself): the collector frees it
      }
    }
  }
}

/** Smaller ArrayBuffers are left to the collector (Node's 8 KiB pool is shared by small Buffers). */
const RELEASE_MIN = 16 * 1024;
