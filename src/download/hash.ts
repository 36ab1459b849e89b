// sha256 off the event loop (issue 13 §3): one shared worker thread reads a staged file back (from
// the page cache) as far as it has been written. A ranged download's parts land out of order, so
// the thread follows the growing contiguous prefix; a single stream of 1 MiB or more is followed
// batch by batch as its writes land (bodyHash), so the event loop only parses and writes
// (bench/README.md, "Large files against curl + sync"); smaller files are hashed inline. A complete
// partial found at resume is hashed here too: in the thread when it is large, inline when small.
import { createHash } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import { compiledSibling } from '../lib/compiled.js';
import { hashPrefix } from './staging.js';
import type { HashReply, HashRequest } from './hash-thread.js';

/** Files at least this large are hashed in the worker thread. */
export const HASH_OFFLOAD_MIN = 1024 * 1024;

// The thread's script: hash-thread.ts, compiled beside this module.
const THREAD_URL = compiledSibling('./hash-thread.js', import.meta.url);

type Waiter = { resolve(d: string): void; reject(e: Error): void };

let thread: Worker | null = null;
let nextId = 1;
const waiting = new Map<number, Waiter>();

function hashThread(): Worker {
  if (thread) return thread;
  const w = new Worker(THREAD_URL);
  w.unref(); // referenced only while a digest is awaited (see finish), so an idle thread never holds the process
  w.on('message', (m: HashReply) => {
    const h = waiting.get(m.id);
    if (!h) return;
    waiting.delete(m.id);
    if (waiting.size === 0) w.unref();
    if ('digest' in m) h.resolve(m.digest);
    else h.reject(new Error(`sha256 of the staged file: ${m.error}`));
  });
  w.on('error', (e) => {
    if (thread === w) thread = null;
    for (const h of waiting.values()) h.reject(e);
    waiting.clear();
  });
  w.on('exit', () => {
    if (thread === w) thread = null;
  });
  thread = w;
  return w;
}

const send = (w: Worker, m: HashRequest) => w.postMessage(m);

/** sha256 of a staged file, computed in the hash thread as far as the file has been written. */
export class FileHasher {
  readonly #id = nextId++;
  #done = false;

  constructor(readonly file: string) {}

  /** The first `upTo` bytes are written: the thread may hash them. */
  advance(upTo: number): void {
    if (upTo > 0 && !this.#done) send(hashThread(), { id: this.#id, file: this.file, upTo });
  }

  /** Hash up to `length` and return the hex digest. */
  finish(length: number): Promise<string> {
    this.#done = true;
    const w = hashThread();
    return new Promise<string>((resolve, reject) => {
      waiting.set(this.#id, { resolve, reject });
      w.ref();
      send(w, { id: this.#id, file: this.file, upTo: length, finish: true });
    });
  }

  /** Stop hashing (the download failed); the thread closes the file. */
  cancel(): void {
    if (this.#done || thread === null) return;
    this.#done = true;
    send(thread, { id: this.#id, cancel: true });
  }
}

/** Hex sha256 of the first `length` bytes of a staged file: in the hash thread when large. */
export async function hashFile(file: string, length: number): Promise<string> {
  if (length >= HASH_OFFLOAD_MIN) return await new FileHasher(file).finish(length);
  const hash = createHash('sha256');
  await hashPrefix(file, length, hash);
  return hash.digest('hex');
}

/**
 * The sha256 of a single-stream download, fed as it arrives. Small files are hashed inline, chunk by
 * chunk. Files of at least HASH_OFFLOAD_MIN are hashed in the hash thread, which reads each batch
 * back from the page cache once its write has landed: the event loop, which parses HTTP and issues
 * the writes, is what bounds a large download on 2 cores, and the thread hashes on the other one
 * (bench/README.md, "Large files against curl + sync").
 */
export interface BodyHash {
  /** A chunk of the body as it arrived. */
  chunk(b: Buffer): void;
  /** The file's first `upTo` bytes are written. */
  written(upTo: number): void;
  /** The hex digest of the first `size` bytes (everything was passed to chunk or written). */
  digest(size: number): Promise<string>;
  /** The download failed: stop hashing. */
  cancel(): void;
}

/** A BodyHash for `file` of `size` bytes whose first `from` bytes are already staged. */
export async function bodyHash(file: string, size: number, from: number): Promise<BodyHash> {
  if (size >= HASH_OFFLOAD_MIN) {
    const hasher = new FileHasher(file);
    hasher.advance(from);
    return {
      chunk: () => undefined,
      written: (upTo) => hasher.advance(upTo),
      digest: (n) => hasher.finish(n),
      cancel: () => hasher.cancel(),
    };
  }
  const hash = createHash('sha256');
  await hashPrefix(file, from, hash);
  return {
    chunk: (b) => hash.update(b),
    written: () => undefined,
    digest: () => Promise.resolve(hash.digest('hex')),
    cancel: () => undefined,
  };
}
