// The engine is the coordinator of one process's sync work, for both modes: `sync` (one cycle,
// drain, exit) and `run` (poll on a schedule, workers drain continuously, stop on request). It wires
// the claim gate, the worker pool, the poll scheduler, the reconcile scheduler and maintenance, starts and
// stops them, and is the one place a new configuration enters (reload).
import { isUnreachable, type SyncError } from '../errors.js';
import type { Config } from '../config/load.js';
import { createFreeSpaceProbe, freeBytes } from '../lib/disk.js';
import type { Logger } from '../lib/logger.js';
import { DEFAULT_LAYOUT, type MirrorLayoutSettings } from '../mirror/layout.js';
import type { StacCatalog } from '../mirror/stac-catalog.js';
import { BandwidthLimiter } from '../sync/bandwidth.js';
import { Gate, breakerSettings, type GateOptions } from '../sync/gate.js';
import { watchOutage, type OutageGiveUp } from '../sync/outage.js';
import { StoreOutage } from '../sync/store-outage.js';
import type { PollResult } from '../sync/poller.js';
import { WorkerPool, type PoolOptions, type PoolStats } from '../sync/pool.js';
import type { MaxDelete, ReconcileResult } from '../sync/reconcile-listing.js';
import type { WorkerContext, WorkerEvents } from '../sync/worker.js';
import { AuthState } from './auth-state.js';
import { openCatalog } from './catalog.js';
import { Maintenance } from './maintenance.js';
import { ReconcileScheduler, reconcileSchedulerSettingsOf, type LastReconcile } from './reconcile-scheduler.js';
import type { Runtime } from './runtime.js';
import { PollScheduler, pollSchedulerSettingsOf, type LastPoll, type PollReport } from './poll-scheduler.js';
import { STATE_SERVER_RETRY_MS, stateFullHandler, stateHasRoom } from './state-full.js';

export type { PollReport } from './poll-scheduler.js';

export interface EngineOptions {
  mode: 'continuous' | 'drain';
  events?: WorkerEvents;
  /** Stop claiming new downloads once this returns true (transfer caps). */
  shouldStopClaiming?: () => boolean;
  /** The first poll lists everything from sync.since, ignoring the HWM (`sync --rescan`). */
  rescan?: boolean;
  /** How often paused conditions (disk space, credentials) are re-checked. */
  probeIntervalMs?: number;
  /** How often writes to a full PostgreSQL server are tried again (default STATE_SERVER_RETRY_MS). */
  stateServerRetryMs?: number;
  /** Replaces the limiter built from sync.bandwidth (tests inject clock and sleep this way). */
  bandwidth?: BandwidthLimiter;
  /** Every finished poll (metrics, readiness); aborted polls are not reported. */
  onPoll?: (r: PollReport) => void;
  /** How often a lasting database outage is summarised (default STORE_OUTAGE_SUMMARY_MS, 30 s). */
  storeOutageSummaryMs?: number;
}

export interface SyncSummary {
  poll: PollResult | null;
  pollError: SyncError | null;
  stats: PoolStats;
  durationMs: number;
  /** The API rejected the credentials during this cycle (exit 3). */
  authFailed?: boolean;
  /** The API (exit 3) or the state database (exit 6) stayed down past sync.outageDeadline and the cycle gave up. */
  outage?: OutageGiveUp | null;
}

/** The handle of a running daemon (`run`). */
export interface RunningEngine {
  /** Graceful: no new polls or claims; in-flight work finishes within sync.gracePeriod. */
  stop(): Promise<void>;
  /** Forceful: abort in-flight downloads now (their partials stay, their jobs are released). */
  forceStop(): void;
  /** Settles when every worker loop has ended. */
  done: Promise<void>;
}

type ReloadableWorkerSettings = Pick<WorkerContext['settings'], 'leaseMs' | 'quickRetries' | 'backoff' | 'freeSpaceReserve' | 'minDownloadRate' | 'rangedThreshold' | 'rangedStreams'>;

