// A collection's extent from the item versions whose JSON is on disk (issue 22 item 13): each item's
// bbox and first/last datetime are taken from the version written and kept in the state
// (stac_items.written_extent), so a newer listing whose assets are not downloaded yet does not move it.
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { StoredItem } from '../store/catalog-store.js';

type Interval = [string | null, string | null];

/** One item's 2D bbox and first/last datetime, from its JSON (the version written: see setWritten). */
export interface ItemExtent {
  bbox: number[] | null;
  start: string | null;
  end: string | null;
}

export function itemExtent(json: string): ItemExtent {
  let raw: { bbox?: unknown; properties?: Record<string, unknown> };
  try {
    raw = JSON.parse(json) as typeof raw;
  } catch {
    return { bbox: null, start: null, end: null };
  }
  let bbox: number[] | null = null;
  if (Array.isArray(raw.bbox) && raw.bbox.length >= 4 && raw.bbox.every((n) => typeof n === 'number')) {
    const b = raw.bbox as number[];
    bbox = b.length === 6 ? [b[0]!, b[1]!, b[3]!, b[4]!] : b.slice(0, 4);
  }
  let start: string | null = null;
  let end: string | null = null;
  const p = raw.properties ?? {};
  for (const t of [p.datetime, p.start_datetime, p.end_datetime]) {
    if (typeof t !== 'string' || Number.isNaN(Date.parse(t))) continue;
    const iso = new Date(Date.parse(t)).toISOString();
    if (start === null || iso < start) start = iso;
    if (end === null || iso > end) end = iso;
  }
  return { bbox, start, end };
}

/** The extent of the item versions in the mirror (the API's when no item says). */
export function extentOf(doc: Record<string, unknown>, items: readonly { writtenExtent: string }[]): unknown {
  let bbox: number[] | null = null;
  let start: string | null = null;
  let end: string | null = null;
  for (const it of items) {
    const e = JSON.parse(it.writtenExtent) as ItemExtent;
    const b = e.bbox;
    if (b) bbox = bbox ? [Math.min(bbox[0]!, b[0]!), Math.min(bbox[1]!, b[1]!), Math.max(bbox[2]!, b[2]!), Math.max(bbox[3]!, b[3]!)] : b;
    if (e.start !== null && (start === null || e.start < start)) start = e.start;
    if (e.end !== null && (end === null || e.end > end)) end = e.end;
  }
  const api = (doc.extent ?? { spatial: { bbox: [[-180, -90, 180, 90]] }, temporal: { interval: [[null, null]] } }) as { spatial: { bbox: number[][] }; temporal: { interval: Interval[] } };
  return {
    ...api,
    spatial: { ...api.spatial, bbox: bbox ? [bbox] : api.spatial.bbox },
    temporal: { ...api.temporal, interval: start ? [[start, end] as Interval] : api.temporal.interval },
  };
}


/** Each item's extent as written (an item written before the state kept it: from its JSON on disk). */
export async function withExtents(root: string, items: readonly StoredItem[]): Promise<(StoredItem & { writtenExtent: string })[]> {
  const out: (StoredItem & { writtenExtent: string })[] = [];
  for (const i of items) {
    let e = i.writtenExtent;
    if (e === null) e = JSON.stringify(itemExtent(await fsp.readFile(path.join(root, i.jsonPath!), 'utf8').catch(() => '{}')));
    out.push({ ...i, writtenExtent: e });
  }
  return out;
}
