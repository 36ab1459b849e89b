// Prometheus metrics (prom-client), all named constellr_sync_<noun>_<unit>, plus the default process
// metrics under their standard names. Each instance has its own Registry, so tests and several engines
// in one process never collide. Gauges that mirror the database (assets by state, high-water mark,
// last poll, oldest queued job) are read from the store at scrape time: the database is the source of
// truth, and a scrape after a restart shows the same values as before it.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { SyncError } from '../errors.js';
import { freeBytes } from '../lib/disk.js';
import type { StatusStore } from '../store/types.js';
import { JOB_STATES, OUTBOX_SINKS } from '../store/types.js';
import type { JobOutcome, WorkerEvents } from '../sync/worker-events.js';
import { completeness, lastPollFailed } from './status/completeness.js';

export const METRIC_PREFIX = 'constellr_sync_';

/** What the scrape-time gauges read. Everything is optional so a registry can exist before the runtime. */
export interface MetricsSources {
  store?: StatusStore;
  /** The mirror root (free bytes of its filesystem). */
  root?: string;
  clock?: () => number;
  /** The live state of the engine: claiming paused (and why), credentials rejected, breaker open. */
  engine?: () => EngineLive;
  /** The configured source and its incremental strategy (constellr_sync_source_info). */
  source?: () => { source: string; strategy: string };
}

/** The live state of the engine the gauges read. */
export interface EngineLive {
  pausedReasons: readonly string[];
  authFailed: boolean;
  breakerOpen: boolean;
  /** This process's STAC catalog writer cannot write the catalog now. */
  catalogFailing?: boolean;
}

/** What constellr_sync_build_info carries. */
export interface BuildInfo {
  version: string;
  backend: string;
  /** What is mirrored: "assets" (the asset API) or another source once configured. */
  source: string;
}

export interface MetricsOptions {
  /** Default process metrics (CPU, memory, event loop lag, handles); on by default. */
  defaultMetrics?: boolean;
}

/** Size buckets from 64 KiB to 64 GiB (factor 4). */
const SIZE_BUCKETS = [65_536, 262_144, 1_048_576, 4_194_304, 16_777_216, 67_108_864, 268_435_456, 1_073_741_824, 4_294_967_296, 17_179_869_184, 68_719_476_736];
const DURATION_BUCKETS = [0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600];
const POLL_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

export class SyncMetrics {
  readonly registry = new Registry();
  #src: MetricsSources = {};

  readonly bytesDownloaded: Counter;
  readonly downloads: Counter<'result'>;
  readonly downloadDuration: Histogram;
  readonly downloadSize: Histogram;
  readonly retries: Counter<'reason'>;
  readonly tokenRenewals: Counter;
  readonly pollDuration: Histogram<'result'>;
  readonly polls: Counter<'result'>;
  readonly notifications: Counter<'sink' | 'result'>;
  readonly hookFailures: Counter<'reason'>;
  readonly buildInfo: Gauge<'version' | 'node' | 'backend' | 'source'>;