/** The worker settings a reload may change (the rest are fixed at start). */
function workerSettingsOf(cfg: Config): ReloadableWorkerSettings {
  return {
    leaseMs: cfg.sync.leaseDuration,
    quickRetries: cfg.sync.quickRetries,
    backoff: { baseMs: cfg.sync.retryBaseDelay, maxMs: cfg.sync.retryMaxDelay, maxRetryAfterMs: cfg.api.maxRetryAfter },
    freeSpaceReserve: cfg.mirror.freeSpaceReserve,
    minDownloadRate: cfg.api.minDownloadRate,
    rangedThreshold: cfg.sync.rangedThreshold,
    rangedStreams: cfg.sync.rangedStreams,
  };
}

/** Mirror layout settings; `fs` is filled in by the start-up probe. */
function layoutSettingsOf(cfg: Config): MirrorLayoutSettings {
  const insensitive = cfg.mirror.caseSensitivity === 'insensitive';
  return {
    fs: { ...DEFAULT_LAYOUT.fs, caseInsensitive: insensitive, normalizationInsensitive: insensitive },
    caseConflict: cfg.mirror.caseConflict,
    keepPreviousVersions: cfg.mirror.keepPreviousVersions,
    versionsDir: cfg.mirror.versionsDir,
    // The catalog's names are reserved whether or not stac.catalog is on, so turning it on is safe.
    names: cfg.source === 'stac' ? 'stac' : 'plain',
  };
}

function poolOptionsOf(cfg: Config, owner: string, o: EngineOptions): PoolOptions {
  return {
    concurrency: cfg.sync.concurrency,
    mode: o.mode,
    order: cfg.sync.order,
    owner,
    // At least a few seconds, so short deferrals (a partial busy in another worker) are waited for.
    drainHorizonMs: Math.max(5_000, Math.min(cfg.sync.retryMaxDelay, 2 * 60_000)),
    shouldStopClaiming: o.shouldStopClaiming,
  };
}

export class Engine {
  readonly rt: Runtime;
  readonly gate: Gate;
  readonly pool: WorkerPool;
  /** The global bandwidth limit (sync.bandwidth); every downloaded chunk passes it. */
  readonly bandwidth: BandwidthLimiter;
  /** The mirror's STAC catalog writer (source: stac, stac.catalog); null otherwise. */
  readonly catalog: StacCatalog | null;
  /** Whether the API rejects the credentials now: set by polls, downloads and reconciles, cleared by the gate's probe. */
  readonly auth: AuthState;
  /** The state database out of reach: the workers wait at the gate, a summary now and then (store-outage.ts). */
  readonly storeOutage: StoreOutage;
  readonly #log: Logger;
  readonly #mode: EngineOptions['mode'];
  /** Polls on sync.schedule (run) or once (sync), by the holder of the poller lease. */
  readonly #polls: PollScheduler;
  /** Reconciles on sync.reconcileSchedule or on request, never two at once. */
  readonly #reconciles: ReconcileScheduler;
  readonly #maintenance: Maintenance;
  /** Mirror layout settings; `fs` is filled in by the start-up probe. */
  readonly #layout: MirrorLayoutSettings;
  /** The configuration in force: the runtime's, then each reload's. */
  #config: Config;
  #diskNeeded = 0;

