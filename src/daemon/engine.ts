// The engine ties poller, gate and worker pool together for both modes: `sync` (one cycle, drain,
// exit) and `run` (poll on a schedule, workers drain continuously, stop on request).
import cron from 'node-cron';
import { SyncError, classifyError } from '../api/errors.js';
import { freeBytes } from '../mirror/fs-safe.js';
import type { Logger } from '../ops/logger.js';
import { Gate } from '../sync/gate.js';
import { pollOnce, type PollResult } from '../sync/poller.js';
import { WorkerPool, type PoolStats } from '../sync/pool.js';
import { sweepStaging } from '../sync/sweeper.js';
import type { WorkerEvents } from '../sync/worker.js';
import type { Runtime } from './runtime.js';

export interface EngineOptions {
  mode: 'continuous' | 'drain';
  events?: WorkerEvents;
  /** Stop claiming new downloads once this returns true (transfer caps). */
  shouldStopClaiming?: () => boolean;
  /** How often paused conditions (disk space, credentials) are re-checked. */
  probeIntervalMs?: number;
}

export interface SyncSummary {
  poll: PollResult | null;
  pollError: SyncError | null;
  stats: PoolStats;
  durationMs: number;
}

export class Engine {
  readonly rt: Runtime;
  readonly gate: Gate;
  readonly pool: WorkerPool;
  readonly #log: Logger;
  #pollRunning: Promise<PollResult | null> | null = null;
  lastPoll: { ok: boolean; at: number; result?: PollResult; error?: SyncError } | null = null;
  authFailed = false;

  constructor(rt: Runtime, o: EngineOptions) {
    this.rt = rt;
    this.#log = rt.logger;
    const cfg = rt.config;
    this.gate = new Gate({
      logger: rt.logger,
      clock: rt.clock,
      probeIntervalMs: o.probeIntervalMs ?? 5000,
      breaker: { threshold: Math.max(8, cfg.sync.concurrency * 3), baseMs: 5000, maxMs: 5 * 60_000 },
      probes: {
        disk_full: async () => (await freeBytes(rt.root)) > this.#diskNeeded,
        auth_failed: async () => {
          try {
            await rt.tokens.renew(null);
            this.authFailed = false;
            return true;
          } catch {
            return false;
          }
        },
      },
    });
    const userEvents = o.events ?? {};
    const events: WorkerEvents = {
      ...userEvents,
      onRateLimited: (ms) => {
        this.gate.pauseFor('rate_limited', ms);
        userEvents.onRateLimited?.(ms);
      },
      onDiskFull: (job, needed) => {
        this.#diskNeeded = needed;
        this.gate.closeUntilCleared('disk_full', { key: job.key, neededBytes: needed });
        userEvents.onDiskFull?.(job, needed);
      },
      onAuthRejected: (e) => this.#authRejected(e),
    };
    this.pool = new WorkerPool(
      {
        api: rt.api,
        store: rt.store,
        root: rt.root,
        logger: rt.logger,
        clock: rt.clock,
        activeStaging: new Set(),
        events,
        settings: {
          leaseMs: cfg.sync.leaseDuration,
          quickRetries: cfg.sync.quickRetries,
          backoff: { baseMs: cfg.sync.retryBaseDelay, maxMs: cfg.sync.retryMaxDelay },
          freeSpaceReserve: cfg.mirror.freeSpaceReserve,
          minDownloadRate: cfg.api.minDownloadRate,
        },
      },
      this.gate,
      {
        concurrency: cfg.sync.concurrency,
        mode: o.mode,
        order: cfg.sync.order,
        owner: rt.owner,
        drainHorizonMs: Math.min(cfg.sync.retryMaxDelay, 2 * 60_000),
        shouldStopClaiming: o.shouldStopClaiming,
      },
    );
  }

  #diskNeeded = 0;

