// The manifest for downstream pipelines: for each key, its local path, size, LastModified, sha256 and
// state, as JSON lines or CSV (RFC 4180). Keys and paths are written byte for byte.
import type { Job, OperatorStore } from '../store/types.js';

export type ManifestFormat = 'jsonl' | 'csv';

export interface ManifestRow {
  key: string;
  /** Relative to the mirror root; null when nothing is on disk. Folder markers end in '/'. */
  path: string | null;
  /** Bytes written when done, else the listed size; null when neither is known (never -1). */
  size: number | null;
  lastModified: string;
  sha256: string | null;
  /** queued | running | done | failed | gone | skipped | deleted_remote */
  state: string;
  /** The path was shortened (NAME_MAX / PATH_MAX). */
  shortened: boolean;
}

export const CSV_COLUMNS = ['key', 'path', 'size', 'last_modified', 'sha256', 'state', 'shortened'] as const;

export function manifestRow(j: Job): ManifestRow {
  const state = j.remoteDeletedAt !== null ? 'deleted_remote' : j.state === 'done' && !j.localPath ? 'skipped' : j.state;
  return {
    key: j.key,
    path: j.localPath,
    size: j.state === 'done' && j.bytesWritten !== null ? j.bytesWritten : j.remoteSize,
    lastModified: new Date(j.remoteModifiedMs).toISOString(),
    sha256: j.sha256 || null,
    state,
    shortened: j.shortened,
  };
}

export async function* manifestRows(store: Pick<OperatorStore, 'listJobs'>, pageSize = 1000): AsyncGenerator<ManifestRow> {
  let after = 0;
  for (;;) {
    const page = await store.listJobs(after, pageSize);
    if (page.length === 0) return;
    after = page[page.length - 1]!.id;
    for (const j of page) yield manifestRow(j);
  }
}

export function csvField(v: string | number | boolean | null): string {
  if (v === null) return '';
  const s = String(v);
  return /[",\r\n]|^\s|\s$/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function formatManifestRow(r: ManifestRow, format: ManifestFormat): string {
  if (format === 'jsonl') return JSON.stringify(r);
  return [r.key, r.path, r.size, r.lastModified, r.sha256, r.state, r.shortened].map(csvField).join(',');
}

export function manifestHeader(format: ManifestFormat): string | null {
  return format === 'csv' ? CSV_COLUMNS.join(',') : null;
}
