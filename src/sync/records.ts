// STAC item records follow the filters: an item keeps only the assets whose jobs are queued.
import type { RemoteAsset, StacItemRecord } from '../api/wire.js';

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
