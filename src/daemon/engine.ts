// The engine ties poller, gate and worker pool together for both modes: `sync` (one cycle, drain,
// exit) and `run` (poll on a schedule, workers drain continuously, stop on request).
import cron, { type ScheduledTask } from 'node-cron';
import { SyncError, TOKEN_ENDPOINT_MISSING, classifyError, isUnreachable } from '../errors.js';
import { createFreeSpaceProbe, freeBytes } from '../lib/disk.js';
import type { Logger } from '../lib/logger.js';
import { BandwidthLimiter } from '../sync/bandwidth.js';
import { Gate, breakerSettings } from '../sync/gate.js';
import { pollOnce, type PollResult } from '../sync/poller.js';
import { oneShotUnreachable } from '../sync/listing.js';
import { watchOutage } from '../sync/outage.js';
import { WorkerPool, type PoolStats } from '../sync/pool.js';
import { sweepStaging } from '../sync/sweeper.js';
import { repeat, timerDelay, type Repeater } from '../lib/timers.js';
import type { WorkerEvents } from '../sync/worker.js';
import type { AssetFilter } from '../config/filters.js';
import { reconcileOnce, type ReconcileResult } from '../sync/reconcile.js';
import { DEFAULT_LAYOUT, probeNameRules, type MirrorLayoutSettings } from '../mirror/layout.js';
import type { Runtime } from './runtime.js';
import { openCatalog } from './catalog.js';
import type { StacCatalog } from '../mirror/stac-catalog.js';
import { clearCatalogTmp } from '../mirror/stac-files.js';

export interface EngineOptions {
  mode: 'continuous' | 'drain';
  events?: WorkerEvents;
  /** Stop claiming new downloads once this returns true (transfer caps). */
  shouldStopClaiming?: () => boolean;
  /** The first poll lists everything from sync.since, ignoring the HWM (`sync --rescan`). */
  rescan?: boolean;
  /** How often paused conditions (disk space, credentials) are re-checked. */
  probeIntervalMs?: number;
  /** Replaces the limiter built from sync.bandwidth (tests inject clock and sleep this way). */
  bandwidth?: BandwidthLimiter;
  /** Every finished poll (metrics, readiness); aborted polls are not reported. */
  onPoll?: (r: PollReport) => void;
}

/** What onPoll hears about one poll. */
export interface PollReport {
  ok: boolean;
  at: number;
  durationMs: number;
  errorClass?: string;
  errorKind?: string;
}

export interface SyncSummary {
  poll: PollResult | null;
  pollError: SyncError | null;
  stats: PoolStats;
  durationMs: number;
  /** The API rejected the credentials during this cycle (exit 3). */
  authFailed?: boolean;
  /** The API stayed down past sync.outageDeadline and the cycle gave up (exit 3). */
  outage?: { sinceMs: number; deadlineMs: number } | null;
}

export class Engine {
  readonly rt: Runtime;
  readonly gate: Gate;
  readonly pool: WorkerPool;
  /** The global bandwidth limit (sync.bandwidth); every downloaded chunk passes it. */
  readonly bandwidth: BandwidthLimiter;
  readonly #log: Logger;
  readonly #onPoll: ((r: PollReport) => void) | undefined;
  #cronTask: ScheduledTask | null = null;
  #pollTick: (() => void) | null = null;
  #pollRunning: Promise<PollResult | null> | null = null;
  lastPoll: { ok: boolean; at: number; result?: PollResult; error?: SyncError } | null = null;
  authFailed = false;

  readonly #mode: EngineOptions['mode'];
  /** Filters (include/exclude, sizes, since): what polls and reconciles queue. Replaced on reload (SIGHUP). */
  filter: AssetFilter;
  /** Mirror layout settings; `fs` is filled in by the start-up probe. */
  readonly layout: MirrorLayoutSettings;
  #rescan: boolean;
  #reconcileRunning: Promise<ReconcileResult | null> | null = null;
  #reconcileTask: ScheduledTask | null = null;
  lastReconcile: { ok: boolean; at: number; result?: ReconcileResult; error?: SyncError } | null = null;

  /** The mirror's STAC catalogue writer (source: stac, stac.catalog); null otherwise. */
  readonly catalog: StacCatalog | null;

