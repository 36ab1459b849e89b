// The rules of a leased job, written once for every statement that moves one (claim-jobs.ts,
// complete-jobs.ts, fail-jobs.ts, lease-jobs.ts, requeue-jobs.ts, mirror-paths.ts): every transition
// of a claimed job is fenced by its lease token (and state 'running'), clears the lease when it
// leaves 'running', and a listing that saw a newer version meanwhile turns a settled outcome into a
// requeue.
import type { Dialect } from './dialect.js';

/** Clears the lease (every transition out of 'running'). */
export const UNLEASE = 'lease_owner = NULL, lease_token = NULL, lease_until = NULL';
export const FENCE = "id = @id AND lease_token = @token AND state = 'running'";

/** A newer version was listed while the job ran (the listing bumps revision; a claim records it). */
export const NEWER_LISTED = 'revision <> claimed_revision';
/** The version claimed is still the newest listed. */
export const SAME_VERSION = 'revision = claimed_revision';

/**
 * SET terms: the job settles in `state` (done, failed, gone), keeping no pre-signed URL, unless a
 * newer version was listed meanwhile: then it is queued again with its attempts reset.
 */
export function settleUnlessNewer(d: Dialect, state: string): string {
  return `state = CASE WHEN ${NEWER_LISTED} THEN 'queued' ELSE ${state} END,
        attempts = CASE WHEN ${NEWER_LISTED} THEN 0 ELSE attempts END,
        locator = CASE WHEN ${NEWER_LISTED} THEN locator ELSE ${d.settledLocator} END`;
}
