// `constellr-sync reconcile`: one full reconciliation listing now. Queues what the incremental polls
// missed, and applies mirror.deletePolicy to keys no longer listed, within mirror.maxDelete.
import { parseArgs } from 'node:util';
import { RECONCILE_OPTIONS, optionsHelp } from '../options.js';
import { openRuntime } from '../../daemon/runtime.js';
import { formatMaxDelete, reconcileOnce } from '../../sync/reconcile-listing.js';
import { openCatalog } from '../../daemon/catalog.js';
import { reconcileSchedulerSettingsOf } from '../../daemon/reconcile-scheduler.js';
import { configFromFlags, loggerFor, out, err, armCrashPointsFromEnv } from '../common.js';
import { EXIT } from '../exit-codes.js';
import { watchShutdown } from '../signals.js';

export const RECONCILE_HELP = `Usage: constellr-sync reconcile [options]

List every asset (a full listing, no lastModifiedAfter), queue what the incremental polls missed, and
apply the delete policy to keys that are no longer listed. Deletions happen only after the whole
listing succeeded, and never more than maxDelete in one run (above it nothing is changed).
Newly queued downloads are fetched by the next sync (or the running daemon).

--delete-policy P: keep (mark deleted_remote) | trash | delete; --max-delete N|P%: most keys one run
may mark, e.g. 50 or 10%.

${optionsHelp('reconcile')}

Exit codes: 0 reconciled; 1 the maxDelete guard stopped it, or some files could not be removed;
2 usage/configuration error; 3 API unreachable or credentials rejected; 4 locked by another instance;
6 the state database (state.url) cannot be reached.`;

export async function reconcileCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: RECONCILE_OPTIONS, strict: true });
  if (values.help) {
    out(RECONCILE_HELP);
    return EXIT.OK;
  }
  armCrashPointsFromEnv();
  const config = configFromFlags(values);
  const logger = loggerFor(config, { stderr: values.json === true });
  const rt = await openRuntime(config, logger);
  // The first signal stops the listing (nothing is deleted unless the whole listing succeeded); a
  // second exits at once.
  const shutdown = watchShutdown({ graceful: () => undefined });
  try {
    // The same listing settings as the daemon's scheduled reconcile, failing fast as one-shot commands do.
    const { filter, listing } = reconcileSchedulerSettingsOf(config, 'drain');
    const catalog = openCatalog(rt);
    const r = await reconcileOnce({
      catalog,
      api: rt.api,
      store: rt.store,
      logger,
      clock: rt.clock,
      root: rt.root,
      stateDir: config.state.dir,
      signal: shutdown.signal,
      accept: filter.isAll ? undefined : filter,
      settings: listing,
    });
    // Items whose assets were deleted leave the STAC catalog; listed changes are written later by sync/run.
    await catalog?.flush();
    await catalog?.flushIndex();
    const code = r.guarded || r.errors > 0 ? EXIT.FAILURES : EXIT.OK;
    if (values.json) {
      out(JSON.stringify({ exitCode: code, maxDelete: formatMaxDelete(config.mirror.maxDelete), ...r }));
    } else {
      err(
        `reconcile: ${r.listed} listed, ${r.queued} queued (missed by polls), ${r.missing} no longer listed; ` +
          `policy ${r.policy}: ${r.applied} marked deleted_remote, ${r.removedFiles} files ${r.policy === 'trash' ? 'moved to the trash' : 'removed'}`,
      );
      if (r.guarded)
        err(
          `maxDelete guard: ${r.missing} keys are no longer listed, the limit is ${r.limit} (mirror.maxDelete ${formatMaxDelete(config.mirror.maxDelete)}); nothing was changed. ` +
            `If this is expected, run: constellr-sync reconcile --max-delete ${r.missing}`,
        );
      if (r.errors > 0) err(`${r.errors} files could not be removed (see the log); they are tried again next time`);
    }
    return code;
  } finally {
    shutdown.dispose();
    await rt.close();
  }
}