  constructor(rt: Runtime, o: EngineOptions) {
    this.rt = rt;
    this.catalog = openCatalog(rt);
    this.#mode = o.mode;
    this.#log = rt.logger;
    this.#onPoll = o.onPoll;
    const cfg = rt.config;
    this.gate = new Gate({
      logger: rt.logger,
      clock: rt.clock,
      probeIntervalMs: o.probeIntervalMs ?? 5000,
      // Rejected credentials are retried slowly (sync.authRetryInterval), never in a storm.
      probeIntervals: { auth_failed: cfg.sync.authRetryInterval },
      breaker: breakerSettings({ concurrency: cfg.sync.concurrency, breakerPauseMs: cfg.sync.breakerPause, maxRetryAfterMs: cfg.api.maxRetryAfter }),
      probes: {
        disk_full: async () => (await freeBytes(rt.root)) > this.#diskNeeded,
        auth_failed: async () => {
          try {
            await rt.tokens.renew(null);
            this.authFailed = false;
            // A fresh poll records the recovery in the state (status clears auth_failed).
            this.#pollTick?.();
            return true;
          } catch {
            return false;
          }
        },
      },
    });
    this.filter = cfg.filter;
    this.#rescan = o.rescan ?? false;
    this.layout = {
      fs: { ...DEFAULT_LAYOUT.fs, caseInsensitive: cfg.mirror.caseSensitivity === 'insensitive', normalizationInsensitive: cfg.mirror.caseSensitivity === 'insensitive' },
      caseConflict: cfg.mirror.caseConflict,
      keepPreviousVersions: cfg.mirror.keepPreviousVersions,
      versionsDir: cfg.mirror.versionsDir,
    };
    const userEvents = o.events ?? {};
    this.bandwidth = o.bandwidth ?? new BandwidthLimiter({ timetable: cfg.sync.bandwidth, timeZone: cfg.sync.timezone, clock: rt.clock });
    const limiter = this.bandwidth;
    const events: WorkerEvents = {
      ...userEvents,
      // Listeners (caps, progress, metrics) hear of bytes once they passed the limit.
      onBytes: async (n, job) => {
        await limiter.take(n);
        await userEvents.onBytes?.(n, job);
      },
      onRateLimited: (ms) => {
        this.gate.pauseFor('rate_limited', ms);
        userEvents.onRateLimited?.(ms);
      },
      onDiskFull: (job, needed) => {
        this.#diskNeeded = needed;
        this.gate.closeUntilCleared('disk_full', { key: job.key, neededBytes: needed });
        // One cycle (`sync`) does not wait for an operator to free space: it ends, the job stays queued.
        if (o.mode === 'drain') this.pool.stopClaiming();
        userEvents.onDiskFull?.(job, needed);
      },
      onAuthRejected: (e) => this.#authRejected(e),
      onOutcome: (job, outcome, error) => {
        // The catalogue writer rebuilds the item once all its assets are done (one writer, serialised).
        if (this.catalog) {
          this.catalog.noteKey(job.key);
          this.catalog.kick();
        }
        userEvents.onOutcome?.(job, outcome, error);
      },
    };
    this.pool = new WorkerPool(
      {
        api: rt.api,
        store: rt.store,
        root: rt.root,
        logger: rt.logger,
        clock: rt.clock,
        activeStaging: new Set(),
        freeSpace: createFreeSpaceProbe(rt.root, 1000, rt.clock),
        events,
        settings: {
          leaseMs: cfg.sync.leaseDuration,
          quickRetries: cfg.sync.quickRetries,
          backoff: { baseMs: cfg.sync.retryBaseDelay, maxMs: cfg.sync.retryMaxDelay, maxRetryAfterMs: cfg.api.maxRetryAfter },
          freeSpaceReserve: cfg.mirror.freeSpaceReserve,
          minDownloadRate: cfg.api.minDownloadRate,
          layout: this.layout,
          sharedStaging: rt.store.backend === 'postgres',
        },
      },
      this.gate,
      {
        concurrency: cfg.sync.concurrency,
        mode: o.mode,
        order: cfg.sync.order,
        owner: rt.owner,
        // At least a few seconds, so short deferrals (a partial busy in another worker) are waited for.
        drainHorizonMs: Math.max(5_000, Math.min(cfg.sync.retryMaxDelay, 2 * 60_000)),
        shouldStopClaiming: o.shouldStopClaiming,
      },
    );
  }

