// The pool's claims (issue 23 §1-2): workers asking for a job at the same moment share one claim, and
// that claim takes a window of jobs (their mirror paths reserved in the same transaction, so a small
// file costs no claim and no reservation of its own). The unstarted part of a window waits here with
// its leases kept alive by one heartbeat round for all of them; a graceful stop gives it back.
// Bound: a replica holds at most 2 × concurrency leases (at most `concurrency` in flight, the rest
// claimed and not started).
import { crashPoint } from '../lib/crash-point.js';
import type { Logger } from '../lib/logger.js';
import { repeat, type Repeater } from '../lib/timers.js';
import type { ClaimedJob, ClaimOptions, PathWant, WorkerStore } from '../store/types.js';

export interface ClaimWindowOptions {
  store: WorkerStore;
  logger: Logger;
  clock: () => number;
  /** Claim options at this moment (owner, lease length, order). */
  claimOptions: () => ClaimOptions;
  /** The mirror path to reserve with the claim (download/target.ts: claimPath), or null. */
  pathOf: (job: ClaimedJob) => PathWant | null;
  /** Workers now (the bound is twice that). */
  concurrency: () => number;
  /** An error that is a pause (a full state disk): the handler closed the gate; true means not to log it. */
  pausedBy?: (e: unknown, context: string) => boolean;
}

type Waiter = { resolve: (j: ClaimedJob | null | Promise<ClaimedJob | null>) => void; reject: (e: unknown) => void };
type Start = { job: ClaimedJob; resolve: (held: boolean) => void };

export class ClaimWindow {
  readonly #o: ClaimWindowOptions;
  /** Claimed, not started, in claim order. */
  #window: ClaimedJob[] = [];
  #waiters: Waiter[] = [];
  #claiming = false;
  /** Jobs handed to a worker and not finished: with the window, the leases this process holds. */
  #out = 0;
  #beat: Repeater | null = null;
  #beating = false;
  #closed = false;
  /** Window jobs taken in this turn of the event loop, marked started together (#markStarted). */
  #starting: Start[] = [];
  /** Claims made and jobs they took (bench and tests read these). */
  readonly stats = { claims: 0, jobs: 0 };

  constructor(o: ClaimWindowOptions) {
    this.#o = o;
  }

  /** Leases held: jobs in flight plus the unstarted window. */
  get held(): number {
    return this.#out + this.#window.length;
  }

  /** A job for one worker, or null when none is due. From the window if it holds one, else a new claim. */
  async next(): Promise<ClaimedJob | null> {
    if (this.#window.length > 0) return await this.#fromWindow();
    return await new Promise<ClaimedJob | null>((resolve, reject) => {
      this.#waiters.push({ resolve, reject });
      if (!this.#claiming) void this.#claimRound();
    });
  }

  /** The window's next job, started; null when the window ran out (leases lost while waiting). */
  async #fromWindow(): Promise<ClaimedJob | null> {
    for (let job = this.#window.shift(); job; job = this.#window.shift()) {
      this.#out++;
      // Its attempt counts from now on (a death before this gives it back: it did not cause it).
      if (await this.#markStarted(job)) return job;
      this.#out--; // its lease was lost while it waited
    }
    return null;
  }

  /**
   * Mark a window job started; false when its lease was lost while it waited. The workers a group
   * commit lets go take their next jobs in the same turn: their marks share one transaction
   * (markStartedMany) instead of one each. The job starts only once its mark committed.
   */
  #markStarted(job: ClaimedJob): Promise<boolean> {
    return new Promise<boolean>((resolve) => {
      if (this.#starting.push({ job, resolve }) === 1) setImmediate(() => void this.#startAll());
    });
  }

  async #startAll(): Promise<void> {
    const starts = this.#starting.splice(0);
    const refs = starts.map((s) => ({ id: s.job.id, token: s.job.leaseToken }));
    const held = new Set(await this.#o.store.markStartedMany(refs, this.#o.clock()).catch((e: unknown) => {
      // A full state disk closes the gate like the claim does; anything else is logged here.
      if (!this.#o.pausedBy?.(e, 'window start')) this.#o.logger.warn({ err: e, jobs: starts.length }, 'could not mark the window jobs started; their leases expire');
      return [];
    }));
    if (held.size > 0) crashPoint('window_started');
    for (const s of starts) s.resolve(held.has(s.job.id));
  }

