// Claims per second with 1 vs 3 `run` replicas on one PostgreSQL schema (built-in simulator with a
// per-request latency, so the network is the bottleneck, as in production). Needs a build (npx tsc -p .)
// and a PostgreSQL (CONSTELLR_TEST_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/test).
// Usage: node bench/replicas.mjs [assets=1500] [latencyMs=20]
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { AssetInventory, startSimulator } from '../dist/simulator/index.js';

const URL = process.env.CONSTELLR_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const COUNT = Number(process.argv[2] ?? 1500);
const LATENCY = Number(process.argv[3] ?? 20);
const MAIN = path.resolve(import.meta.dirname, '../dist/cli/main.js');

async function q(text) {
  const c = new pg.Client({ connectionString: URL });
  await c.connect();
  try {
    return (await c.query(text)).rows;
  } finally {
    await c.end();
  }
}

async function run(replicas) {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'cs-bench-'));
  const schema = `bench_${process.pid}_${replicas}`;
  const assets = Array.from({ length: COUNT }, (_, i) => ({ key: `b/${i}.bin`, size: 512, lastModified: 1_700_000_000_000 + i * 1000 }));
  const sim = await startSimulator({ inventory: new AssetInventory(assets), adminPort: false, defaultPageSize: 1000, faults: { latencyMs: LATENCY } });
  const cfg = path.join(tmp, 'c.yaml');
  writeFileSync(cfg, 'sync:\n  concurrency: 4\nstate:\n  pollerLease: 5s\nhttp:\n  enabled: false\nlog:\n  level: warn\n');
  const kids = Array.from({ length: replicas }, (_, i) =>
    spawn(process.execPath, [MAIN, 'run', '--config', cfg], {
      stdio: 'ignore',
      env: {
        ...process.env,
        CONSTELLR_API_URL: sim.url,
        CONSTELLR_USERNAME: sim.username,
        CONSTELLR_PASSWORD: sim.password,
        CONSTELLR_SYNC_MIRROR_DIR: path.join(tmp, 'mirror'),
        CONSTELLR_SYNC_STATE_DIR: path.join(tmp, `s${i}`),
        CONSTELLR_SYNC_DATABASE_URL: URL,
        CONSTELLR_SYNC_DATABASE_SCHEMA: schema,
      },
    }),
  );
  // claims per second: from the first to the last claim, as the database recorded them (started_at)
  let done = 0;
  const deadline = Date.now() + 300_000;
  while (done < COUNT && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 250));
    done = Number((await q(`SELECT count(*) AS n FROM "${schema}".jobs WHERE state = 'done'`).catch(() => [{ n: 0 }]))[0].n);
  }
  const [span] = await q(`SELECT min(started_at) AS a, max(started_at) AS b, count(*) AS n FROM "${schema}".jobs`);
  for (const k of kids) k.kill('SIGTERM');
  await Promise.all(kids.map((k) => new Promise((r) => k.on('exit', r))));
  await sim.close();
  await q(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  rmSync(tmp, { recursive: true, force: true });
  const secs = (Number(span.b) - Number(span.a)) / 1000;
  return { replicas, assets: Number(span.n), seconds: secs, claimsPerSecond: Math.round(Number(span.n) / secs) };
}

const results = [];
for (const n of [1, 3]) results.push(await run(n));
console.log(JSON.stringify({ latencyMs: LATENCY, concurrencyPerReplica: 4, results }, null, 2));
