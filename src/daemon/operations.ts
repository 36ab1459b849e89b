// Wiring of the operations side around an engine: metrics fed by worker and poll events, the
// notifier woken whenever a job is marked done, and the HTTP endpoint (/healthz, /readyz, /metrics).
// Order of use: new Operations(config, logger, metrics or null) → openRuntime(config, logger, ops.runtimeOptions())
// → new Engine(rt, {...ops.engineOptions(), …}) → ops.attach(rt, engine) → … → ops.stop().
import { SyncError } from '../errors.js';
import type { Config } from '../config/load.js';
import { parseListen, startOpsServer, readiness, nextScheduledRun, scheduleIntervalMs, type OpsServer, type Readiness } from '../ops/http-server.js';
import { HttpAuth } from '../ops/http-auth.js';
import { LiveStatus } from '../ops/status/live.js';
import { StatusCache, bandwidthWindow, buildApiStatus } from '../ops/status/api.js';
import { handleStatusRoute } from '../ops/status/routes.js';
import { rateAt } from '../config/timetable.js';
import type { Logger } from '../lib/logger.js';
import { packageVersion } from '../lib/version.js';
import type { SyncMetrics } from '../ops/metrics.js';
import { combineEvents } from '../sync/worker-events.js';
import { createNotifier, type Notifier } from '../ops/notify.js';
import type { WorkerEvents } from '../sync/worker.js';
import type { Engine, EngineOptions, PollReport } from './engine.js';
import type { Runtime, RuntimeOptions } from './runtime.js';

export interface AttachOptions {
  /** Start the HTTP endpoint (run: config http.enabled; sync: never). */
  http: boolean;
  /** The environment hooks inherit (minus credentials). */
  baseEnv?: NodeJS.ProcessEnv;
  /** Replace http.listen (tests bind port 0). */
  listen?: string;
  notifyIdleMs?: number;
}

/**
 * What is mirrored, for build_info: "assets" (the asset API) unless the configuration names another
 * source. Read defensively: `source` may be a plain name or a section with a `type`/`kind`.
 */
export function sourceOf(config: Config): string {
  const s = (config as unknown as { source?: unknown }).source;
  if (typeof s === 'string' && s !== '') return s;
  if (typeof s === 'object' && s !== null) {
    for (const k of ['type', 'kind', 'name']) {
      const v = (s as Record<string, unknown>)[k];
      if (typeof v === 'string' && v !== '') return v;
    }
  }
  return 'assets';
}

export class Operations {
  /** null: no metrics (one-shot commands serve no /metrics; prom-client is then never loaded). */
  readonly metrics: SyncMetrics | null;
  /** In-flight progress, the last hour and recent completions, for the status page. */
  readonly live: LiveStatus;
  readonly #config: Config;
  readonly #log: Logger;
  #engine: Engine | null = null;
  #notifier: Notifier | null = null;
  #http: OpsServer | null = null;
  #lastOkAt: number | null = null;
  #intervalMs: { expr: string; ms: number } | null = null;

  constructor(config: Config, logger: Logger, metrics: SyncMetrics | null) {
    this.#config = config;
    this.#log = logger;
    this.metrics = metrics;
    this.live = new LiveStatus();
  }

  get notifier(): Notifier | null {
    return this.#notifier;
  }

  get http(): OpsServer | null {
    return this.#http;
  }

  runtimeOptions(): Pick<RuntimeOptions, 'onTokenRenewed'> {
    return { onTokenRenewed: () => this.metrics?.tokenRenewals.inc() };
  }

