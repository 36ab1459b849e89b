// One download attempt: stream GET /assets/{key} into the staging partial, resuming with Range and
// If-Range when a partial of the same (key, LastModified, Size) exists. The If-Range validator is the
// strong ETag of the response that wrote the partial, else its Last-Modified date; a partial with
// neither restarts from byte 0 (nothing could tell a changed object from the one we hold). A 416
// discards the partial and restarts. A continuation is accepted only as a 206 whose Content-Range
// matches; a 200 starts over. The byte count is checked against the listed Size and Content-Length
// ourselves, since undici reports a cut close-delimited body as success. The staging files, the
// resume check and the fsync before the caller places the file are partial.ts's.
import type { FileHandle } from 'node:fs/promises';
import type { DownloadResponse } from '../api/client.js';
import type { Expectation } from '../api/source.js';
import type { ListedSize } from '../lib/size.js';
import { ByteSteps, ChunkReleaser, consumeBody, dropBody, mismatch, normalizeEtag, resumeValidator, writeAllAt, type TransferInput, type TransferResult } from './transfer-parts.js';
import { SyncError, classifyError, isSyncError } from '../errors.js';
import { discardStaging, isResumable, openPartial, recordStaging, resumeCheck, sealPartial, sealStagedFile } from './partial.js';
import { crashPoint, isArmed } from '../lib/crash-point.js';
import { transferRanges, wantsRanges } from './ranged.js';
import { bodyHash, hashFile, type BodyHash } from './hash.js';

const WRITE_BATCH = 1 << 20;

export type { TransferInput, TransferResult } from './transfer-parts.js';
export { normalizeEtag, resumeValidator } from './transfer-parts.js';

/** Where a single stream continues: `offset` bytes of `size` kept, asked for under `validator`. */
interface From {
  offset: number;
  /** null when neither the listing nor a staging record knows it (learned from a 200's Content-Length). */
  size: ListedSize;
  validator: string | null;
}

export async function transferToStaging(input: TransferInput): Promise<TransferResult> {
  const { job, staging } = input;
  const expected = input.api.expect(job);
  if (wantsRanges(input, expected.size)) {
    const r = await transferRanges(input, expected.size!);
    if (r !== 'single') return r;
  }
  // Without a listed size (a STAC asset without file:size) it is learned from the response and
  // kept in the staging record; such downloads are always resumable.
  const staged = await resumeCheck(staging, { key: job.key, lastModifiedMs: job.remoteModifiedMs, size: expected.size });
  // A crash after the last byte but before the rename: the partial is complete.
  if (staged.matched && staged.offset === staged.size) return await sealComplete(input, expected, staged.size);
  const { res, from } = await request(input, staged);
  const at = await accept(input, res, from, expected);
  if (isResumable(expected.size)) {
    await recordStaging(input.root, staging, {
      key: job.key,
      lastModifiedMs: job.remoteModifiedMs,
      size: at.size,
      // a 206 continues the recorded bytes; a 200 replaced them and brings its own validator (or none)
      validator: resumeValidator(res) ?? (res.status === 206 ? from.validator : null),
      updatedAt: (input.clock ?? Date.now)(),
    });
  }
  const { received, digest, handle } = await writeAndHash(input, res, at);
  await checkDigest(input, expected, digest).catch(async (e: unknown) => {
    await handle?.close();
    throw e;
  });
  return { bytes: at.size, sha256: digest, received, resumedFrom: res.status === 206 ? at.offset : 0, handle };
}

/**
 * Write the body and hash it: large files in the hash thread as their writes land, small ones inline
 * (hash.ts). The batch's open handle (deferSync) comes back with the digest.
 */
async function writeAndHash(input: TransferInput, res: DownloadResponse, at: { offset: number; size: number }): Promise<{ received: number; digest: string; handle?: FileHandle | undefined }> {
  const hash = await bodyHash(input.staging.partial, at.size, at.offset);
  let written: { received: number; handle?: FileHandle | undefined } | null = null;
  try {
    written = await writeBody(input, res, at, hash);
    return { ...written, digest: await hash.digest(at.size) };
  } catch (e) {
    hash.cancel();
    await written?.handle?.close();
    throw e;
  }
}

