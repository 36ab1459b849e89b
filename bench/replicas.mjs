// Replicas on one PostgreSQL schema, two scenarios (issue 23's "3 replicas on PostgreSQL" target).
// Needs a build (npx tsc -p .) and a PostgreSQL (CONSTELLR_TEST_DATABASE_URL, default
// postgres://postgres@127.0.0.1:5432/test); each run uses a fresh schema and drops it after.
//
// - claims: claims per second with 1 vs 3 `run` replicas over small assets (built-in simulator with a
//   per-request latency, so the network is the bottleneck, as in production).
// - killed: 3 replicas mirror a catalog whose bytes dominate (files of 1–8 MiB); one is SIGKILLed once a
//   third of the catalog's bytes were served; the other two finish. It reports the bytes the server sent
//   (the simulator's own count, and a counting TCP proxy in front of each replica) ÷ the catalog's bytes,
//   how long the killed replica's leased jobs took to be picked up (and whether by the survivors' claims
//   or their lease sweeps), and checks the mirror: `verify
//   --deep` exits 0 and every file's sha256 is the simulator's.
//
// Usage: node bench/replicas.mjs [claims|killed|all] [--assets N] [--latency MS] [--files N]
//        [--stream-rate BYTES/S] [--kill-at FRACTION] [--lease 10s]
// (the old form `node bench/replicas.mjs 1500 20` still runs the claims scenario with those numbers)
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { AssetInventory, contentSha256, startSimulator } from '../dist/simulator/index.js';

const URL = process.env.CONSTELLR_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const MAIN = path.resolve(import.meta.dirname, '../dist/cli/main.js');
const MiB = 1024 * 1024;

const { values: opt, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    assets: { type: 'string' },
    latency: { type: 'string', default: '20' },
    files: { type: 'string', default: '200' },
    'stream-rate': { type: 'string', default: String(16 * MiB) },
    'kill-at': { type: 'string', default: '0.33' },
    lease: { type: 'string', default: '10s' },
  },
});
const numeric = positionals.length > 0 && /^\d+$/.test(positionals[0]);
const MODE = numeric ? 'claims' : (positionals[0] ?? 'all');
const COUNT = Number(opt.assets ?? (numeric ? positionals[0] : 1500));
const LATENCY = Number(numeric && positionals[1] !== undefined ? positionals[1] : opt.latency);
const FILES = Number(opt.files);
const STREAM_RATE = Number(opt['stream-rate']);
const KILL_AT = Number(opt['kill-at']);
const LEASE = opt.lease;
const LEASE_MS = /^(\d+)s$/.test(LEASE) ? Number(LEASE.slice(0, -1)) * 1000 : Number.NaN;
if (!['claims', 'killed', 'all'].includes(MODE) || !Number.isFinite(LEASE_MS)) {
  console.error('usage: node bench/replicas.mjs [claims|killed|all] [--assets N] [--latency MS] [--files N] [--stream-rate B/s] [--kill-at F] [--lease Ns]');
  process.exit(2);
}

