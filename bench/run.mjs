// `npm run bench`: constellr-sync side by side with curl, aria2c, rclone and the documented Python
// approach, on exactly the same assets. Not part of `npm test`.
//
//   node bench/run.mjs [--plane sim|nginx] [--smoke] [--reps N] [--concurrency N]
//                      [--only large,small,mixed,incremental,listing]
//                      [--tools constellr-sync,node-floor,curl,curl+sync,aria2c,python,python-seq,rclone]
//                      [--cpu-prof DIR] [--out FILE] [--keep] [--timeout S]
//                      [--large-size MiB] [--variant NAME=DIST[:CONFIG]]... [--node NAME=PATH]...
//
// Download scenarios run on the chosen plane: the simulator in its own child process
// (bench/sim-server.mjs, default) or nginx serving a generated directory (bench/nginx-plane.mjs).
// The incremental and listing scenarios always use the simulator. Every tool writes into a fresh
// directory; the tool order rotates between repetitions; each measurement is the median with
// min–max. Wall time is measured here (hrtime); peak RSS and CPU seconds come from /usr/bin/time
// (or /proc when it is missing). Results: bench/results/<date>[-nginx][-smoke][-cpuprof].md and .svg.
import { execFileSync, spawn } from 'node:child_process';
import { createReadStream, existsSync, promises as fsp, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { findNginx, nginxVersion, startNginxPlane } from './nginx-plane.mjs';
import { buildAssets, knownAssets } from './scenarios.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..');
const MIB = 1024 * 1024;

