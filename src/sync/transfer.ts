// One download attempt: stream GET /assets/{key} into the staging partial, resuming with Range and
// If-Range when a partial of the same (key, LastModified, Size) exists. The If-Range validator is the
// strong ETag of the response that wrote the partial, else its Last-Modified date; a partial with
// neither restarts from byte 0 (nothing could tell a changed object from the one we hold). A 416
// discards the partial and restarts. A continuation is accepted only as a 206 whose Content-Range
// matches; a 200 starts over. The byte count is checked against the listed Size and Content-Length
// ourselves, since undici reports a cut close-delimited body as success. The staging files, the
// resume check and the fsync before the caller places the file are mirror/commit.ts's.
import { createHash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import type { Source } from '../api/source.js';
import type { DownloadResponse } from '../api/client.js';
import { MISMATCH_CODES, SyncError, classifyError, isSyncError } from '../errors.js';
import { hashPrefix, type StagingPaths } from '../mirror/staging.js';
import { discardStaging, isResumable, openPartial, recordStaging, resumeCheck, sealPartial, sealStagedFile } from '../mirror/commit.js';
import { crashPoint, isArmed } from '../lib/crash-point.js';
import type { ClaimedJob } from '../store/types.js';

const WRITE_BATCH = 1 << 20;

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
}

