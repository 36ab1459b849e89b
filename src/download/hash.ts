// sha256 off the event loop (issue 13 §3), where it must be: a ranged download's parts land out of
// order, so one shared worker thread reads the staged file back (from the page cache) along the
// growing contiguous prefix. A single stream hashes its chunks inline instead, which measured faster
// on 2 cores than the thread's read-back (bench/README.md, "Hashing"). A complete partial found at
// resume is hashed here too: in the thread when it is large, inline when small.
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