  /** Engine options: metric events, notifier wake-ups and poll reports, plus the caller's own events. */
  engineOptions(extra?: WorkerEvents, onPoll?: (r: PollReport) => void): Pick<EngineOptions, 'events' | 'onPoll'> {
    return {
      events: combineEvents(this.metrics?.workerEvents(), this.live.events(), { onDone: () => this.#notifier?.wake() }, extra),
      onPoll: (r) => {
        try {
          if (r.ok) this.#lastOkAt = r.at;
          this.metrics?.observePoll(r);
          onPoll?.(r);
        } catch (e) {
          this.#log.warn({ err: e }, 'poll observer failed');
        }
      },
    };
  }

  /** Attach the open runtime and engine: metrics read the store, the notifier starts, the endpoint listens. */
  async attach(rt: Runtime, engine: Engine, o: AttachOptions): Promise<void> {
    this.#engine = engine;
    this.metrics?.attach({
      store: rt.store,
      root: rt.root,
      clock: rt.clock,
      engine: () => ({ pausedReasons: engine.gate.state().reasons, authFailed: engine.authFailed, breakerOpen: engine.gate.apiDown, catalogFailing: (engine.catalog?.failure ?? null) !== null }),
      source: () => rt.api.describe(),
    });
    this.metrics?.setBuildInfo({ version: packageVersion(), backend: rt.store.backend, source: sourceOf(this.#config) });
    const notifier = createNotifier(this.#config, { store: rt.store, logger: rt.logger, root: rt.root, clock: rt.clock, metrics: this.metrics ?? undefined, baseEnv: o.baseEnv, idleMs: o.notifyIdleMs });
    // Pruning runs even with no sink configured: rows of sinks removed from the configuration go.
    await notifier.start();
    if (notifier.enabled) {
      this.#notifier = notifier;
    }
    if (o.http) {
      const listen = o.listen ?? this.#config.http.listen;
      if (!this.metrics)
        throw new SyncError('the HTTP endpoint serves /metrics: construct Operations with metrics', { code: 'SYNC_INTERNAL' });
      const metrics = this.metrics;
      try {
        const routes = this.#config.http.statusPage ? this.#statusRoutes(rt, engine, listen) : undefined;
        this.#http = await startOpsServer({ listen, metrics, readiness: () => this.readiness(), logger: this.#log, routes });
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
        throw new SyncError(`cannot listen on ${listen} for /healthz, /readyz and /metrics (${code}); set http.listen (--http-listen) or disable it with http.enabled: false (--http-enabled false)`, {
          code: 'SYNC_HTTP_LISTEN',
          cause: e,
        });
      }
    }
  }

  /** The status page (/, /api/status, actions) on the ops listener. */
  #statusRoutes(rt: Runtime, engine: Engine, listen: string) {
    const auth = new HttpAuth(this.#config.credentials.httpToken, { clock: rt.clock, listenHost: parseListen(listen).host });
    if (!auth.enabled && !isLoopback(listen))
      this.#log.warn({ listen }, 'the status page is served on a non-loopback address without http.token: anyone who can reach it sees asset keys and errors; set CONSTELLR_SYNC_HTTP_TOKEN');
    let bw: { key: string; minute: number; value: ReturnType<typeof bandwidthWindow> } | null = null;
    const cache = new StatusCache();
    const deps = {
      auth,
      logger: this.#log.child({ component: 'status-page' }),
      build: (filter: Parameters<typeof buildApiStatus>[1] & object) =>
        buildApiStatus(
          {
            store: rt.store,
            config: () => engine.config,
            live: this.live,
            inFlight: () => engine.pool.inFlight.values(),
            gatePauses: () => engine.gate.pauses(),
            bandwidth: () => {
              const tt = engine.bandwidth.timetable;
              const tz = engine.config.sync.timezone;
              const now = rt.clock();
              const key = JSON.stringify([tt.source, tz]);
              const value = bandwidthWindow((ms) => rateAt(tt, ms, tz), now, bw && bw.key === key ? bw : null);
              bw = { key, minute: Math.floor(now / 60_000), value };
              return value;
            },
            readiness: () => this.readiness(),
            owner: rt.owner,
            isPoller: () => engine.isPoller,
            actionsEnabled: auth.enabled,
            clock: rt.clock,
          },
          filter,
          cache,
        ),
      retryFailed: async () => {
        const n = await rt.store.requeueFailed({}, rt.clock());
        cache.clear();
        engine.pool.wake();
        return n;
      },
      pollNow: () => {
        cache.clear();
        return engine.requestPoll();
      },
    };
    return (req: Parameters<typeof handleStatusRoute>[1], res: Parameters<typeof handleStatusRoute>[2]) => handleStatusRoute(deps, req, res);
  }

  readiness(): Readiness {
    const engine = this.#engine;
    const cfg = engine?.rt.config ?? this.#config;
    const expr = cfg.sync.schedule;
    if (this.#intervalMs?.expr !== expr) this.#intervalMs = { expr, ms: scheduleIntervalMs(expr, cfg.sync.timezone) };
    return readiness(
      {
        lastSuccessfulPollAt: () => this.#lastOkAt,
        lastPoll: () => {
          const p = engine?.lastPoll;
          return p ? { ok: p.ok, at: p.at, ...(p.error ? { errorClass: p.error.errorClass } : {}) } : null;
        },
        authFailed: () => engine?.authFailed ?? false,
        gateReasons: () => engine?.gate.state().reasons ?? [],
        nextPollAt: () => (engine ? nextScheduledRun(cfg.sync.schedule, cfg.sync.timezone) : null),
      },
      { intervals: this.#config.http.readyPollIntervals, intervalMs: this.#intervalMs.ms, clock: engine?.rt.clock },
    );
  }

  /** Stop the notifier (in-flight deliveries get graceMs) and close the endpoint. */
  async stop(graceMs: number): Promise<void> {
    await this.#notifier?.stop(graceMs);
    await this.#http?.close();
    this.#http = null;
  }
}

/** 127.0.0.0/8, ::1 and localhost: only this host can connect. */
export function isLoopback(listen: string): boolean {
  const { host } = parseListen(listen);
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host) || /^::ffff:127\./i.test(host);
}
