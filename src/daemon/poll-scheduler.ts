// The poll scheduler: one poll at a time, on the cron schedule, by the holder of the poller lease.
// Exactly one replica polls (always this process with SQLite); the lease is renewed every third of
// its length, and a replica that takes it over polls at once.
import cron, { type ScheduledTask } from 'node-cron';
import { SyncError, classifyError } from '../errors.js';
import type { Config } from '../config/load.js';
import type { AssetFilter } from '../config/filters.js';
import type { Logger } from '../lib/logger.js';
import { repeat, type Repeater } from '../lib/timers.js';
import { pollOnce, type PollDeps, type PollResult, type PollSettings } from '../sync/poller.js';
import { oneShotUnreachable } from '../sync/listing.js';
import type { Runtime } from './runtime.js';
import { stateIdentity } from '../store/identity.js';

/** What onPoll hears about one poll. */
export interface PollReport {
  ok: boolean;
  at: number;
  durationMs: number;
  errorClass?: string;
  errorKind?: string;
}

/** The last poll's outcome (readiness, `sync`'s summary). */
export interface LastPoll {
  ok: boolean;
  at: number;
  result?: PollResult;
  error?: SyncError;
}

/** What the scheduler reads from the configuration; replaced as a whole on reload (apply). */
export interface PollSchedulerSettings {
  schedule: string;
  timezone: string;
  pollerLeaseMs: number;
  /** Filters (include/exclude, sizes, since): what a poll queues. */
  filter: AssetFilter;
  listing: Omit<PollSettings, 'full'>;
}

export function pollSchedulerSettingsOf(cfg: Config, mode: 'continuous' | 'drain'): PollSchedulerSettings {
  return {
    schedule: cfg.sync.schedule,
    timezone: cfg.sync.timezone,
    pollerLeaseMs: cfg.state.pollerLease,
    filter: cfg.filter,
    listing: {
      pageSize: cfg.api.pageSize,
      lookbackMs: cfg.sync.lookback,
      sinceMs: cfg.sync.since,
      pageRetries: cfg.sync.quickRetries + 2,
      unreachable: failFast(cfg, mode),
      maxPages: cfg.sync.maxListingPages,
    },
  };
}

/** One cycle (`sync`) reports an unreachable API within seconds; `run` retries at each poll. */
export function failFast(cfg: Config, mode: 'continuous' | 'drain'): { attempts: number; afterMs: number } | undefined {
  return mode === 'drain' ? oneShotUnreachable(cfg.api.connectTimeout) : undefined;
}

/** Whether node-cron accepts this expression (a reload with an invalid one keeps the old schedule). */
export function isValidSchedule(expression: string): boolean {
  return cron.validate(expression);
}

export interface PollSchedulerDeps {
  rt: Pick<Runtime, 'api' | 'store' | 'logger' | 'clock' | 'owner' | 'config'>;
  settings: PollSchedulerSettings;
  /** The first poll lists everything from sync.since, ignoring the HWM (`sync --rescan`). */
  rescan: boolean;
  /** After each committed page (wakes idle workers). */
  onPage(): void;
  onRateLimited(ms: number): void;
  /** The mirror's STAC catalog, which keeps the listed items; null without one. */
  catalog: PollDeps['catalog'];
  /** Every finished poll (metrics, readiness); aborted polls are not reported. */
  onPoll?: (r: PollReport) => void;
  /** A poll succeeded (credentials work again). */
  onSucceeded(): void;
  /** The API rejected the credentials. */
  onAuthRejected(e: SyncError): void;
  /** An error that is a pause (a full state disk, daemon/state-full.ts): true when the gate took it. */
  pausedBy?: (e: unknown, context: string) => boolean;
}

export class PollScheduler {
  readonly #d: PollSchedulerDeps;
  readonly #log: Logger;
  #settings: PollSchedulerSettings;
  #rescan: boolean;
  #running: Promise<PollResult | null> | null = null;
  #last: LastPoll | null = null;
  #isPoller = false;
  /** Set while started (run): the cron task, the lease timer and the signal that aborts polls at shutdown. */
  #live: { task: ScheduledTask; lease: Repeater; signal: AbortSignal } | null = null;

