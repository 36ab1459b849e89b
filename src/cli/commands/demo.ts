// `constellr-sync demo`: the whole thing without an account. Starts the simulator with a sample LST
// inventory, mirrors it into ./constellr-mirror (state in ./constellr-state), then changes the
// inventory (new, replaced and withdrawn-looking assets) and syncs again to show the incremental path.
import { promises as fsp } from 'node:fs';
import { DEMO_OPTIONS, optionsHelp } from '../options.js';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { formatBytes, formatDuration } from '../../config/duration.js';
import { loadConfig } from '../../config/load.js';
import { createLogger } from '../../lib/logger.js';
import { contentSha256, sampleInventory, startSimulator } from '../../simulator/index.js';
import { out } from '../common.js';
import { openState } from '../../daemon/runtime.js';
import { demoCycle, demoInterrupted, demoStac } from './demo-stac.js';
import { watchShutdown, type Shutdown } from '../signals.js';
import { EXIT } from '../exit-codes.js';
import { keyKind } from '../../lib/key-kind.js';

export async function demoCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: DEMO_OPTIONS,
    strict: true,
  });
  if (values.help) {
    out('Usage: constellr-sync demo [options]\n');
    out('Mirror a simulated account end to end, change it, sync again incrementally, verify every file.\n');
    out(optionsHelp('demo'));
    return EXIT.OK;
  }
  const source = values.source ?? 'assets';
  if (source !== 'assets' && source !== 'stac') {
    out(`demo: --source must be assets or stac, got ${JSON.stringify(source)}`);
    return EXIT.USAGE;
  }
  // Each demo has its own directories: one state and one mirror hold one catalog, and a state made
  // for one source is refused for the other (store/identity.ts).
  const mirrorDir = path.resolve(values['mirror-dir'] ?? (source === 'stac' ? 'constellr-stac-mirror' : 'constellr-mirror'));
  const stateDir = path.resolve(values['state-dir'] ?? (source === 'stac' ? 'constellr-stac-state' : 'constellr-state'));
  const count = Number(values.assets ?? (source === 'stac' ? 20 : 60));
  out('constellr-sync demo: mirroring a simulated Constellr account (no account needed)\n');
  // The first Ctrl-C stops the running sync as `sync` stops (downloads in flight finish); a second exits.
  const shutdown = watchShutdown({ graceful: () => out('\nstopping: finishing the downloads in flight (Ctrl-C again to exit now)') });
  try {
    if (source === 'stac') {
      return await demoStac({ mirrorDir, stateDir, items: count, logger: createLogger({ level: values.verbose ? 'info' : 'warn', destination: undefined }), shutdown });
    }
    return await demoAssets({ mirrorDir, stateDir, count, verbose: values.verbose === true, shutdown });
  } finally {
    shutdown.dispose();
  }
}

async function demoAssets(o: { mirrorDir: string; stateDir: string; count: number; verbose: boolean; shutdown: Shutdown }): Promise<number> {
  const { mirrorDir, stateDir, count, shutdown } = o;
  const sim = await startSimulator({ port: 0, adminPort: false, inventory: sampleInventory(42, { count, maxSize: 2 * 1024 * 1024 }), redirect: true, seed: 42 });
  out(`1. Started the API simulator at ${sim.url} with ${sim.inventory.size} assets (${formatBytes(sim.inventory.totalBytes)}),`);
  out('   downloads redirected to a separate storage origin, like presigned URLs.');
  try {
    const config = loadConfig({
      env: { CONSTELLR_USERNAME: sim.username, CONSTELLR_PASSWORD: sim.password },
      flags: { 'api-url': sim.url, 'mirror-dir': mirrorDir, 'state-dir': stateDir },
    });
    const logger = createLogger({ level: o.verbose ? 'info' : 'warn', destination: undefined });
    const cycle = async (label: string) => {
      sim.resetStats();
      const c = await demoCycle(config, logger, shutdown);
      if (!c) return null;
      const { summary: s, counts } = c;
      out(
        `${label} listed ${s.poll?.listed ?? 0} assets (${s.poll?.inserted ?? 0} new, ${s.poll?.changed ?? 0} changed), ` +
          `downloaded ${s.stats.done} (${formatBytes(s.stats.bytes)}) in ${formatDuration(s.durationMs)}; ` +
          `state: ${counts.done} done, ${counts.queued} queued, ${counts.failed} failed, ${counts.gone} gone.`,
      );
      return s;
    };
    out(`\n2. First sync into ${mirrorDir} (state in ${stateDir}):`);
    if (!(await cycle('  '))) return demoInterrupted(shutdown);
    const keys = [...sim.inventory].map((a) => a.key);
    const replaced = keys[Math.floor(keys.length / 2)]!;
    sim.inventory.put({ key: 'orders/ord-demo/2026-11-27/LSTprecision_T32UQD_20261127.tif', size: 512 * 1024, lastModified: Date.now() });
    sim.inventory.put({ key: 'orders/ord-demo/2026-11-27/LSTprecision_T32UQD_20261127_metadata.json', size: 2048, lastModified: Date.now() });
    const old = sim.inventory.get(replaced)!;
    sim.inventory.put({ key: replaced, size: old.size, lastModified: Date.now() });
    out(`\n3. The account changed: 2 new products, and ${JSON.stringify(replaced)} was replaced (same size).`);
    out('   Second sync, incremental from the high-water mark:');
    if (!(await cycle('  '))) return demoInterrupted(shutdown);
    out(`   The simulator served ${sim.stats.downloadRequests} downloads: only what changed.`);

    out('\n4. Verifying every mirrored file against the simulated account (sha256, size, mtime):');
    const store = await openState(config);
    let ok = 0;
    let bad = 0;
    try {
      for (const a of sim.inventory) {
        const job = await store.getJob(a.key);
        if (!job || job.state !== 'done' || !job.localPath) {
          bad++;
          continue;
        }
        const file = path.join(mirrorDir, job.localPath);
        const st = await fsp.stat(file).catch(() => null);
        const expected = keyKind(a.key, a.size) === 'folder' ? '' : await contentSha256(a.seed, a.size);
        if (st && (st.isDirectory() || (st.size === a.size && job.sha256 === expected && Math.abs(st.mtimeMs - a.lastModifiedMs) < 1000))) ok++;
        else bad++;
      }
    } finally {
      await store.close();
    }
    out(`   ${ok} of ${sim.inventory.size} assets verified${bad ? `, ${bad} NOT` : ''}.`);
    out('\nTry next:');
    out(`  npx constellr-sync status --state-dir ${path.relative(process.cwd(), stateDir) || '.'} --mirror-dir ${path.relative(process.cwd(), mirrorDir) || '.'}`);
    out('  npx constellr-sync simulate        # a simulator to point `run` at');
    out('  README.md: running against a real account, Docker and systemd');
    return bad === 0 ? EXIT.OK : EXIT.FAILURES;
  } finally {
    await sim.close();
  }
}
