// sha256 off the event loop (issue 13 §3), where it must be: a ranged download's parts land out of
// order, so one shared worker thread reads the staged file back (from the page cache) along the
// growing contiguous prefix. A single stream hashes its chunks inline instead, which measured faster
// on 2 cores than the thread's read-back (bench/README.md, "Hashing"). A complete partial found at
// resume is hashed here too: in the thread when it is large, inline when small.
import { createHash } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import { hashPrefix } from '../mirror/staging.js';

/** Files at least this large are hashed in the worker thread. */
export const HASH_OFFLOAD_MIN = 1024 * 1024;

// CommonJS, evaluated in the thread: it opens the file once per job and hashes [at, upTo) on each
// message, in the order the messages were sent.
const THREAD_SOURCE = `
const { parentPort } = require('node:worker_threads');
const fs = require('node:fs');
const { createHash } = require('node:crypto');
const jobs = new Map();
const buf = Buffer.allocUnsafe(1 << 20);
parentPort.on('message', (m) => {
  let j = jobs.get(m.id);
  try {
    if (m.cancel) {
      if (j) fs.closeSync(j.fd);
      jobs.delete(m.id);
      return;
    }
    if (!j) {
      j = { fd: fs.openSync(m.file, 'r'), hash: createHash('sha256'), at: 0 };
      jobs.set(m.id, j);
    }
    while (j.at < m.upTo) {
      const n = fs.readSync(j.fd, buf, 0, Math.min(buf.length, m.upTo - j.at), j.at);
      if (n === 0) throw new Error('the staged file ended at byte ' + j.at + ' of ' + m.upTo);
      j.hash.update(buf.subarray(0, n));
      j.at += n;
    }
    if (m.finish) {
      fs.closeSync(j.fd);
      jobs.delete(m.id);
      parentPort.postMessage({ id: m.id, digest: j.hash.digest('hex') });
    }
  } catch (e) {
    if (j) try { fs.closeSync(j.fd); } catch {}
    jobs.delete(m.id);
    parentPort.postMessage({ id: m.id, error: String(e && e.message) });
  }
});
`;

type Waiter = { resolve(d: string): void; reject(e: Error): void };

let thread: Worker | null = null;
let nextId = 1;
const waiting = new Map<number, Waiter>();

function hashThread(): Worker {
  if (thread) return thread;
  const w = new Worker(THREAD_SOURCE, { eval: true });
  w.unref(); // referenced only while a digest is awaited (see finish), so an idle thread never holds the process
  w.on('message', (m: { id: number; digest?: string; error?: string }) => {
    const h = waiting.get(m.id);
    if (!h) return;
    waiting.delete(m.id);
    if (waiting.size === 0) w.unref();
    if (m.digest !== undefined) h.resolve(m.digest);
    else h.reject(new Error(`sha256 of the staged file: ${m.error ?? 'failed'}`));
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

/** sha256 of a staged file, computed in the hash thread as far as the file has been written. */
export class FileHasher {
  readonly #id = nextId++;
  #done = false;

  constructor(readonly file: string) {}

  /** The first `upTo` bytes are written: the thread may hash them. */
  advance(upTo: number): void {
    if (upTo > 0 && !this.#done) hashThread().postMessage({ id: this.#id, file: this.file, upTo });
  }

  /** Hash up to `length` and return the hex digest. */
  finish(length: number): Promise<string> {
    this.#done = true;
    const w = hashThread();
    return new Promise<string>((resolve, reject) => {
      waiting.set(this.#id, { resolve, reject });
      w.ref();
      w.postMessage({ id: this.#id, file: this.file, upTo: length, finish: true });
    });
  }

  /** Stop hashing (the download failed); the thread closes the file. */
  cancel(): void {
    if (this.#done || thread === null) return;
    this.#done = true;
    thread.postMessage({ id: this.#id, cancel: true });
  }
}

/** Hex sha256 of the first `length` bytes of a staged file: in the hash thread when large. */
export async function hashFile(file: string, length: number): Promise<string> {
  if (length >= HASH_OFFLOAD_MIN) return await new FileHasher(file).finish(length);
  const hash = createHash('sha256');
  await hashPrefix(file, length, hash);
  return hash.digest('hex');
}
