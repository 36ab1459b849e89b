// Waiting without spinning: an abortable sleep, and a wake-up point that idle loops sleep on and
// producers poke (new jobs queued, a job finished, a notification recorded).

/**
 * The longest delay setTimeout honours (2^31-1 ms, ~24.8 days). Node fires a longer one after 1 ms,
 * so a loop sleeping "weeks" would spin; every timer in the daemon goes through timerDelay() or
 * sleeps in chunks (sleep).
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** A delay setTimeout/setInterval can take: finite, 0 … MAX_TIMER_MS. */
export function timerDelay(ms: number): number {
  if (!(ms > 0)) return 0; // NaN, negative
  return Math.min(MAX_TIMER_MS, ms);
}

/** Resolve after `ms` (any length: waited in chunks), or at once when `signal` aborts (never rejects). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    let remaining = Number.isFinite(ms) ? Math.max(0, ms) : MAX_TIMER_MS;
    let t: NodeJS.Timeout | undefined;
    const done = () => {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const arm = () => {
      const chunk = timerDelay(remaining);
      remaining -= chunk;
      t = setTimeout(remaining > 0 ? arm : done, chunk);
    };
    arm();
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * AbortSignal.timeout for any length. Node's own fires after 1 ms above 2^31-1 ms and throws above
 * 2^32-1, which a download deadline of 5 min + Size / minDownloadRate reaches for assets beyond
 * ~140 GB at the default rate. The timer is unref'd, like AbortSignal.timeout's.
 */
export function timeoutSignal(ms: number): AbortSignal {
  if (ms <= MAX_TIMER_MS) return AbortSignal.timeout(timerDelay(ms));
  const ac = new AbortController();
  let remaining = ms;
  const arm = () => {
    const chunk = timerDelay(remaining);
    remaining -= chunk;
    const t = setTimeout(() => (remaining > 0 ? arm() : ac.abort(new DOMException('The operation was aborted due to timeout', 'TimeoutError'))), chunk);
    t.unref();
  };
  arm();
  return ac.signal;
}

/**
 * Run `fn` with a signal that aborts when `signal` does (with its reason) or after `ms` (a
 * TimeoutError, as timeoutSignal's). One controller, one listener and one timer, all gone when `fn`
 * settles: per small file, AbortSignal.any over a timeoutSignal left a live timer for the whole
 * deadline and weak references for the collector.
 */
export async function withDeadline<T>(signal: AbortSignal, ms: number, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  if (ms > MAX_TIMER_MS) return await fn(AbortSignal.any([signal, timeoutSignal(ms)]));
  const ac = new AbortController();
  const follow = (): void => ac.abort(signal.reason);
  if (signal.aborted) follow();
  else signal.addEventListener('abort', follow, { once: true });
  const timer = setTimeout(() => ac.abort(new DOMException('The operation was aborted due to timeout', 'TimeoutError')), timerDelay(ms));
  timer.unref();
  try {
    return await fn(ac.signal);
  } finally {
    clearTimeout(timer);
    signal.removeEventListener('abort', follow);
  }
}

/** A periodic call whose interval can change while it runs (a reload of sync.leaseDuration). */
export interface Repeater {
  stop(): void;
  /** Re-read the interval now: a shorter one takes effect at once, not after the old wait. */
  reschedule(): void;
}

/**
 * Call `fn` every `intervalMs()` ms, the interval re-read after each call and on reschedule().
 * Timers are unref'd and clamped (a long interval is waited in rounds, never as a 1 ms overflow).
 */
export function repeat(fn: () => void, intervalMs: () => number): Repeater {
  let last = performance.now();
  let t: NodeJS.Timeout | undefined;
  let stopped = false;
  const arm = () => {
    if (stopped) return;
    clearTimeout(t);
    t = setTimeout(tick, timerDelay(last + intervalMs() - performance.now()));
    t.unref();
  };
  const tick = () => {
    if (stopped) return;
    if (performance.now() - last < intervalMs() - 1) return arm(); // one round of a long wait
    last = performance.now();
    try {
      fn();
    } finally {
      arm();
    }
  };
  arm();
  return {
    stop() {
      stopped = true;
      clearTimeout(t);
    },
    reschedule: arm,
  };
}

/** Sleepers wait up to a timeout; wake() releases all of them at once. */
export class Wakeup {
  #waiters = new Set<() => void>();

  wake(): void {
    for (const w of this.#waiters) w();
    this.#waiters.clear();
  }

  /** Sleep at least 5 ms and at most `ms`, until woken or `signal` aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(t);
        this.#waiters.delete(done);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      // Callers re-check after waking, so a clamped wait (beyond ~24.8 days) only means one more round.
      const t = setTimeout(done, timerDelay(Math.max(5, ms)));
      this.#waiters.add(done);
      if (signal?.aborted) return done();
      signal?.addEventListener('abort', done, { once: true });
    });
  }
}
