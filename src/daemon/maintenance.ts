// Housekeeping around the workers: start-up recovery (jobs a dead process left running, stale
// partials, the catalog's temporary files, the mirror filesystem's name rules) and, while the
// daemon runs, a timer every half lease that requeues jobs whose lease expired and sweeps staging.
import type { Logger } from '../lib/logger.js';
import { repeat, type Repeater } from '../lib/timers.js';
import { probeNameRules, type MirrorLayoutSettings } from '../mirror/layout.js';
import type { StacCatalog } from '../mirror/stac-catalog.js';
import { clearCatalogTmp } from '../mirror/stac-files.js';
import { scrubStoredItems } from '../mirror/stac-hrefs.js';
import { sweepStaging } from '../sync/sweeper.js';
import type { Runtime } from './runtime.js';

export interface MaintenanceSettings {
  /** sync.leaseDuration: the timer runs every half lease. */
  leaseMs: number;
}

export interface MaintenanceDeps {
  rt: Pick<Runtime, 'store' | 'logger' | 'clock' | 'root'>;
  settings: MaintenanceSettings;
  catalog: StacCatalog | null;
  /** Staging names of downloads in flight (the sweep leaves them alone). */
  activeStaging(): ReadonlySet<string>;
  /** An error that is a pause (a full state disk, daemon/state-full.ts): true when the gate took it. */
  pausedBy?: (e: unknown, context: string) => boolean;
}

export class Maintenance {
  readonly #d: MaintenanceDeps;
  readonly #log: Logger;
  #settings: MaintenanceSettings;
  #timer: Repeater | null = null;

  constructor(d: MaintenanceDeps) {
    this.#d = d;
    this.#log = d.rt.logger;
    this.#settings = d.settings;
  }

  /**
   * Start-up recovery: jobs left running by a dead process, and stale partials. With
   * mirror.caseSensitivity auto, probes how the mirror's filesystem compares names into layout.fs.
   */
  async recover(layout: MirrorLayoutSettings, probeNames: boolean): Promise<void> {
    const { rt, catalog } = this.#d;
    const n = await rt.store.requeueOrphans(rt.clock());
    if (n > 0) this.#log.warn({ jobs: n }, 'requeued downloads interrupted by a previous crash');
    await sweepStaging(rt.root, rt.store, this.#log);
    if (catalog) {
      // A writer that died left temporary files and maybe items not yet (re)written: look at all.
      // Only old temporary files go: a replica sharing the mirror may be between its write and rename.
      await clearCatalogTmp(rt.root, rt.clock()).catch((e: unknown) => this.#log.warn({ err: e }, 'could not clear old catalog temporary files'));
      // Items an older version stored whole keep only what the state keeps now (no signed href).
      const scrubbed = await scrubStoredItems(rt.store.catalog);
      if (scrubbed > 0) this.#log.info({ rows: scrubbed }, 'removed signed URLs and unselected assets that an older version kept in the state');
      await catalog.markAll();
      catalog.kick();
    }
    if (probeNames) {
      // How does the mirror's filesystem compare names? Decides case_conflict detection.
      layout.fs = await probeNameRules(rt.root);
      if (layout.fs.caseInsensitive || layout.fs.normalizationInsensitive) this.#log.info({ ...layout.fs }, 'the mirror filesystem does not distinguish some names; case twins are handled by mirror.caseConflict');
    }
  }

  /** Partials of versions replaced meanwhile (nothing in flight): `sync` leaves no stale partial. */
  async sweep(): Promise<void> {
    const { rt } = this.#d;
    await sweepStaging(rt.root, rt.store, this.#log).catch((e: unknown) => this.#log.warn({ err: e }, 'staging sweep failed'));
  }

  /** `run`: the periodic timer, every half lease. */
  start(): void {
    const { rt, catalog } = this.#d;
    this.#timer = repeat(() => {
      void (async () => {
        const n = await rt.store.sweepExpiredLeases(rt.clock());
        if (n > 0) this.#log.warn({ jobs: n }, 'requeued jobs whose lease expired (hung worker)');
        await sweepStaging(rt.root, rt.store, this.#log, this.#d.activeStaging());
        // Items whose write failed (or another replica completed) are tried again.
        catalog?.kick();
        // Rejected credentials are retried slowly by the gate's auth_failed probe, not here.
      })().catch((e: unknown) => {
        if (!this.#d.pausedBy?.(e, 'lease sweep')) this.#log.error({ err: e }, 'maintenance failed');
      });
    }, () => Math.max(1000, Math.floor(this.#settings.leaseMs / 2)));
  }

  stop(): void {
    this.#timer?.stop();
    this.#timer = null;
  }

  /** New settings (reload): the lease sweep follows sync.leaseDuration at once. */
  apply(next: MaintenanceSettings): void {
    this.#settings = next;
    this.#timer?.reschedule();
  }
}
