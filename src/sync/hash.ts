// sha256 of a staged file, read back from the page cache after it was written (see bench/README.md).
import type { Hash } from 'node:crypto';
import { hashPrefix } from '../mirror/staging.js';

/** Hex sha256 of the first `length` bytes of `file`, fed into `hash` (which may hold nothing yet). */
export async function hashFile(file: string, length: number, hash: Hash): Promise<string> {
  await hashPrefix(file, length, hash);
  return hash.digest('hex');
}