  constructor(rt: Runtime, o: EngineOptions) {
    const cfg = rt.config;
    this.rt = rt;
    this.#config = cfg;
    this.#mode = o.mode;
    this.#log = rt.logger;
    this.catalog = openCatalog(rt);
    this.gate = new Gate(this.#gateOptions(o.probeIntervalMs ?? 5000, o.stateServerRetryMs ?? STATE_SERVER_RETRY_MS));
    this.storeOutage = new StoreOutage({
      gate: this.gate,
      logger: rt.logger,
      clock: rt.clock,
      workersWaiting: () => Math.max(0, this.pool.concurrency - this.pool.active),
      ping: () => rt.store.nextRunAt(),
      summaryEveryMs: o.storeOutageSummaryMs,
    });
    // A full state disk pauses like a full mirror; one cycle (`sync`) ends instead of waiting.
    const pausedBy = stateFullHandler({
      gate: this.gate,
      stateDir: cfg.state.dir,
      onPause: () => {
        if (o.mode === 'drain') this.pool.stopClaiming();
      },
    });
    // One cycle (`sync`) ends instead of waiting for credentials; it exits 3.
    this.auth = new AuthState({ rt, gate: this.gate, mode: o.mode, retryEveryMs: () => this.#config.sync.authRetryInterval, stopClaiming: () => this.pool.stopClaiming() });
    this.#layout = layoutSettingsOf(cfg);
    this.bandwidth = o.bandwidth ?? new BandwidthLimiter({ timetable: cfg.sync.bandwidth, timeZone: cfg.sync.timezone, clock: rt.clock });
    // The claimers (worker loops, the claim window, the lease sweep) also wait out a database out of reach.
    const claimersPausedBy = (e: unknown, context: string) => pausedBy(e, context) || this.storeOutage.handle(e, context);
    this.pool = new WorkerPool(this.#workerContext(o.events ?? {}), this.gate, { ...poolOptionsOf(cfg, rt.owner, o), pausedBy: claimersPausedBy, mirrorShared: rt.store.backend === 'postgres' });
    const { catalog } = this;
    const wake = () => this.pool.wake();
    const onAuthRejected = (e: SyncError) => this.auth.rejected(e);
    this.#polls = new PollScheduler({ rt, settings: pollSchedulerSettingsOf(cfg, o.mode), rescan: o.rescan ?? false, catalog, onPage: wake, onRateLimited: (ms) => this.gate.pauseFor('rate_limited', ms), onPoll: o.onPoll, onSucceeded: () => this.auth.recovered(true), onAuthRejected, pausedBy });
    this.#reconciles = new ReconcileScheduler({ rt, settings: reconcileSchedulerSettingsOf(cfg, o.mode), catalog, onPage: wake, onAuthRejected, pausedBy });
    this.#maintenance = new Maintenance({ rt, settings: { leaseMs: cfg.sync.leaseDuration }, catalog, activeStaging: () => this.pool.activeStagingNames(), pausedBy: claimersPausedBy });
  }

  /** The claim gate: the circuit breaker, and the probes that reopen it once a paused condition cleared. */
  #gateOptions(probeIntervalMs: number, stateServerRetryMs: number): GateOptions {
    const { rt } = this;
    const cfg = rt.config;
    return {
      logger: rt.logger,
      clock: rt.clock,
      probeIntervalMs,
      // Rejected credentials are retried slowly (sync.authRetryInterval), never in a storm.
      // A full PostgreSQL server is tried again by writing (state-full.ts), not every few seconds.
      probeIntervals: { auth_failed: cfg.sync.authRetryInterval, ...(cfg.state.url !== null ? { state_full: stateServerRetryMs } : {}) },
      breaker: breakerSettings({ concurrency: cfg.sync.concurrency, breakerPauseMs: cfg.sync.breakerPause, maxRetryAfterMs: cfg.api.maxRetryAfter }),
      probes: {
        disk_full: async () => (await freeBytes(rt.root)) > this.#diskNeeded,
        // The database answers again (store-outage.ts logs how long it was out).
        store_unavailable: () => this.storeOutage.probe(),
        // Room on the state's filesystem again: the poll that could not be recorded runs at once.
        state_full: async () => {
          if (!(await stateHasRoom(cfg.state.dir, cfg.state.url !== null))) return false;
          this.#polls.tick();
          return true;
        },
        auth_failed: async () => {
          try {
            await rt.tokens.renew(null);
            this.auth.recovered(false);
            // A fresh poll records the recovery in the state (status clears auth_failed).
            this.#polls.tick();
            return true;
          } catch {
            return false;
          }
        },
      },
    };
  }

  /** What every worker of the pool shares. */
  #workerContext(events: WorkerEvents): Omit<WorkerContext, 'shutdownSignal'> {
    const { rt } = this;
    return {
      api: rt.api,
      store: rt.store,
      root: rt.root,
      logger: rt.logger,
      clock: rt.clock,
      activeStaging: new Set(),
      freeSpace: createFreeSpaceProbe(rt.root, 1000, rt.clock),
      events: this.#events(events),
      settings: { ...workerSettingsOf(rt.config), layout: this.#layout, sharedStaging: rt.store.backend === 'postgres' },
    };
  }

  /** The workers' events: the caller's, plus the limiter, the gate and the catalog writer. */
  #events(user: WorkerEvents): WorkerEvents {
    return {
      ...user,
      // Listeners (caps, progress, metrics) hear of bytes once they passed the limit.
      onBytes: async (n, job) => {
        await this.bandwidth.take(n);
        await user.onBytes?.(n, job);
      },
      onRateLimited: (ms) => {
        this.gate.pauseFor('rate_limited', ms);
        user.onRateLimited?.(ms);
      },
      onDiskFull: (job, needed) => {
        this.#diskNeeded = needed;
        this.gate.closeUntilCleared('disk_full', { key: job.key, neededBytes: needed });
        // One cycle (`sync`) does not wait for an operator to free space: it ends, the job stays queued.
        if (this.#mode === 'drain') this.pool.stopClaiming();
        user.onDiskFull?.(job, needed);
      },
      onAuthRejected: (e) => this.auth.rejected(e),
      onOutcome: (job, outcome, error) => {
        // The catalog writer rebuilds the item once all its assets are done (one writer, serialised).
        if (this.catalog) {
          this.catalog.noteKey(job.key);
          this.catalog.kick();
        }
        user.onOutcome?.(job, outcome, error);
      },
    };
  }

  /** The configuration in force (the runtime's, with what reloads applied). */
  get config(): Config {
    return this.#config;
  }

  get lastPoll(): LastPoll | null {
    return this.#polls.last;
  }

  get lastReconcile(): LastReconcile | null {
    return this.#reconciles.last;
  }

  get authFailed(): boolean {
    return this.auth.failed;
  }

  /** Whether this process is the poller now. */
  get isPoller(): boolean {
    return this.#polls.isPoller;
  }

  /** Start-up recovery: jobs left running by a dead process, and stale partials. */
  recover(): Promise<void> {
    return this.#maintenance.recover(this.#layout, this.#config.mirror.caseSensitivity === 'auto');
  }

  /** One poll; never two at once. Errors are recorded, logged, and returned as null. */
  poll(signal?: AbortSignal): Promise<PollResult | null> {
    return this.#polls.poll(signal);
  }

  /** One full reconciliation listing; never two at once. Errors are logged and returned as null. */
  reconcile(signal?: AbortSignal, override: { maxDelete?: MaxDelete } = {}): Promise<ReconcileResult | null> {
    return this.#reconciles.run(signal, override);
  }

  /** Poll now, outside the schedule (the status page's "poll now"): see PollScheduler.requestPoll. */
  requestPoll(): 'started' | 'running' | 'not_poller' | 'stopped' {
    return this.#polls.requestPoll();
  }

  /** `sync`: poll while workers already download, then drain what is due. `signal` stops the poll (shutdown). */
  async syncOnce(signal?: AbortSignal): Promise<SyncSummary> {
    const started = this.rt.clock();
    await this.recover();
    let pollDone = false;
    this.pool.setPollDone(() => pollDone);
    const workers = this.pool.start();
    const { outageDeadline: deadlineMs, gracePeriod: graceMs } = this.#config.sync;
    const outage = watchOutage({ gate: this.gate, pool: this.pool, clock: this.rt.clock, logger: this.#log, deadlineMs, graceMs, storeDownSince: () => this.storeOutage.since });
    const { poll } = await this.#polls.pollOnceAsPoller(signal);
    pollDone = true;
    this.pool.wake();
    const pollError = poll === null ? (this.lastPoll?.error ?? null) : null;
    if (pollError && isUnreachable(pollError)) {
      await this.pool.stop(this.#config.sync.gracePeriod);
    }
    await workers;
    outage.stop();
    this.storeOutage.stop();
    this.gate.close();
    // `sync` ends with the catalog written for everything that is done.
    await this.#writeCatalog();
    // Partials of versions this poll replaced (nothing is in flight now): `sync` leaves no stale partial.
    // Not without the database, which says which partials are stale: the next sync does it.
    if (outage.gaveUp()?.what !== 'store') await this.#maintenance.sweep();
    return { poll, pollError, stats: this.pool.stats, durationMs: this.rt.clock() - started, authFailed: this.auth.failed, outage: outage.gaveUp() };
  }

  /** `run`: returns a handle whose stop() shuts down gracefully. */
  async start(): Promise<RunningEngine> {
    await this.recover();
    const abort = new AbortController();
    const workers = this.pool.start();
    await this.#polls.start(abort.signal);
    const unsubscribe = this.rt.store.onJobsAvailable(() => this.pool.wake());
    this.#reconciles.start(abort.signal);
    this.#maintenance.start();
    let stopping: Promise<void> | null = null;
    const stop = () => {
      stopping ??= (async () => {
        this.#log.info({ graceMs: this.#config.sync.gracePeriod, inFlight: this.pool.active }, 'shutting down: no new polls or claims');
        await this.#polls.stop();
        this.#maintenance.stop();
        await this.#reconciles.stop();
        unsubscribe();
        abort.abort();
        await this.#polls.drain();
        this.bandwidth.close();
        // A reconcile still writing (marks, deletions) finishes before the store is closed, within
        // the same grace period as the downloads in flight.
        const graceMs = this.#config.sync.gracePeriod;
        await Promise.all([this.#reconciles.drain(graceMs), this.pool.stop(graceMs)]);
        this.storeOutage.stop();
        this.gate.close();
        // What the drained workers finished reaches the catalog before the process ends.
        await this.#writeCatalog();
      })();
      return stopping;
    };
    return { stop, forceStop: () => this.pool.abortInFlight(), done: workers };
  }

  /** The catalog and its GeoParquet index, written for everything done; a failure is logged, not thrown. */
  async #writeCatalog(): Promise<void> {
    await this.catalog?.flush().catch((e: unknown) => this.#log.error({ err: e }, 'could not write the STAC catalog'));
    await this.catalog?.flushIndex().catch((e: unknown) => this.#log.error({ err: e }, 'could not write the GeoParquet index'));
  }

  /**
   * The one way a new configuration enters a running engine (SIGHUP; see reload.ts, which decides
   * which keys may change). Each part is handed its new settings; the schedule must be valid
   * (reload.ts checks it), log.level is applied last.
   */
  async reload(next: Config): Promise<void> {
    const prev = this.#config;
    await this.#polls.apply(pollSchedulerSettingsOf(next, this.#mode));
    this.#reconciles.apply(reconcileSchedulerSettingsOf(next, this.#mode));
    if (next.sync.bandwidth !== prev.sync.bandwidth || next.sync.timezone !== prev.sync.timezone) {
      this.bandwidth.setTimetable(next.sync.bandwidth, next.sync.timezone);
    }
    if (next.sync.concurrency !== prev.sync.concurrency) this.pool.setConcurrency(next.sync.concurrency);
    if (next.sync.order !== prev.sync.order) this.pool.setOrder(next.sync.order);
    // Jobs in flight follow too: their heartbeat interval comes from leaseMs.
    this.pool.updateSettings(workerSettingsOf(next));
    // The lease sweep follows sync.leaseDuration, as the heartbeats do.
    this.#maintenance.apply({ leaseMs: next.sync.leaseDuration });
    this.#config = next;
    if (next.log.level !== prev.log.level) this.#log.level = next.log.level;
  }
}
