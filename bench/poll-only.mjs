// Listing ingest for `npm run bench`: one real poll (pollOnce from dist/sync/poller.js) with the
// production runtime (config, SQLite store, undici transport, token manager), and no downloads.
// Config comes from the same flags/env as `constellr-sync sync`. Prints a JSON line on stdout.
// $BENCH_DIST: another build's dist/ (run.mjs --variant), else this tree's.
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const DIST = process.env.BENCH_DIST ? pathToFileURL(path.resolve(process.env.BENCH_DIST)).href : new URL('../dist', import.meta.url).href;
const { configFromFlags, loggerFor } = await import(`${DIST}/cli/common.js`);
const { openRuntime } = await import(`${DIST}/daemon/runtime.js`);
const { pollOnce } = await import(`${DIST}/sync/poller.js`);
const { limitHeapGrowth } = await import(`${DIST}/cli/v8-tuning.js`);

limitHeapGrowth(); // as dist/cli/main.js does

const flags = {};
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i += 2) flags[argv[i].replace(/^--/, '')] = argv[i + 1];
const config = configFromFlags(flags);
const logger = loggerFor(config, { stderr: true });
const rt = await openRuntime(config, logger);
try {
  const t0 = performance.now();
  const r = await pollOnce({
    api: rt.api,
    store: rt.store,
    logger,
    clock: rt.clock,
    settings: { pageSize: config.api.pageSize, lookbackMs: config.sync.lookback, sinceMs: config.sync.since, pageRetries: 2 },
  });
  const ms = performance.now() - t0;
  const counts = await rt.store.counts();
  process.stdout.write(`${JSON.stringify({ listed: r.listed, inserted: r.inserted, pages: r.pages, durationMs: ms, queued: counts.queued })}\n`);
} finally {
  await rt.close();
}
