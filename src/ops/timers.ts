// Waiting without spinning: an abortable sleep, and a wake-up point that idle loops sleep on and
// producers poke (new jobs queued, a job finished, a notification recorded).

/** Resolve after `ms`, or at once when `signal` aborts (never rejects). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const t = setTimeout(done, Math.max(0, ms));
    signal?.addEventListener('abort', done, { once: true });
  });
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
      const t = setTimeout(done, Math.max(5, ms));
      this.#waiters.add(done);
      if (signal?.aborted) return done();
      signal?.addEventListener('abort', done, { once: true });
    });
  }
}
