// The mirror layout around the key → path rules: how the filesystem compares names (probed at
// start-up), case/normalization twins, previous versions, and the trash. Everything lives inside the
// reserved folder unless a versions directory is configured:
//   <mirror>/.constellr-sync/staging/   partial downloads (see staging.ts)
//   <mirror>/.constellr-sync/versions/  replaced versions: versions/<path>/<LastModified><ext>
//   <mirror>/.constellr-sync/trash/     files removed by reconcile: trash/<YYYY-MM-DD>/<path>
import { createHash, randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { ListedSize } from '../lib/size.js';
import { ensureParentDirs, lstatOrNull } from './fs-safe.js';
import { foldName, RESERVED_DIR, resolveKey, shortenSegment, type FsNameRules, type MirrorTarget, type SegmentRule } from './paths.js';
import { mapStacSegments, type NameRules } from './stac-names.js';

export const VERSIONS_DIR = path.join(RESERVED_DIR, 'versions');
export const TRASH_DIR = path.join(RESERVED_DIR, 'trash');

export type { FsNameRules };

export type CaseConflictPolicy = 'error' | 'skip' | 'suffix';

export interface MirrorLayoutSettings {
  fs: FsNameRules;
  caseConflict: CaseConflictPolicy;
  keepPreviousVersions: number;
  /** Absolute versions directory, or null for <mirror>/.constellr-sync/versions. */
  versionsDir: string | null;
  /** `stac`: the STAC catalog's names are reserved and mapped away from (source: stac). */
  names?: NameRules;
}

export const DEFAULT_LAYOUT: MirrorLayoutSettings = {
  fs: { caseInsensitive: false, normalizationInsensitive: false },
  caseConflict: 'error',
  keepPreviousVersions: 0,
  versionsDir: null,
};

/**
 * Probe the filesystem holding the mirror: create a file with a lower-case name and look it up in
 * upper case; create one named with a precomposed é (NFC) and look it up decomposed (NFD).
 */
export async function probeNameRules(root: string): Promise<FsNameRules> {
  const dir = path.join(root, RESERVED_DIR);
  await fsp.mkdir(dir, { recursive: true });
  const tag = randomBytes(6).toString('hex');
  const lower = path.join(dir, `.probe-case-${tag}-x`);
  const nfc = path.join(dir, `.probe-norm-${tag}-\u00e9`);
  try {
    await fsp.writeFile(lower, '');
    await fsp.writeFile(nfc, '');
    const caseInsensitive = (await lstatOrNull(path.join(dir, `.PROBE-CASE-${tag.toUpperCase()}-X`))) !== null;
    const normalizationInsensitive = (await lstatOrNull(path.join(dir, `.probe-norm-${tag}-e\u0301`))) !== null;
    return { caseInsensitive, normalizationInsensitive };
  } finally {
    await fsp.rm(lower, { force: true });
    await fsp.rm(nfc, { force: true });
  }
}

/** A path as the filesystem compares it: two paths with the same fold name the same file. */
export function foldPath(rel: string, fs: FsNameRules): string {
  return foldName(rel, fs);
}

/** The segment rule of this layout's names (resolveKey's `rule`): the STAC catalog's, or none. */
export function segmentRule(s: Pick<MirrorLayoutSettings, 'names'>): SegmentRule | undefined {
  return s.names === 'stac' ? mapStacSegments : undefined;
}

/** A key's place in the mirror under this layout's name rules (resolveKey; unsafe keys throw). */
export function mirrorTarget(root: string, key: string, size: ListedSize, s: Pick<MirrorLayoutSettings, 'names'> = DEFAULT_LAYOUT): MirrorTarget {
  return resolveKey(root, key, size, segmentRule(s));
}

/**
 * The `suffix` policy: the later twin goes to "<stem>~<hash of its key><ext>" next to the first, a
 * deterministic name (the same key always lands on the same path). The layout's name rules apply to
 * the suffixed name too.
 */
export function suffixedTarget(root: string, key: string, t: MirrorTarget, s: Pick<MirrorLayoutSettings, 'names'> = DEFAULT_LAYOUT): MirrorTarget {
  const last = t.segments[t.segments.length - 1]!;
  const hash = createHash('sha256').update(key).digest('hex').slice(0, 8);
  const dot = last.lastIndexOf('.');
  const ext = dot > 0 && Buffer.byteLength(last.slice(dot)) <= 32 ? last.slice(dot) : '';
  const stem = ext ? last.slice(0, dot) : last;
  const name = shortenSegment(`${stem}~${hash}${ext}`);
  let segments = [...t.segments.slice(0, -1), name];
  if (s.names === 'stac' && segments.length === key.split('/').length) segments = mapStacSegments(key.split('/'), segments);
  return { ...t, segments, relPath: segments.join('/'), absPath: path.join(root, ...segments) };
}

/** "2026-03-01T10-00-00.000Z": sortable, and legal on every filesystem. */
export function versionStamp(ms: number): string {
  return new Date(ms).toISOString().replace(/:/g, '-');
}

const STAMP_RE = /^\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}\.\d{3}Z/;