  #diskNeeded = 0;

  #authRejected(e: SyncError): void {
    if (!this.authFailed) {
      const why = e.code === TOKEN_ENDPOINT_MISSING ? 'there is no token endpoint at api.url' : 'the API rejected the credentials';
      const what = `${why}; ${this.#mode === 'drain' ? 'stopping' : 'pausing (status: auth_failed) and retrying slowly'}`;
      this.#log.error({ err: e.message, retryEveryMs: this.rt.config.sync.authRetryInterval }, what);
      // Recorded in the state so `status` shows auth_failed even when a download (not a poll) saw it.
      void this.rt.store.failPoll(e.message, e.errorClass, this.rt.clock()).catch(() => undefined);
    }
    this.authFailed = true;
    // One cycle (`sync`) ends instead of waiting; it exits 3.
    if (this.#mode === 'drain') this.pool.stopClaiming();
    this.rt.tokens.clear();
    this.gate.closeUntilCleared('auth_failed');
  }

  /** Start-up recovery: jobs left running by a dead process, and stale partials. */
  async recover(): Promise<void> {
    const n = await this.rt.store.requeueOrphans(this.rt.clock());
    if (n > 0) this.#log.warn({ jobs: n }, 'requeued downloads interrupted by a previous crash');
    await sweepStaging(this.rt.root, this.rt.store, this.#log);
    if (this.catalog) {
      // A writer that died left temporary files and maybe items not yet (re)written: look at all.
      await clearCatalogTmp(this.rt.root);
      await this.catalog.markAll();
      this.catalog.kick();
    }
    if (this.rt.config.mirror.caseSensitivity === 'auto') {
      // How does the mirror's filesystem compare names? Decides case_conflict detection.
      this.layout.fs = await probeNameRules(this.rt.root);
      if (this.layout.fs.caseInsensitive || this.layout.fs.normalizationInsensitive) this.#log.info({ ...this.layout.fs }, 'the mirror filesystem does not distinguish some names; case twins are handled by mirror.caseConflict');
    }
  }

  /** One poll; never two at once. Errors are recorded, logged, and returned as null. */
  poll(signal?: AbortSignal): Promise<PollResult | null> {
    if (this.#pollRunning) {
      this.#log.info('previous poll still running; skipping this tick');
      return this.#pollRunning;
    }
    const cfg = this.rt.config;
    const pollStarted = this.rt.clock();
    this.#pollRunning = pollOnce({
      api: this.rt.api,
      store: this.rt.store,
      logger: this.#log,
      clock: this.rt.clock,
      signal,
      settings: { pageSize: cfg.api.pageSize, lookbackMs: cfg.sync.lookback, sinceMs: cfg.sync.since, pageRetries: cfg.sync.quickRetries + 2, full: this.#takeRescan(), unreachable: this.#failFast(), maxPages: cfg.sync.maxListingPages },
      accept: this.filter.isAll ? undefined : this.filter,
      onPage: () => this.pool.wake(),
      onRateLimited: (ms) => this.gate.pauseFor('rate_limited', ms),
      recordItems: this.catalog ? (records) => this.catalog!.record(records) : undefined,
    })
      .then(async (r) => {
        // Which source listed and how (status shows the strategy and why).
        await this.rt.store.setSourceInfo(JSON.stringify(this.rt.api.describe())).catch((e: unknown) => this.#log.warn({ err: e }, 'could not record the source info'));
        this.lastPoll = { ok: true, at: this.rt.clock(), result: r };
        this.#onPoll?.({ ok: true, at: this.lastPoll.at, durationMs: r.durationMs });
        if (this.authFailed) {
          this.authFailed = false;
          this.gate.clear('auth_failed');
        }
        return r;
      })
      .catch((err: unknown) => {
        const e = classifyError(err, 'poll');
        this.lastPoll = { ok: false, at: this.rt.clock(), error: e };
        if (e.kind !== 'aborted')
          this.#onPoll?.({ ok: false, at: this.lastPoll.at, durationMs: this.lastPoll.at - pollStarted, errorClass: e.errorClass, errorKind: e.kind });
        if (e.kind === 'auth_rejected') this.#authRejected(e);
        else if (e.kind !== 'aborted') this.#log.error({ errorClass: e.errorClass, status: e.status, err: e.message }, 'poll failed; the high-water mark was not moved');
        return null;
      })
      .finally(() => {
        this.#pollRunning = null;
      });
    return this.#pollRunning;
  }

  /** `sync`: poll while workers already download, then drain what is due. `signal` stops the poll (shutdown). */
  async syncOnce(signal?: AbortSignal): Promise<SyncSummary> {
    const started = this.rt.clock();
    await this.recover();
    let pollDone = false;
    this.pool.setPollDone(() => pollDone);
    const workers = this.pool.start();
    const { outageDeadline: deadlineMs, gracePeriod: graceMs } = this.rt.config.sync;
    const outage = watchOutage({ gate: this.gate, pool: this.pool, clock: this.rt.clock, logger: this.#log, deadlineMs, graceMs });
    // With PostgreSQL, a one-off sync next to running replicas leaves polling to the poller replica.
    const poller = await this.#renewPollerLease();
    if (!poller) this.#log.info('another replica holds the poller lease; downloading what is queued without polling');
    const poll = poller ? await this.poll(signal) : null;
    if (poller) await this.#releasePollerLease();
    pollDone = true;
    this.pool.wake();
    const pollError = poll === null ? (this.lastPoll?.error ?? null) : null;
    if (pollError && isUnreachable(pollError)) {
      await this.pool.stop(this.rt.config.sync.gracePeriod);
    }
    await workers;
    outage.stop();
    this.gate.close();
    // `sync` ends with the catalogue written for everything that is done.
    await this.catalog?.flush().catch((e: unknown) => this.#log.error({ err: e }, 'could not write the STAC catalogue'));
    // Partials of versions this poll replaced (nothing is in flight now): `sync` leaves no stale partial.
    await sweepStaging(this.rt.root, this.rt.store, this.#log).catch((e: unknown) => this.#log.warn({ err: e }, 'staging sweep failed'));
    return { poll, pollError, stats: this.pool.stats, durationMs: this.rt.clock() - started, authFailed: this.authFailed, outage: outage.gaveUp() };
  }

  /** `run`: returns a handle whose stop() shuts down gracefully. */
  async start(): Promise<{ stop(): Promise<void>; forceStop(): void; done: Promise<void> }> {
    const cfg = this.rt.config;
    await this.recover();
    const pollAbort = new AbortController();
    const workers = this.pool.start();
    // Exactly one replica polls: the holder of the poller lease (always this process with SQLite).
    // The lease is renewed every third of its length; a replica that takes it over polls at once.
    const leaseMs = cfg.state.pollerLease;
    if (await this.#renewPollerLease()) void this.poll(pollAbort.signal);
    const leaseTimer = repeat(
      () => {
        void this.#renewPollerLease().then((tookOver) => {
          if (tookOver === 'acquired' && this.#pollTick) void this.poll(pollAbort.signal);
        });
      },
      () => Math.max(250, Math.floor(leaseMs / 3)),
    );
    const unsubscribe = this.rt.store.onJobsAvailable(() => this.pool.wake());
    this.#pollTick = () => {
      if (this.#isPoller) void this.poll(pollAbort.signal);
    };
    this.#cronTask = this.#schedule(cfg.sync.schedule, cfg.sync.timezone);
    if (cfg.sync.reconcileSchedule !== 'off') {
      this.#reconcileTask = cron.schedule(cfg.sync.reconcileSchedule, () => void this.reconcile(pollAbort.signal), {
        timezone: cfg.sync.timezone,
        noOverlap: true,
        name: 'constellr-sync-reconcile',
        logger: cronLogger(this.#log),
      });
    }
    // Every half lease (re-read after a reload of sync.leaseDuration: see rescheduleTimers).
    const maintenance = repeat(() => {
      void (async () => {
        const now = this.rt.clock();
        const n = await this.rt.store.sweepExpiredLeases(now);
        if (n > 0) this.#log.warn({ jobs: n }, 'requeued jobs whose lease expired (hung worker)');
        await sweepStaging(this.rt.root, this.rt.store, this.#log, this.pool.activeStagingNames());
        // Items whose write failed (or another replica completed) are tried again.
        this.catalog?.kick();
        // Rejected credentials are retried slowly by the gate's auth_failed probe, not here.
      })().catch((e: unknown) => this.#log.error({ err: e }, 'maintenance failed'));
    }, () => Math.max(1000, Math.floor(this.rt.config.sync.leaseDuration / 2)));
    this.#timers.push(maintenance);
    let stopping: Promise<void> | null = null;
    const stop = () => {
      stopping ??= (async () => {
        this.#log.info({ graceMs: cfg.sync.gracePeriod, inFlight: this.pool.active }, 'shutting down: no new polls or claims');
        const task = this.#cronTask;
        this.#cronTask = null;
        this.#pollTick = null;
        await task?.stop();
        await task?.destroy();
        maintenance.stop();
        const rtask = this.#reconcileTask;
        this.#reconcileTask = null;
        await rtask?.stop();
        await rtask?.destroy();
        leaseTimer.stop();
        unsubscribe();
        pollAbort.abort();
        await this.#pollRunning?.catch(() => null);
        await this.#releasePollerLease();
        this.bandwidth.close();
        // A reconcile still writing (marks, deletions) finishes before the store is closed, within
        // the same grace period as the downloads in flight.
        await Promise.all([this.#waitForReconcile(this.rt.config.sync.gracePeriod), this.pool.stop(this.rt.config.sync.gracePeriod)]);
        this.gate.close();
        // What the drained workers finished reaches the catalogue before the process ends.
        await this.catalog?.flush().catch((e: unknown) => this.#log.error({ err: e }, 'could not write the STAC catalogue'));
      })();
      return stopping;
    };
    return {
      stop,
      forceStop: () => this.pool.abortInFlight(),
      done: workers,
    };
  }

  #isPoller = false;

  /**
   * Poll now, outside the schedule (the status page's "poll now"). 'started' (or 'running': one is
   * already under way) on the poller replica; 'not_poller' when another replica polls; 'stopped'
   * when the daemon is not running.
   */
  requestPoll(): 'started' | 'running' | 'not_poller' | 'stopped' {
    if (!this.#pollTick) return 'stopped';
    if (!this.#isPoller) return 'not_poller';
    if (this.#pollRunning) return 'running';
    this.#pollTick();
    return 'started';
  }

  /** Wait for a running reconcile, at most graceMs; false when it was still running then. */
  async #waitForReconcile(graceMs: number): Promise<boolean> {
    const running = this.#reconcileRunning;
    if (!running) return true;
    this.#log.info({ graceMs }, 'shutting down: waiting for the running reconcile');
    let timer: NodeJS.Timeout | undefined;
    const over = new Promise<'timeout'>((r) => {
      timer = setTimeout(() => r('timeout'), timerDelay(graceMs));
    });
    const first = await Promise.race([running.then(() => 'done' as const), over]);
    clearTimeout(timer);
    if (first === 'timeout') this.#log.warn({ graceMs }, 'grace period over; the reconcile is still running and is abandoned (nothing it had not committed counts; the next reconcile redoes it)');
    return first === 'done';
  }
  readonly #timers: Repeater[] = [];

  /** The configuration changed (reload): periodic timers re-read their intervals now. */
  rescheduleTimers(): void {
    for (const t of this.#timers) t.reschedule();
  }

  /** Whether this process is the poller now. */
  get isPoller(): boolean {
    return this.#isPoller;
  }

  /** Take or renew the poller lease; 'acquired' when this call made this process the poller. */
  async #renewPollerLease(): Promise<'acquired' | 'held' | false> {
    const was = this.#isPoller;
    try {
      this.#isPoller = await this.rt.store.tryAcquirePollerLease(this.rt.owner, this.rt.config.state.pollerLease);
    } catch (e) {
      this.#log.warn({ err: e }, 'could not renew the poller lease; will try again');
      return this.#isPoller ? 'held' : false;
    }
    if (this.#isPoller && !was) {
      if (this.rt.store.backend === 'postgres') this.#log.info({ owner: this.rt.owner }, 'took over polling (poller lease acquired)');
      return 'acquired';
    }
    if (!this.#isPoller && was) this.#log.warn({ owner: this.rt.owner }, 'lost the poller lease; another replica polls now');
    return this.#isPoller ? 'held' : false;
  }

  async #releasePollerLease(): Promise<void> {
    if (!this.#isPoller) return;
    this.#isPoller = false;
    await this.rt.store.releasePollerLease(this.rt.owner).catch((e: unknown) => this.#log.warn({ err: e }, 'could not release the poller lease'));
  }

  /** One cycle (`sync`) reports an unreachable API within seconds; `run` retries at each poll. */
  #failFast(): { attempts: number; afterMs: number } | undefined {
    return this.#mode === 'drain' ? oneShotUnreachable(this.rt.config.api.connectTimeout) : undefined;
  }

  #takeRescan(): boolean {
    const r = this.#rescan;
    this.#rescan = false;
    return r;
  }

  /** One full reconciliation listing; never two at once. Errors are logged and returned as null. */
  reconcile(signal?: AbortSignal, override: { maxDelete?: { count: number } | { percent: number } } = {}): Promise<ReconcileResult | null> {
    if (this.#reconcileRunning) {
      this.#log.info('previous reconcile still running; skipping');
      return this.#reconcileRunning;
    }
    const cfg = this.rt.config;
    this.#reconcileRunning = reconcileOnce({
      api: this.rt.api,
      store: this.rt.store,
      logger: this.#log,
      clock: this.rt.clock,
      root: this.rt.root,
      signal,
      accept: this.filter.isAll ? undefined : this.filter,
      onPage: () => this.pool.wake(),
      recordItems: this.catalog ? (records) => this.catalog!.record(records) : undefined,
      beforeRemove: this.catalog ? (jobs) => this.catalog!.beforeRemove(jobs) : undefined,
      settings: {
        pageSize: cfg.api.pageSize,
        pageRetries: cfg.sync.quickRetries + 2,
        deletePolicy: cfg.mirror.deletePolicy,
        maxDelete: override.maxDelete ?? cfg.mirror.maxDelete,
        unreachable: this.#failFast(),
        maxPages: cfg.sync.maxListingPages,
      },
    })
      .then(async (r) => {
        // Items whose assets were deleted leave the catalogue (their collection's extent follows).
        await this.catalog?.flush().catch((e: unknown) => this.#log.error({ err: e }, 'could not write the STAC catalogue'));
        this.lastReconcile = { ok: true, at: this.rt.clock(), result: r };
        return r;
      })
      .catch((err: unknown) => {
        const e = classifyError(err, 'reconcile');
        this.lastReconcile = { ok: false, at: this.rt.clock(), error: e };
        if (e.kind === 'auth_rejected') this.#authRejected(e);
        return null;
      })
      .finally(() => {
        this.#reconcileRunning = null;
      });
    return this.#reconcileRunning;
  }

  #schedule(expression: string, timezone: string): ScheduledTask {
    return cron.schedule(expression, () => this.#pollTick?.(), {
      timezone,
      noOverlap: true,
      name: 'constellr-sync-poll',
      logger: cronLogger(this.#log),
    });
  }

  /** Replace the poll schedule of a running daemon (reload). Throws on an invalid expression. */
  async reschedule(expression: string, timezone: string): Promise<void> {
    if (!this.#pollTick) return;
    if (!cron.validate(expression)) throw new Error(`invalid cron expression "${expression}"`);
    const next = this.#schedule(expression, timezone);
    const old = this.#cronTask;
    this.#cronTask = next;
    await old?.stop();
    await old?.destroy();
  }
}

function cronLogger(log: Logger) {
  return {
    info: (m: string) => log.debug({ component: 'cron' }, m),
    warn: (m: string) => log.info({ component: 'cron' }, m),
    error: (m: string | Error, err?: Error) => log.error({ component: 'cron', err: err ?? m }, 'scheduler error'),
    debug: (m: string | Error) => log.debug({ component: 'cron' }, String(m)),
  };
}
