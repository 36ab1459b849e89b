// The state database out of reach (store_unavailable: a refused or dropped connection, a server
// shutting down): every worker's claim fails the same way, so instead of each logging an error and
// retrying every second, the first failure closes the claim gate (one `pausing downloads until this
// clears` line, reason store_unavailable), the workers wait there, a summary says how long it has lasted
// at most every `summaryEveryMs`, a probe (one cheap statement) reopens the gate, and one line says it
// is back. The same mechanism as a full disk or rejected credentials (gate.ts); `sync`'s deadline is
// outage.ts's.
import { classifyError, isStoreUnavailable } from '../errors.js';
import type { Logger } from '../lib/logger.js';
import { timerDelay } from '../lib/timers.js';
import type { Gate } from './gate.js';

/** How often a lasting database outage is summarised in the log. */
export const STORE_OUTAGE_SUMMARY_MS = 30_000;

export interface StoreOutageOptions {
  gate: Gate;
  logger: Logger;
  clock: () => number;
  /** Workers waiting at the gate now (for the summary). */
  workersWaiting: () => number;
  /** One cheap statement: resolves when the database answers again. */
  ping: () => Promise<unknown>;
  summaryEveryMs?: number;
}

export class StoreOutage {
  readonly #o: StoreOutageOptions;
  #since: number | null = null;
  #lastError = '';
  #timer: NodeJS.Timeout | null = null;

  constructor(o: StoreOutageOptions) {
    this.#o = o;
  }

  /** When this outage began (host clock), or null while the database answers. */
  get since(): number | null {
    return this.#since;
  }

  /**
   * The handler the claimers share: true when `err` is the database out of reach (the gate is then
   * closed and the caller waits there without logging), false for anything else.
   */
  readonly handle = (err: unknown, context: string): boolean => {
    const e = classifyError(err, context);
    if (!isStoreUnavailable(e)) return false;
    this.#lastError = e.message;
    if (this.#since === null) {
      this.#since = this.#o.clock();
      this.#o.gate.closeUntilCleared('store_unavailable', { err: e.message, code: e.code });
      this.#startSummaries();
    }
    return true;
  };

  /** The gate's probe: the database answers again (logged once, with how long it was out); else the error is kept for the summary. */
  readonly probe = async (): Promise<boolean> => {
    try {
      await this.#o.ping();
    } catch (e) {
      this.#lastError = classifyError(e, 'probe').message;
      return false;
    }
    const downForMs = this.#since === null ? 0 : this.#o.clock() - this.#since;
    this.#since = null;
    this.stop();
    this.#o.gate.clear('store_unavailable', { downForMs });
    return true;
  };

  #startSummaries(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => {
      if (this.#since === null) return this.stop();
      const downForS = Math.round((this.#o.clock() - this.#since) / 1000);
      const waiting = this.#o.workersWaiting();
      this.#o.logger.warn(
        { reason: 'store_unavailable', downForMs: this.#o.clock() - this.#since, workersWaiting: waiting, err: this.#lastError },
        `the state database has been unavailable for ${downForS} s; ${waiting} ${waiting === 1 ? 'worker' : 'workers'} waiting`,
      );
    }, timerDelay(this.#o.summaryEveryMs ?? STORE_OUTAGE_SUMMARY_MS));
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }
}
