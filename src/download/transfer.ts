// One download attempt: stream GET /assets/{key} into the staging partial, resuming with Range and
// If-Range when a partial of the same (key, LastModified, Size) exists. The If-Range validator is the
// strong ETag of the response that wrote the partial, else its Last-Modified date; a partial with
// neither restarts from byte 0 (nothing could tell a changed object from the one we hold). A 416
// discards the partial and restarts. A continuation is accepted only as a 206 whose Content-Range
// matches; a 200 starts over. The byte count is checked against the listed Size and Content-Length
// ourselves, since undici reports a cut close-delimited body as success. The staging files, the
// resume check and the fsync before the caller places the file are partial.ts's.
import { createHash } from 'node:crypto';
import type { DownloadResponse } from '../api/client.js';
import { mismatch, normalizeEtag, resumeValidator, writeAllAt, type TransferInput, type TransferResult } from './transfer-parts.js';
import { SyncError, classifyError, isSyncError } from '../errors.js';
import { hashPrefix } from './staging.js';
import { discardStaging, isResumable, openPartial, recordStaging, resumeCheck, sealPartial, sealStagedFile } from './partial.js';
import { crashPoint, isArmed } from '../lib/crash-point.js';
import { transferRanges, wantsRanges } from './ranged.js';
import { hashFile } from './hash.js';

const WRITE_BATCH = 1 << 20;

export type { TransferInput, TransferResult } from './transfer-parts.js';
export { normalizeEtag, resumeValidator } from './transfer-parts.js';

export async function transferToStaging(input: TransferInput): Promise<TransferResult> {
  const { api, job, staging, signal } = input;
  const clock = input.clock ?? Date.now;
  const expected = api.expect(job);
  if (wantsRanges(input, expected.size)) {
    const r = await transferRanges(input, expected.size!);
    if (r !== 'single') return r;
  }
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
    const digest = await hashFile(staging.partial, offset);
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
  // One stream is hashed inline, chunk by chunk: measured faster than the hash thread's read-back
  // (bench/README.md, "Hashing").
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
      });
    }
    if (input.deferSync) await fh.utimes(job.remoteModifiedMs / 1000, job.remoteModifiedMs / 1000);
    else await sealPartial(fh, job.remoteModifiedMs);
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
