// How long one /api/status build takes on a state of N jobs (half done, 1 % of those failed), SQLite.
// npm run build && node bench/status-api.mjs 100000
import { SqliteStore } from '../dist/store/sqlite-store.js';
import { buildApiStatus } from '../dist/ops/status/api.js';
import { LiveStatus } from '../dist/ops/status/live.js';
import { loadConfig } from '../dist/config/load.js';
import fs from 'node:fs'; import os from 'node:os'; import path from 'node:path';
const N = Number(process.argv[2] ?? 100000);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-status-'));
const s = await SqliteStore.open(dir, { maxAttempts: 3 });
const now = Date.now();
for (let i = 0; i < N; i += 1000) await s.upsertPage(Array.from({ length: 1000 }, (_, j) => ({ key: `k/${i + j}`, lastModifiedMs: now - 1e6 + i + j, size: 1000 + j, etag: null })), now);
// half done, some failed
let claimed = 0;
while (claimed < N / 2) { const js = await s.claim(500, { owner: 'b', leaseMs: 60000, now: Date.now(), order: 'key' }); for (const j of js) { if (j.id % 100 === 0) await s.fail(j.id, j.leaseToken, { errorClass: 'http_4xx', status: 403, message: 'no' }, Date.now()); else await s.complete(j.id, j.leaseToken, { localPath: j.key, bytes: 1, sha256: 'x', now: Date.now() }); } claimed += js.length; }
const config = loadConfig({ env: {}, flags: { 'state-dir': dir, 'mirror-dir': dir } });
const src = { store: s, config: () => config, live: new LiveStatus(), inFlight: () => [], gatePauses: () => [], bandwidth: () => null, readiness: () => ({ ready: true, reason: 'ok' }), owner: 'x', isPoller: () => true, actionsEnabled: false, clock: Date.now };
const times = [];
for (let i = 0; i < 10; i++) { const t = performance.now(); await buildApiStatus(src); times.push(performance.now() - t); }
times.sort((a, b) => a - b);
console.log(`${N} jobs: buildApiStatus median ${times[5].toFixed(1)} ms, min ${times[0].toFixed(1)} ms, max ${times[9].toFixed(1)} ms`);
const t2 = performance.now(); await s.counts(); const c = performance.now() - t2; const t3 = performance.now(); await s.bytesByState(); const b = performance.now() - t3; const t4 = performance.now(); await s.problemJobs(500); const p = performance.now() - t4;
console.log(`counts ${c.toFixed(1)} ms, bytesByState ${b.toFixed(1)} ms, problemJobs(500) ${p.toFixed(1)} ms`);
await s.close(); fs.rmSync(dir, { recursive: true });
