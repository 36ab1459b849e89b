// A leased job's attempt that did not end in a file: retried later (or failed at the attempt cap),
// failed or gone for good, or skipped (done without a file). Fenced by the lease (jobs.ts).
import type { Dialect } from './dialect.js';
import { FENCE, NEWER_LISTED, SAME_VERSION, settleUnlessNewer, UNLEASE } from './jobs.js';

export function failJobsSql(d: Dialect) {
  const now = d.now;
  return {
    retryLater: `
      UPDATE jobs SET
        attempts = CASE WHEN ${NEWER_LISTED} THEN 0
                        WHEN @consume = 1 THEN attempts ELSE ${d.greatest('0', 'attempts - 1')} END,
        state = CASE WHEN ${NEWER_LISTED} THEN 'queued'
                     WHEN @consume = 1 AND attempts >= @max THEN 'failed' ELSE 'queued' END,
        run_at = CASE WHEN ${NEWER_LISTED} THEN ${now} ELSE ${now} + @delayMs::bigint END,
        finished_at = CASE WHEN @consume = 1 AND attempts >= @max AND ${SAME_VERSION} THEN ${now} ELSE finished_at END,
        locator = CASE WHEN @consume = 1 AND attempts >= @max AND ${SAME_VERSION} THEN ${d.settledLocator} ELSE locator END,
        error_class = @cls, error_status = @status, error_message = @msg, updated_at = ${now},
        ${UNLEASE}
      WHERE ${FENCE}
      RETURNING state`,
    /** failed or gone (@state), unless a newer version was listed meanwhile. */
    finalState: `
      UPDATE jobs SET
        ${settleUnlessNewer(d, '@state::text')},
        run_at = ${now}, finished_at = ${now}, updated_at = ${now},
        error_class = @cls, error_status = @status, error_message = @msg,
        ${UNLEASE}
      WHERE ${FENCE}`,
    /** case_conflict with policy skip: done without a file. */
    skip: `
      UPDATE jobs SET
        ${settleUnlessNewer(d, "'done'")},
        run_at = ${now}, finished_at = ${now}, updated_at = ${now},
        local_path = NULL, mirror_path = NULL, path_fold = NULL, bytes_written = NULL, sha256 = NULL,
        error_class = @cls, error_status = NULL, error_message = @msg,
        ${UNLEASE}
      WHERE ${FENCE}`,
  };
}
