// Full-listing reconciliation, written once: which known keys a complete listing did not return,
// and what was done about them.
import type { Dialect } from './dialect.js';

export function reconcileSql(d: Dialect) {
  const now = d.now;
  return {
    start: `INSERT INTO reconciles (started_at, policy) VALUES (${now}, @policy) RETURNING id`,
    markListed: `
      UPDATE jobs SET seen_reconcile = @rid,
        remote_deleted_at = CASE WHEN local_removed IS NULL THEN NULL ELSE remote_deleted_at END
      WHERE ${d.inList('key', 'keys', 'text')}`,
    // Rows created after the listing started may simply have appeared after it passed them.
    candidates: `
      SELECT * FROM jobs
      WHERE (seen_reconcile IS NULL OR seen_reconcile <> @rid) AND state <> 'running'
        AND (remote_deleted_at IS NULL OR (local_removed IS NULL AND local_path IS NOT NULL))
        AND created_at < (SELECT started_at FROM reconciles WHERE id = @rid)
      ORDER BY id`,
    tracked: 'SELECT count(*) AS n FROM jobs WHERE remote_deleted_at IS NULL',
    markRemoteDeleted: `
      UPDATE jobs SET remote_deleted_at = coalesce(remote_deleted_at, ${now}), local_removed = @removed::text,
        local_path = CASE WHEN @removed::text IS NULL THEN local_path ELSE NULL END,
        mirror_path = CASE WHEN @removed::text IS NULL THEN mirror_path ELSE NULL END,
        path_fold = CASE WHEN @removed::text IS NULL THEN path_fold ELSE NULL END,
        error_class = CASE WHEN state IN ('queued', 'failed') THEN 'deleted_remote' ELSE error_class END,
        error_message = CASE WHEN state IN ('queued', 'failed') THEN 'no longer listed by the API (full reconciliation listing)' ELSE error_message END,
        state = CASE WHEN state IN ('queued', 'failed') THEN 'gone' ELSE state END,
        updated_at = ${now}
      WHERE id = @id AND state <> 'running' AND (remote_deleted_at IS NULL OR (local_removed IS NULL AND @removed::text IS NOT NULL))`,
    finish: `
      UPDATE reconciles SET finished_at = ${now}, listed = @listed, queued = @queued, missing = @missing, applied = @applied,
        guarded = @guarded, error = @error, error_class = @cls
      WHERE id = @id`,
    last: 'SELECT * FROM reconciles ORDER BY id DESC LIMIT 1',
    remoteDeleted: 'SELECT count(*) AS n FROM jobs WHERE remote_deleted_at IS NOT NULL',
  };
}
