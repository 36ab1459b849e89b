// Staging hygiene: partials whose remote version changed, or whose job is done or gone, are removed
// at start-up and periodically. A partial of the version still wanted is kept for resume.
import path from 'node:path';
import { claimIsLive, listStaging, removeStagedName, stagingDir } from '../download/staging.js';
import type { Logger } from '../lib/logger.js';
import type { StatusStore } from '../store/types.js';

/**
 * A claim file touched within the last 10 minutes (holders touch it on every heartbeat), unless its
 * holder is provably gone (a dead pid in our pid space: see claimIsLive). A process killed between
 * its commit and the claim's release must not keep a done job's leftovers in staging for 10 minutes.
 * A claim of this process counts as live: its worker may have started after `busy` was looked at.
 */
async function freshClaim(root: string, name: string): Promise<boolean> {
  return claimIsLive(path.join(stagingDir(root), `${name}.claim`), { staleMs: 10 * 60_000, now: Date.now(), unreadable: 'age' });
}

export async function sweepStaging(root: string, store: Pick<StatusStore, 'getJob'>, logger: Logger, busy: ReadonlySet<string> = new Set()): Promise<number> {
  let removed = 0;
  for (const e of await listStaging(root)) {
    if (busy.has(e.name)) continue;
    // Claimed by a download in another process (a replica sharing the mirror)? Leave it alone.
    if (await freshClaim(root, e.name)) continue;
    let keep = false;
    if (e.record) {
      const job = await store.getJob(e.record.key);
      keep =
        job !== null &&
        (job.state === 'queued' || job.state === 'running') &&
        job.remoteModifiedMs === e.record.lastModifiedMs &&
        // An unknown listed size was learned from the response and is in the record.
        (job.remoteSize === null || job.remoteSize === e.record.size);
    }
    if (!keep) {
      await removeStagedName(root, e.name);
      removed++;
    }
  }
  if (removed > 0) logger.info({ removed }, 'removed stale partial downloads from staging');
  return removed;
}
