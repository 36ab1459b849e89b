// What a poll and a reconcile share: their collaborators (ListingDeps), and what they do with a
// page's STAC item records: they follow the filters (an item keeps only the assets whose jobs are
// queued) and reach the mirror's catalog before the page's jobs are written.
import type { Source } from '../api/source.js';
import type { RemoteAsset, StacItemRecord } from '../api/wire.js';
import type { Logger } from '../lib/logger.js';
import type { Job } from '../store/types.js';

/** What every listing of the daemon (a poll, a reconcile) is handed, besides its store and settings. */
export interface ListingDeps {
  /** The source: listPage, and beginPoll when it chooses its incremental strategy per listing. */
  api: Pick<Source, 'listPage' | 'beginPoll'>;
  logger: Logger;
  clock: () => number;
  signal?: AbortSignal | undefined;
  /** Filters: keys not accepted are not queued (but still count as listed, so they are not "deleted"). */
  accept?: ((asset: RemoteAsset) => boolean) | undefined;
  /** After each commit of listed keys (wakes idle workers). */
  onPage?(r: { inserted: number; changed: number; listed: number }): void;
}

/**
 * The mirror's STAC catalog as a listing sees it (source: stac with stac.catalog on; a StacCatalog):
 * a listing records the items it listed, and a reconcile withdraws keys before their files go, so
 * the catalog never links to a removed file. Absent (null) otherwise.
 */
export interface ListedItems {
  record(records: StacItemRecord[]): Promise<void>;
  beforeRemove(jobs: Job[]): Promise<void>;
}

/** Record a page's items, narrowed to the accepted assets, before the page's jobs are written. */
export async function recordListedItems(catalog: Pick<ListedItems, 'record'> | null | undefined, records: readonly StacItemRecord[] | undefined, accepted: readonly RemoteAsset[]): Promise<void> {
  // The item JSON waits for the jobs at these versions, so the records go first.
  if (catalog && records) await catalog.record(acceptedRecords(records, accepted));
}

/** The records narrowed to the accepted assets; items left without any are dropped. */
export function acceptedRecords(records: readonly StacItemRecord[], accepted: readonly RemoteAsset[]): StacItemRecord[] {
  const keys = new Set(accepted.map((a) => a.key));
  const out: StacItemRecord[] = [];
  for (const r of records) {
    const assets = r.assets.filter((a) => keys.has(a.key));
    if (assets.length > 0) out.push(assets.length === r.assets.length ? r : { ...r, assets });
  }
  return out;
}
