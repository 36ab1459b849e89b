// consumeBody (download/transfer-parts.ts): a response body fed to the transfer through 'data'
// events, paused while the transfer waits, and settled exactly once whatever the body did first.
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { consumeBody } from '../../src/download/transfer-parts.js';

describe('consumeBody', () => {
  it('a body that failed before it was consumed rejects with its error instead of waiting forever', async () => {
    const body = new PassThrough();
    body.on('error', () => undefined);
    body.destroy(new Error('read ECONNRESET'));
    await new Promise((r) => setImmediate(r));
    await expect(consumeBody(body, () => null)).rejects.toThrow('read ECONNRESET');
  });

  it('a body closed before its end rejects', async () => {
    const body = new PassThrough();
    const got = consumeBody(body, () => null);
    body.write(Buffer.from('abc'));
    body.destroy();
    await expect(got).rejects.toThrow(/close/i);
  });

  it('pauses while take waits, and resolves only after the last wait settled', async () => {
    const body = new PassThrough();
    const seen: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let ended = false;
    const got = consumeBody(body, (c) => {
      seen.push(c.toString());
      return seen.length === 1 ? gate : null;
    }).then(() => (ended = true));
    body.write('a');
    await new Promise((r) => setImmediate(r));
    body.write('b');
    body.end();
    await new Promise((r) => setImmediate(r));
    // paused behind the first chunk's wait: the second chunk is not taken, the end not reported
    expect(seen).toEqual(['a']);
    expect(body.isPaused()).toBe(true);
    expect(ended).toBe(false);
    release();
    await got;
    expect(seen).toEqual(['a', 'b']);
  });

  it('a throwing or rejecting take destroys the body and rejects with that error', async () => {
    const thrown = new PassThrough();
    const a = consumeBody(thrown, () => {
      throw new Error('longer than listed');
    });
    thrown.write('x');
    await expect(a).rejects.toThrow('longer than listed');
    expect(thrown.destroyed).toBe(true);

    const rejected = new PassThrough();
    const b = consumeBody(rejected, () => Promise.reject(new Error('ENOSPC')));
    rejected.write('x');
    await expect(b).rejects.toThrow('ENOSPC');
    expect(rejected.destroyed).toBe(true);
  });
});
