// `constellr-sync demo --source stac`: a simulated account that follows Constellr's current docs,
// mirrored unattended. The simulator serves a sample LST STAC catalog to one workspace API key
// (legacy tokens are off, as for an account in two workspaces), with pre-signed asset URLs that expire
// after a minute. Two syncs show the full and the incremental path; every file is then checked.
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { formatBytes, formatDuration } from '../../config/duration.js';
import { loadConfig, type Config } from '../../config/load.js';
import { Engine, type SyncSummary } from '../../daemon/engine.js';
import { openRuntime, openState } from '../../daemon/runtime.js';
import type { Logger } from '../../lib/logger.js';
import type { SourceInfo } from '../../api/source.js';
import type { JobState } from '../../store/types.js';
import { contentSha256, sampleStacStore, startSimulator } from '../../simulator/index.js';
import { out } from '../common.js';
import { openWithPystac } from './demo-pystac.js';
import { EXIT } from '../exit-codes.js';
import { interruptedExitCode, type Shutdown } from '../signals.js';

const DEMO_KEY = 'csk_demo_workspace_key_0001';

/**
 * One demo sync cycle, opened through the runtime like `sync`. The first Ctrl-C stops it as it stops
 * `sync` (in-flight downloads finish within the grace period); null when interrupted.
 */
export async function demoCycle(config: Config, logger: Logger, shutdown: Shutdown): Promise<{ summary: SyncSummary; counts: Record<JobState, number>; info: SourceInfo } | null> {
  if (shutdown.signal.aborted) return null;
  const rt = await openRuntime(config, logger);
  try {
    const engine = new Engine(rt, { mode: 'drain' });
    const stop = () => void engine.pool.stop(config.sync.gracePeriod);
    shutdown.signal.addEventListener('abort', stop, { once: true });
    try {
      const summary = await engine.syncOnce(shutdown.signal);
      return shutdown.signal.aborted ? null : { summary, counts: await rt.store.counts(), info: rt.api.describe() };
    } finally {
      shutdown.signal.removeEventListener('abort', stop);
    }
  } finally {
    await rt.close();
  }
}

/** The demo was interrupted (Ctrl-C): say so; exit 130 (143 for SIGTERM). */
export function demoInterrupted(shutdown: Shutdown): number {
  out('\ninterrupted; run the demo again to resume.');
  return interruptedExitCode(shutdown.first ?? 'SIGINT');
}

export async function demoStac(o: { mirrorDir: string; stateDir: string; items: number; logger: Logger; shutdown: Shutdown }): Promise<number> {
  const stac = sampleStacStore(42, { items: o.items, maxSize: 2 * 1024 * 1024 });
  stac.setKnobs({ urlTtlSeconds: 60 });
  const sim = await startSimulator({ port: 0, adminPort: false, seed: 42, stac, apiKeys: [{ key: DEMO_KEY }], legacyTokens: false });
  out(`1. Started the API simulator at ${sim.url}: a STAC API under /stac with ${stac.size} items of 3 assets,`);
  out('   a workspace API key (X-Api-Key; /token is refused) and asset URLs pre-signed for 60 s.');
  try {
    const config = loadConfig({
      env: { CONSTELLR_API_KEY: DEMO_KEY },
      flags: { 'api-url': sim.url, 'mirror-dir': o.mirrorDir, 'state-dir': o.stateDir, source: 'stac' },
    });
    const cycle = async (label: string) => {
      sim.resetStats();
      const c = await demoCycle(config, o.logger, o.shutdown);
      if (!c) return null;
      const { summary: s, counts, info } = c;
      out(
        `${label} listed ${s.poll?.listed ?? 0} assets (${s.poll?.inserted ?? 0} new, ${s.poll?.changed ?? 0} changed), ` +
          `downloaded ${s.stats.done} (${formatBytes(s.stats.bytes)}) in ${formatDuration(s.durationMs)}; ` +
          `state: ${counts.done} done, ${counts.queued} queued, ${counts.failed} failed, ${counts.gone} gone.`,
      );
      out(`${label} incremental strategy: ${info.strategy} (${info.reason}).`);
      return s;
    };
    out(`\n2. First sync through STAC into ${o.mirrorDir} (state in ${o.stateDir}):`);
    if (!(await cycle('  '))) return demoInterrupted(o.shutdown);
    const items = stac.all();
    const touched = items[Math.floor(items.length / 2)]!;
    stac.put({ collection: touched.collection, id: touched.id, updated: Date.now() - 2000 });
    stac.put({ collection: 'lstprecision', datetime: Date.now() - 20 * 86_400_000, updated: Date.now() - 2000, orderId: 'ord-demo-late' });
    out(`\n3. The account changed: item ${JSON.stringify(touched.id)} was reprocessed (updated moved), and a late`);
    out('   delivery arrived (acquired 20 days ago). Second sync, incremental from the high-water mark:');
    if (!(await cycle('  '))) return demoInterrupted(o.shutdown);
    out(`   The storage origin served ${sim.stats.downloadRequests} downloads: only what changed. API-key requests: ${sim.stats.authByApiKey}, token requests: ${sim.stats.tokenRequests}.`);

    out('\n4. Verifying every mirrored file against the catalog (sha256 and size):');
    const store = await openState(config);
    let ok = 0;
    let bad = 0;
    let total = 0;
    try {
      for (const rec of stac.all()) {
        for (const a of rec.assets) {
          total++;
          const obj = stac.object(a);
          const job = await store.getJob(`${rec.collection}/${rec.id}/${a.fileName}`);
          const st = job?.localPath ? await fsp.stat(path.join(o.mirrorDir, job.localPath)).catch(() => null) : null;
          if (obj && job?.state === 'done' && st && st.size === obj.size && job.sha256 === (await contentSha256(obj.seed, obj.size))) ok++;
          else bad++;
        }
      }
    } finally {
      await store.close();
    }
    out(`   ${ok} of ${total} assets verified${bad ? `, ${bad} NOT` : ''}.`);
    out(`\n5. The mirror is a self-contained STAC catalog (${path.join(o.mirrorDir, 'catalog.json')}); opened with pystac:`);
    const seen = openWithPystac(path.join(o.mirrorDir, 'catalog.json'));
    for (const l of seen.lines) out(`   ${l}`);
    if (!seen.ok) bad++;
    out('\nTry next:');
    out(`  npx constellr-sync status --state-dir ${path.relative(process.cwd(), o.stateDir) || '.'} --mirror-dir ${path.relative(process.cwd(), o.mirrorDir) || '.'}`);
    out('  npx constellr-sync simulate --source stac   # a STAC simulator to point `run --source stac` at');
    out('  README.md: "Constellr API keys and STAC", "Using the mirror with STAC tools"');
    return bad === 0 ? EXIT.OK : EXIT.FAILURES;
  } finally {
    await sim.close();
  }
}
