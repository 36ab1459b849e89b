// The state database out of reach (store_unavailable: a refused or dropped connection, a server
// shutting down): every worker's claim fails the same way, so instead of each logging an error and
// retrying every second, the first failure closes the claim gate (one `pausing downloads until this
// clears` line, reason store_unavailable), the workers wait there, a summary says how long it has lasted
// at most every `summaryEveryMs`, a probe (one cheap statement, bounded by pingTimeoutMs) reopens the
// gate, and one line says it is back. The same mechanism as a full disk or rejected credentials
// (gate.ts); `sync`'s deadline is outage.ts's.
import { classifyError, isStoreUnavailable } from '../errors.js';
import type { Logger } from '../lib/logger.js';
import { timerDelay } from '../lib/timers.js';
import type { Gate } from './gate.js';

/** How often a lasting database outage is summarised in the log. */
export const STORE_OUTAGE_SUMMARY_MS = 30_000;

/**
 * How long the probe waits for its statement. The pool's connectionTimeoutMillis bounds a new
 * connection only: a statement on a pooled socket whose peer vanished (black-holed traffic, a failover
 * moving the address) waits until TCP gives up, about 15 min, and the gate probes one reason at a time.
 */
export const STORE_PING_TIMEOUT_MS = 10_000;

export interface StoreOutageOptions {
  gate: Gate;
  logger: Logger;
  clock: () => number;
  /** Workers waiting at the gate now (for the summary). */
  workersWaiting: () => number;
  /** One cheap statement: resolves when the database answers again. */
  ping: () => Promise<unknown>;
  /** No answer within this long counts as still out of reach (default STORE_PING_TIMEOUT_MS). */
  pingTimeoutMs?: number;
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
    const ms = this.#o.pingTimeoutMs ?? STORE_PING_TIMEOUT_MS;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timerDelay(ms));
    });
    // A ping left behind keeps its pooled connection until the driver gives up; its outcome is dropped.
    const ping = this.#o.ping().then(() => 'ok' as const);
    ping.catch(() => undefined);
    try {
      if ((await Promise.race([ping, timeout])) === 'timeout') {
        this.#lastError = `probe: the state database did not answer within ${ms} ms`;
        return false;
      }
    } catch (e) {
      this.#lastError = classifyError(e, 'probe').message;
      return false;
    } finally {
      clearTimeout(timer);
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