  #authRejected(e: SyncError): void {
    if (!this.authFailed) this.#log.error({ err: e.message }, 'the API rejected the credentials; pausing (status: auth_failed) and retrying slowly');
    this.authFailed = true;
    this.rt.tokens.clear();
    this.gate.closeUntilCleared('auth_failed');
  }

  /** Start-up recovery: jobs left running by a dead process, and stale partials. */
  async recover(): Promise<void> {
    const n = await this.rt.store.requeueOrphans(this.rt.clock());
    if (n > 0) this.#log.warn({ jobs: n }, 'requeued downloads interrupted by a previous crash');
    await sweepStaging(this.rt.root, this.rt.store, this.#log);
  }

  /** One poll; never two at once. Errors are recorded, logged, and returned as null. */
  poll(signal?: AbortSignal): Promise<PollResult | null> {
    if (this.#pollRunning) {
      this.#log.info('previous poll still running; skipping this tick');
      return this.#pollRunning;
    }
    const cfg = this.rt.config;
    this.#pollRunning = pollOnce({
      api: this.rt.api,
      store: this.rt.store,
      logger: this.#log,
      clock: this.rt.clock,
      signal,
      settings: { pageSize: cfg.api.pageSize, lookbackMs: cfg.sync.lookback, sinceMs: cfg.sync.since, pageRetries: cfg.sync.quickRetries + 2 },
      onPage: () => this.pool.wake(),
      onRateLimited: (ms) => this.gate.pauseFor('rate_limited', ms),
    })
      .then((r) => {
        this.lastPoll = { ok: true, at: this.rt.clock(), result: r };
        if (this.authFailed) {
          this.authFailed = false;
          this.gate.clear('auth_failed');
        }
        return r;
      })
      .catch((err: unknown) => {
        const e = classifyError(err, 'poll');
        this.lastPoll = { ok: false, at: this.rt.clock(), error: e };
        if (e.kind === 'auth_rejected') this.#authRejected(e);
        else if (e.kind !== 'aborted') this.#log.error({ errorClass: e.errorClass, status: e.status, err: e.message }, 'poll failed; the high-water mark was not moved');
        return null;
      })
      .finally(() => {
        this.#pollRunning = null;
      });
    return this.#pollRunning;
  }

  /** `sync`: poll while workers already download, then drain what is due. */
  async syncOnce(): Promise<SyncSummary> {
    const started = this.rt.clock();
    await this.recover();
    let pollDone = false;
    this.pool.setPollDone(() => pollDone);
    const workers = this.pool.start();
    const poll = await this.poll();
    pollDone = true;
    this.pool.wake();
    const pollError = poll === null ? (this.lastPoll?.error ?? null) : null;
    if (pollError && isUnreachable(pollError)) {
      await this.pool.stop(this.rt.config.sync.gracePeriod);
    }
    await workers;
    this.gate.close();
    return { poll, pollError, stats: this.pool.stats, durationMs: this.rt.clock() - started };
  }

  /** `run`: returns a handle whose stop() shuts down gracefully. */
  async start(): Promise<{ stop(): Promise<void>; forceStop(): void; done: Promise<void> }> {
    const cfg = this.rt.config;
    await this.recover();
    const pollAbort = new AbortController();
    const workers = this.pool.start();
    void this.poll(pollAbort.signal);
    const task = cron.schedule(cfg.sync.schedule, () => this.poll(pollAbort.signal), {
      timezone: cfg.sync.timezone,
      noOverlap: true,
      name: 'constellr-sync-poll',
      logger: cronLogger(this.#log),
    });
    const maintenance = setInterval(() => {
      void (async () => {
        const now = this.rt.clock();
        const n = await this.rt.store.sweepExpiredLeases(now);
        if (n > 0) this.#log.warn({ jobs: n }, 'requeued jobs whose lease expired (hung worker)');
        await sweepStaging(this.rt.root, this.rt.store, this.#log, this.pool.activeStagingNames());
        if (this.authFailed) {
          // retried slowly by the gate's probe; nothing else to do here
        }
      })().catch((e: unknown) => this.#log.error({ err: e }, 'maintenance failed'));
    }, Math.max(1000, Math.floor(cfg.sync.leaseDuration / 2)));
    maintenance.unref();
    let stopping: Promise<void> | null = null;
    const stop = () => {
      stopping ??= (async () => {
        this.#log.info({ graceMs: cfg.sync.gracePeriod, inFlight: this.pool.active }, 'shutting down: no new polls or claims');
        await task.stop();
        await task.destroy();
        clearInterval(maintenance);
        pollAbort.abort();
        await this.pool.stop(cfg.sync.gracePeriod);
        this.gate.close();
      })();
      return stopping;
    };
    return {
      stop,
      forceStop: () => this.pool.abortInFlight(),
      done: workers,
    };
  }
}

export function isUnreachable(e: SyncError): boolean {
  return e.kind === 'auth_rejected' || ['network', 'timeout', 'http_5xx', 'rate_limited'].includes(e.errorClass);
}

function cronLogger(log: Logger) {
  return {
    info: (m: string) => log.debug({ component: 'cron' }, m),
    warn: (m: string) => log.info({ component: 'cron' }, m),
    error: (m: string | Error, err?: Error) => log.error({ component: 'cron', err: err ?? m }, 'scheduler error'),
    debug: (m: string | Error) => log.debug({ component: 'cron' }, String(m)),
  };
}
