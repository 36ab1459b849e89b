// releaseChunks (download/transfer-parts.ts): a written chunk that is all of its ArrayBuffer gives
// its memory back at once; a view into a larger buffer (which other views may still read) and a
// small pooled Buffer are left alone.
import { describe, expect, it } from 'vitest';
import { releaseChunks } from '../../src/download/transfer-parts.js';

describe('releaseChunks', () => {
  it('detaches a chunk that is all of its ArrayBuffer, and only such a chunk', () => {
    const whole = Buffer.from(new ArrayBuffer(64 * 1024));
    const shared = new ArrayBuffer(64 * 1024);
    const head = Buffer.from(shared, 0, 32 * 1024);
    const rest = Buffer.from(shared, 32 * 1024, 32 * 1024).fill(7);
    const small = Buffer.from('a small body');
    releaseChunks([whole, head, small]);
    expect(whole.buffer.byteLength).toBe(0);
    expect(whole.length).toBe(0);
    // the rest of a socket read that undici puts back when a body pauses is still readable
    expect(shared.byteLength).toBe(64 * 1024);
    expect(rest[0]).toBe(7);
    expect(small.toString()).toBe('a small body');
  });
});