/** A complete partial found at resume: hashed, checked and sealed, nothing fetched. */
async function sealComplete(input: TransferInput, expected: Expectation, size: number): Promise<TransferResult> {
  const digest = await hashFile(input.staging.partial, size);
  await checkDigest(input, expected, digest);
  await sealStagedFile(input.staging, input.job.remoteModifiedMs);
  return { bytes: size, sha256: digest, received: 0, resumedFrom: size };
}

/** A listed file:checksum (sha2-256) is verified against the bytes written. */
async function checkDigest(input: TransferInput, expected: Expectation, digest: string): Promise<void> {
  if (!expected.sha256 || digest === expected.sha256) return;
  await discardStaging(input.staging);
  throw mismatch(input.job, `the bytes hash to sha256 ${digest}, but file:checksum says ${expected.sha256}`, 'checksum_mismatch');
}

/** GET the rest of what is staged (or the whole object); a 416 starts over from byte 0. */
async function request(input: TransferInput, staged: From): Promise<{ res: DownloadResponse; from: From }> {
  const { api, job, staging, signal } = input;
  let { offset, validator } = staged;
  if (offset > 0 && !validator) {
    // No validator was recorded for these bytes: a Range request could splice a changed object onto
    // them. Start over.
    await discardStaging(staging);
    offset = 0;
  }
  try {
    const res = await api.download(job, { rangeStart: offset > 0 ? offset : undefined, ifRange: validator, signal });
    return { res, from: { offset, size: staged.size, validator } };
  } catch (e) {
    if (offset === 0 || !isSyncError(e) || e.status !== 416) throw e;
    // The range starts past the object's end: the partial is not a prefix of what the server holds.
    // Asking again for the same range would only repeat this until the attempts run out.
    await discardStaging(staging);
    return { res: await api.download(job, { signal }), from: { offset: 0, size: staged.size, validator: null } };
  }
}

/**
 * Take the response only as what was asked: a 206 exactly continuing the partial, or a 200 of the
 * whole object, of the listed size and ETag. Anything else discards the partial and its body.
 * Returns where the body's bytes go and the size (learned from a 200 when none was listed).
 */
async function accept(input: TransferInput, res: DownloadResponse, from: From, expected: Expectation): Promise<{ offset: number; size: number }> {
  const { job, staging } = input;
  const refuse = async (why: string, cls: 'size_mismatch' | 'range_mismatch'): Promise<never> => {
    await discardStaging(staging);
    throw mismatch(job, why, cls);
  };
  try {
    let { offset, size } = from;
    if (res.status === 206) {
      // Only a matched partial (its size known) asks for a range; an unknown size cannot be continued.
      const cr = res.contentRange;
      if (size === null || offset === 0 || !cr || cr.start !== offset || cr.end !== size - 1 || (cr.total !== null && cr.total !== size)) {
        return await refuse(`unusable 206 (Content-Range ${cr ? `${cr.start}-${cr.end}/${cr.total ?? '*'}` : 'missing'}, wanted ${offset}-${size === null ? '*' : size - 1}/${size ?? '*'})`, 'range_mismatch');
      }
    } else {
      offset = 0; // a 200 means the whole object again
      if (expected.size === null) size = res.contentLength;
      if (size === null) {
        return await refuse('the listing gives no file:size and the response no Content-Length, so completeness cannot be verified', 'size_mismatch');
      }
    }
    if (res.contentLength !== null && res.contentLength !== size - offset) {
      await refuse(`Content-Length ${res.contentLength} does not match the listed Size ${size} (remaining ${size - offset}); the asset probably changed`, 'size_mismatch');
    }
    const listed = normalizeEtag(expected.etag);
    const got = normalizeEtag(res.etag);
    if (listed && got && listed !== got) await refuse(`ETag ${res.etag} differs from the listed ${job.remoteEtag}; the asset changed since it was listed`, 'size_mismatch');
    return { offset, size };
  } catch (e) {
    dropBody(res.body);
    throw e;
  }
}

/**
 * Stream the body into the partial from `at.offset`, hashing it; sealed when whole, or (deferSync)
 * left open for the batch's fsync and handed back.
 */