const { values: opt } = parseArgs({
  options: {
    smoke: { type: 'boolean' },
    reps: { type: 'string' },
    concurrency: { type: 'string' },
    only: { type: 'string' },
    tools: { type: 'string' },
    out: { type: 'string' },
    keep: { type: 'boolean' },
    timeout: { type: 'string' },
    plane: { type: 'string' },
    'large-size': { type: 'string' },
    variant: { type: 'string', multiple: true },
    node: { type: 'string', multiple: true },
    'cpu-prof': { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
  strict: true,
});
if (opt.help) {
  console.log(readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n').slice(0, 10).join('\n'));
  process.exit(0);
}
const SMOKE = !!opt.smoke;
const PLANE = opt.plane ?? 'sim';
if (PLANE !== 'sim' && PLANE !== 'nginx') {
  console.error(`--plane must be sim or nginx, not ${JSON.stringify(PLANE)}`);
  process.exit(2);
}
// every constellr-sync process of the run writes a V8 CPU profile into its own folder under this
const CPU_PROF = opt['cpu-prof'] ? path.resolve(opt['cpu-prof']) : null;
const REPS = Number(opt.reps ?? (SMOKE ? 1 : 3));
const N = Number(opt.concurrency ?? 8);
const ONLY = new Set((opt.only ?? (PLANE === 'nginx' ? 'large,small' : 'large,small,mixed,incremental,listing')).split(','));
const RUN_TIMEOUT_S = Number(opt.timeout ?? 900);
const TIME_BIN = existsSync('/usr/bin/time') ? '/usr/bin/time' : null;

function has(cmd, args = ['--version']) {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).split('\n')[0].trim();
  } catch {
    return null;
  }
}
const versions = {
  node: process.version,
  curl: has('curl')?.split(' ').slice(0, 2).join(' ') ?? null,
  aria2c: has('aria2c'),
  python: has('python3'),
  requests: has('python3', ['-c', 'import requests; print(requests.__version__)']),
  rclone: has('rclone', ['version'])?.split(' ').slice(0, 2).join(' ') ?? null,
};
const NGINX = findNginx();
versions.nginx = nginxVersion(NGINX);
if (PLANE === 'nginx' && !versions.nginx) {
  console.error(
    `--plane nginx needs nginx, which is ${NGINX ? `at ${NGINX} but does not run` : 'not installed'}.\n` +
      'Install Debian\'s package (`apt-get install nginx-light`, or `nginx`) and run again; nothing was measured.',
  );
  process.exit(3);
}
// --variant NAME=DIST[:CONFIG]: another build of constellr-sync (DIST/cli/main.js, e.g. one built
// from an older commit) and/or a config file, run as the tool `constellr-sync@NAME` in the same
// rotation, so variants are compared within one run on the same noisy machine.
// --node NAME=PATH: the Node.js binary that runs the variant NAME; without a --variant NAME, this
// tree's build on that Node. constellr-sync itself runs on the Node that runs the bench (`npm run
// bench`: node_modules/.bin/node, the primary line). This tree refuses Node 20 (src/cli/node-check.ts):
// to compare with it, give a build of an older commit, with its own node_modules, as the variant.
const VARIANTS = new Map(
  (opt.variant ?? []).map((v) => {
    const m = /^([\w.+-]+)=([^:]+)(?::(.+))?$/.exec(v);
    if (!m) {
      console.error(`--variant wants NAME=DIST[:CONFIG], not ${JSON.stringify(v)}`);
      process.exit(2);
    }
    return [`constellr-sync@${m[1]}`, { main: path.join(path.resolve(m[2]), 'cli/main.js'), config: m[3] ? path.resolve(m[3]) : null, node: process.execPath }];
  }),
);
for (const v of opt.node ?? []) {
  const m = /^([\w.+-]+)=(.+)$/.exec(v);
  const version = m ? has(path.resolve(m[2])) : null;
  if (!m || !version) {
    console.error(`--node wants NAME=PATH of a node binary that runs, not ${JSON.stringify(v)}`);
    process.exit(2);
  }
  const name = `constellr-sync@${m[1]}`;
  const variant = VARIANTS.get(name) ?? { main: path.join(ROOT, 'dist/cli/main.js'), config: null };
  VARIANTS.set(name, { ...variant, node: path.resolve(m[2]) });
  versions[`node of ${name}`] = version;
}
const ALL_TOOLS = ['constellr-sync', ...VARIANTS.keys(), 'node-floor', 'curl', 'curl+sync', 'aria2c', 'python', 'python-seq', 'rclone'];
// the sequential Python sample takes minutes on 10,000 files: on nginx only when asked for
const DEFAULT_TOOLS = PLANE === 'nginx' ? ALL_TOOLS.filter((t) => t !== 'python-seq') : ALL_TOOLS.filter((t) => t !== 'rclone');
const unknownTools = (opt.tools ?? '').split(',').filter((t) => t && !ALL_TOOLS.includes(t));
if (unknownTools.length) {
  console.error(`unknown tool(s) ${unknownTools.join(', ')}; known: ${ALL_TOOLS.join(', ')}`);
  process.exit(2);
}
const wanted = new Set([...(opt.tools ?? DEFAULT_TOOLS.join(',')).split(','), ...VARIANTS.keys()]);
const notes = [];
const TOOLS = ALL_TOOLS.filter((t) => {
  if (!wanted.has(t)) return false;
  if (t === 'rclone' && PLANE !== 'nginx') return notes.push('rclone copies from an HTTP directory index, which only the nginx plane serves (`--plane nginx`): skipped.'), false;
  if (t === 'rclone' && !versions.rclone) return notes.push('rclone is not installed (`apt-get install rclone`): skipped.'), false;
  if (t.startsWith('curl') && !versions.curl) return notes.push(`curl is not installed: ${t} skipped.`), false;
  if (t === 'aria2c' && !versions.aria2c) return notes.push('aria2c is not installed (`apt-get install aria2`): skipped.'), false;
  if (t.startsWith('python') && !versions.requests) return notes.push('python3 with requests is not available: Python baselines skipped.'), false;
  return true;
});

// ---- scenarios ---------------------------------------------------------------------------------
const LARGE_SIZE = opt['large-size'] ? Number(opt['large-size']) * MIB : null;
const NOW = Math.floor(Date.now() / 1000) * 1000;
const DAY = 86_400_000;
const SC = SMOKE
  ? {
      large: { count: 4, size: 16 * MIB },
      small: { count: 300, size: 8 * 1024 },
      mixed: { count: 40, maxSize: 4 * MIB },
      incremental: { small: 1000, big: 10_000, fresh: 20, freshSize: 64 * 1024 },
      listing: { count: 20_000 },
    }
  : {
      large: { count: 4, size: 512 * MIB },
      small: { count: 10_000, size: 8 * 1024 },
      mixed: { count: 300, maxSize: 16 * MIB },
      incremental: { small: 1000, big: 1_000_000, fresh: 100, freshSize: 64 * 1024 },
      listing: { count: 1_000_000 },
    };

// ---- process helpers ---------------------------------------------------------------------------
const WORK = await fsp.mkdtemp(path.join(os.tmpdir(), 'constellr-bench-'));
if (CPU_PROF) await fsp.mkdir(CPU_PROF, { recursive: true });
/** node options that make a constellr-sync process write its CPU profile(s) into CPU_PROF/<label>. */
function profArgs(label) {
  return CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir', path.join(CPU_PROF, label)] : [];
}
const children = new Set();
async function cleanup() {
  for (const c of children) {
    try {
      process.kill(-c.pid, 'SIGTERM'); // a measured run: its whole process group
    } catch {
      c.kill('SIGTERM'); // a simulator
    }
  }
  if (!opt.keep) await fsp.rm(WORK, { recursive: true, force: true });
}
process.on('SIGINT', () => void cleanup().then(() => process.exit(130)));
// nginx and the measured tools run in their own process groups: stop them on SIGTERM too
process.on('SIGTERM', () => void cleanup().then(() => process.exit(143)));

function load() {
  return os.loadavg().map((x) => x.toFixed(2)).join(' ');
}

async function startSim(spec, withList) {
  const listFile = withList ? path.join(WORK, `list-${Date.now()}.jsonl`) : undefined;
  const args = [path.join(HERE, 'sim-server.mjs'), JSON.stringify(spec)];
  if (listFile) args.push(listFile);
  const child = spawn(process.execPath, ['--max-old-space-size=4096', ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
  children.add(child);
  const line = await new Promise((resolve, reject) => {
    const rl = readline.createInterface({ input: child.stdout });
    rl.once('line', resolve);
    child.once('exit', (code) => reject(new Error(`simulator exited with ${code}`)));
  });
  const info = JSON.parse(line);
  const assets = [];
  if (listFile) {
    const rl = readline.createInterface({ input: createReadStream(listFile) });
    for await (const l of rl) if (l) assets.push(JSON.parse(l));
  }
  const res = await fetch(`${info.url}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: info.username, password: info.password }),
  });
  if (!res.ok) throw new Error(`POST /token: ${res.status}`);
  const token = (await res.json()).access_token;
  return {
    ...info,
    token,
    assets,
    async stop() {
      child.stdin.end();
      await new Promise((r) => (child.exitCode !== null ? r() : child.once('exit', r)));
      children.delete(child);
    },
  };
}

/** Runs one command; wall from hrtime, peak RSS (KiB) and CPU seconds from /usr/bin/time or /proc. */
async function measure(cmd, args, { env = {}, cwd = ROOT } = {}) {
  const timeFile = path.join(WORK, `time-${process.hrtime.bigint()}`);
  const full = TIME_BIN ? [TIME_BIN, ['-f', '%e %M %U %S', '-o', timeFile, cmd, ...args]] : [cmd, args];
  const t0 = process.hrtime.bigint();
  // own process group, so a run over --timeout is killed with everything it started
  const child = spawn(full[0], full[1], { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  children.add(child);
  let timedOut = false;
  const killer = setTimeout(() => {
    timedOut = true;
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {}
  }, RUN_TIMEOUT_S * 1000);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => {
    stderr += d;
    if (stderr.length > 200_000) stderr = stderr.slice(-100_000);
  });
  let procPeak = 0;
  let procCpu = 0;
  let sampler;
  if (!TIME_BIN) {
    const tick = 100;
    const clk = 100; // USER_HZ
    sampler = setInterval(() => {
      try {
        const st = readFileSync(`/proc/${child.pid}/status`, 'utf8');
        const m = /VmHWM:\s+(\d+)/.exec(st);
        if (m) procPeak = Math.max(procPeak, Number(m[1]));
        const f = readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1].split(' ');
        procCpu = (Number(f[11]) + Number(f[12])) / clk;
      } catch {}
    }, tick);
  }
  const code = await new Promise((r) => child.once('exit', (c, sig) => r(c ?? (sig ? 128 : 1))));
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  clearTimeout(killer);
  if (timedOut) stderr += `\nkilled after --timeout ${RUN_TIMEOUT_S} s`;
  if (sampler) clearInterval(sampler);
  children.delete(child);
  let rssKiB = procPeak;
  let cpu = procCpu;
  if (TIME_BIN) {
    const lines = (await fsp.readFile(timeFile, 'utf8').catch(() => '')).trim().split('\n');
    const [, m, u, s] = (lines.at(-1) ?? '').split(' ').map(Number);
    rssKiB = m;
    cpu = u + s;
    await fsp.rm(timeFile, { force: true });
  }
  return { code, wall, rssMiB: rssKiB / 1024, cpu, stdout, stderr: stderr.slice(-2000) };
}

/** Files and bytes under dir, skipping constellr-sync's reserved directory. */
async function tally(dir) {
  let files = 0;
  let bytes = 0;
  const walk = async (d) => {
    for (const e of await fsp.readdir(d, { withFileTypes: true })) {
      if (e.name === '.constellr-sync') continue;
      const p = path.join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.isFile()) {
        files++;
        bytes += (await fsp.stat(p)).size;
      }
    }
  };
  await walk(dir).catch(() => undefined);
  return { files, bytes };
}

const encodeKey = (k) => k.split('/').map(encodeURIComponent).join('/');
const q = (s) => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;

async function runTool(tool, sim, runDir, label) {
  const out = path.join(runDir, 'out');
  await fsp.mkdir(out, { recursive: true });
  const creds = { CONSTELLR_USERNAME: sim.username, CONSTELLR_PASSWORD: sim.password };
  const variant = VARIANTS.get(tool);
  if (variant) {
    return measure(variant.node, [
      ...profArgs(label),
      variant.main, 'sync', ...(variant.config ? ['--config', variant.config] : []), '--api-url', sim.url, '--mirror-dir', out,
      '--state-dir', path.join(runDir, 'state'), '--concurrency', String(N), '--log-level', 'warn', '--json',
    ], { env: creds });
  }
  switch (tool) {
    case 'constellr-sync': {
      const state = path.join(runDir, 'state');
      return measure(process.execPath, [
        ...profArgs(label),
        path.join(ROOT, 'dist/cli/main.js'), 'sync', '--api-url', sim.url, '--mirror-dir', out, '--state-dir', state,
        '--concurrency', String(N), '--log-level', 'warn', '--json',
      ], { env: creds });
    }
    case 'node-floor': {
      // the bare durable Node client (bench/node-floor.mjs): the floor constellr-sync is measured against
      const listFile = path.join(runDir, 'node-floor.list');
      await fsp.writeFile(listFile, `${sim.url}/assets/\n${sim.assets.map(([key]) => key).join('\n')}\n`);
      return measure(process.execPath, [path.join(HERE, 'node-floor.mjs'), listFile, out, String(N)], { env: { BENCH_TOKEN: sim.token } });
    }
    case 'rclone': {
      // nginx's autoindex is the listing; rclone HEADs each file for its size and time (its default)
      const conf = path.join(runDir, 'rclone.conf');
      await fsp.writeFile(conf, '');
      return measure('rclone', [
        'copy', '--config', conf, '--http-url', sim.assetsUrl, ':http:', out,
        '--transfers', String(N), '--checkers', String(N), '--retries', '1', '--low-level-retries', '1', '-q',
      ]);
    }
    case 'curl':
    case 'curl+sync': {
      // the bearer header goes into the config file, not argv (ps would show it)
      const cfg = [`header = ${q(`Authorization: Bearer ${sim.token}`)}`];
      for (const [key] of sim.assets) cfg.push(`url = ${q(`${sim.url}/assets/${encodeKey(key)}`)}`, `output = ${q(path.join(out, key))}`);
      const cfgFile = path.join(runDir, 'curl.cfg');
      await fsp.writeFile(cfgFile, `${cfg.join('\n')}\n`, { mode: 0o600 });
      const curl = ['curl', '--parallel', '--parallel-max', String(N), '--create-dirs', '--fail', '-sS', '-K', cfgFile];
      if (tool === 'curl') return measure(curl[0], curl.slice(1));
      // the same, then syncfs(2) of the output's filesystem: what it costs to make curl's files durable
      return measure('sh', ['-c', '"$@" && exec sync -f "$OUT"', 'sh', ...curl], { env: { OUT: out } });
    }
    case 'aria2c': {
      const list = [];
      for (const [key] of sim.assets) list.push(`${sim.url}/assets/${encodeKey(key)}`, `  out=${key}`);
      const listFile = path.join(runDir, 'aria2.list');
      const conf = path.join(runDir, 'aria2.conf');
      await fsp.writeFile(listFile, `${list.join('\n')}\n`);
      await fsp.writeFile(conf, `header=Authorization: Bearer ${sim.token}\n`, { mode: 0o600 });
      return measure('aria2c', [
        `--conf-path=${conf}`, '-j', String(N), '-i', listFile, '-d', out, '--file-allocation=none', '--allow-overwrite=true',
        '--auto-file-renaming=false', '--console-log-level=warn', '--summary-interval=0', '--download-result=hide', '-q',
      ]);
    }
    case 'python':
    case 'python-seq':
      return measure('python3', [
        path.join(HERE, 'baseline.py'), '--api-url', sim.url, '--out', out, '--workers', String(N), ...(tool === 'python-seq' ? ['--sequential'] : []),
      ], { env: creds });
    default:
      throw new Error(tool);
  }
}

// ---- statistics --------------------------------------------------------------------------------
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const summary = (xs) => ({ med: median(xs), min: Math.min(...xs), max: Math.max(...xs) });
const fmt = (x, d = 2) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(d));
const fmtS = (s, d) => (s.min === s.max ? fmt(s.med, d) : `${fmt(s.med, d)} (${fmt(s.min, d)}–${fmt(s.max, d)})`);

// ---- download scenarios ------------------------------------------------------------------------
const results = []; // { scenario, label, unit, tools: { name: {runs:[...]}} }

/** The assets of a download scenario as {key, size, lastModified}, for the nginx plane's generator. */
async function* scenarioAssets(spec) {
  if (spec.kind === 'sample') {
    const { sampleInventory } = await import('../dist/simulator/index.js');
    for (const a of sampleInventory(spec.seed ?? 7, { count: spec.count, maxSize: spec.maxSize, now: spec.now, awkwardKeys: false })) {
      yield { key: a.key, size: a.size, lastModified: a.lastModifiedMs };
    }
  } else yield* buildAssets(spec);
}

async function startNginx(name, spec) {
  const all = [];
  for await (const a of scenarioAssets(spec)) all.push(a);
  const plane = await startNginxPlane({
    bin: NGINX,
    dir: path.join(WORK, `nginx-${name}`),
    assets: all,
    onChild: (c) => children.add(c),
    onExit: (c) => children.delete(c),
  });
  console.error(`  nginx plane: ${all.length.toLocaleString('en')} files generated in ${plane.generateS.toFixed(1)} s, serving on ${plane.url}`);
  return plane;
}

async function downloadScenario(name, label, spec, unit) {
  console.error(`\n== ${label} (load ${load()})`);
  const sim = PLANE === 'nginx' ? await startNginx(name, spec) : await startSim(spec, true);
  const expected = { files: sim.assets.length, bytes: sim.assets.reduce((a, [, s]) => a + s, 0) };
  const entry = { scenario: name, label, unit, expected, tools: {}, loadBefore: load() };
  results.push(entry);
  // Removing a run's thousands of files right before the next run would bill that run for the
  // deletion: ext4 without a journal (this machine's) skips inodes freed in the last 5-10 s when it
  // allocates new ones, and scanning past 10,000 of them made file creation 10x slower for whoever ran
  // next. Many-file runs are removed when the scenario ends; the few huge files of a large run are
  // removed at once (their space is needed), and every run's writes are flushed (untimed) before the
  // next starts, so no run pays for another's writeback.
  const deferRm = expected.files > 1000;
  const toRemove = [];
  try {
    for (let r = 0; r < REPS; r++) {
      // rotate, and reverse every other round, so no tool always runs first or after the same one
      let order = TOOLS.map((_, i) => TOOLS[(i + r) % TOOLS.length]);
      if (r % 2 === 1) order = order.reverse();
      for (const tool of order) {
        const runDir = path.join(WORK, `${name}-${tool}-${r}`);
        const m = await runTool(tool, sim, runDir, `${name}-${PLANE}-run${r + 1}`);
        const got = await tally(path.join(runDir, 'out'));
        const ok = m.code === 0 && got.files === expected.files && got.bytes === expected.bytes;
        const rec = (entry.tools[tool] ??= { runs: [], failures: [] });
        if (ok) rec.runs.push(m);
        else rec.failures.push(`exit ${m.code}, ${got.files}/${expected.files} files, ${got.bytes}/${expected.bytes} bytes: ${m.stderr.trim().split('\n').slice(-3).join(' | ')}`);
        const rate = unit === 'MB/s' ? expected.bytes / 1e6 / m.wall : expected.files / m.wall;
        console.error(
          `  ${tool.padEnd(15)} run ${r + 1}: ${m.wall.toFixed(2)} s, ${fmt(rate)} ${unit}, ${fmt(m.rssMiB)} MiB peak RSS, ${m.cpu.toFixed(2)} s CPU (${((m.cpu * 1000) / expected.files).toFixed(3)} ms per file)${ok ? '' : `  FAILED (${rec.failures.at(-1)})`}`,
        );
        if (!opt.keep && deferRm) toRemove.push(runDir);
        else if (!opt.keep) await fsp.rm(runDir, { recursive: true, force: true });
        execFileSync('sync', ['-f', WORK]);
      }
    }
  } finally {
    await sim.stop();
    for (const d of toRemove) await fsp.rm(d, { recursive: true, force: true });
  }
  entry.loadAfter = load();
}

// ---- incremental -------------------------------------------------------------------------------
async function buildState(dir, spec) {
  const { SqliteStore } = await import('../dist/store/sqlite-store.js');
  const store = SqliteStore.open(dir, { maxAttempts: 5 });
  const db = store.db;
  db.pragma('synchronous = OFF');
  const ins = db.prepare(`INSERT INTO jobs (key, remote_modified_ms, remote_size, state, run_at, local_path, local_modified_ms, bytes_written,
    created_at, updated_at, finished_at) VALUES (?, ?, ?, 'done', ?, ?, ?, ?, ?, ?, ?)`);
  let hwm = 0;
  db.transaction(() => {
    for (const a of knownAssets(spec)) {
      ins.run(a.key, a.lastModified, a.size, NOW, a.key, a.lastModified, a.size, NOW, NOW, NOW);
      if (a.lastModified > hwm) hwm = a.lastModified;
    }
    db.prepare('UPDATE cursor SET hwm_ms = ?, poll_started_at = ?, poll_finished_at = ? WHERE id = 1').run(hwm, NOW, NOW);
  })();
  db.pragma('wal_checkpoint(TRUNCATE)');
  await store.close();
}

async function incrementalScenario() {
  const c = SC.incremental;
  console.error(`\n== incremental: ${c.big.toLocaleString('en')} vs ${c.small.toLocaleString('en')} known + ${c.fresh} new (load ${load()})`);
  const base = { kind: 'incremental', fresh: c.fresh, freshSize: c.freshSize, oldFromMs: NOW - 60 * DAY, oldToMs: NOW - 2 * DAY, newAtMs: NOW - DAY };
  const variants = [
    { name: `${c.small.toLocaleString('en')} known`, spec: { ...base, known: c.small } },
    { name: `${c.big.toLocaleString('en')} known`, spec: { ...base, known: c.big } },
  ];
  const entry = { scenario: 'incremental', label: `incremental: ${c.fresh} new assets on top of a mirrored state`, unit: 's', variants: {}, loadBefore: load() };
  results.push(entry);
  for (const v of variants) {
    const t0 = performance.now();
    v.template = path.join(WORK, `state-${v.spec.known}`);
    await buildState(v.template, v.spec);
    v.buildS = (performance.now() - t0) / 1000;
    v.sim = await startSim(v.spec, false);
    console.error(`  built ${v.name} state in ${v.buildS.toFixed(1)} s`);
  }
  try {
    for (let r = 0; r < REPS; r++) {
      const order = r % 2 === 0 ? variants : [...variants].reverse();
      for (const v of order) {
        const runDir = path.join(WORK, `incr-${v.spec.known}-${r}`);
        await fsp.cp(v.template, path.join(runDir, 'state'), { recursive: true });
        await fsp.mkdir(path.join(runDir, 'out'), { recursive: true });
        const m = await measure(process.execPath, [
          ...profArgs(`incremental-${v.spec.known}-run${r + 1}`),
          path.join(ROOT, 'dist/cli/main.js'), 'sync', '--api-url', v.sim.url, '--mirror-dir', path.join(runDir, 'out'),
          '--state-dir', path.join(runDir, 'state'), '--concurrency', String(N), '--log-level', 'warn', '--json',
        ], { env: { CONSTELLR_USERNAME: v.sim.username, CONSTELLR_PASSWORD: v.sim.password } });
        let j = {};
        try {
          j = JSON.parse(m.stdout.trim().split('\n').at(-1));
        } catch {}
        const got = await tally(path.join(runDir, 'out'));
        const ok = m.code === 0 && got.files === c.fresh && j.poll?.inserted === c.fresh;
        const rec = (entry.variants[v.name] ??= { runs: [], failures: [] });
        const row = { ...m, pollS: (j.poll?.durationMs ?? NaN) / 1000, syncS: (j.durationMs ?? NaN) / 1000 };
        if (ok) rec.runs.push(row);
        else rec.failures.push(`exit ${m.code}, ${got.files}/${c.fresh} files, inserted ${j.poll?.inserted}: ${m.stderr.trim().split('\n').slice(-2).join(' | ')}`);
        console.error(
          `  ${v.name.padEnd(18)} run ${r + 1}: process ${m.wall.toFixed(2)} s, poll ${row.pollS.toFixed(3)} s, poll+sync ${row.syncS.toFixed(3)} s, ${fmt(m.rssMiB)} MiB${ok ? '' : `  FAILED (${rec.failures.at(-1)})`}`,
        );
        if (!opt.keep) await fsp.rm(runDir, { recursive: true, force: true });
      }
    }
  } finally {
    for (const v of variants) await v.sim.stop();
  }
  entry.buildS = Object.fromEntries(variants.map((v) => [v.name, v.buildS]));
  entry.loadAfter = load();
}

// ---- listing ingest ----------------------------------------------------------------------------
async function listingScenario() {
  const n = SC.listing.count;
  console.error(`\n== listing ingest: ${n.toLocaleString('en')} keys (load ${load()})`);
  const sim = await startSim({ kind: 'uniform', prefix: 'tiles', count: n, size: 1024, perDir: 1000 }, false);
  const entry = { scenario: 'listing', label: `listing ingest: ${n.toLocaleString('en')} keys listed and queued (fresh state, no downloads)`, unit: 'keys/s', runs: [], failures: [], others: {}, loadBefore: load() };
  results.push(entry);
  // This tree, and each --variant's dist/ (poll-only.mjs with BENCH_DIST), alternated like the tools.
  const builds = [{ name: 'constellr-sync', dist: null, node: process.execPath, rec: entry }];
  for (const [name, v] of VARIANTS) builds.push({ name, dist: path.dirname(path.dirname(v.main)), node: v.node, rec: (entry.others[name] = { runs: [], failures: [] }) });
  try {
    for (let r = 0; r < REPS; r++) {
      for (const b of r % 2 === 0 ? builds : [...builds].reverse()) {
        const runDir = path.join(WORK, `listing-${r}`);
        const m = await measure(b.node, [
          ...profArgs(`listing-run${r + 1}${b.dist ? `-${b.name.replace(/^constellr-sync@/, '')}` : ''}`),
          path.join(HERE, 'poll-only.mjs'), '--api-url', sim.url, '--mirror-dir', path.join(runDir, 'out'), '--state-dir', path.join(runDir, 'state'),
          '--log-level', 'warn',
        ], { env: { CONSTELLR_USERNAME: sim.username, CONSTELLR_PASSWORD: sim.password, ...(b.dist ? { BENCH_DIST: b.dist } : {}) } });
        let j = {};
        try {
          j = JSON.parse(m.stdout.trim().split('\n').at(-1));
        } catch {}
        const ok = m.code === 0 && j.listed === n && j.queued === n;
        const row = { ...m, pollS: j.durationMs / 1000, load: load() };
        if (ok) b.rec.runs.push(row);
        else b.rec.failures.push(`exit ${m.code}, listed ${j.listed}, queued ${j.queued}: ${m.stderr.trim().split('\n').slice(-2).join(' | ')}`);
        console.error(
          `  ${b.name} poll run ${r + 1}: process ${m.wall.toFixed(2)} s, poll ${row.pollS.toFixed(2)} s = ${fmt(n / row.pollS)} keys/s, ${fmt(m.rssMiB)} MiB peak RSS, ${m.cpu.toFixed(2)} s CPU, load ${row.load}${ok ? '' : `  FAILED (${b.rec.failures.at(-1)})`}`,
        );
        if (!opt.keep) await fsp.rm(runDir, { recursive: true, force: true });
      }
    }
  } finally {
    await sim.stop();
  }
  entry.loadAfter = load();
}

// ---- report ------------------------------------------------------------------------------------
function machineFacts() {
  const cpus = os.cpus();
  let disk = '?';
  try {
    const df = execFileSync('df', ['-hT', os.tmpdir()], { encoding: 'utf8' }).trim().split('\n').at(-1).split(/\s+/);
    disk = `${df[0]} (${df[1]}), ${df[2]} total, ${df[4]} free, mounted on ${df[6]}`;
  } catch {}
  let rotational = '';
  try {
    const dev = execFileSync('findmnt', ['-no', 'SOURCE', '-T', os.tmpdir()], { encoding: 'utf8' }).trim().replace('/dev/', '').replace(/\d+$/, '');
    rotational = `, /sys/block/${dev}/queue/rotational = ${readFileSync(`/sys/block/${dev}/queue/rotational`, 'utf8').trim()}`;
  } catch {}
  return [
    `- CPU: ${cpus.length} × ${cpus[0]?.model ?? '?'}`,
    `- memory: ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`,
    `- OS: ${os.type()} ${os.release()} (${os.arch()})`,
    `- disk (working directory ${os.tmpdir()}): ${disk}${rotational}`,
    `- Node ${versions.node}${[...VARIANTS.keys()].filter((n) => versions[`node of ${n}`]).map((n) => ` (${n}: Node ${versions[`node of ${n}`]})`).join('')}; ${versions.curl ?? 'curl: not installed'}; ${versions.aria2c ?? 'aria2c: not installed'}; ${versions.python ?? 'python3: not installed'}, requests ${versions.requests ?? '-'}; ${versions.rclone ?? 'rclone: not installed'}; ${versions.nginx ?? 'nginx: not installed'}`,
  ].join('\n');
}

function rateOf(entry, m) {
  return entry.unit === 'MB/s' ? entry.expected.bytes / 1e6 / m.wall : entry.expected.files / m.wall;
}

function downloadTable(entry) {
  const lines = [
    `### ${entry.label}`,
    '',
    `${entry.expected.files.toLocaleString('en')} files, ${(entry.expected.bytes / MIB).toFixed(1)} MiB; concurrency ${N} for every tool; load average before ${entry.loadBefore}, after ${entry.loadAfter}.`,
    '',
    `| tool | wall s | ${entry.unit} | peak RSS MiB | CPU s | CPU ms per file | time ÷ node-floor | CPU ÷ node-floor | constellr-sync vs tool (throughput) | runs |`,
    '|---|---|---|---|---|---|---|---|---|---|',
  ];
  const medOf = (tool, f) => (entry.tools[tool]?.runs.length ? median(entry.tools[tool].runs.map(f)) : NaN);
  const ourRate = medOf('constellr-sync', (m) => rateOf(entry, m));
  // node-floor (the bare durable Node client) is the floor: every tool's median time and CPU over its
  const floor = { wall: medOf('node-floor', (m) => m.wall), cpu: medOf('node-floor', (m) => m.cpu) };
  const x = (a, b) => (Number.isFinite(a / b) ? `${(a / b).toFixed(2)}×` : '');
  for (const tool of TOOLS) {
    const t = entry.tools[tool];
    if (!t) continue;
    if (!t.runs.length) {
      lines.push(`| ${tool} | failed | | | | | | | | 0/${t.failures.length} |`);
      continue;
    }
    const rate = summary(t.runs.map((m) => rateOf(entry, m)));
    const ratio = tool === 'constellr-sync' ? '—' : x(ourRate, rate.med);
    const cpuPerFile = summary(t.runs.map((m) => (m.cpu * 1000) / entry.expected.files));
    lines.push(
      `| ${tool} | ${fmtS(summary(t.runs.map((m) => m.wall)))} | ${fmtS(rate)} | ${fmtS(summary(t.runs.map((m) => m.rssMiB)), 1)} | ${fmtS(summary(t.runs.map((m) => m.cpu)))} | ${fmtS(cpuPerFile, 3)} | ${x(medOf(tool, (m) => m.wall), floor.wall)} | ${x(medOf(tool, (m) => m.cpu), floor.cpu)} | ${ratio} | ${t.runs.length}/${t.runs.length + t.failures.length} |`,
    );
  }
  for (const tool of TOOLS) for (const f of entry.tools[tool]?.failures ?? []) lines.push('', `- ${tool} failed: ${f}`);
  return lines.join('\n');
}

function incrementalTable(entry) {
  const lines = [
    `### ${entry.label}`,
    '',
    `The state is built directly in SQLite (done rows + high-water mark); the simulator holds the same inventory plus the new assets. In both states the newest 50 known assets lie inside the default 1 h lookback window (so each poll re-lists 50 unchanged + the new ones) and the rest are older, so the comparison isolates the size of the state. The new assets are 64 KiB each. One \`constellr-sync sync\` per run. Load average before ${entry.loadBefore}, after ${entry.loadAfter}.`,
    '',
    '| state | process wall s | poll s | poll+sync s | peak RSS MiB | CPU s | runs |',
    '|---|---|---|---|---|---|---|',
  ];
  for (const [name, v] of Object.entries(entry.variants)) {
    if (!v.runs.length) {
      lines.push(`| ${name} | failed | | | | | 0/${v.failures.length} |`);
      continue;
    }
    const s = (f) => summary(v.runs.map(f));
    lines.push(`| ${name} | ${fmtS(s((m) => m.wall))} | ${fmtS(s((m) => m.pollS), 3)} | ${fmtS(s((m) => m.syncS), 3)} | ${fmtS(s((m) => m.rssMiB), 1)} | ${fmtS(s((m) => m.cpu))} | ${v.runs.length}/${v.runs.length + v.failures.length} |`);
  }
  for (const [name, v] of Object.entries(entry.variants)) for (const f of v.failures) lines.push('', `- ${name} failed: ${f}`);
  lines.push('', 'Peers keep no state: curl, aria2c and the Python scripts would download every asset again.');
  return lines.join('\n');
}

function listingTable(entry) {
  const n = SC.listing.count;
  const builds = [['constellr-sync', entry], ...Object.entries(entry.others ?? {})];
  const lines = [
    `### ${entry.label}`,
    '',
    `One \`pollOnce\` (bench/poll-only.mjs) with the production runtime, page size 1000. Load average before ${entry.loadBefore}, after ${entry.loadAfter}.`,
    '',
    '| build | process wall s | poll s | keys/s (poll) | peak RSS MiB | CPU s | runs |',
    '|---|---|---|---|---|---|---|',
  ];
  for (const [name, b] of builds) {
    const s = (f) => summary(b.runs.map(f));
    if (b.runs.length) lines.push(`| ${name} | ${fmtS(s((m) => m.wall))} | ${fmtS(s((m) => m.pollS))} | ${fmtS(s((m) => n / m.pollS))} | ${fmtS(s((m) => m.rssMiB), 1)} | ${fmtS(s((m) => m.cpu))} | ${b.runs.length}/${b.runs.length + b.failures.length} |`);
    else lines.push(`| ${name} | failed | | | | | 0/${b.failures.length} |`);
  }
  for (const [name, b] of builds) for (const f of b.failures) lines.push('', `- ${name} failed: ${f}`);
  return lines.join('\n');
}

function targets() {
  const rows = [];
  const by = (name) => results.find((e) => e.scenario === name);
  const med = (entry, tool, f) => {
    const t = entry?.tools?.[tool];
    return t?.runs.length ? median(t.runs.map(f)) : NaN;
  };
  const mark = (ok) => (ok === null ? '—' : ok ? 'met' : 'not met');
  const large = by('large');
  if (large) {
    const r = med(large, 'constellr-sync', (m) => rateOf(large, m)) / med(large, 'curl', (m) => rateOf(large, m));
    const rss = med(large, 'constellr-sync', (m) => m.rssMiB);
    rows.push(`| large: ≥ 0.9× curl throughput | ${fmt(r)}× | ${mark(Number.isFinite(r) ? r >= 0.9 : null)} |`);
    const rs = med(large, 'constellr-sync', (m) => rateOf(large, m)) / med(large, 'curl+sync', (m) => rateOf(large, m));
    if (Number.isFinite(rs)) rows.push(`| large: ≥ 0.9× curl throughput, both durable on disk (curl+sync) | ${fmt(rs)}× | ${mark(rs >= 0.9)} |`);
    rows.push(`| large: peak RSS ≤ 150 MiB | ${fmt(rss, 1)} MiB | ${mark(Number.isFinite(rss) ? rss <= 150 : null)} |`);
    const pr = med(large, 'python', (m) => m.rssMiB) / rss;
    rows.push(`| large: ≥ 10× lower peak RSS than Python | ${fmt(pr)}× | ${mark(Number.isFinite(pr) ? pr >= 10 : null)} |`);
  }
  const small = by('small');
  if (small) {
    const r = med(small, 'constellr-sync', (m) => rateOf(small, m)) / med(small, 'curl', (m) => rateOf(small, m));
    rows.push(`| many small: ≥ 1.0× curl --parallel (with fsync before done) | ${fmt(r)}× | ${mark(Number.isFinite(r) ? r >= 1 : null)} |`);
    const rs = med(small, 'constellr-sync', (m) => rateOf(small, m)) / med(small, 'curl+sync', (m) => rateOf(small, m));
    if (Number.isFinite(rs)) rows.push(`| many small: ≥ 1.0× curl+sync (both durable) | ${fmt(rs)}× | ${mark(rs >= 1)} |`);
  }
  for (const e of [large, small, by('mixed')].filter(Boolean)) {
    const r = med(e, 'constellr-sync', (m) => rateOf(e, m)) / med(e, 'python', (m) => rateOf(e, m));
    rows.push(`| ${e.scenario}: ≥ 3× the Python baseline | ${fmt(r)}× | ${mark(Number.isFinite(r) ? r >= 3 : null)} |`);
  }
  const inc = by('incremental');
  if (inc) {
    const [a, b] = Object.values(inc.variants);
    const pa = a?.runs.length ? median(a.runs.map((m) => m.syncS)) : NaN;
    const pb = b?.runs.length ? median(b.runs.map((m) => m.syncS)) : NaN;
    const [na, nb] = Object.keys(inc.variants);
    const qa = a?.runs.length ? median(a.runs.map((m) => m.pollS)) : NaN;
    const qb = b?.runs.length ? median(b.runs.map((m) => m.pollS)) : NaN;
    rows.push(`| incremental: poll with ${nb} ≤ 1.2× poll with ${na} | ${fmt(qb / qa)}× (${fmt(qb, 3)} s vs ${fmt(qa, 3)} s) | ${mark(Number.isFinite(qb / qa) ? qb / qa <= 1.2 : null)} |`);
    rows.push(`| incremental: poll ≤ 2 s with ${nb} | ${fmt(qb, 3)} s | ${mark(Number.isFinite(qb) ? qb <= 2 : null)} |`);
    rows.push(`| incremental: poll+sync with ${nb} ≤ 1.2× with ${na} | ${fmt(pb / pa)}× (${fmt(pb, 3)} s vs ${fmt(pa, 3)} s) | ${mark(Number.isFinite(pb / pa) ? pb / pa <= 1.2 : null)} |`);
    rows.push(`| incremental: poll+sync ≤ 2 s with ${nb} | ${fmt(pb, 3)} s | ${mark(Number.isFinite(pb) ? pb <= 2 : null)} |`);
  }
  const lst = by('listing');
  if (lst?.runs.length) {
    const kps = median(lst.runs.map((m) => SC.listing.count / m.pollS));
    const rss = median(lst.runs.map((m) => m.rssMiB));
    rows.push(`| listing: ≥ 50,000 keys/s | ${fmt(kps)} keys/s | ${mark(kps >= 50_000)} |`);
    rows.push(`| listing: peak RSS ≤ 200 MiB at ${SC.listing.count.toLocaleString('en')} keys | ${fmt(rss, 1)} MiB | ${mark(rss <= 200)} |`);
  }
  if (!rows.length) return '';
  return ['## Targets (issue 6)', '', '| target | reached | |', '|---|---|---|', ...rows].join('\n');
}

/** The ratios of issue 13, meant for the nginx plane (one run, concurrency 8). */
function targets13() {
  if (PLANE !== 'nginx') return '';
  const rows = [];
  const mark = (x, ok) => (Number.isFinite(x) ? (ok ? 'met' : 'not met') : '—');
  const med = (e, tool, f) => (e?.tools?.[tool]?.runs.length ? median(e.tools[tool].runs.map(f)) : NaN);
  for (const [name, vsSync, vsRclone] of [['small', 1.0, 1.0], ['large', 1.0, 0.8]]) {
    const e = results.find((x) => x.scenario === name);
    if (!e) continue;
    const ours = med(e, 'constellr-sync', (m) => rateOf(e, m));
    const a = ours / med(e, 'curl+sync', (m) => rateOf(e, m));
    const b = ours / med(e, 'rclone', (m) => rateOf(e, m));
    rows.push(`| ${name}: ≥ ${vsSync.toFixed(1)}× curl+sync | ${fmt(a)}× | ${mark(a, a >= vsSync)} |`);
    rows.push(`| ${name}: ≥ ${vsRclone.toFixed(1)}× rclone copy | ${fmt(b)}× | ${mark(b, b >= vsRclone)} |`);
  }
  for (const e of results.filter((x) => x.tools)) {
    const rss = med(e, 'constellr-sync', (m) => m.rssMiB);
    rows.push(`| ${e.scenario}: constellr-sync peak RSS ≤ 150 MiB | ${fmt(rss, 1)} MiB | ${mark(rss, rss <= 150)} |`);
  }
  if (!rows.length) return '';
  return ['## Targets (issue 13, nginx plane)', '', '| target | reached | |', '|---|---|---|', ...rows].join('\n');
}

/** Issue 23's targets: constellr-sync against node-floor (the bare durable Node client), and the listing. */
function targets23() {
  const rows = [];
  const mark = (x, ok) => (Number.isFinite(x) ? (ok ? 'met' : 'not met') : '—');
  const med = (e, tool, f) => (e?.tools?.[tool]?.runs.length ? median(e.tools[tool].runs.map(f)) : NaN);
  const small = results.find((x) => x.scenario === 'small');
  if (small?.tools['node-floor']) {
    const t = med(small, 'constellr-sync', (m) => m.wall) / med(small, 'node-floor', (m) => m.wall);
    const c = med(small, 'constellr-sync', (m) => m.cpu) / med(small, 'node-floor', (m) => m.cpu);
    const r = med(small, 'constellr-sync', (m) => m.wall) / med(small, 'rclone', (m) => m.wall);
    rows.push(`| small: ≤ 1.0× the time of node-floor | ${fmt(t)}× | ${mark(t, t <= 1)} |`);
    rows.push(`| small: ≤ 1.0× the CPU of node-floor | ${fmt(c)}× | ${mark(c, c <= 1)} |`);
    if (Number.isFinite(r)) rows.push(`| small (stretch): ≤ 1.0× the time of rclone | ${fmt(r)}× | ${mark(r, r <= 1)} |`);
  }
  const large = results.find((x) => x.scenario === 'large');
  if (large?.tools['node-floor']) {
    const t = med(large, 'constellr-sync', (m) => m.wall) / med(large, 'node-floor', (m) => m.wall);
    rows.push(`| large: time vs node-floor (no target) | ${fmt(t)}× | — |`);
  }
  const lst = results.find((x) => x.scenario === 'listing');
  if (lst?.runs.length) {
    const kps = median(lst.runs.map((m) => SC.listing.count / m.pollS));
    const rss = median(lst.runs.map((m) => m.rssMiB));
    rows.push(`| listing: ≥ 80,000 keys/s at ${SC.listing.count.toLocaleString('en')} keys | ${fmt(kps)} keys/s | ${mark(kps, kps >= 80_000)} |`);
    rows.push(`| listing: peak RSS ≤ 150 MiB | ${fmt(rss, 1)} MiB | ${mark(rss, rss <= 150)} |`);
  }
  if (!rows.length) return '';
  return ['## Targets (issue 23)', '', '| target | reached | |', '|---|---|---|', ...rows].join('\n');
}

// ---- SVG chart -----------------------------------------------------------------------------------
function esc(s) {
  return String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
function svgChart() {
  const COLORS = { 'constellr-sync': '#1f77b4', 'node-floor': '#2ca02c', curl: '#7f7f7f', 'curl+sync': '#17becf', aria2c: '#bcbd22', python: '#ff7f0e', 'python-seq': '#d62728', rclone: '#9467bd' };
  const panels = [];
  for (const e of results.filter((x) => x.tools)) {
    const tools = TOOLS.filter((t) => e.tools[t]?.runs.length);
    panels.push({ title: `${e.scenario}: throughput (${e.unit}, median, whisker = min–max)`, tools, val: (t) => e.tools[t].runs.map((m) => rateOf(e, m)) });
    panels.push({ title: `${e.scenario}: peak RSS (MiB)`, tools, val: (t) => e.tools[t].runs.map((m) => m.rssMiB) });
  }
  const W = 1000;
  const colW = W / 2;
  const barH = 18;
  const labelW = 110;
  const rowsPerPanel = Math.max(1, ...panels.map((p) => p.tools.length));
  const panelH = 34 + rowsPerPanel * (barH + 6) + 10;
  const H = 40 + Math.ceil(panels.length / 2) * panelH;
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="10" y="24" font-size="16" font-weight="bold">constellr-sync vs peers — ${esc(new Date().toISOString().slice(0, 10))}${SMOKE ? ' (smoke)' : ''}, ${PLANE === 'nginx' ? 'nginx plane' : 'simulator plane'}, concurrency ${N}</text>`,
  ];
  panels.forEach((p, i) => {
    const x0 = (i % 2) * colW + 10;
    const y0 = 40 + Math.floor(i / 2) * panelH;
    out.push(`<text x="${x0}" y="${y0 + 16}" font-weight="bold">${esc(p.title)}</text>`);
    const all = p.tools.map((t) => p.val(t));
    const maxV = Math.max(1e-9, ...all.flat());
    const plotW = colW - labelW - 80;
    p.tools.forEach((t, j) => {
      const vs = all[j];
      const med = median(vs);
      const y = y0 + 28 + j * (barH + 6);
      const w = (med / maxV) * plotW;
      out.push(`<text x="${x0 + labelW - 6}" y="${y + barH - 5}" text-anchor="end">${esc(t)}</text>`);
      out.push(`<rect x="${x0 + labelW}" y="${y}" width="${w.toFixed(1)}" height="${barH}" fill="${COLORS[t] ?? '#999'}"/>`);
      const a = x0 + labelW + (Math.min(...vs) / maxV) * plotW;
      const b = x0 + labelW + (Math.max(...vs) / maxV) * plotW;
      if (b - a > 1) out.push(`<line x1="${a.toFixed(1)}" x2="${b.toFixed(1)}" y1="${y + barH / 2}" y2="${y + barH / 2}" stroke="#000" stroke-width="1.5"/>`);
      out.push(`<text x="${(x0 + labelW + Math.max(w, b - x0 - labelW) + 4).toFixed(1)}" y="${y + barH - 5}">${esc(fmt(med))}</text>`);
    });
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

// ---- main --------------------------------------------------------------------------------------
const started = new Date();
const loadStart = load();
console.error(`bench${SMOKE ? ' --smoke' : ''}: ${PLANE === 'nginx' ? `nginx plane (${versions.nginx})` : 'simulator plane'}, ${REPS} run(s) per tool, concurrency ${N}, tools ${TOOLS.join(', ')}; work dir ${WORK}; load ${loadStart}`);
if (PLANE === 'nginx' && (ONLY.has('incremental') || ONLY.has('listing'))) notes.push('The incremental and listing scenarios need the API\'s lastModifiedAfter filter and pagination: they run on the simulator plane.');
if (CPU_PROF) notes.push(`constellr-sync ran with \`node --cpu-prof\`: the profiler and the profile written at exit add to its wall time and CPU; profiles in ${CPU_PROF}.`);
for (const n of notes) console.error(`note: ${n}`);
try {
  if (ONLY.has('large')) {
    const c = LARGE_SIZE ? { ...SC.large, size: LARGE_SIZE } : SC.large;
    await downloadScenario('large', `large files: ${c.count} × ${c.size / MIB} MiB`, { kind: 'uniform', prefix: 'large', count: c.count, size: c.size, perDir: 10 }, 'MB/s');
  }
  if (ONLY.has('small')) {
    const c = SC.small;
    await downloadScenario('small', `many small files: ${c.count.toLocaleString('en')} × ${c.size / 1024} KiB`, { kind: 'uniform', prefix: 'small', count: c.count, size: c.size, perDir: 500 }, 'files/s');
  }
  if (ONLY.has('mixed')) {
    const c = SC.mixed;
    await downloadScenario('mixed', `mixed LST products: the simulator's sample inventory, ${c.count} assets, .tif up to ${c.maxSize / MIB} MiB`, { kind: 'sample', seed: 7, count: c.count, maxSize: c.maxSize, now: NOW }, 'MB/s');
  }
  if (ONLY.has('incremental')) await incrementalScenario();
  if (ONLY.has('listing')) await listingScenario();
} finally {
  await cleanup();
}
const loadEnd = load();
const secs = ((Date.now() - started.getTime()) / 1000).toFixed(0);

const date = started.toISOString().slice(0, 10);
const outFile = opt.out ?? path.join(HERE, 'results', `${date}${PLANE === 'nginx' ? '-nginx' : ''}${SMOKE ? '-smoke' : ''}${CPU_PROF ? '-cpuprof' : ''}.md`);
const svgFile = outFile.replace(/\.md$/, '') + '.svg';
const shownArgs = process.argv.slice(2).filter((a, i, all) => !a.startsWith('--out') && all[i - 1] !== '--out');
const cmd = `npm run bench${shownArgs.length ? ` -- ${shownArgs.join(' ')}` : ''}`;
const md = [
  `# constellr-sync benchmark — ${started.toISOString().replace(/\.\d+Z$/, 'Z')}${SMOKE ? ' (smoke)' : ''}`,
  '',
  `Produced by \`${cmd}\` in ${secs} s. Median of ${REPS} run(s) with (min–max); the tool order rotates between runs. ` +
    (PLANE === 'nginx'
      ? `Every tool downloads exactly the same files from nginx (${versions.nginx}, Debian's package, started by the bench with its own config: loopback, \`sendfile on\`, access log off, open_file_cache, one static token, ONE static listing page, autoindex for rclone; files generated by the bench and flushed to disk before the first tool runs) on 127.0.0.1 into a fresh directory; a run counts only if every file is there with the listed size. After every run its writes are flushed (\`sync -f\`, untimed); the outputs of many-file runs are removed only when the scenario ends, since a mass deletion just before a run slows file creation in that run.`
      : 'Every tool downloads exactly the same assets from the built-in simulator (run in its own process, content generated on the fly, direct downloads, no faults) on 127.0.0.1 into a fresh directory; a run counts only if every file is there with the listed size.'),
  '',
  '## Machine',
  '',
  machineFacts(),
  `- load average (1/5/15 min) at start: ${loadStart}; at end: ${loadEnd}${Number(loadStart.split(' ')[0]) > 0.5 || Number(loadEnd.split(' ')[0]) > 0.5 ? ' — other processes were running on this machine during the run, so absolute numbers are noisy' : ''}`,
  '',
  '## How each tool runs',
  '',
  ...Object.entries({
    'constellr-sync': `- constellr-sync: \`node dist/cli/main.js sync --concurrency ${N}\`, fresh state; writes to staging and makes every file and its folder entry durable before it commits \`done\`.`,
    curl: `- curl: \`curl --parallel --parallel-max ${N} --create-dirs --fail -K <config>\` with one url/output pair per asset and the bearer header; no fsync. The URL list comes from the orchestrator (listing not timed).`,
    'node-floor': `- node-floor: bench/node-floor.mjs, the bare durable Node client of issue 23 (on this Node): an undici \`Pool\` with ${N} connections, ${N} loops that each GET the next URL, write the body to \`<path>.part\` through a \`FileHandle\`, fsync it and rename it into place, then one fsync per folder at the end; no state, no retries, no hashing. The URL list comes from the orchestrator (listing not timed). Every tool's time and CPU are also shown as a ratio to it.`,
    'curl+sync': "- curl+sync: the same curl command followed by `sync -f <output dir>` (syncfs of that filesystem), so its files are on disk when the clock stops, as constellr-sync's are. syncfs also flushes whatever else is dirty on the filesystem, which can only slow it down.",
    aria2c: `- aria2c: \`aria2c -j ${N} -i <list> --file-allocation=none\` with the bearer header; no fsync. Listing not timed.`,
    python: `- python: bench/baseline.py, the documented sample (requests.get per asset, ThreadPoolExecutor(max_workers=${N}), response.content in memory); lists itself with pagination.`,
    'python-seq': '- python-seq: the same script with --sequential (the documented sequential sample).',
    rclone: `- rclone (nginx plane only): \`rclone copy --http-url http://127.0.0.1:<port>/assets/ :http: <out> --transfers ${N} --checkers ${N} --retries 1 --low-level-retries 1\` (${versions.rclone ?? 'not installed'}); it walks nginx's autoindex, HEADs each file for size and time (its default), and above its --multi-thread-cutoff (default 250 MiB) downloads a file in 4 parallel ranged streams (its defaults); no fsync.`,
  })
    .filter(([t]) => TOOLS.includes(t))
    .map(([, line]) => line),
  ...notes.map((n) => `- ${n}`),
  '',
  '## Results',
  '',
  ...results.map((e) => (e.tools ? downloadTable(e) : e.variants ? incrementalTable(e) : listingTable(e)) + '\n'),
  targets(),
  '',
  targets13(),
  '',
  targets23(),
  '',
  `![throughput and peak RSS per tool](${path.basename(svgFile)})`,
  '',
].join('\n');
await fsp.mkdir(path.dirname(outFile), { recursive: true });
await fsp.writeFile(outFile, md);
await fsp.writeFile(svgFile, svgChart());
console.error(`\nwrote ${path.relative(ROOT, outFile)} and ${path.relative(ROOT, svgFile)} (${secs} s)`);
