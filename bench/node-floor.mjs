// node-floor (issue 23 §6): the bare durable Node client that `npm run bench` measures as the floor
// for constellr-sync. An undici Pool with N connections, N loops that each GET the next URL, write
// the body to <path>.part through a FileHandle, fsync it and rename it into place; at the end every
// folder is fsynced once. No state, no retries, no hashing: the same runtime and the same
// durability per file as constellr-sync, and nothing else.
//
//   node bench/node-floor.mjs <list-file> <out-dir> [concurrency=8]
//
// list-file: the base URL on the first line (e.g. http://127.0.0.1:8080/assets/), then one key per
// line (URL = base + the key, each segment percent-encoded; file = <out-dir>/<key>). The bearer
// token, if any, comes from $BENCH_TOKEN (not argv, where ps would show it). Exits 1 on the first
// failed request.
import { mkdirSync, readFileSync } from 'node:fs';
import { open, rename } from 'node:fs/promises';
import path from 'node:path';
import { Pool } from 'undici';

const [listFile, out, conc = '8'] = process.argv.slice(2);
const outDir = path.resolve(out);
const [base, ...keys] = readFileSync(listFile, 'utf8').split('\n').filter(Boolean);
const N = Number(conc);
const url = new URL(base);
const pool = new Pool(url.origin, { connections: N });
const headers = process.env.BENCH_TOKEN ? { authorization: `Bearer ${process.env.BENCH_TOKEN}` } : {};
const dirs = new Set(keys.map((k) => path.dirname(path.join(outDir, k))));
for (const d of dirs) mkdirSync(d, { recursive: true });
// every folder of the output gets its one fsync at the end: the files' folders and the ones above them
for (const d of [...dirs]) for (let p = path.dirname(d); p.startsWith(outDir); p = path.dirname(p)) dirs.add(p);

let next = 0;
async function loop() {
  while (next < keys.length) {
    const key = keys[next++];
    const file = path.join(outDir, key);
    const { statusCode, body } = await pool.request({ path: url.pathname + key.split('/').map(encodeURIComponent).join('/'), method: 'GET', headers });
    if (statusCode !== 200) throw new Error(`GET ${key}: ${statusCode}`);
    const fh = await open(`${file}.part`, 'w');
    try {
      for await (const chunk of body) await fh.write(chunk);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(`${file}.part`, file);
  }
}

await Promise.all(Array.from({ length: N }, loop));
for (const d of dirs) {
  const fh = await open(d, 'r');
  await fh.sync();
  await fh.close();
}
await pool.close();
