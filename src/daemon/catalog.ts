// The STAC catalog writer for a runtime, when the source is STAC and stac.catalog is on; null
// otherwise. With stac.geoparquet also its GeoParquet index (items.parquet). The engine and the
// reconcile, verify and export commands share this wiring.
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { StacCatalog } from '../mirror/stac-catalog.js';
import { StacIndex } from '../mirror/stac-index.js';
import { RESERVED_DIR } from '../mirror/paths.js';
import { acquireLock, LockedError } from '../lib/lock.js';
import type { Runtime } from './runtime.js';

export function catalogEnabled(rt: Pick<Runtime, 'config'>): boolean {
  return rt.config.source === 'stac' && rt.config.stac.catalog;
}

export function indexEnabled(rt: Pick<Runtime, 'config'>): boolean {
  return catalogEnabled(rt) && rt.config.stac.geoparquet;
}

/**
 * The index's writer lock, shared by the replicas of a mirror: `<mirror>/.constellr-sync/index.lock`
 * (an exclusive SQLite lock the OS releases when its holder dies). Waits while another replica writes;
 * `onWait` is told of each time it found the lock held.
 */
export function indexLock(root: string, onWait?: () => void): () => Promise<{ release(): void }> {
  return async () => {
    for (let wait = 50; ; wait = Math.min(wait * 2, 1000)) {
      try {
        return acquireLock(path.join(root, RESERVED_DIR), 'index', 'the GeoParquet index of');
      } catch (e) {
        if (!(e instanceof LockedError)) throw e;
        onWait?.();
        await sleep(wait);
      }
    }
  };
}

export function openIndex(rt: Pick<Runtime, 'config' | 'store' | 'root' | 'logger'>): StacIndex | null {
  if (!indexEnabled(rt)) return null;
  return new StacIndex({ store: rt.store.catalog, root: rt.root, logger: rt.logger, lock: indexLock(rt.root) });
}

export function openCatalog(rt: Runtime): StacCatalog | null {
  if (!catalogEnabled(rt)) return null;
  const api = rt.api as { fetchCollection?: (id: string) => Promise<Record<string, unknown>> };
  return new StacCatalog({
    store: rt.store.catalog,
    jobs: rt.store,
    root: rt.root,
    logger: rt.logger,
    clock: rt.clock,
    fetchCollection: api.fetchCollection ? (id) => api.fetchCollection!(id) : undefined,
    index: openIndex(rt),
  });
}