async function writeBody(input: TransferInput, res: DownloadResponse, at: { offset: number; size: number }, hash: BodyHash): Promise<{ received: number; handle?: FileHandle }> {
  const { job, signal } = input;
  const fh = await openPartial(input.root, input.staging, at.offset > 0 ? 'r+' : 'w');
  const out = new PrefixWriter(fh, at.offset, (upTo) => hash.written(upTo));
  const remaining = at.size - at.offset;
  let received = 0;
  const bytes = new ByteSteps(input.onBytes);
  const take = (chunk: Buffer): Promise<void> | null => {
    received += chunk.length;
    if (received > remaining) throw mismatch(job, `body is longer than the listed Size ${at.size}`, 'size_mismatch');
    hash.chunk(chunk);
    let wait = out.push(chunk);
    const reported = bytes.add(chunk.length, received === remaining);
    if (reported) wait = wait ? Promise.all([wait, reported]).then(() => undefined) : reported;
    if (isArmed('mid_body') && received >= remaining / 2 && received - chunk.length < remaining / 2) {
      return (wait ?? Promise.resolve()).then(() => out.drain()).then(() => crashPoint('mid_body'));
    }
    return wait;
  };
  try {
    try {
      await consumeBody(res.body, take);
      await out.drain();
    } catch (e) {
      // keep what arrived: it is a valid prefix to resume from
      await out.drain().catch(() => undefined);
      if (e instanceof SyncError && e.errorClass === 'size_mismatch') await fh.truncate(0).catch(() => undefined);
      throw signal.aborted && signal.reason instanceof SyncError ? signal.reason : classifyError(e, `GET ${job.key}`);
    }
    await bytes.add(0, true);
    if (received < remaining) {
      throw new SyncError(`GET ${job.key}: body ended after ${at.offset + received} of ${at.size} bytes`, { code: 'SYNC_TRANSFER_SHORT_BODY' });
    }
    if (input.deferSync) {
      await fh.utimes(job.remoteModifiedMs / 1000, job.remoteModifiedMs / 1000);
      return { received, handle: fh };
    }
    await sealPartial(fh, job.remoteModifiedMs);
  } catch (e) {
    await fh.close();
    throw e;
  }
  await fh.close();
  return { received };
}

/**
 * Appends to the partial in batches, one write in flight while the next batch is read from the
 * socket, so reading and writing overlap (bench/: ~1.2-1.6x on large files). A failed write is
 * reported by the next push or drain (never as an unhandled rejection), and nothing is written after
 * it, so the partial stays a gapless prefix. `landed` hears of each write that completed.
 */
class PrefixWriter {
  readonly #fh: FileHandle;
  readonly #landed: (upTo: number) => void;
  #position: number;
  #batch: Buffer[] = [];
  #batchBytes = 0;
  /** The write in flight, if any; it never rejects: a failure is kept in #failure. */
  #inFlight: Promise<void> | null = null;
  #failure: { e: unknown } | null = null;
  readonly #releaser = new ChunkReleaser();

  constructor(fh: FileHandle, position: number, landed: (upTo: number) => void) {
    this.#fh = fh;
    this.#position = position;
    this.#landed = landed;
  }

  /** Batch a chunk. A promise when the batch is full and the previous write has not landed yet: wait for it. */
  push(chunk: Buffer): Promise<void> | null {
    this.#check();
    this.#batch.push(chunk);
    this.#batchBytes += chunk.length;
    if (this.#batchBytes < WRITE_BATCH) return null;
    if (this.#inFlight === null) {
      this.#flush();
      return null;
    }
    return this.#inFlight.then(() => {
      this.#check();
      this.#flush();
    });
  }

  /** Write what is batched and wait for every write. */
  async drain(): Promise<void> {
    await this.#inFlight;
    this.#check();
    this.#flush();
    await this.#inFlight;
    this.#check();
  }

  #check(): void {
    if (this.#failure) throw this.#failure.e;
  }

  /** Start writing the batch; only when no write is in flight. */
  #flush(): void {
    if (this.#batchBytes === 0) return;
    const bufs = this.#batch;
    const at = this.#position;
    const end = (this.#position += this.#batchBytes);
    this.#batch = [];
    this.#batchBytes = 0;
    this.#inFlight = writeAllAt(this.#fh, bufs, at).then(
      () => {
        this.#inFlight = null;
        this.#releaser.written(bufs);
        this.#landed(end);
      },
      (e: unknown) => {
        this.#inFlight = null;
        this.#failure = { e };
      },
    );
  }
}