  constructor(opts: MetricsOptions = {}) {
    const registers = [this.registry];
    const p = METRIC_PREFIX;
    if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry });

    const self = this;
    new Gauge({
      name: `${p}source_info`,
      help: 'Always 1; the labels name the source (assets or stac) and its incremental strategy',
      labelNames: ['source', 'strategy'],
      registers,
      collect() {
        this.reset();
        const info = self.#src.source?.();
        if (info) this.set({ source: info.source, strategy: info.strategy }, 1);
      },
    });
    new Gauge({
      name: `${p}assets`,
      help: 'Assets known to the state database, by job state (queued, running, done, failed, gone), and deleted_remote (keys a full listing no longer returned; also counted in their state)',
      labelNames: ['state'],
      registers,
      async collect() {
        const store = self.#src.store;
        if (!store) return;
        const [counts, deleted] = await Promise.all([store.counts(), store.remoteDeletedCount()]);
        for (const s of JOB_STATES) this.set({ state: s }, counts[s] ?? 0);
        // A mark on top of the five states: these keys are also counted in their state (done, mostly).
        this.set({ state: 'deleted_remote' }, deleted);
      },
    });
    new Gauge({
      name: `${p}complete`,
      help: 'Whether the mirror is complete (1): a complete poll, the last poll did not fail, nothing queued, running or failed; gone assets (404/410) do not count against it (see assets{state="gone"}); the same definition as status and the status page',
      registers,
      async collect() {
        const store = self.#src.store;
        if (!store) return;
        const [counts, cursor] = await Promise.all([store.counts(), store.getCursor()]);
        this.set(completeness(counts, { pollFinishedAt: cursor.pollFinishedAt, pollFailed: lastPollFailed(cursor) }).complete ? 1 : 0);
      },
    });
    const live = (name: string, help: string, pick: (s: EngineLive) => number) =>
      new Gauge({
        name: `${p}${name}`,
        help,
        registers,
        collect() {
          const e = self.#src.engine?.();
          this.set(e ? pick(e) : 0);
        },
      });
    live('paused', 'Whether claiming new downloads is paused now (1) for any reason: API down, rate limit, disk full, credentials', (s) => (s.pausedReasons.length > 0 ? 1 : 0));
    live('auth_failed', 'Whether the API rejects the credentials now (1): paused, retried every sync.authRetryInterval', (s) => (s.authFailed ? 1 : 0));
    live('catalog_failing', 'Whether the STAC catalog cannot be written now (1): downloads go on, the write is retried (status shows the error and path)', (s) => (s.catalogFailing ? 1 : 0));
    live('breaker_open', 'Whether the circuit breaker is open or half-open now (1): downloads kept failing, the API looks down', (s) => (s.breakerOpen ? 1 : 0));
    this.buildInfo = new Gauge({
      name: `${p}build_info`,
      help: 'Always 1; the labels say which version runs on which Node.js, with which state backend and source',
      labelNames: ['version', 'node', 'backend', 'source'],
      registers,
    });
    this.bytesDownloaded = new Counter({ name: `${p}downloaded_bytes_total`, help: 'Body bytes received from the API (resumed and retried transfers included)', registers });
    this.downloads = new Counter({
      name: `${p}downloads_total`,
      help: 'Finished download attempts by result: done, requeued, retry, failed, gone, released, lost, deferred',
      labelNames: ['result'],
      registers,
    });
    this.downloadDuration = new Histogram({ name: `${p}download_duration_seconds`, help: 'Time from claim to committed file, per completed download', buckets: DURATION_BUCKETS, registers });
    this.downloadSize = new Histogram({ name: `${p}download_size_bytes`, help: 'Size of each completed download', buckets: SIZE_BUCKETS, registers });
    this.retries = new Counter({
      name: `${p}retries_total`,
      help: 'Download retries by reason (error class): quick in-run retries and job-level requeues',
      labelNames: ['reason'],
      registers,
    });
    this.tokenRenewals = new Counter({ name: `${p}token_renewals_total`, help: 'Successful token requests (the first one included)', registers });
    this.pollDuration = new Histogram({ name: `${p}poll_duration_seconds`, help: 'Duration of each poll by result (ok, error)', labelNames: ['result'], buckets: POLL_BUCKETS, registers });
    this.polls = new Counter({ name: `${p}polls_total`, help: 'Polls by result: ok, or the error class of a failed poll', labelNames: ['result'], registers });
    new Gauge({
      name: `${p}last_successful_poll_timestamp_seconds`,
      help: 'Unix time of the last poll that listed every page (0 = never)',
      registers,
      async collect() {
        const store = self.#src.store;
        if (!store) return;
        const c = await store.getCursor();
        this.set(c.pollFinishedAt === null ? 0 : c.pollFinishedAt / 1000);
      },
    });
    new Gauge({
      name: `${p}high_water_mark_timestamp_seconds`,
      help: "The high-water mark: newest server LastModified of a complete poll, at most the server's clock - 1 s, as Unix time (0 = none yet)",
      registers,
      async collect() {
        const store = self.#src.store;
        if (!store) return;
        const c = await store.getCursor();
        this.set(c.hwmMs === null ? 0 : c.hwmMs / 1000);
      },
    });
    new Gauge({
      name: `${p}clock_skew_seconds`,
      help: "The API server's clock minus this host's, from the Date header at the last complete poll (0 = not measured)",
      registers,
      async collect() {
        const store = self.#src.store;
        if (!store) return;
        const c = await store.getCursor();
        this.set(c.clockSkewMs === null ? 0 : c.clockSkewMs / 1000);
      },
    });
    new Gauge({
      name: `${p}oldest_queued_job_age_seconds`,
      help: 'How long the oldest due queued job has waited (0 when nothing is due)',
      registers,
      async collect() {
        const store = self.#src.store;
        if (!store) return;
        const next = await store.nextRunAt();
        const now = (self.#src.clock ?? Date.now)();
        this.set(next === null || next > now ? 0 : (now - next) / 1000);
      },
    });
    new Gauge({
      name: `${p}backlog_bytes`,
      help: 'Listed bytes of the jobs still to do (queued and running)',
      registers,
      async collect() {
        const store = self.#src.store;
        if (!store) return;
        this.set((await store.backlog()).bytes);
      },
    });
    new Gauge({
      name: `${p}mirror_free_bytes`,
      help: 'Free bytes on the filesystem of the mirror, for this process',
      registers,
      async collect() {
        const root = self.#src.root;
        if (!root) return;
        try {
          this.set(await freeBytes(root));
        } catch {
          // statfs failing (the mount went away) must not break the scrape; the value stays stale.
        }
      },
    });
    this.notifications = new Counter({
      name: `${p}notifications_total`,
      help: 'Notification deliveries by sink (hook, webhook) and result (delivered, retry, failed)',
      labelNames: ['sink', 'result'],
      registers,
    });
    this.hookFailures = new Counter({
      name: `${p}hook_failures_total`,
      help: 'Failed hook runs by reason: exit (non-zero status), timeout, spawn (could not start)',
      labelNames: ['reason'],
      registers,
    });
    new Gauge({
      name: `${p}notifications_pending`,
      help: 'Outbox rows by sink and state (pending, failed)',
      labelNames: ['sink', 'state'],
      registers,
      async collect() {
        const store = self.#src.store;
        if (!store) return;
        const c = await store.outboxCounts();
        for (const sink of OUTBOX_SINKS) {
          this.set({ sink, state: 'pending' }, c[sink].pending);
          this.set({ sink, state: 'failed' }, c[sink].failed);
        }
      },
    });
  }

  /** Attach the store and mirror root (after the runtime is open). */
  attach(src: MetricsSources): void {
    this.#src = { ...this.#src, ...src };
  }

  /** Set constellr_sync_build_info (one series, value 1). */
  setBuildInfo(info: BuildInfo): void {
    this.buildInfo.reset();
    this.buildInfo.set({ version: info.version, node: process.version, backend: info.backend, source: info.source }, 1);
  }

  /** Worker hooks that feed the counters and histograms. */
  workerEvents(): WorkerEvents {
    return {
      onBytes: (n) => {
        this.bytesDownloaded.inc(n);
      },
      onDone: (_job, r) => {
        this.downloadDuration.observe(r.durationMs / 1000);
        this.downloadSize.observe(r.bytes);
      },
      onOutcome: (_job, outcome: JobOutcome, error?: SyncError) => {
        this.downloads.inc({ result: outcome });
        if ((outcome === 'retry' || outcome === 'paused') && error) this.retries.inc({ reason: error.errorClass });
      },
      onRetry: (_job, error) => {
        this.retries.inc({ reason: error.errorClass });
      },
    };
  }

  /** A poll finished (ok) or failed (errorClass). */
  observePoll(r: { ok: boolean; durationMs: number; errorClass?: string }): void {
    this.pollDuration.observe({ result: r.ok ? 'ok' : 'error' }, r.durationMs / 1000);
    this.polls.inc({ result: r.ok ? 'ok' : (r.errorClass ?? 'error') });
  }

  contentType(): string {
    return this.registry.contentType;
  }

  async render(): Promise<string> {
    return this.registry.metrics();
  }
}