  constructor(d: PollSchedulerDeps) {
    this.#d = d;
    this.#log = d.rt.logger;
    this.#settings = d.settings;
    this.#rescan = d.rescan;
  }

  get last(): LastPoll | null {
    return this.#last;
  }

  /** Whether this process is the poller now. */
  get isPoller(): boolean {
    return this.#isPoller;
  }

  /** One poll; never two at once. Errors are recorded, logged, and returned as null. */
  poll(signal?: AbortSignal): Promise<PollResult | null> {
    if (this.#running) {
      this.#log.info('previous poll still running; skipping this tick');
      return this.#running;
    }
    const { rt } = this.#d;
    const s = this.#settings;
    const started = rt.clock();
    this.#running = pollOnce({
      api: rt.api,
      store: rt.store,
      logger: this.#log,
      clock: rt.clock,
      signal,
      settings: { ...s.listing, full: this.#takeRescan() },
      accept: s.filter.isAll ? undefined : s.filter,
      onPage: () => this.#d.onPage(),
      onRateLimited: (ms) => this.#d.onRateLimited(ms),
      catalog: this.#d.catalog,
      stateDir: rt.config.state.dir,
    })
      .then(async (r) => {
        // Which source listed and how (status shows the strategy and why), and the state's catalog (store/identity.ts).
        await rt.store.setSourceInfo(JSON.stringify({ ...rt.api.describe(), ...stateIdentity(rt.config) })).catch((e: unknown) => this.#log.warn({ err: e }, 'could not record the source info'));
        this.#last = { ok: true, at: rt.clock(), result: r };
        this.#d.onPoll?.({ ok: true, at: this.#last.at, durationMs: r.durationMs });
        this.#d.onSucceeded();
        return r;
      })
      .catch((err: unknown) => {
        // Classified once, with the state directory: no space for a file under state.dir is the state's disk.
        const e = classifyError(err, 'poll', rt.config.state.dir);
        this.#last = { ok: false, at: rt.clock(), error: e };
        if (e.kind !== 'aborted') this.#d.onPoll?.({ ok: false, at: this.#last.at, durationMs: this.#last.at - started, errorClass: e.errorClass, errorKind: e.kind });
        if (e.kind === 'auth_rejected') this.#d.onAuthRejected(e);
        else if (this.#d.pausedBy?.(e, 'poll')) this.#log.warn({ errorClass: e.errorClass, err: e.message }, 'poll not recorded (the state disk is full); polled again once there is room');
        else if (e.kind !== 'aborted') this.#log.error({ errorClass: e.errorClass, status: e.status, err: e.message }, 'poll failed; the high-water mark was not moved');
        return null;
      })
      .finally(() => {
        this.#running = null;
      });
    return this.#running;
  }

  /** `sync`: one poll if this process gets the poller lease (released after); null when another replica polls. */
  async pollOnceAsPoller(signal?: AbortSignal): Promise<{ poller: boolean; poll: PollResult | null }> {
    // With PostgreSQL, a one-off sync next to running replicas leaves polling to the poller replica.
    const poller = (await this.#renewLease()) !== false;
    if (!poller) {
      this.#log.info('another replica holds the poller lease; downloading what is queued without polling');
      return { poller, poll: null };
    }
    const poll = await this.poll(signal);
    await this.#releaseLease();
    return { poller, poll };
  }

  /** `run`: poll now when this process is the poller, then on the schedule; the lease is kept renewed. `signal` aborts polls (shutdown). */
  async start(signal: AbortSignal): Promise<void> {
    if (await this.#renewLease()) void this.poll(signal);
    const lease = repeat(
      () => {
        void this.#renewLease().then((tookOver) => {
          if (tookOver === 'acquired' && this.#live) void this.poll(signal);
        });
      },
      () => Math.max(250, Math.floor(this.#settings.pollerLeaseMs / 3)),
    );
    this.#live = { task: this.#schedule(), lease, signal };
  }

  /** Poll now if the daemon runs and this process is the poller (a scheduled tick, or credentials work again). */
  tick(): void {
    if (this.#live && this.#isPoller) void this.poll(this.#live.signal);
  }

  /**
   * Poll now, outside the schedule (the status page's "poll now"). 'started' (or 'running': one is
   * already under way) on the poller replica; 'not_poller' when another replica polls; 'stopped'
   * when the daemon is not running.
   */
  requestPoll(): 'started' | 'running' | 'not_poller' | 'stopped' {
    if (!this.#live) return 'stopped';
    if (!this.#isPoller) return 'not_poller';
    if (this.#running) return 'running';
    this.tick();
    return 'started';
  }

  /** No new polls: the schedule and the lease renewal stop (the caller then aborts the running poll). */
  async stop(): Promise<void> {
    const live = this.#live;
    this.#live = null;
    if (!live) return;
    await live.task.stop();
    await live.task.destroy();
    live.lease.stop();
  }

  /** After stop() and the abort: wait for the running poll, then release the poller lease. */
  async drain(): Promise<void> {
    await this.#running?.catch(() => null);
    await this.#releaseLease();
  }

  /** New settings (reload): a changed schedule or timezone replaces the cron task; the rest apply at the next poll. */
  async apply(next: PollSchedulerSettings): Promise<void> {
    const prev = this.#settings;
    this.#settings = next;
    if (this.#live && (next.schedule !== prev.schedule || next.timezone !== prev.timezone)) {
      const old = this.#live.task;
      this.#live.task = this.#schedule();
      await old.stop();
      await old.destroy();
    }
    if (this.#live && next.pollerLeaseMs !== prev.pollerLeaseMs) this.#live.lease.reschedule();
  }

  #schedule(): ScheduledTask {
    const { schedule, timezone } = this.#settings;
    return cron.schedule(schedule, () => this.tick(), { timezone, noOverlap: true, name: 'constellr-sync-poll', logger: cronLogger(this.#log) });
  }

  #takeRescan(): boolean {
    const r = this.#rescan;
    this.#rescan = false;
    return r;
  }

  /** Take or renew the poller lease; 'acquired' when this call made this process the poller. */
  async #renewLease(): Promise<'acquired' | 'held' | false> {
    const { store, owner } = this.#d.rt;
    const was = this.#isPoller;
    try {
      this.#isPoller = await store.tryAcquirePollerLease(owner, this.#settings.pollerLeaseMs);
    } catch (e) {
      this.#log.warn({ err: e }, 'could not renew the poller lease; will try again');
      return this.#isPoller ? 'held' : false;
    }
    if (this.#isPoller && !was) {
      if (store.backend === 'postgres') this.#log.info({ owner }, 'took over polling (poller lease acquired)');
      return 'acquired';
    }
    if (!this.#isPoller && was) this.#log.warn({ owner }, 'lost the poller lease; another replica polls now');
    return this.#isPoller ? 'held' : false;
  }

  async #releaseLease(): Promise<void> {
    if (!this.#isPoller) return;
    this.#isPoller = false;
    const { store, owner } = this.#d.rt;
    await store.releasePollerLease(owner).catch((e: unknown) => this.#log.warn({ err: e }, 'could not release the poller lease'));
  }
}

/** node-cron's log lines at our levels (its info is our debug). */
export function cronLogger(log: Logger) {
  return {
    info: (m: string) => log.debug({ component: 'cron' }, m),
    warn: (m: string) => log.info({ component: 'cron' }, m),
    error: (m: string | Error, err?: Error) => log.error({ component: 'cron', err: err ?? m }, 'scheduler error'),
    debug: (m: string | Error) => log.debug({ component: 'cron' }, String(m)),
  };
}
