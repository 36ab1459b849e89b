// What a key names: a file, or a folder marker (S3's "create folder": a key ending in `/` with no
// bytes). A placed marker's mirror path keeps the trailing `/`, so the state tells a folder from a
// file of the same name. This module is the one place that reads or writes that `/` (the store's SQL
// says it once too: store/sql/complete-jobs.ts).
import type { ListedSize } from './size.js';

export type KeyKind = 'file' | 'folder';

const MARK = '/';

/**
 * A listed key's kind: a folder only when it ends in `/` and has no bytes. A `/`-ending key with bytes
 * (or an unknown size) is a file, which the mirror's path rules then refuse (an empty last segment).
 */
export function keyKind(key: string, size: ListedSize): KeyKind {
  return size === 0 && key.endsWith(MARK) ? 'folder' : 'file';
}

/** The folder a marker key names, without its trailing `/`. */
export function markerFolder(key: string): string {
  return key.endsWith(MARK) ? key.slice(0, -MARK.length) : key;
}

/** The mirror path a job records for a folder marker placed at `relPath`. */
export function folderPath(relPath: string): string {
  return `${relPath}${MARK}`;
}

/** Whether a recorded mirror path (Job.localPath, mirrorPath) is a folder marker's, not a file's. */
export function isFolderPath(p: string): boolean {
  return p.endsWith(MARK);
}
