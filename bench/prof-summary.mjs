// Summarise V8 CPU profiles (.cpuprofile, as written by `node --cpu-prof`, e.g. by
// `npm run bench -- --cpu-prof DIR`): where the sampled time went, by area and by function.
//
//   node bench/prof-summary.mjs [--top N] [--merge] PATH...
//
// PATH is a .cpuprofile file or a folder searched recursively for them. Each profile is summarised
// on its own (one per thread: the main thread and every worker write their own), or all together
// with --merge (e.g. the three runs of one scenario). Self time is the time a function was on top of
// the stack; total time includes its callees (counted once per sample, so recursion does not inflate
// it). Sample i lasts until sample i+1 (the last one until the profile's endTime), as in DevTools.
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';

const { values: opt, positionals } = parseArgs({
  options: { top: { type: 'string' }, merge: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
  allowPositionals: true,
  strict: true,
});
if (opt.help || !positionals.length) {
  console.log('usage: node bench/prof-summary.mjs [--top N] [--merge] FILE.cpuprofile|DIR ...');
  process.exit(opt.help ? 0 : 2);
}
const TOP = Number(opt.top ?? 25);
const CWD = process.cwd();

async function collect(p, out) {
  const st = await fsp.stat(p);
  if (st.isDirectory()) {
    for (const e of (await fsp.readdir(p)).sort()) await collect(path.join(p, e), out);
  } else if (p.endsWith('.cpuprofile')) out.push(p);
  return out;
}

/** Where a frame's code lives: a package, a project file, node's internals, or V8's pseudo-frames. */
function area(url, fn) {
  if (!url) return fn.startsWith('(') ? fn : '(native)';
  const u = url.replace(/^file:\/\//, '');
  const nm = u.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const rest = u.slice(nm + 14).split('/');
    return `npm:${rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]}`;
  }
  if (u.startsWith('node:')) return u.split('/').slice(0, 2).join('/');
  return path.relative(CWD, u) || u;
}

function where(cf) {
  if (!cf.url) return '';
  const u = cf.url.replace(/^file:\/\//, '');
  const nm = u.lastIndexOf('/node_modules/');
  const short = nm >= 0 ? u.slice(nm + 14) : u.startsWith('node:') ? u : path.relative(CWD, u) || u;
  return `${short}:${cf.lineNumber + 1}`;
}

/** Adds one profile's sample times into `acc` (by function key and by area). */
function addProfile(prof, acc) {
  const parent = new Map();
  for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const keyOf = new Map();
  for (const n of prof.nodes) {
    const cf = n.callFrame;
    const name = cf.functionName || '(anonymous)';
    keyOf.set(n.id, { key: `${name}\u0000${cf.url}\u0000${cf.lineNumber}`, name, where: where(cf), area: area(cf.url, name) });
  }
  const { samples, timeDeltas } = prof;
  let t = prof.startTime;
  const stamps = samples.map((_, i) => (t += timeDeltas[i]));
  for (let i = 0; i < samples.length; i++) {
    const dur = (i + 1 < samples.length ? stamps[i + 1] : prof.endTime) - stamps[i];
    if (!(dur > 0)) continue;
    acc.totalUs += dur;
    const leaf = keyOf.get(samples[i]);
    const f = (acc.fns.get(leaf.key) ?? acc.fns.set(leaf.key, { ...leaf, self: 0, total: 0 }).get(leaf.key));
    f.self += dur;
    acc.areas.set(leaf.area, (acc.areas.get(leaf.area) ?? 0) + dur);
    const seen = new Set();
    for (let id = samples[i]; id !== undefined; id = parent.get(id)) {
      const k = keyOf.get(id);
      if (!k) break;
      if (seen.has(k.key)) continue;
      seen.add(k.key);
      const g = acc.fns.get(k.key) ?? acc.fns.set(k.key, { ...k, self: 0, total: 0 }).get(k.key);
      g.total += dur;
    }
  }
  acc.wallUs += prof.endTime - prof.startTime;
}

const ms = (us) => (us / 1000).toFixed(1).padStart(9);
const pct = (us, all) => `${((100 * us) / all).toFixed(1).padStart(5)}%`;

function print(title, acc) {
  const all = acc.totalUs || 1;
  console.log(`\n## ${title}`);
  console.log(`profiled ${(acc.wallUs / 1e6).toFixed(2)} s, sampled ${(acc.totalUs / 1e6).toFixed(2)} s`);
  console.log('\nself time by area (package, project file, node internals, V8 pseudo-frames):');
  for (const [a, us] of [...acc.areas].sort((x, y) => y[1] - x[1]).slice(0, Math.max(12, Math.ceil(TOP / 2)))) console.log(`${ms(us)} ms ${pct(us, all)}  ${a}`);
  console.log(`\ntop ${TOP} functions by self time:    self ms  self%    total ms total%  function  (where)`);
  for (const f of [...acc.fns.values()].sort((x, y) => y.self - x.self).slice(0, TOP)) {
    console.log(`${' '.repeat(27)}${ms(f.self)} ${pct(f.self, all)}  ${ms(f.total)} ${pct(f.total, all)}  ${f.name}${f.where ? `  (${f.where})` : ''}`);
  }
}

const files = [];
for (const p of positionals) await collect(path.resolve(p), files);
if (!files.length) {
  console.error('no .cpuprofile files found');
  process.exit(1);
}
const fresh = () => ({ totalUs: 0, wallUs: 0, fns: new Map(), areas: new Map() });
const merged = fresh();
for (const f of files) {
  let prof;
  try {
    prof = JSON.parse(await fsp.readFile(f, 'utf8'));
    if (!Array.isArray(prof.nodes) || !Array.isArray(prof.samples) || !Array.isArray(prof.timeDeltas)) throw new Error('not a V8 CPU profile (nodes/samples/timeDeltas missing)');
  } catch (e) {
    console.error(`${path.relative(CWD, f)}: ${e.message}`);
    process.exitCode = 1;
    continue;
  }
  if (opt.merge) addProfile(prof, merged);
  else {
    const acc = fresh();
    addProfile(prof, acc);
    print(path.relative(CWD, f), acc);
  }
}
if (opt.merge) print(`${files.length} profile(s) merged`, merged);