  /** The worker is done with a job this handed out. */
  finished(): void {
    this.#out--;
  }

  async #claimRound(): Promise<void> {
    this.#claiming = true;
    try {
      while (this.#waiters.length > 0) {
        const waiting = this.#waiters.splice(0);
        // Workers that asked while the last claim ran: what it left in the window is theirs first.
        while (waiting.length > 0 && this.#window.length > 0) waiting.shift()!.resolve(this.#fromWindow());
        if (waiting.length === 0) continue;
        // Up to 2 × concurrency leases in all: those in flight, the waiters' and the window's.
        const n = Math.max(waiting.length, 2 * this.#o.concurrency() - this.held);
        let jobs: ClaimedJob[];
        try {
          jobs = this.#closed ? [] : await this.#o.store.claimWindow(n, { ...this.#o.claimOptions(), start: waiting.length }, this.#o.pathOf);
        } catch (e) {
          for (const w of waiting) w.reject(e);
          continue;
        }
        if (jobs.length > 0) crashPoint('window_claimed');
        // Taken from a dead or hung holder (as the lease sweep would have requeued them): said as the sweep says it.
        const expired = jobs.filter((j) => j.leaseExpired).length;
        if (expired > 0) this.#o.logger.warn({ jobs: expired }, 'claimed jobs whose lease expired (dead or hung holder)');
        this.stats.claims++;
        this.stats.jobs += jobs.length;
        for (const [i, w] of waiting.entries()) {
          const job = jobs[i] ?? null;
          if (job) this.#out++;
          w.resolve(job);
        }
        this.#window.push(...jobs.slice(waiting.length));
        // A stop while this claim was in flight: its window goes back at once.
        if (this.#closed) await this.close().catch((e: unknown) => this.#o.logger.warn({ err: e }, 'could not release the claimed jobs not started; their leases expire'));
        else this.#keepAlive();
      }
    } finally {
      this.#claiming = false;
    }
  }

  /** Heartbeat the window's leases every third of their length while it holds any. */
  #keepAlive(): void {
    if (this.#window.length === 0 || this.#beat) return;
    this.#beat = repeat(() => void this.#heartbeat(), () => Math.max(250, Math.floor(this.#o.claimOptions().leaseMs / 3)));
  }

  async #heartbeat(): Promise<void> {
    if (this.#beating) return;
    if (this.#window.length === 0) {
      this.#beat?.stop();
      this.#beat = null;
      return;
    }
    this.#beating = true;
    try {
      const jobs = [...this.#window];
      const held = new Set(await this.#o.store.heartbeatMany(jobs.map((j) => ({ id: j.id, token: j.leaseToken })), this.#o.claimOptions().leaseMs, this.#o.clock()));
      // A lease lost while waiting (swept after a stall): the job is another's now.
      this.#window = this.#window.filter((j) => held.has(j.id) || !jobs.includes(j));
    } catch (e) {
      this.#o.logger.warn({ err: e, jobs: this.#window.length }, 'heartbeat of the claimed window failed');
    } finally {
      this.#beating = false;
    }
  }

  /** The settings changed: the heartbeat follows the lease length. */
  reschedule(): void {
    this.#beat?.reschedule();
  }

  /** Stop: no more claims; the unstarted window is given back without an attempt consumed. Returns how many. */
  async close(): Promise<number> {
    this.#closed = true;
    return await this.giveBack();
  }

  /**
   * Give the unstarted window back (a stop, or a pause that may last: a full disk, rejected
   * credentials), so no lease is held for work that waits. Returns how many.
   */
  async giveBack(): Promise<number> {
    this.#beat?.stop();
    this.#beat = null;
    const jobs = this.#window.splice(0);
    if (jobs.length === 0) return 0;
    const n = await this.#o.store.releaseMany(jobs.map((j) => ({ id: j.id, token: j.leaseToken })), this.#o.clock());
    crashPoint('window_released');
    this.#o.logger.info({ jobs: n }, 'released the claimed jobs not started');
    return n;
  }
}
