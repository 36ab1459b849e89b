// `sync --dry-run` and `run --dry-run`: list and plan one cycle without downloading, without writing
// into the mirror and without changing the state (no job rows, no high-water mark). No lock is
// taken, so a dry run may look over a running daemon's shoulder.
import { formatBytes } from '../../config/duration.js';
import type { Config } from '../../config/load.js';
import { openApi, openState } from '../../daemon/runtime.js';
import type { Logger } from '../../lib/logger.js';
import { planSync, type PlanTotals, type SyncPlan } from '../../sync/plan.js';
import { classifyError, isUnreachable } from '../../errors.js';
import { err, out } from '../common.js';
import { EXIT } from '../exit-codes.js';


/** Plan one cycle and print it. Exit 0 when planned, 3 when the API is unreachable. */
export async function dryRunCommand(config: Config, logger: Logger, o: { json: boolean; full: boolean }): Promise<number> {
  const store = await openState(config, { readonly: true });
  const conn = openApi(config, logger);
  try {
    let plan: SyncPlan;
    try {
      plan = await planSync({
        api: conn.api,
        store,
        root: config.mirror.dir,
        names: config.source === 'stac' ? 'stac' : 'plain',
        logger,
        clock: Date.now,
        full: o.full,
        drainHorizonMs: Math.min(config.sync.retryMaxDelay, 2 * 60_000),
        accept: config.filter,
        settings: { pageSize: config.api.pageSize, lookbackMs: config.sync.lookback, sinceMs: config.sync.since, pageRetries: config.sync.quickRetries + 2, maxPages: config.sync.maxListingPages },
      });
    } catch (e) {
      const se = classifyError(e, 'dry run');
      err(`dry run: listing failed: ${se.message}`);
      if (o.json) out(JSON.stringify({ dryRun: true, error: { class: se.errorClass, message: se.message } }));
      return isUnreachable(se) ? EXIT.UNREACHABLE : EXIT.FAILURES;
    }
    if (o.json) out(JSON.stringify({ dryRun: true, ...plan }));
    else printPlan(plan);
    return EXIT.OK;
  } finally {
    await store?.close();
    await conn.dispatcher.close().catch(() => undefined);
  }
}

function printPlan(p: SyncPlan): void {
  const unknown = (n: number) => (n > 0 ? ` (size unknown for ${n} asset${n === 1 ? '' : 's'})` : '');
  const line = (label: string, t: PlanTotals) => out(`  ${label.padEnd(9)} ${String(t.count).padStart(7)}  ${formatBytes(t.bytes)}${unknown(t.sizeUnknown)}`);
  out(`dry run: listed ${p.listed} assets in ${p.pages} page(s) ${p.full ? '(complete listing)' : `modified after ${p.listStart}`}; nothing was downloaded or changed`);
  line('fetch', p.fetch);
  line('replace', p.replace);
  line('refuse', p.refuse);
  out(`  ${'delete'.padEnd(9)} ${p.delete === null ? '      ?  (incremental listing; use --full to check deletions)' : String(p.delete.count).padStart(7)}`);
  out(`  unchanged ${String(p.unchanged).padStart(7)}`);
  if (p.waiting > 0) out(`  waiting   ${String(p.waiting).padStart(7)}  (queued with a retry backoff beyond this cycle)`);
  out(`  total to download: ${formatBytes(p.totalBytes)}${unknown(p.totalSizeUnknown)}`);
  const refused = p.items.filter((i) => i.action === 'refuse');
  if (refused.length > 0) {
    out('refused keys:');
    for (const r of refused.slice(0, 50)) out(`  ${r.reason}`);
    if (refused.length > 50) out(`  … and ${refused.length - 50} more (--json lists all)`);
  }
  if (p.delete && p.delete.count > 0) {
    out('no longer listed (reconcile applies deletePolicy):');
    for (const k of p.delete.keys.slice(0, 50)) out(`  ${JSON.stringify(k)}`);
    if (p.delete.count > 50) out(`  … and ${p.delete.count - 50} more (--json lists all)`);
  }
}