async function q(text, params) {
  const c = new pg.Client({ connectionString: URL });
  await c.connect();
  try {
    return (await c.query(text, params)).rows;
  } finally {
    await c.end();
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function replicaEnv(o) {
  return {
    ...process.env,
    CONSTELLR_API_URL: o.apiUrl,
    CONSTELLR_USERNAME: o.sim.username,
    CONSTELLR_PASSWORD: o.sim.password,
    CONSTELLR_SYNC_MIRROR_DIR: o.mirror,
    CONSTELLR_SYNC_STATE_DIR: o.stateDir,
    CONSTELLR_SYNC_DATABASE_URL: URL,
    CONSTELLR_SYNC_DATABASE_SCHEMA: o.schema,
  };
}

async function claims(replicas) {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'cs-bench-'));
  const schema = `bench_${process.pid}_${replicas}`;
  const assets = Array.from({ length: COUNT }, (_, i) => ({ key: `b/${i}.bin`, size: 512, lastModified: 1_700_000_000_000 + i * 1000 }));
  const sim = await startSimulator({ inventory: new AssetInventory(assets), adminPort: false, defaultPageSize: 1000, faults: { latencyMs: LATENCY } });
  const cfg = path.join(tmp, 'c.yaml');
  writeFileSync(cfg, 'sync:\n  concurrency: 4\nstate:\n  pollerLease: 5s\nhttp:\n  enabled: false\nlog:\n  level: warn\n');
  const kids = Array.from({ length: replicas }, (_, i) =>
    spawn(process.execPath, [MAIN, 'run', '--config', cfg], {
      stdio: 'ignore',
      env: replicaEnv({ apiUrl: sim.url, sim, mirror: path.join(tmp, 'mirror'), stateDir: path.join(tmp, `s${i}`), schema }),
    }),
  );
  // claims per second: from the first to the last claim, as the database recorded them (started_at)
  let done = 0;
  const deadline = Date.now() + 300_000;
  while (done < COUNT && Date.now() < deadline) {
    await sleep(250);
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

/** A TCP proxy in front of the simulator that counts the bytes it passes to the client (headers included). */
async function countingProxy(target, onBytes) {
  const { port } = new globalThis.URL(target);
  const sockets = new Set();
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(port), '127.0.0.1');
    sockets.add(client).add(upstream);
    upstream.on('data', (d) => {
      onBytes(d.length);
      if (!client.write(d)) upstream.pause();
    });
    client.on('drain', () => upstream.resume());
    client.pipe(upstream);
    const end = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((r) => server.close(r));
    },
  };
}

/** Adds a survivor's log line about expired leases it took (a claim's, or the lease sweep's) to `into`. */
function countTakeovers(line, into) {
  if (!line.includes('lease expired')) return;
  const { jobs = 0, msg = '' } = JSON.parse(line);
  if (msg.startsWith('claimed')) into.byClaim += jobs;
  else if (msg.startsWith('requeued')) into.bySweep += jobs;
}

/** Sizes of 1–8 MiB, mixed and not aligned to anything (a fixed LCG, the same catalog every run). */
function largeAssets(n) {
  let x = 12345;
  return Array.from({ length: n }, (_, i) => {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    return { key: `scenes/${String(i % 10).padStart(2, '0')}/scene-${String(i).padStart(4, '0')}.tif`, size: MiB + (x % (7 * MiB)), lastModified: 1_700_000_000_000 + i * 1000 };
  });
}

function runCli(args, env) {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, [MAIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    c.stdout.on('data', (d) => (out += d));
    c.stderr.on('data', (d) => (out += d));
    c.on('exit', (code) => resolve({ code, out }));
  });
}

function sha256File(file) {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(file)
      .on('data', (d) => h.update(d))
      .on('error', reject)
      .on('end', () => resolve(h.digest('hex')));
  });
}

/** The partials the killed replica held a staging claim on when it died: key (from the record) and bytes on disk. */
function partialsOf(stagingDir, pid) {
  const out = [];
  for (const f of existsSync(stagingDir) ? readdirSync(stagingDir) : []) {
    if (!f.endsWith('.claim')) continue;
    const base = path.join(stagingDir, f.replace(/\.claim$/, ''));
    const read = (ext, fn) => {
      try {
        return fn(`${base}${ext}`);
      } catch {
        return null; // not written yet
      }
    };
    if (read('.claim', (x) => JSON.parse(readFileSync(x, 'utf8')).pid) !== pid) continue;
    out.push({ key: read('.json', (x) => JSON.parse(readFileSync(x, 'utf8')).key), bytes: read('.partial', (x) => statSync(x).size) ?? 0 });
  }
  return out;
}

/** Each of the victim's partials: its bytes on disk at the death, and where the server's bodies of its key started. */
function resumesOf(sim, partials) {
  return partials.map((p) => ({ bytesOnDisk: p.bytes, bodyStarts: (p.key === null ? [] : (sim.stats.bodiesByKey.get(p.key) ?? [])).map((b) => b.start) }));
}

