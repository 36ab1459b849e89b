// Staging hygiene: partials whose remote version changed, or whose job is done or gone, are removed
// at start-up and periodically. A partial of the version still wanted is kept for resume.
import type { Logger } from '../ops/logger.js';
import { listStaging, removeStagedName } from '../mirror/staging.js';
import type { StateStore } from '../store/types.js';

export async function sweepStaging(root: string, store: StateStore, logger: Logger, busy: ReadonlySet<string> = new Set()): Promise<number> {
  let removed = 0;
  for (const e of await listStaging(root)) {
    if (busy.has(e.name)) continue;
    let keep = false;
    if (e.record) {
      const job = await store.getJob(e.record.key);
      keep =
        job !== null &&
        (job.state === 'queued' || job.state === 'running') &&
        job.remoteModifiedMs === e.record.lastModifiedMs &&
        job.remoteSize === e.record.size;
    }
    if (!keep) {
      await removeStagedName(root, e.name);
      removed++;
    }
  }
  if (removed > 0) logger.info({ removed }, 'removed stale partial downloads from staging');
  return removed;
}
