// Deterministic asset content, generated on the fly: content is a pure function of
// (seed, size), and byte i never depends on size, so any range can be produced
// without holding the asset in memory.
//
// Layout: the asset is split into 64 KiB chunks. Chunk j is a 64 KiB base block
// derived from the seed whose first 32 bytes are replaced by sha256(seed + ':' + j),
// so no two chunk offsets carry the same bytes and a resume at a wrong offset is
// always detectable. The base block is a counter-mode keystream (AES-256-CTR keyed
// by sha256 of the seed): same idea as sha256 in counter mode, but ~100x cheaper,
// which matters when 10,000 small assets each need their own block.
import { createCipheriv, createHash, hash, type Cipheriv } from 'node:crypto';
import { Readable } from 'node:stream';

export const CONTENT_CHUNK_SIZE = 64 * 1024;
const HEAD_SIZE = 32;
const BASE_CACHE_ENTRIES = 256;
const BASE_STEP = 4096;
const STREAM_PIECE = 256 * 1024;
const ZEROS = Buffer.alloc(CONTENT_CHUNK_SIZE);
const IV = Buffer.alloc(16);

interface BaseEntry {
  buf: Buffer;
  // bytes generated so far: filled lazily so a 300-byte asset does not pay for 64 KiB
  filled: number;
  cipher: Cipheriv | undefined;
}

const baseCache = new Map<string, BaseEntry>();

function baseBlock(seed: string, needBytes: number): Buffer {
  let e = baseCache.get(seed);
  if (e) {
    // LRU touch: Map keeps insertion order
    baseCache.delete(seed);
    baseCache.set(seed, e);
  } else {
    const key = hash('sha256', `${seed}\0base`, 'buffer');
    e = { buf: Buffer.alloc(CONTENT_CHUNK_SIZE), filled: 0, cipher: createCipheriv('aes-256-ctr', key, IV) };
    baseCache.set(seed, e);
    if (baseCache.size > BASE_CACHE_ENTRIES) {
      const oldest = baseCache.keys().next().value;
      if (oldest !== undefined) baseCache.delete(oldest);
    }
  }
  if (e.filled < needBytes && e.cipher) {
    // CTR keystream is a prefix-stable stream: extending it later yields the same bytes
    const upTo = Math.min(CONTENT_CHUNK_SIZE, Math.ceil(needBytes / BASE_STEP) * BASE_STEP);
    e.cipher.update(ZEROS.subarray(0, upTo - e.filled)).copy(e.buf, e.filled);
    e.filled = upTo;
    if (e.filled === CONTENT_CHUNK_SIZE) e.cipher = undefined;
  }
  return e.buf;
}

function chunkHead(seed: string, j: number): Buffer {
  return hash('sha256', `${seed}:${j}`, 'buffer');
}

/** Fill `target` with the content bytes starting at absolute `offset`. */
export function fillContent(seed: string, offset: number, target: Buffer): Buffer {
  if (target.length === 0) return target;
  // one LRU lookup per call: only as much base block as this fill touches
  const firstWithin = offset % CONTENT_CHUNK_SIZE;
  const base = baseBlock(seed, Math.min(CONTENT_CHUNK_SIZE, firstWithin + target.length));
  let pos = offset;
  let t = 0;
  while (t < target.length) {
    const j = Math.floor(pos / CONTENT_CHUNK_SIZE);
    const within = pos - j * CONTENT_CHUNK_SIZE;
    const n = Math.min(CONTENT_CHUNK_SIZE - within, target.length - t);
    base.copy(target, t, within, within + n);
    if (within < HEAD_SIZE) {
      chunkHead(seed, j).copy(target, t, within, Math.min(HEAD_SIZE, within + n));
    }
    t += n;
    pos += n;
  }
  return target;
}

function checkRange(size: number, start: number, endInclusive: number): void {
  if (!Number.isSafeInteger(size) || size < 0) throw new RangeError(`invalid size ${size}`);
  if (!Number.isSafeInteger(start) || start < 0) throw new RangeError(`invalid start ${start}`);
  if (!Number.isSafeInteger(endInclusive) || endInclusive >= size) {
    throw new RangeError(`invalid end ${endInclusive} for size ${size}`);
  }
}

/** Small slices for tests: bytes [start, endInclusive] of the content. */
export function contentBytes(seed: string, size: number, start = 0, endInclusive = size - 1): Buffer {
  if (size === 0 || endInclusive < start) return Buffer.alloc(0);
  checkRange(size, start, endInclusive);
  return fillContent(seed, start, Buffer.allocUnsafe(endInclusive - start + 1));
}

class ContentStream extends Readable {
  private pos: number;

  constructor(
    private readonly seed: string,
    start: number,
    private readonly endExclusive: number,
  ) {
    super({ highWaterMark: STREAM_PIECE });
    this.pos = start;
  }

  override _read(): void {
    // push until the buffer is full; Readable calls _read again when drained
    for (;;) {
      if (this.pos >= this.endExclusive) {
        this.push(null);
        return;
      }
      const n = Math.min(STREAM_PIECE, this.endExclusive - this.pos);
      const buf = fillContent(this.seed, this.pos, Buffer.allocUnsafe(n));
      this.pos += n;
      if (!this.push(buf)) return;
    }
  }
}

/** Stream bytes [start, endInclusive] of the content. */
export function createContentStream(
  seed: string,
  size: number,
  start = 0,
  endInclusive = size - 1,
): Readable {
  if (size === 0 || endInclusive < start) return new ContentStream(seed, 0, 0);
  checkRange(size, start, endInclusive);
  return new ContentStream(seed, start, endInclusive + 1);
}

/** Hex sha256 of the whole content; yields to the event loop so a server in the same process keeps serving. */
export async function contentSha256(seed: string, size: number): Promise<string> {
  const h = createHash('sha256');
  const piece = Buffer.allocUnsafe(1024 * 1024);
  let pos = 0;
  let sinceYield = 0;
  while (pos < size) {
    const n = Math.min(piece.length, size - pos);
    const view = n === piece.length ? piece : piece.subarray(0, n);
    h.update(fillContent(seed, pos, view));
    pos += n;
    sinceYield += n;
    if (sinceYield >= 16 * 1024 * 1024) {
      sinceYield = 0;
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }
  return h.digest('hex');
}
