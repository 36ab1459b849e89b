// The STAC catalogue writer for a runtime, when the source is STAC and stac.catalog is on; null
// otherwise. The engine and the reconcile, verify and export commands share this wiring.
import { StacCatalog } from '../mirror/stac-catalog.js';
import { catalogStoreFor } from '../store/catalog-store.js';
import type { Runtime } from './runtime.js';

export function catalogEnabled(rt: Pick<Runtime, 'config'>): boolean {
  return rt.config.source === 'stac' && rt.config.stac.catalog;
}

export function openCatalog(rt: Runtime): StacCatalog | null {
  if (!catalogEnabled(rt)) return null;
  const api = rt.api as { fetchCollection?: (id: string) => Promise<Record<string, unknown>> };
  return new StacCatalog({
    store: catalogStoreFor(rt.store),
    jobs: rt.store,
    root: rt.root,
    logger: rt.logger,
    clock: rt.clock,
    fetchCollection: api.fetchCollection ? (id) => api.fetchCollection!(id) : undefined,
  });
}