export interface TransferResult {
  bytes: number;
  sha256: string;
  /** Bytes received over the network in this attempt. */
  received: number;
  resumedFrom: number;
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

function mismatch(job: ClaimedJob, why: string, errorClass: 'size_mismatch' | 'range_mismatch' | 'checksum_mismatch'): SyncError {
  return new SyncError(`GET ${job.key}: ${why}`, { code: MISMATCH_CODES[errorClass] });
}

/**
 * writev that never leaves a hole: on a nearly full disk write(2) may write only part and return a
 * short count (the ENOSPC comes with the next call). Write the rest until it is all there or fails.
 */
async function writeAllAt(fh: FileHandle, bufs: Buffer[], at: number): Promise<void> {
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

export async function transferToStaging(input: TransferInput): Promise<TransferResult> {
  const { api, job, staging, signal } = input;
  const clock = input.clock ?? Date.now;
  const expected = api.expect(job);
  // Without a listed size (a STAC asset without file:size) it is learned from the response and
  // kept in the staging record; such downloads are always resumable.
  const known = expected.size !== null;
  const resumable = isResumable(expected.size);

  // What do we already have?
  const staged = await resumeCheck(staging, { key: job.key, lastModifiedMs: job.remoteModifiedMs, size: expected.size });
  let { size, offset, validator } = staged;
  const matched = staged.matched;

  const hash = createHash('sha256');
  if (matched && offset === size) {
    // A crash after the last byte but before the rename: the partial is complete.
    await hashPrefix(staging.partial, offset, hash);
    const digest = hash.digest('hex');
    if (expected.sha256 && digest !== expected.sha256) {
      await discardStaging(staging);
      throw mismatch(job, `the bytes hash to sha256 ${digest}, but file:checksum says ${expected.sha256}`, 'checksum_mismatch');
    }
    await sealStagedFile(staging, job.remoteModifiedMs);
    return { bytes: size, sha256: digest, received: 0, resumedFrom: offset };
  }

  if (offset > 0 && !validator) {
    // No validator was recorded for these bytes: a Range request could splice a changed object onto
    // them. Start over.
    await discardStaging(staging);
    offset = 0;
  }
  let res: DownloadResponse;
  try {
    res = await api.download(job, { rangeStart: offset > 0 ? offset : undefined, ifRange: validator, signal });
  } catch (e) {
    if (offset === 0 || !isSyncError(e) || e.status !== 416) throw e;
    // The range starts past the object's end: the partial is not a prefix of what the server holds.
    // Asking again for the same range would only repeat this until the attempts run out.
    await discardStaging(staging);
    offset = 0;
    validator = null;
    res = await api.download(job, { signal });
  }
  let resumedFrom = 0;
  try {
    if (res.status === 206) {
      const cr = res.contentRange;
      if (offset === 0 || !cr || cr.start !== offset || cr.end !== size - 1 || (cr.total !== null && cr.total !== size)) {
        await discardStaging(staging);
        throw mismatch(job, `unusable 206 (Content-Range ${cr ? `${cr.start}-${cr.end}/${cr.total ?? '*'}` : 'missing'}, wanted ${offset}-${size - 1}/${size})`, 'range_mismatch');
      }
      resumedFrom = offset;
    } else {
      offset = 0; // a 200 means the whole object again
      if (!known) {
        if (res.contentLength === null) {
          await discardStaging(staging);
          throw mismatch(job, 'the listing gives no file:size and the response no Content-Length, so completeness cannot be verified', 'size_mismatch');
        }
        size = res.contentLength;
      }
    }
    const remaining = size - offset;
    if (res.contentLength !== null && res.contentLength !== remaining) {
      await discardStaging(staging);
      throw mismatch(job, `Content-Length ${res.contentLength} does not match the listed Size ${size} (remaining ${remaining}); the asset probably changed`, 'size_mismatch');
    }
    const listed = normalizeEtag(expected.etag);
    const got = normalizeEtag(res.etag);
    if (listed && got && listed !== got) {
      await discardStaging(staging);
      throw mismatch(job, `ETag ${res.etag} differs from the listed ${job.remoteEtag}; the asset changed since it was listed`, 'size_mismatch');
    }
  } catch (e) {
    // destroy() without an error makes undici emit RequestAbortedError: nobody listens any more.
    res.body.on('error', () => undefined);
    res.body.destroy();
    throw e;
  }

  if (resumable) {
    await recordStaging(input.root, staging, {
      key: job.key,
      lastModifiedMs: job.remoteModifiedMs,
      size,
      // a 206 continues the recorded bytes; a 200 replaced them and brings its own validator (or none)
      validator: resumeValidator(res) ?? (res.status === 206 ? validator : null),
      updatedAt: clock(),
    });
  }
  if (offset > 0) await hashPrefix(staging.partial, offset, hash);

  const fh = await openPartial(input.root, staging, offset > 0 ? 'r+' : 'w');
  let position = offset;
  let received = 0;
  const remaining = size - offset;
  try {
    let batch: Buffer[] = [];
    let batchBytes = 0;
    // One write in flight while the next batch is read from the socket, so reading and writing overlap
    // (bench/: ~1.2-1.6x on large files). A failed write is reported by the next flush or settle (never
    // as an unhandled rejection), and nothing is written after it, so the partial stays a gapless prefix.
    let inFlight: Promise<{ e: unknown } | null> | null = null;
    let writeFailed = false;
    const settle = async () => {
      const p = inFlight;
      inFlight = null;
      const r = p ? await p : null;
      if (r) {
        writeFailed = true;
        throw r.e;
      }
    };
    const flush = async () => {
      await settle();
      if (batchBytes === 0 || writeFailed) return;
      const bufs = batch;
      const at = position;
      position += batchBytes;
      batch = [];
      batchBytes = 0;
      inFlight = writeAllAt(fh, bufs, at).then(
        () => null,
        (e: unknown) => ({ e }),
      );
    };
    try {
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        received += chunk.length;
        if (received > remaining) throw mismatch(job, `body is longer than the listed Size ${size}`, 'size_mismatch');
        hash.update(chunk);
        batch.push(chunk);
        batchBytes += chunk.length;
        if (batchBytes >= WRITE_BATCH) await flush();
        if (input.onBytes) await input.onBytes(chunk.length);
        if (isArmed('mid_body') && received >= remaining / 2 && received - chunk.length < remaining / 2) {
          await flush();
          await settle();
          crashPoint('mid_body');
        }
      }
      await flush();
      await settle();
    } catch (e) {
      // keep what arrived: it is a valid prefix to resume from
      await flush().catch(() => undefined);
      await settle().catch(() => undefined);
      if (e instanceof SyncError && e.errorClass === 'size_mismatch') await fh.truncate(0).catch(() => undefined);
      throw signal.aborted && signal.reason instanceof SyncError ? signal.reason : classifyError(e, `GET ${job.key}`);
    }
    if (received < remaining) {
      throw new SyncError(`GET ${job.key}: body ended after ${offset + received} of ${size} bytes`, {
        code: 'SYNC_TRANSFER_SHORT_BODY',
        kind: 'retryable',
        errorClass: 'short_body',
      });
    }
    await sealPartial(fh, job.remoteModifiedMs);
  } finally {
    await fh.close();
  }
  const digest = hash.digest('hex');
  // A listed file:checksum (sha2-256) is verified against the bytes written.
  if (expected.sha256 && digest !== expected.sha256) {
    await discardStaging(staging);
    throw mismatch(job, `the bytes hash to sha256 ${digest}, but file:checksum says ${expected.sha256}`, 'checksum_mismatch');
  }
  return { bytes: size, sha256: digest, received, resumedFrom };
}
