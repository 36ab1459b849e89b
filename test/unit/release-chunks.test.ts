// ChunkReleaser (download/transfer-parts.ts): an ArrayBuffer whose bytes have all been written as
// chunks of the body gives its memory back at once; one that also holds other bytes (headers, the
// unparsed rest of a socket read undici put back) and Node's small shared pool are left alone.
import { describe, expect, it } from 'vitest';
import { ChunkReleaser } from '../../src/download/transfer-parts.js';

describe('ChunkReleaser', () => {
  it('detaches a chunk that is all of its ArrayBuffer once written', () => {
    const whole = Buffer.from(new ArrayBuffer(64 * 1024));
    new ChunkReleaser().written([whole]);
    expect(whole.buffer.byteLength).toBe(0);
  });

  it('a read split by a pause is released only when its rest is written too', () => {
    const read = new ArrayBuffer(64 * 1024);
    const first = Buffer.from(read, 0, 40 * 1024);
    const rest = Buffer.from(read, 40 * 1024, 24 * 1024).fill(7);
    const r = new ChunkReleaser();
    r.written([first]);
    // the rest (put back by undici, not yet written) is still readable
    expect(read.byteLength).toBe(64 * 1024);
    expect(rest[0]).toBe(7);
    r.written([rest]);
    expect(read.byteLength).toBe(0);
  });

  it('leaves a read that also held headers, and small pooled Buffers, to the collector', () => {
    const read = new ArrayBuffer(64 * 1024);
    const body = Buffer.from(read, 300, 64 * 1024 - 300);
    const small = Buffer.from('a small body');
    const r = new ChunkReleaser();
    r.written([body, small]);
    expect(read.byteLength).toBe(64 * 1024);
    expect(small.toString()).toBe('a small body');
  });
});
