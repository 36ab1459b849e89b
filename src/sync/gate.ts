// The claim gate: workers pass it before claiming. It closes for a 429's Retry-After (all workers,
// not only the one that got it), while the disk is full, while the credentials are rejected, and
// when the circuit breaker trips because everything fails (API down). Each episode is logged once.
import type { Logger } from '../ops/logger.js';

export type GateReason = 'rate_limited' | 'disk_full' | 'auth_failed' | 'api_down' | 'paused';

export interface GateState {
  open: boolean;
  reasons: GateReason[];
  until: number | null;
}

export interface GateOptions {
  logger: Logger;
  clock: () => number;
  /** Checks the condition of a waiting reason (free space, credentials); true means it cleared. */
  probes?: Partial<Record<GateReason, () => Promise<boolean>>>;
  probeIntervalMs?: number;
  breaker?: { threshold: number; baseMs: number; maxMs: number };
}

export class Gate {
  readonly #o: GateOptions;
  #timedUntil = new Map<GateReason, number>();
  #conditions = new Set<GateReason>();
  #waiters = new Set<() => void>();
  #consecutiveFailures = 0;
  #trips = 0;
  #probeTimer: NodeJS.Timeout | null = null;

  constructor(o: GateOptions) {
    this.#o = o;
  }

  state(): GateState {
    const now = this.#o.clock();
    const reasons: GateReason[] = [...this.#conditions];
    let until: number | null = null;
    for (const [r, t] of this.#timedUntil) {
      if (t > now) {
        reasons.push(r);
        until = Math.max(until ?? 0, t);
      }
    }
    return { open: reasons.length === 0, reasons, until };
  }

  /** Close for a while (429 Retry-After, circuit breaker). */
  pauseFor(reason: GateReason, ms: number): void {
    const until = this.#o.clock() + ms;
    const prev = this.#timedUntil.get(reason) ?? 0;
    if (until <= prev) return;
    if (prev <= this.#o.clock()) this.#o.logger.warn({ reason, pauseMs: ms }, 'pausing all downloads');
    this.#timedUntil.set(reason, until);
  }

  /** Close until a probe says the condition cleared (disk space, credentials). */
  closeUntilCleared(reason: GateReason, detail: Record<string, unknown> = {}): void {
    if (!this.#conditions.has(reason)) this.#o.logger.warn({ reason, ...detail }, 'pausing downloads until this clears');
    this.#conditions.add(reason);
    this.#startProbing();
  }

  clear(reason: GateReason): void {
    if (this.#conditions.delete(reason)) {
      this.#o.logger.info({ reason }, 'condition cleared; downloads resume');
      this.#notify();
    }
  }

  /** Feed the circuit breaker. */
  recordResult(ok: boolean, retryableFailure: boolean): void {
    const b = this.#o.breaker;
    if (!b) return;
    if (ok) {
      this.#consecutiveFailures = 0;
      this.#trips = 0;
      return;
    }
    if (!retryableFailure) return;
    this.#consecutiveFailures++;
    if (this.#consecutiveFailures >= b.threshold) {
      this.#consecutiveFailures = 0;
      const ms = Math.min(b.maxMs, b.baseMs * 2 ** this.#trips++);
      this.pauseFor('api_down', ms);
    }
  }

  #startProbing(): void {
    if (this.#probeTimer) return;
    this.#probeTimer = setInterval(() => void this.#probe(), this.#o.probeIntervalMs ?? 5000);
    this.#probeTimer.unref();
  }

  async #probe(): Promise<void> {
    for (const r of [...this.#conditions]) {
      const p = this.#o.probes?.[r];
      if (!p) continue;
      try {
        if (await p()) this.clear(r);
      } catch (e) {
        this.#o.logger.debug({ err: e, reason: r }, 'probe failed');
      }
    }
    if (this.#conditions.size === 0 && this.#probeTimer) {
      clearInterval(this.#probeTimer);
      this.#probeTimer = null;
    }
  }

  #notify(): void {
    for (const w of this.#waiters) w();
    this.#waiters.clear();
  }

  /** Resolves when the gate is open or the signal aborts. */
  async wait(signal: AbortSignal): Promise<void> {
    for (;;) {
      if (signal.aborted) return;
      const s = this.state();
      if (s.open) return;
      const delay = s.until !== null && this.#conditions.size === 0 ? s.until - this.#o.clock() : 1000;
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(t);
          signal.removeEventListener('abort', done);
          this.#waiters.delete(done);
          resolve();
        };
        const t = setTimeout(done, Math.max(10, delay));
        signal.addEventListener('abort', done, { once: true });
        this.#waiters.add(done);
      });
    }
  }

  close(): void {
    if (this.#probeTimer) clearInterval(this.#probeTimer);
    this.#probeTimer = null;
    this.#notify();
  }
}
