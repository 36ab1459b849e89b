// Catalog files are written like any mirrored file: complete content in a temporary file under the
// reserved folder (same filesystem), fsync, rename into place, fsync the directory. Never a partial
// JSON under its final name. Paths come from the mirror's own rules (relative, no `..`). Each writer
// has its own temporary folder (catalog-tmp/<instance>/): replicas sharing the mirror never remove
// each other's files; a dead writer's leftovers are removed at a later start once they are old.
import { createHash, randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { classifyError } from '../errors.js';
import { ensureParentDirs, fsyncDir, lstatOrNull, syncCreatedDirs } from './fs-safe.js';
import { RESERVED_DIR } from './paths.js';

export const CATALOG_TMP_DIR = path.join(RESERVED_DIR, 'catalog-tmp');
/** Leftover temporary files older than this are a dead writer's (a write takes milliseconds). */
export const CATALOG_TMP_STALE_MS = 60 * 60_000;

/** A catalog file could not be written or removed: which one, and the error class (errors.ts). */
export class CatalogFileError extends Error {
  readonly errorClass: string;
  constructor(
    readonly relPath: string,
    cause: unknown,
  ) {
    const c = classifyError(cause, `STAC catalog file ${relPath}`);
    super(c.message, { cause });
    this.errorClass = c.errorClass;
  }
}

/** A new temporary folder name for one writer (process). */
export function newTmpDir(): string {
  return path.join(CATALOG_TMP_DIR, `${process.pid}-${randomBytes(6).toString('hex')}`);
}

function segmentsOf(relPath: string): string[] {
  const segs = relPath.split('/');
  if (segs.some((s) => s === '' || s === '.' || s === '..') || segs[0] === RESERVED_DIR) throw new Error(`refusing catalog path ${JSON.stringify(relPath)}`);
  return segs;
}

/** Write `text` to `relPath` under root atomically and durably; errors are CatalogFileError. */
export async function writeCatalogFile(root: string, relPath: string, text: string, tmpRel: string = CATALOG_TMP_DIR): Promise<void> {
  try {
    await write(root, relPath, text, tmpRel);
  } catch (e) {
    throw e instanceof CatalogFileError ? e : new CatalogFileError(relPath, e);
  }
}

async function write(root: string, relPath: string, text: string, tmpRel: string): Promise<void> {
  const segs = segmentsOf(relPath);
  const created = await ensureParentDirs(root, segs.slice(0, -1));
  const tmpDir = path.join(root, tmpRel);
  await fsp.mkdir(tmpDir, { recursive: true });
  const tmp = path.join(tmpDir, `${randomBytes(8).toString('hex')}.json`);
  const fh = await fsp.open(tmp, 'wx', 0o644);
  try {
    await fh.writeFile(text);
    await fh.sync();
  } finally {
    await fh.close();
  }
  const dest = path.join(root, ...segs);
  const st = await lstatOrNull(dest);
  if (st?.isDirectory()) {
    await fsp.rm(tmp, { force: true });
    throw new CatalogFileError(relPath, Object.assign(new Error(`${relPath} is a directory; the catalog file cannot go there`), { code: 'EISDIR' }));
  }
  try {
    await fsp.rename(tmp, dest);
  } catch (e) {
    await fsp.rm(tmp, { force: true });
    throw e;
  }
  await syncCreatedDirs(created, path.dirname(dest));
}

/** The sha256 (hex) of a catalog text, as the state records what was written. */
export function digest(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** Does the file at relPath hold exactly the text whose digest is `sum`? */
export async function holds(root: string, relPath: string, sum: string | null): Promise<boolean> {
  if (sum === null) return false;
  const text = await fsp.readFile(path.join(root, ...segmentsOf(relPath)), 'utf8').catch(() => null);
  return text !== null && digest(text) === sum;
}

/**
 * Remove a catalog file (absent is fine) and sync its directory. With `ifDigest`, only when the
 * file holds exactly what the catalog wrote (anything else there, an asset say, is left alone).
 * Returns whether a file was removed.
 */
export async function removeCatalogFile(root: string, relPath: string, ifDigest?: string): Promise<boolean> {
  try {
    const segs = segmentsOf(relPath);
    const dest = path.join(root, ...segs);
    const st = await lstatOrNull(dest);
    if (!st || !st.isFile()) return false;
    if (ifDigest !== undefined && !(await holds(root, relPath, ifDigest))) return false;
    await fsp.rm(dest, { force: true });
    await fsyncDir(path.dirname(dest)).catch(() => undefined);
    return true;
  } catch (e) {
    throw new CatalogFileError(relPath, e);
  }
}

/** Start-up: temporary files of writers that died before their rename (old ones only: a replica may be writing). */
export async function clearCatalogTmp(root: string, now: number, staleMs = CATALOG_TMP_STALE_MS): Promise<number> {
  const base = path.join(root, CATALOG_TMP_DIR);
  let removed = 0;
  const sweep = async (dir: string): Promise<boolean> => {
    let empty = true;
    for (const d of await fsp.readdir(dir, { withFileTypes: true }).catch(() => [])) {
      const p = path.join(dir, d.name);
      if (d.isDirectory()) {
        // An empty folder goes only when it is old too: a live writer may just have made it.
        const old = async () => ((s) => s !== null && now - s.mtimeMs > staleMs)(await lstatOrNull(p));
        if ((await sweep(p)) && (await old())) await fsp.rmdir(p).catch(() => (empty = false));
        else empty = false;
        continue;
      }
      const st = await lstatOrNull(p);
      if (st && now - st.mtimeMs > staleMs) {
        await fsp.rm(p, { force: true });
        removed++;
      } else empty = false;
    }
    return empty;
  };
  await sweep(base);
  return removed;
}
