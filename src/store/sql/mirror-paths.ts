// Mirror paths, written once: a running job reserves its path (fenced by its lease) unless another
// key already holds the same folded path; the owner of a path, its folder marker (the path + '/') or
// anything below it. PostgreSQL serializes reservations of one folded path with an advisory lock.
import { FENCE } from './jobs.js';

/** Another key holds the folded path @fold: it is done, running, or still has a file there. */
const HELD_BY_OTHER = "path_fold = @fold AND id <> @id AND (state IN ('done', 'running') OR local_path IS NOT NULL)";

export const MIRROR_PATHS = {
  /** PostgreSQL: serializes the reservations of one folded path (@lock names it) until the commit. */
  lock: 'SELECT pg_advisory_xact_lock(hashtext(@lock))',
  // Who already holds a folded path.
  pathHolder: `SELECT key, mirror_path FROM jobs WHERE ${HELD_BY_OTHER} ORDER BY (state = 'done') DESC, finished_at LIMIT 1`,
  /**
   * Whether anyone does (a claim window's reservation needs no more): pathHolder without its sort,
   * whose temporary b-tree was ~4/5 of the lookup's cost (bench/README.md, "Small files, third pass").
   */
  pathHeld: `SELECT 1 AS held FROM jobs WHERE ${HELD_BY_OTHER} LIMIT 1`,
  reservePath: `UPDATE jobs SET mirror_path = @path, path_fold = @fold WHERE ${FENCE}`,
  /** PostgreSQL: the locks of many folded paths (@locks, in the order given: sorted, so no circle). */
  lockMany: 'SELECT pg_advisory_xact_lock(hashtext(l)) FROM unnest(@locks::text[]) AS l',
  /**
   * PostgreSQL: reservePath for many jobs (@ids, @tokens, @paths, @folds: one fold once) whose folded
   * path nobody holds (HELD_BY_OTHER), in one statement; run after lockMany, in a statement of its own
   * so that it sees every reservation committed before the locks were granted. Returns the ids reserved.
   */
  reserveMany: `
    UPDATE jobs j SET mirror_path = w.path, path_fold = w.fold
    FROM unnest(@ids::bigint[], @tokens::text[], @paths::text[], @folds::text[]) AS w(id, token, path, fold)
    WHERE j.id = w.id AND j.lease_token = w.token AND j.state = 'running'
      AND NOT EXISTS (SELECT 1 FROM jobs h WHERE h.path_fold = w.fold AND h.id <> w.id AND (h.state IN ('done', 'running') OR h.local_path IS NOT NULL))
    RETURNING j.id`,
  pathOwner: `
    SELECT key FROM jobs
    WHERE key <> @ex AND mirror_path IS NOT NULL AND (state IN ('done', 'running') OR local_path IS NOT NULL)
      AND (mirror_path = @p OR mirror_path = @p || '/' OR substr(mirror_path, 1, length(@p) + 1) = @p || '/'
           OR path_fold = @f OR path_fold = @f || '/' OR substr(path_fold, 1, length(@f) + 1) = @f || '/')
    ORDER BY (state = 'done') DESC, finished_at LIMIT 1`,
};
