// Key → path under the mirror root. A key is data from the network: it is kept byte for byte as a
// relative path, or refused (the job fails with class unsafe_key and nothing is written anywhere).
// Keys are never decoded: "%2e%2e" stays the literal text "%2e%2e".
import path from 'node:path';
import { createHash } from 'node:crypto';
import { SyncError } from '../errors.js';
import { keyKind, markerFolder } from '../lib/key-kind.js';
import type { ListedSize } from '../lib/size.js';

/** The reserved folder inside the mirror root (staging, trash, versions, the mirror lock). */
export const RESERVED_DIR = '.constellr-sync';
export const NAME_MAX = 255;
export const PATH_MAX = 4096;

/** How the mirror's filesystem compares names. */
export interface FsNameRules {
  caseInsensitive: boolean;
  /** NFC and NFD spellings name the same file (APFS, HFS+). */
  normalizationInsensitive: boolean;
}

/** The strictest rules: what the reserved folder is compared with, whatever the probe found. */
export const FOLD_ALL: FsNameRules = { caseInsensitive: true, normalizationInsensitive: true };

/**
 * A name or path as a filesystem with these rules compares it: two spellings with the same fold name
 * the same file. The one folding used by every path-identity check (case/NFC conflicts, the reserved
 * folder).
 */
export function foldName(name: string, fs: FsNameRules): string {
  let p = name;
  if (fs.normalizationInsensitive || fs.caseInsensitive) p = p.normalize('NFC');
  if (fs.caseInsensitive) p = p.toLowerCase().normalize('NFC');
  return p;
}

const RESERVED_FOLD = foldName(RESERVED_DIR, FOLD_ALL);

/**
 * True when a first path segment names the reserved folder on SOME filesystem the mirror might live
 * on: any case (macOS, SMB, ext4 casefold), NFC/NFD and compatibility spellings (NFKC: "ſ" for "s",
 * full-width letters), and trailing dots or spaces (which SMB/Windows strip). The mirror may be moved
 * or shared, so this does not depend on the probe: such a key never reaches staging, trash or versions.
 */
export function isReservedSegment(seg: string): boolean {
  const bare = seg.normalize('NFKC').replace(/[. ]+$/, '');
  return foldName(bare, FOLD_ALL) === RESERVED_FOLD;
}

export interface MirrorTarget {
  /** Segments of the relative path on disk (after any shortening). */
  segments: string[];
  /** Relative path on disk, '/'-separated. */
  relPath: string;
  /** Absolute path on disk. */
  absPath: string;
  /** A zero-byte key ending in '/': create the directory and nothing else. */
  isFolderMarker: boolean;
  /** True when a segment was shortened because it exceeded NAME_MAX or the path PATH_MAX. */
  shortened: boolean;
}

function unsafe(key: string, why: string): SyncError {
  return new SyncError(`refused unsafe key ${JSON.stringify(key)}: ${why}`, {
    code: 'SYNC_MIRROR_UNSAFE_KEY',
  });
}

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

/** Shorten a segment over NAME_MAX bytes deterministically: prefix + '~' + hash + extension. */
export function shortenSegment(seg: string, maxBytes = NAME_MAX): string {
  if (Buffer.byteLength(seg) <= maxBytes) return seg;
  const hash = createHash('sha256').update(seg).digest('hex').slice(0, 16);
  const dot = seg.lastIndexOf('.');
  let ext = dot > 0 ? seg.slice(dot) : '';
  if (Buffer.byteLength(ext) > 32 || CONTROL.test(ext)) ext = '';
  const budget = maxBytes - Buffer.byteLength(ext) - hash.length - 1;
  let prefix = '';
  let used = 0;
  for (const ch of seg.slice(0, dot > 0 && ext ? dot : seg.length)) {
    const b = Buffer.byteLength(ch);
    if (used + b > budget) break;
    prefix += ch;
    used += b;
  }
  return `${prefix}~${hash}${ext}`;
}

/** Renames on-disk segments (after shortening) by a layout rule: see mirror/stac-names.ts. */
export type SegmentRule = (keySegments: readonly string[], onDisk: readonly string[]) => string[];

/**
 * Map a key to its place in the mirror, or throw SyncError(unsafe_key). Refused: absolute keys,
 * empty, '.' or '..' segments, control characters (NUL included), and keys inside the reserved folder
 * (unless `rule` maps the reserved folder's name away, as the STAC layout does).
 */
export function resolveKey(root: string, key: string, size: ListedSize, rule?: SegmentRule): MirrorTarget {
  if (key.length === 0) throw unsafe(key, 'empty key');
  if (key.startsWith('/')) throw unsafe(key, 'absolute path');
  if (CONTROL.test(key)) throw unsafe(key, 'contains a control character');
  const isFolderMarker = keyKind(key, size) === 'folder';
  const body = isFolderMarker ? markerFolder(key) : key;
  const segments = body.split('/');
  for (const seg of segments) {
    if (seg === '') throw unsafe(key, 'empty path segment');
    if (seg === '.' || seg === '..') throw unsafe(key, `"${seg}" segment`);
  }
  if (!rule && isReservedSegment(segments[0]!)) throw unsafe(key, `inside the reserved folder ${RESERVED_DIR}`);
  let shortened = false;
  let onDisk = segments.map((s) => {
    const t = shortenSegment(s);
    if (t !== s) shortened = true;
    return t;
  });
  if (rule) onDisk = rule(segments, onDisk);
  let relPath = onDisk.join('/');
  const rootBytes = Buffer.byteLength(root) + 1;
  if (rootBytes + Buffer.byteLength(relPath) >= PATH_MAX) {
    // Too long as a whole: keep the first segment for locality, put the file under a hashed name.
    const hash = createHash('sha256').update(key).digest('hex').slice(0, 32);
    const last = onDisk[onDisk.length - 1]!;
    const short = shortenSegment(last, 96);
    onDisk.splice(0, onDisk.length, shortenSegment(onDisk[0]!, 64), `~long-${hash}`, short);
    if (onDisk.length > 1 && segments.length === 1) onDisk.splice(0, 1);
    if (rule) onDisk = rule(segments, onDisk);
    relPath = onDisk.join('/');
    shortened = true;
  }
  if (isReservedSegment(onDisk[0]!)) throw unsafe(key, `inside the reserved folder ${RESERVED_DIR}`);
  const absPath = path.join(root, ...onDisk);
  // Belt and braces: nothing above can escape the root, and this proves it.
  const rel = path.relative(root, absPath);
  // (A name such as "..." or "..a" is legal: only a leading ".." segment escapes.)
  if (rel === '..' || rel.startsWith(`..${path.sep}`) || path.isAbsolute(rel) || rel === '') throw unsafe(key, 'resolves outside the mirror root');
  return { segments: onDisk, relPath, absPath, isFolderMarker, shortened };
}
