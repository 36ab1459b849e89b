// A one-shot `sync` during a lasting outage: while the API is down (the circuit breaker tripped and no
// download has succeeded since) the breaker pause keeps doubling, so without a deadline the cycle
// would never end. After sync.outageDeadline it stops claiming and ends (exit 3); `run` never uses this.
import type { Logger } from '../lib/logger.js';
import type { Gate } from './gate.js';
import type { WorkerPool } from './pool.js';

export interface OutageWatch {
  stop(): void;
  /** Set once the deadline passed and the cycle gave up. */
  gaveUp(): { sinceMs: number; deadlineMs: number } | null;
}

export function watchOutage(o: { gate: Gate; pool: WorkerPool; clock: () => number; logger: Logger; deadlineMs: number; graceMs: number }): OutageWatch {
  let since: number | null = null;
  let gaveUp: { sinceMs: number; deadlineMs: number } | null = null;
  const timer = setInterval(
    () => {
      const now = o.clock();
      if (!o.gate.apiDown) {
        since = null;
        return;
      }
      since ??= now;
      if (gaveUp === null && now - since >= o.deadlineMs) {
        gaveUp = { sinceMs: since, deadlineMs: o.deadlineMs };
        o.logger.error({ downForMs: now - since, deadlineMs: o.deadlineMs }, 'the API has been down longer than sync.outageDeadline; giving up (the rest stays queued)');
        o.pool.stopClaiming();
        void o.pool.stop(o.graceMs);
      }
    },
    Math.max(50, Math.min(1000, o.deadlineMs / 4)),
  );
  timer.unref();
  return { stop: () => clearInterval(timer), gaveUp: () => gaveUp };
}
