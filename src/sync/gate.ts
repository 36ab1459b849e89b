// The claim gate: workers pass it before claiming. It closes for a 429's Retry-After (all workers,
// not only the one that got it), while the mirror's disk is full (disk_full), while the state's disk
// is full (state_full: the database cannot record a claim or an outcome), while the state database
// cannot be reached (store_unavailable, store-outage.ts), while the credentials are
// rejected, and when the circuit breaker trips because everything fails (API down). Each episode is
// logged once.
import type { Logger } from '../lib/logger.js';
import { timerDelay } from '../lib/timers.js';

export type GateReason = 'rate_limited' | 'disk_full' | 'state_full' | 'store_unavailable' | 'auth_failed' | 'api_down' | 'paused';

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
  /** How often a waiting reason is probed (default 5 s). */
  probeIntervalMs?: number;
  /** Per-reason probe intervals, e.g. a slow retry for rejected credentials. */
  probeIntervals?: Partial<Record<GateReason, number>>;
  breaker?: { threshold: number; baseMs: number; maxMs: number };
}

/**
 * The circuit breaker's settings: it trips after max(8, 3 × concurrency) failures in a row, pauses
 * sync.breakerPause first and doubles per trip up to api.maxRetryAfter (the same cap as a server's
 * Retry-After and a job's backoff), never below the first pause.
 */
export function breakerSettings(o: { concurrency: number; breakerPauseMs: number; maxRetryAfterMs: number }): { threshold: number; baseMs: number; maxMs: number } {
  return { threshold: Math.max(8, o.concurrency * 3), baseMs: o.breakerPauseMs, maxMs: Math.max(o.breakerPauseMs, o.maxRetryAfterMs) };
}

export class Gate {
  readonly #o: GateOptions;
  #timedUntil = new Map<GateReason, number>();
  #conditions = new Set<GateReason>();
  #waiters = new Set<() => void>();
  #consecutiveFailures = 0;
  #trips = 0;
  #probeTimer: NodeJS.Timeout | null = null;
  #probing = false;
  /** When each waiting reason was last probed (or closed): probes run at their own interval. */
  #lastProbe = new Map<GateReason, number>();

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

  /** Each reason closing the gate now, with its end time (null: until a probe says it cleared). */
  pauses(): { reason: GateReason; until: number | null }[] {
    const now = this.#o.clock();
    const out: { reason: GateReason; until: number | null }[] = [...this.#conditions].map((reason) => ({ reason, until: null }));
    for (const [reason, t] of this.#timedUntil) if (t > now) out.push({ reason, until: t });
    return out;
  }

  /** Close for a while (429 Retry-After, circuit breaker). */
  pauseFor(reason: GateReason, ms: number): void {
    const until = this.#o.clock() + ms;
    const prev = this.#timedUntil.get(reason) ?? 0;
    if (until <= prev) return;
    if (prev <= this.#o.clock()) this.#o.logger.warn({ reason, pauseMs: ms }, 'pausing all downloads');
    this.#timedUntil.set(reason, until);
  }

  /**
   * Close until a probe says the condition cleared (disk space, credentials). `logged`: the caller
   * already said so in its own words (a rejected credential: "…; stopping" or "…; pausing").
   */
  closeUntilCleared(reason: GateReason, detail: Record<string, unknown> = {}, opts: { logged?: boolean } = {}): void {
    if (!this.#conditions.has(reason)) {
      if (!opts.logged) this.#o.logger.warn({ reason, ...detail }, 'pausing downloads until this clears');
      this.#lastProbe.set(reason, performance.now());
    }
    this.#conditions.add(reason);
    this.#startProbing();
  }

  /** `detail`: said with the line (how long the database was out). */
  clear(reason: GateReason, detail: Record<string, unknown> = {}): void {
    if (this.#conditions.delete(reason)) {
      this.#o.logger.info({ reason, ...detail }, 'condition cleared; downloads resume');
      this.#notify();
    }
  }

  /**
   * True while the circuit breaker is open or half-open (it tripped and no download has succeeded
   * since): failures then say more about the API than about the asset, so they burn no attempt.
   */
  get apiDown(): boolean {
    return this.#trips > 0;
  }

  /** Feed the circuit breaker. */
  recordResult(ok: boolean, retryableFailure: boolean): void {
    const b = this.#o.breaker;
    if (!b) return;
    if (ok) {
      if (this.#trips > 0) this.#o.logger.info('a download succeeded; the circuit breaker is closed again');
      this.#consecutiveFailures = 0;
      this.#trips = 0;
      return;
    }
    if (!retryableFailure) return;
    // Requests that were already in flight when the breaker tripped fail too: one trip per pause.
    if ((this.#timedUntil.get('api_down') ?? 0) > this.#o.clock()) return;
    this.#consecutiveFailures++;
    // Half-open after a trip: one more failure before any success trips it again, with a longer pause.
    if (this.#consecutiveFailures >= (this.#trips > 0 ? 1 : b.threshold)) {
      this.#consecutiveFailures = 0;
      const ms = Math.min(b.maxMs, b.baseMs * 2 ** this.#trips++);
      this.pauseFor('api_down', ms);
    }
  }

  #intervalOf(r: GateReason): number {
    return this.#o.probeIntervals?.[r] ?? this.#o.probeIntervalMs ?? 5000;
  }

  #startProbing(): void {
    if (this.#probeTimer) return;
    // Tick at the shortest interval; each reason is probed only when its own interval has passed.
    const tick = Math.max(50, Math.min(this.#o.probeIntervalMs ?? 5000, ...Object.values(this.#o.probeIntervals ?? {})));
    this.#probeTimer = setInterval(() => void this.#probe(), timerDelay(tick));
    this.#probeTimer.unref();
  }

  async #probe(): Promise<void> {
    if (this.#probing) return; // a slow probe (a token request) never overlaps itself
    this.#probing = true;
    try {
      for (const r of [...this.#conditions]) {
        const p = this.#o.probes?.[r];
        if (!p) continue;
        // paced in real time like the timer that drives it (an injected clock may stand still)
        const now = performance.now();
        if (now - (this.#lastProbe.get(r) ?? 0) < this.#intervalOf(r) - 5) continue;
        this.#lastProbe.set(r, now);
        try {
          if (await p()) this.clear(r);
        } catch (e) {
          this.#o.logger.debug({ err: e, reason: r }, 'probe failed');
        }
      }
    } finally {
      this.#probing = false;
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
        // Clamped: a pause beyond ~24.8 days is waited in rounds, never as an overflowing (1 ms) timer.
        const t = setTimeout(done, timerDelay(Math.max(10, delay)));
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
