// The hash thread's script (hash.ts starts it as a worker thread from the compiled hash-thread.js):
// it opens the file once per job and hashes [at, upTo) on each message, in the order the messages
// were sent; the last message of a job asks for the digest (finish) or drops the job (cancel).
import { createHash, type Hash } from 'node:crypto';
import fs from 'node:fs';
import { parentPort } from 'node:worker_threads';

/** What hash.ts sends: hash the file up to `upTo`, then maybe finish; or cancel the job. */
export type HashRequest = { id: number; file: string; upTo: number; finish?: true } | { id: number; cancel: true };
/** What the thread answers to a finish, or to any failure of the job. */
export type HashReply = { id: number; digest: string } | { id: number; error: string };

const port = parentPort;
if (port === null) throw new Error('hash-thread.js runs only as a worker thread (see hash.ts)');

const jobs = new Map<number, { fd: number; hash: Hash; at: number }>();
const buf = Buffer.allocUnsafe(1 << 20);
const reply = (m: HashReply) => port.postMessage(m);

port.on('message', (m: HashRequest) => {
  let j = jobs.get(m.id);
  try {
    if ('cancel' in m) {
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
      if (n === 0) throw new Error(`the staged file ended at byte ${j.at} of ${m.upTo}`);
      j.hash.update(buf.subarray(0, n));
      j.at += n;
    }
    if (m.finish) {
      fs.closeSync(j.fd);
      jobs.delete(m.id);
      reply({ id: m.id, digest: j.hash.digest('hex') });
    }
  } catch (e) {
    if (j) {
      try {
        fs.closeSync(j.fd);
      } catch {
        // already closed or never opened: nothing left to release
      }
    }
    jobs.delete(m.id);
    reply({ id: m.id, error: String((e as Error | undefined)?.message) });
  }
});