/** Directory holding the previous versions of one mirror path. */
export function versionsDirFor(root: string, s: Pick<MirrorLayoutSettings, 'versionsDir'>, segments: readonly string[]): { base: string; segments: string[] } {
  if (s.versionsDir) return { base: s.versionsDir, segments: [...segments] };
  return { base: root, segments: [RESERVED_DIR, 'versions', ...segments] };
}

/**
 * Keep the file now at `target` as a previous version before it is replaced: a hard link (the mirror
 * path keeps its old file until the atomic rename), or a copy when the versions directory is on
 * another filesystem. Then only the newest `keep` versions are retained. Returns the version's path.
 */
export async function preserveVersion(root: string, s: MirrorLayoutSettings, target: MirrorTarget, oldMtimeMs: number): Promise<string | null> {
  if (s.keepPreviousVersions <= 0) return null;
  const where = versionsDirFor(root, s, target.segments);
  if (s.versionsDir) await fsp.mkdir(s.versionsDir, { recursive: true });
  await ensureParentDirs(where.base, where.segments);
  const dir = path.join(where.base, ...where.segments);
  const last = target.segments[target.segments.length - 1]!;
  const dot = last.lastIndexOf('.');
  const ext = dot > 0 && Buffer.byteLength(last.slice(dot)) <= 32 ? last.slice(dot) : '';
  const dest = path.join(dir, `${versionStamp(oldMtimeMs)}${ext}`);
  await fsp.rm(dest, { force: true });
  try {
    await fsp.link(target.absPath, dest);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'EXDEV' && code !== 'EPERM' && code !== 'ENOTSUP') throw e;
    await fsp.copyFile(target.absPath, dest);
    await fsp.utimes(dest, oldMtimeMs / 1000, oldMtimeMs / 1000);
  }
  await pruneVersions(dir, s.keepPreviousVersions);
  return dest;
}

/** Remove all but the newest `keep` versions in one versions directory. */
export async function pruneVersions(dir: string, keep: number): Promise<number> {
  const names = (await fsp.readdir(dir, { withFileTypes: true })).filter((d) => d.isFile() && STAMP_RE.test(d.name)).map((d) => d.name);
  names.sort().reverse();
  const drop = names.slice(keep);
  for (const n of drop) await fsp.rm(path.join(dir, n), { force: true });
  return drop.length;
}

/**
 * The absolute path of a mirrored file, after checking that no directory on the way is a symlink
 * (a removal must never reach outside the mirror). Null when a parent is missing or not a directory.
 */
export async function safeExistingPath(root: string, relPath: string): Promise<string | null> {
  const segments = relPath.split('/').filter((s) => s !== '');
  let cur = root;
  for (const seg of segments.slice(0, -1)) {
    cur = path.join(cur, seg);
    const st = await lstatOrNull(cur);
    if (!st || !st.isDirectory()) return null;
  }
  return path.join(root, ...segments);
}

/** Move a mirrored file into <mirror>/.constellr-sync/trash/<YYYY-MM-DD>/<path>. Returns where it went, or null when it is not there. */
export async function moveToTrash(root: string, relPath: string, now: number): Promise<string | null> {
  const src = await safeExistingPath(root, relPath);
  if (!src || !(await lstatOrNull(src))) return null;
  const day = new Date(now).toISOString().slice(0, 10);
  const segments = relPath.split('/');
  await ensureParentDirs(root, [RESERVED_DIR, 'trash', day, ...segments.slice(0, -1)]);
  let dest = path.join(root, RESERVED_DIR, 'trash', day, ...segments);
  if (await lstatOrNull(dest)) dest = `${dest}~${now}`;
  await fsp.rename(src, dest);
  return dest;
}

let folderRemovalCount = 0;

/**
 * Moves when this process starts removing empty folders and after each folder it removed: a holder of open folder handles
 * (download/group-commit.ts) drops them when this moves, since a path may then name another folder.
 */
export function folderRemovals(): number {
  return folderRemovalCount;
}

/**
 * After a file's removal: its folder, and each parent up to (not including) the mirror root, goes
 * when it is empty; the first folder that is not empty (or is not a plain folder) stops the walk.
 * Never a symlink, never outside the mirror; a folder someone fills meanwhile stays (ENOTEMPTY).
 */
export async function removeEmptyFolders(root: string, relPath: string): Promise<number> {
  folderRemovalCount++;
  const segments = relPath.split('/').filter((s) => s !== '');
  let removed = 0;
  for (let n = segments.length - 1; n > 0; n--) {
    const rel = segments.slice(0, n).join('/');
    if (rel.split('/')[0] === RESERVED_DIR) break;
    const abs = await safeExistingPath(root, `${rel}/x`);
    if (!abs) break;
    const dir = path.dirname(abs);
    const st = await lstatOrNull(dir);
    if (!st?.isDirectory()) break;
    try {
      await fsp.rmdir(dir);
      removed++;
      folderRemovalCount++;
    } catch {
      break;
    }
  }
  return removed;
}
