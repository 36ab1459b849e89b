// A one-shot `sync` during a lasting outage: while the API is down (the circuit breaker tripped and no
// download has succeeded since) the breaker pause keeps doubling, and while the state database cannot
// be reached the workers wait at the gate for it (store-outage.ts), so without a deadline the cycle
// would never end. After sync.outageDeadline it stops claiming and ends (exit 3 for the API, 6 for the
// database); `run` never uses this: the daemon waits.
import type { Logger } from '../lib/logger.js';
import type { Gate } from './gate.js';
import type { WorkerPool } from './pool.js';

/** What was down past the deadline: the API, or the state database. */
export interface OutageGiveUp {
  what: 'api' | 'store';
  sinceMs: number;
  deadlineMs: number;
}

export interface OutageWatch {
  stop(): void;
  /** Set once the deadline passed and the cycle gave up. */
  gaveUp(): OutageGiveUp | null;
}

const GIVE_UP_LINES = {
  api: 'the API has been down longer than sync.outageDeadline; giving up (the rest stays queued)',
  store: 'the state database has been unreachable longer than sync.outageDeadline; giving up (the rest stays queued)',
};

export function watchOutage(o: { gate: Gate; pool: WorkerPool; clock: () => number; logger: Logger; deadlineMs: number; graceMs: number; storeDownSince?: () => number | null }): OutageWatch {
  let apiSince: number | null = null;
  let gaveUp: OutageGiveUp | null = null;
  const giveUp = (what: OutageGiveUp['what'], since: number, now: number) => {
    gaveUp = { what, sinceMs: since, deadlineMs: o.deadlineMs };
    o.logger.error({ downForMs: now - since, deadlineMs: o.deadlineMs }, GIVE_UP_LINES[what]);
    o.pool.stopClaiming();
    void o.pool.stop(o.graceMs);
  };
  const timer = setInterval(
    () => {
      const now = o.clock();
      apiSince = o.gate.apiDown ? (apiSince ?? now) : null;
      const storeSince = o.storeDownSince?.() ?? null;
      if (gaveUp !== null) return;
      if (apiSince !== null && now - apiSince >= o.deadlineMs) giveUp('api', apiSince, now);
      else if (storeSince !== null && now - storeSince >= o.deadlineMs) giveUp('store', storeSince, now);
    },
    Math.max(50, Math.min(1000, o.deadlineMs / 4)),
  );
  timer.unref();
  return { stop: () => clearInterval(timer), gaveUp: () => gaveUp };
}
