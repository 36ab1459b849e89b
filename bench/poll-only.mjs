// Listing ingest for `npm run bench`: one real poll (pollOnce from dist/sync/poller.js) with the
// production runtime (config, SQLite store, undici transport, token manager), and no downloads.
// Config comes from the same flags/env as `constellr-sync sync`. Prints a JSON line on stdout.
import { configFromFlags, loggerFor } from '../dist/cli/common.js';
import { openRuntime } from '../dist/daemon/runtime.js';
import { pollOnce } from '../dist/sync/poller.js';
import { limitHeapGrowth } from '../dist/cli/v8-tuning.js';

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
