// Full reconciliation listings inside the daemon: on sync.reconcileSchedule (run) or on request,
// never two at once. At shutdown a running reconcile gets the grace period, like downloads in flight.
import cron, { type ScheduledTask } from 'node-cron';
import { SyncError, classifyError } from '../errors.js';
import type { Config } from '../config/load.js';
import type { AssetFilter } from '../config/filters.js';
import type { Logger } from '../lib/logger.js';
import { timerDelay } from '../lib/timers.js';
import type { StacCatalog } from '../mirror/stac-catalog.js';
import { reconcileOnce, type MaxDelete, type ReconcileResult, type ReconcileSettings } from '../sync/reconcile-listing.js';
import type { Runtime } from './runtime.js';
import { cronLogger, failFast } from './poll-scheduler.js';

export interface LastReconcile {
  ok: boolean;
  at: number;
  result?: ReconcileResult;
  error?: SyncError;
}

/** What a reconcile reads from the configuration; replaced as a whole on reload (apply). */
export interface ReconcileSchedulerSettings {
  /** A cron expression, or 'off'. */
  schedule: string;
  timezone: string;
  filter: AssetFilter;
  listing: ReconcileSettings;
}

export function reconcileSchedulerSettingsOf(cfg: Config, mode: 'continuous' | 'drain'): ReconcileSchedulerSettings {
  return {
    schedule: cfg.sync.reconcileSchedule,
    timezone: cfg.sync.timezone,
    filter: cfg.filter,
    listing: {
      pageSize: cfg.api.pageSize,
      pageRetries: cfg.sync.quickRetries + 2,
      deletePolicy: cfg.mirror.deletePolicy,
      maxDelete: cfg.mirror.maxDelete,
      unreachable: failFast(cfg, mode),
      maxPages: cfg.sync.maxListingPages,
      pruneFolders: cfg.source === 'stac',
    },
  };
}

export interface ReconcileSchedulerDeps {
  rt: Pick<Runtime, 'api' | 'store' | 'logger' | 'clock' | 'root' | 'config'>;
  settings: ReconcileSchedulerSettings;
  catalog: StacCatalog | null;
  /** After each committed page (wakes idle workers). */
  onPage(): void;
  onAuthRejected(e: SyncError): void;
  /** An error that is a pause (a full state disk, daemon/state-full.ts): true when the gate took it. */
  pausedBy?: (e: unknown, context: string) => boolean;
}

export class ReconcileScheduler {
  readonly #d: ReconcileSchedulerDeps;
  readonly #log: Logger;
  #settings: ReconcileSchedulerSettings;
  #running: Promise<ReconcileResult | null> | null = null;
  #task: ScheduledTask | null = null;
  #last: LastReconcile | null = null;

  constructor(d: ReconcileSchedulerDeps) {
    this.#d = d;
    this.#log = d.rt.logger;
    this.#settings = d.settings;
  }

  get last(): LastReconcile | null {
    return this.#last;
  }

  /** One full reconciliation listing; never two at once. Errors are logged and returned as null. */
  run(signal?: AbortSignal, override: { maxDelete?: MaxDelete } = {}): Promise<ReconcileResult | null> {
    if (this.#running) {
      this.#log.info('previous reconcile still running; skipping');
      return this.#running;
    }
    const { rt, catalog } = this.#d;
    const s = this.#settings;
    this.#running = reconcileOnce({
      api: rt.api,
      store: rt.store,
      logger: this.#log,
      clock: rt.clock,
      root: rt.root,
      signal,
      accept: s.filter.isAll ? undefined : s.filter,
      onPage: () => this.#d.onPage(),
      catalog,
      stateDir: rt.config.state.dir,
      settings: { ...s.listing, maxDelete: override.maxDelete ?? s.listing.maxDelete },
    })
      .then(async (r) => {
        // Items whose assets were deleted leave the catalog (their collection's extent follows).
        await catalog?.flush().catch((e: unknown) => this.#log.error({ err: e }, 'could not write the STAC catalog'));
        this.#last = { ok: true, at: rt.clock(), result: r };
        return r;
      })
      .catch((err: unknown) => {
        // Classified once, with the state directory: no space for a file under state.dir is the state's disk.
        const e = classifyError(err, 'reconcile', rt.config.state.dir);
        this.#last = { ok: false, at: rt.clock(), error: e };
        if (e.kind === 'auth_rejected') this.#d.onAuthRejected(e);
        else this.#d.pausedBy?.(e, 'reconcile');
        return null;
      })
      .finally(() => {
        this.#running = null;
      });
    return this.#running;
  }

  /** `run`: reconcile on sync.reconcileSchedule (unless 'off'); `signal` aborts a running one (shutdown). */
  start(signal: AbortSignal): void {
    const { schedule, timezone } = this.#settings;
    if (schedule === 'off') return;
    this.#task = cron.schedule(schedule, () => void this.run(signal), { timezone, noOverlap: true, name: 'constellr-sync-reconcile', logger: cronLogger(this.#log) });
  }

  /** No new scheduled reconciles. */
  async stop(): Promise<void> {
    const task = this.#task;
    this.#task = null;
    await task?.stop();
    await task?.destroy();
  }

  /** Wait for a running reconcile, at most graceMs; false when it was still running then. */
  async drain(graceMs: number): Promise<boolean> {
    const running = this.#running;
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

  /** New settings (reload): the next reconcile uses them (its schedule is fixed until a restart). */
  apply(next: ReconcileSchedulerSettings): void {
    this.#settings = { ...next, schedule: this.#settings.schedule, timezone: this.#settings.timezone };
  }
}
