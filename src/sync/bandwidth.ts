// The global bandwidth limit: one token bucket shared by every worker, fed by the timetable.
// Each chunk reserves its bytes in arrival order (a ticket on a cumulative counter), so workers are
// served first come, first served and the aggregate rate is smooth: the bucket holds at most a
// tenth of a second of credit (never less than one chunk), so an idle period cannot turn into a
// burst. The rate is re-read from the timetable on every wait, so a boundary (18:00) or a reload
// takes effect within one wait slice. Clock and sleep are injectable for tests.
import { rateAt, type Rate, type Timetable } from '../config/timetable.js';
import { sleep } from '../lib/timers.js';

export interface BandwidthOptions {
  timetable: Timetable;
  timeZone: string;
  clock?: () => number;
  /** Resolves after ms (or earlier when the signal aborts). */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  /** Credit the bucket may hold, in seconds of the current rate (default 0.1 s). */
  burstSeconds?: number;
  /** The bucket always holds at least this much credit (one typical chunk, default 64 KiB). */
  minBurstBytes?: number;
  /** Longest single sleep before the rate is re-read (default 250 ms). */
  maxSliceMs?: number;
}


export class BandwidthLimiter {
  #timetable: Timetable;
  #timeZone: string;
  readonly #clock: () => number;
  readonly #sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  readonly #burstSeconds: number;
  readonly #minBurst: number;
  readonly #maxSlice: number;
  /** Bytes asked for, ever. */
  #reserved = 0;
  /** Credit granted, ever; a ticket ending at or below it may go. */
  #granted = 0;
  #lastRefill: number;
  #lastRate: Rate;
  /** Aborted to wake every sleeper (rate change, close); replaced after each use. */
  #wake = new AbortController();
  #closed = false;
  /** Bytes that passed the limiter (metrics, tests). */
  passed = 0;

  constructor(o: BandwidthOptions) {
    this.#timetable = o.timetable;
    this.#timeZone = o.timeZone;
    this.#clock = o.clock ?? Date.now;
    this.#sleep = o.sleep ?? sleep;
    this.#burstSeconds = o.burstSeconds ?? 0.1;
    this.#minBurst = o.minBurstBytes ?? 64 * 1024;
    this.#maxSlice = o.maxSliceMs ?? 250;
    this.#lastRefill = this.#clock();
    this.#lastRate = this.rate();
    this.#granted = this.#burst(this.#lastRate);
  }

  /** The rate in force now (null = unlimited). */
  rate(): Rate {
    return rateAt(this.#timetable, this.#clock(), this.#timeZone);
  }

  get timetable(): Timetable {
    return this.#timetable;
  }

  /** Replace the timetable (reload); sleepers re-read the rate at once. */
  setTimetable(t: Timetable, timeZone = this.#timeZone): void {
    this.#refill();
    this.#timetable = t;
    this.#timeZone = timeZone;
    this.#wakeAll();
  }

  /** Release every waiter and stop limiting (shutdown). */
  close(): void {
    this.#closed = true;
    this.#wakeAll();
  }

  #wakeAll(): void {
    const w = this.#wake;
    this.#wake = new AbortController();
    w.abort();
  }

  #burst(rate: Rate): number {
    return rate === null ? 0 : Math.max(this.#minBurst, rate * this.#burstSeconds);
  }

  /** Add the credit earned since the last refill at the rate in force now. */
  #refill(): Rate {
    const now = this.#clock();
    const rate = this.rate();
    const elapsed = Math.max(0, now - this.#lastRefill) / 1000;
    this.#lastRefill = now;
    if (rate === null) {
      // Unlimited: every outstanding ticket may go, and no credit piles up for later.
      this.#granted = this.#reserved;
    } else {
      // When switching from unlimited (or at start) the bucket starts with one burst of credit.
      const earned = this.#lastRate === null ? this.#burst(rate) : elapsed * rate;
      this.#granted = Math.min(this.#granted + earned, this.#reserved + this.#burst(rate));
    }
    this.#lastRate = rate;
    return rate;
  }

  /** Wait until `n` more bytes may pass. Waiters are served in call order. */
  async take(n: number, signal?: AbortSignal): Promise<void> {
    if (n <= 0) return;
    this.#refill();
    this.#reserved += n;
    const ticket = this.#reserved;
    for (;;) {
      if (this.#closed || signal?.aborted) break;
      const rate = this.#refill();
      const missing = ticket - this.#granted;
      if (rate === null || missing <= 0) break;
      const ms = Math.min(this.#maxSlice, Math.max(1, Math.ceil((missing / rate) * 1000)));
      const wake = this.#wake.signal;
      await this.#sleep(ms, signal ? AbortSignal.any([wake, signal]) : wake);
    }
    this.passed += n;
  }
}
