// The state store's share of the small-file path, without files or HTTP: 10,000 jobs upserted into a
// fresh SQLite state, then windows of 16 claimed (8 started at once, 8 marked started together), and
// committed in batches (commitPlacedBatch: lease check, completion), as the pool does. Prints the
// CPU per file. Compare builds with `strace -f -c -e trace=pwrite64,fcntl` for the page writes.
//
//   node bench/store-small.mjs [dist dir, default ./dist] [files per batch, default 8]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
const dist = path.resolve(process.argv[2] ?? 'dist');
const { SqliteStore } = await import(path.join(dist, 'store/sqlite-store.js'));
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'store-small-'));
const s = SqliteStore.open(dir, { maxAttempts: 5 });
const N = 10000;
const lm = Date.parse('2026-01-01T00:00:00Z');
const items = [];
for (let i = 0; i < N; i++) items.push({ key: `small/d${String(Math.floor(i / 500)).padStart(4, '0')}/obj-${String(i).padStart(7, '0')}.bin`, lastModifiedMs: lm + (i % 3600) * 1000, size: 8192, etag: `"e${i}"` });
await s.startPoll(Date.now());
for (let i = 0; i < N; i += 1000) await s.upsertPage(items.slice(i, i + 1000), Date.now());
await s.finishPoll(lm + 3600_000, Date.now());
const opts = () => ({ owner: 'me/pool', leaseMs: 300_000, now: Date.now(), order: 'newest-first' });
const paths = (j) => ({ mirrorPath: j.key, pathFold: j.key });
const t0 = process.cpuUsage();
const w0 = performance.now();
let done = 0, claims = 0, batches = 0;
const B = Number(process.argv[3] ?? 8);
for (;;) {
  const jobs = await s.claimWindow(16, { ...opts(), start: 8 }, paths);
  claims++;
  if (jobs.length === 0) break;
  const rest = jobs.slice(8);
  if (rest.length) await s.markStartedMany(rest.map((j) => ({ id: j.id, token: j.leaseToken })), Date.now());
  for (let i = 0; i < jobs.length; i += B) {
    const part = jobs.slice(i, i + B);
    const rows = part.map((j) => ({ id: j.id, token: j.leaseToken, localPath: j.key, bytes: 8192, sha256: 'ab'.repeat(32), shortened: false, now: Date.now() }));
    await s.commitPlacedBatch(rows, async (held) => new Set(held), 300_000);
    batches++;
  }
  done += jobs.length;
}
const c = process.cpuUsage(t0);
console.log(`${done} done, ${claims} claims, ${batches} batches: ${((c.user + c.system) / 1000).toFixed(0)} ms CPU (${((c.user + c.system) / done).toFixed(1)} µs/file), user ${(c.user/1000).toFixed(0)} sys ${(c.system/1000).toFixed(0)}, wall ${(performance.now() - w0).toFixed(0)} ms`);
await s.close();
fs.rmSync(dir, { recursive: true });
