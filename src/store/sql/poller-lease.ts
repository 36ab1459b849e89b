// The poller lease (PostgreSQL only: replicas elect one poller; a SQLite state has one process, which
// is always the poller). Times are the database's clock, so host clock skew cannot steal the lease.
import type { Dialect } from './dialect.js';

export function pollerLeaseSql(d: Dialect) {
  return {
    /** Take or renew: one row when `@owner` holds the lease until now + @ttlMs. */
    acquire: `
      INSERT INTO leases AS l (name, owner, until_ms, acquired_at) VALUES ('poller', @owner, ${d.now} + @ttlMs::bigint, ${d.now})
      ON CONFLICT (name) DO UPDATE SET
        owner = excluded.owner,
        until_ms = excluded.until_ms,
        acquired_at = CASE WHEN l.owner = excluded.owner THEN l.acquired_at ELSE excluded.acquired_at END,
        takeovers = l.takeovers + CASE WHEN l.owner = excluded.owner THEN 0 ELSE 1 END
      WHERE l.owner = excluded.owner OR l.until_ms < excluded.acquired_at`,
    release: "UPDATE leases SET until_ms = 0 WHERE name = 'poller' AND owner = @owner",
  };
}