/** The server's bodies per key: how much was sent beyond the file, and whether a later body resumed. */
function redundancy(sim) {
  let extra = 0;
  let restartedBytes = 0;
  let resumed = 0;
  let restarted = 0;
  for (const a of sim.inventory.values()) {
    const bodies = sim.stats.bodiesByKey.get(a.key) ?? [];
    const sent = bodies.reduce((n, b) => n + (b.end - b.start), 0);
    extra += Math.max(0, sent - a.size);
    for (const b of bodies.slice(1)) {
      if (b.start > 0) resumed++;
      else {
        restarted++;
        restartedBytes += Math.min(a.size, sent - a.size);
      }
    }
  }
  return { extraBytes: extra, laterBodiesResumed: resumed, laterBodiesFromZero: restarted, bytesRefetchedFromZero: restartedBytes };
}

async function killed() {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'cs-bench-killed-'));
  const schema = `bench_${process.pid}_killed`;
  const assets = largeAssets(FILES);
  const catalogBytes = assets.reduce((n, a) => n + a.size, 0);
  const sim = await startSimulator({
    inventory: new AssetInventory(assets),
    adminPort: false,
    defaultPageSize: 1000,
    faults: { latencyMs: LATENCY, bodyBytesPerSecond: STREAM_RATE },
  });
  const cfg = path.join(tmp, 'c.yaml');
  writeFileSync(cfg, `sync:\n  concurrency: 4\n  leaseDuration: ${LEASE}\n  gracePeriod: 5s\nstate:\n  pollerLease: 5s\nhttp:\n  enabled: false\nlog:\n  level: warn\n`);
  const mirror = path.join(tmp, 'mirror');
  const perReplica = [0, 0, 0];
  let victimPid = null;
  let killedAt = null;
  let servedAtKill = null;
  const proxies = [];
  const kids = [];
  // How the survivors took the killed replica's expired leases: by a claim, or by the lease sweep.
  const tookExpired = { byClaim: 0, bySweep: 0 };
  const start = Date.now();
  for (let i = 0; i < 3; i++) {
    proxies.push(
      await countingProxy(sim.url, (n) => {
        perReplica[i] += n;
        // Checked on every chunk the proxies pass, so the kill lands within a chunk of the mark.
        if (killedAt === null && sim.stats.bytesServed >= KILL_AT * catalogBytes) {
          killedAt = Date.now();
          servedAtKill = sim.stats.bytesServed;
          kids[0].kill('SIGKILL');
        }
      }),
    );
    const env = replicaEnv({ apiUrl: proxies[i].url, sim, mirror, stateDir: path.join(tmp, `s${i}`), schema });
    const child = spawn(process.execPath, [MAIN, 'run', '--config', cfg], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stderr.on('data', (d) => process.stderr.write(`[replica ${i}] ${d}`));
    if (i > 0) readline.createInterface({ input: child.stdout }).on('line', (l) => countTakeovers(l, tookExpired));
    else child.stdout.resume();
    kids.push(child);
  }
  victimPid = kids[0].pid;
  const exited = kids.map((k) => new Promise((r) => k.on('exit', (code, sig) => r(code ?? sig))));
  // A replica that ends on its own before the kill (a wrong Node, a bad config) ends the bench.
  kids.forEach((k, i) =>
    k.on('exit', (code) => {
      if (killedAt === null) {
        console.error(`replica ${i} exited (${code}) before the kill`);
        process.exit(1);
      }
    }),
  );

  // The victim's leases as the database held them right after the kill, then when each was picked up
  // (running under another lease, or done: the victim cannot finish anything after its death).
  while (killedAt === null && Date.now() - start < 600_000) await sleep(20);
  if (killedAt === null) throw new Error('the kill mark was never reached');
  await exited[0];
  const stagingDir = path.join(mirror, '.constellr-sync', 'staging');
  const victimPartials = partialsOf(stagingDir, victimPid);
  const held = await q(`SELECT id, lease_token, lease_until FROM "${schema}".jobs WHERE state = 'running' AND lease_owner LIKE $1`, [`%:${victimPid}%`]);
  const picked = new Map();
  let done = 0;
  const deadline = Date.now() + 600_000;
  while ((done < FILES || picked.size < held.length) && Date.now() < deadline) {
    await sleep(100);
    if (held.length > picked.size) {
      const rows = await q(`SELECT id, state, lease_token FROM "${schema}".jobs WHERE id = ANY($1::bigint[])`, [held.map((h) => h.id)]);
      const now = Date.now();
      for (const r of rows) {
        const h = held.find((x) => String(x.id) === String(r.id));
        if (!picked.has(String(r.id)) && (r.state === 'done' || (r.state === 'running' && r.lease_token !== h.lease_token))) picked.set(String(r.id), now);
      }
    }
    done = Number((await q(`SELECT count(*) AS n FROM "${schema}".jobs WHERE state = 'done'`))[0].n);
  }
  const finishedAt = Date.now();
  for (const k of kids.slice(1)) k.kill('SIGTERM');
  const codes = await Promise.all(exited);

  const env = replicaEnv({ apiUrl: sim.url, sim, mirror, stateDir: path.join(tmp, 'verify'), schema });
  const verify = await runCli(['verify', '--deep'], env);
  let mismatched = 0;
  for (const a of sim.inventory.values()) {
    const file = path.join(mirror, a.key);
    if (!existsSync(file) || (await sha256File(file)) !== (await contentSha256(a.seed, a.size))) mismatched++;
  }
  const stagingLeft = existsSync(stagingDir) ? readdirSync(stagingDir).length : 0;
  const served = sim.stats.bytesServed;
  const proxied = perReplica.reduce((a, b) => a + b, 0);
  const leaseUntilMax = held.reduce((m, h) => Math.max(m, Number(h.lease_until)), 0);
  const pickups = held.map((h) => picked.get(String(h.id)) ?? null);
  const lastPickup = pickups.every((t) => t !== null) ? Math.max(...pickups) : null;
  const result = {
    files: FILES,
    catalogBytes,
    streamBytesPerSecond: STREAM_RATE,
    latencyMs: LATENCY,
    leaseMs: LEASE_MS,
    killedReplicaBytesViaProxy: perReplica[0],
    servedAtKill,
    servedAtKillFraction: +(servedAtKill / catalogBytes).toFixed(3),
    bytesServed: served,
    ratio: +(served / catalogBytes).toFixed(4),
    proxiedBytes: proxied,
    proxiedRatio: +(proxied / catalogBytes).toFixed(4),
    ...redundancy(sim),
    victimPartials: resumesOf(sim, victimPartials),
    victimLeases: held.length,
    survivorsTookExpired: tookExpired,
    pickedUp: picked.size,
    lastPickupAfterKillMs: lastPickup === null ? null : lastPickup - killedAt,
    lastPickupAfterLeaseExpiryMs: lastPickup === null ? null : lastPickup - leaseUntilMax,
    withinOneLeaseOfKill: lastPickup !== null && lastPickup - killedAt <= LEASE_MS,
    withinOneLeaseOfExpiry: lastPickup !== null && lastPickup - leaseUntilMax <= LEASE_MS,
    seconds: (finishedAt - start) / 1000,
    done,
    exitCodes: codes,
    verifyExit: verify.code,
    verifyOutput: verify.code === 0 ? undefined : verify.out.slice(-2000),
    sha256Mismatches: mismatched,
    stagingLeft,
  };
  for (const p of proxies) await p.close();
  await sim.close();
  await q(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  rmSync(tmp, { recursive: true, force: true });
  return result;
}

const out = { loadAverage: os.loadavg().map((l) => +l.toFixed(2)) };
if (MODE !== 'killed') {
  const results = [];
  for (const n of [1, 3]) results.push(await claims(n));
  out.claims = { latencyMs: LATENCY, concurrencyPerReplica: 4, results };
}
if (MODE !== 'claims') {
  out.killed = await killed();
  // The mirror must be complete and verified, or the numbers mean nothing.
  const k = out.killed;
  if (k.done !== FILES || k.verifyExit !== 0 || k.sha256Mismatches > 0 || k.stagingLeft > 0) process.exitCode = 1;
}
out.loadAverageAfter = os.loadavg().map((l) => +l.toFixed(2));
console.log(JSON.stringify(out, null, 2));
