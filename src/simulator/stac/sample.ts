// The sample LST catalog served by `simulate --source stac`, the demo and the tests: orders of
// LSTprecision/LSTzoom/LSTfusion items over a few sites, from the same seeded generator (Rng) as
// the asset sample, so one seed names one account.
import { Rng } from '../rng.js';
import { geometryBBox } from './geo.js';
import { COLLECTIONS, type StacItemInput, StacStore, baseName, squareAround } from './model.js';

export interface SampleStacOptions {
  /** Number of items (default 60); each has 3 assets. */
  items?: number;
  /** Largest LST raster in bytes (default 1 MiB). */
  maxSize?: number;
  /** Reference "now" in ms; acquisitions spread over the 6 weeks before it (default: start of the current UTC day). */
  now?: number;
}

const SITES: readonly [number, number][] = [
  [8.54, 47.37], // Zürich
  [6.13, 49.61], // Luxembourg
  [7.85, 47.99], // Freiburg
  [-3.7, 40.42], // Madrid
  [11.58, 48.14], // München
  [-121.74, 36.68], // Salinas valley
];
const SATELLITES = ['SBA01', 'SBA02'] as const;
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

function pad(n: number, w: number): string {
  return String(n).padStart(w, '0');
}

export function sampleStacItems(seed: number, opts: SampleStacOptions = {}): StacItemInput[] {
  const count = Math.max(0, Math.floor(opts.items ?? 60));
  const maxSize = Math.max(64, Math.floor(opts.maxSize ?? 1024 * 1024));
  const now = opts.now ?? Math.floor(Date.now() / DAY) * DAY;
  const rng = new Rng(seed);
  const size = (lo: number, hi: number): number => rng.int(Math.max(0, lo), Math.max(lo + 1, hi));
  const out: StacItemInput[] = [];
  const ids = new Set<string>();
  let orderNo = 0;
  while (out.length < count) {
    const orderId = `ord-${pad(2024000 + orderNo * 7 + rng.int(0, 7), 7)}-${rng.int(0, 0xffff).toString(16).padStart(4, '0')}`;
    const col = rng.pick(COLLECTIONS);
    const site = rng.pick(SITES);
    const tiles = rng.int(1, 4);
    const dates = rng.int(2, 7);
    const start = now - 42 * DAY + rng.next() * 21 * DAY;
    const step = col.id === 'lstfusion' ? DAY : 3 * DAY;
    for (let d = 0; d < dates && out.length < count; d++) {
      const night = rng.chance(0.5);
      const day0 = Math.floor((start + d * step) / DAY) * DAY;
      const acquired = Math.floor((day0 + (night ? 23.9 : 10.5) * HOUR + rng.int(0, 600) * 1000) / 1000) * 1000;
      if (acquired >= now) break;
      // late deliveries: processed weeks after acquisition
      const late = rng.chance(0.08);
      let updated = late ? now - rng.int(1, 48) * HOUR : acquired + rng.int(6 * 3600, 30 * 3600) * 1000;
      updated = Math.min(updated, now - 1000);
      const satellite = rng.pick(SATELLITES);
      for (let t = 0; t < tiles && out.length < count; t++) {
        const center: [number, number] = [site[0] + (t % 2) * 0.1 + rng.int(-20, 20) / 1000, site[1] + Math.floor(t / 2) * 0.1 + rng.int(-20, 20) / 1000];
        const item: StacItemInput = {
          collection: col.id,
          datetime: acquired,
          updated: Math.max(updated, acquired),
          orderId,
          satellite,
          center,
          assets: [
            { key: 'lst', size: size(Math.floor(maxSize / 4), maxSize) },
            { key: 'mask', size: size(Math.floor(maxSize / 16), Math.floor(maxSize / 4)) },
            { key: 'metadata', size: size(300, 4000) },
          ],
        };
        const id = baseName(col, satellite, geometryBBox(squareAround(center[0], center[1])), acquired);
        if (ids.has(`${col.id}/${id}`)) continue;
        ids.add(`${col.id}/${id}`);
        out.push({ ...item, id });
      }
    }
    orderNo++;
  }
  return out;
}

/** A store filled with the sample catalog. */
export function sampleStacStore(seed: number, opts: SampleStacOptions = {}, clock: () => number = Date.now): StacStore {
  const store = new StacStore(clock);
  for (const item of sampleStacItems(seed, opts)) store.put(item);
  return store;
}
