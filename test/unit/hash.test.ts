// The hash thread (issue 13 §3): the digest of a file hashed as its writes land equals sha256 of its
// bytes; a file that ends early is an error, not a digest of fewer bytes.
import { createHash, randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileHasher, HASH_OFFLOAD_MIN, hashFile } from '../../src/download/hash.js';

let dir: string;
beforeAll(async () => {
  dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'cs-hash-'));
});
afterAll(async () => {
  await fsp.rm(dir, { recursive: true, force: true });
});

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('hash thread', () => {
  it('follows a file as it is written and returns the sha256 of all of it', async () => {
    const file = path.join(dir, 'grow.bin');
    const data = randomBytes(3 * HASH_OFFLOAD_MIN + 777);
    const fh = await fsp.open(file, 'w');
    const h = new FileHasher(file);
    for (let at = 0; at < data.length; at += 300_001) {
      const end = Math.min(data.length, at + 300_001);
      await fh.write(data, at, end - at, at);
      h.advance(end);
    }
    await fh.close();
    expect(await h.finish(data.length)).toBe(sha(data));
  });

  it('hashes small files inline and large ones in the thread, with the same result', async () => {
    for (const n of [0, 1000, HASH_OFFLOAD_MIN + 1]) {
      const file = path.join(dir, `f-${n}.bin`);
      const data = randomBytes(n);
      await fsp.writeFile(file, data);
      expect(await hashFile(file, n), `size ${n}`).toBe(sha(data));
    }
  });

  it('a file shorter than asked is an error; a cancelled hash leaves the thread usable', async () => {
    const file = path.join(dir, 'short.bin');
    await fsp.writeFile(file, randomBytes(HASH_OFFLOAD_MIN));
    await expect(hashFile(file, 2 * HASH_OFFLOAD_MIN)).rejects.toThrow(/ended at byte/);
    const c = new FileHasher(file);
    c.advance(1000);
    c.cancel();
    expect(await hashFile(file, HASH_OFFLOAD_MIN)).toBe(sha(await fsp.readFile(file)));
  });
});
