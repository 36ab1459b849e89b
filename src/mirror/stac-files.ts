// Catalogue files are written like any mirrored file: complete content in a temporary file under the
// reserved folder (same filesystem), fsync, rename into place, fsync the directory. Never a partial
// JSON under its final name. Paths come from the mirror's own rules (relative, no `..`).
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { ensureParentDirs, fsyncDir, lstatOrNull, syncCreatedDirs } from './fs-safe.js';
import { RESERVED_DIR } from './paths.js';

export const CATALOG_TMP_DIR = path.join(RESERVED_DIR, 'catalog-tmp');

function segmentsOf(relPath: string): string[] {
  const segs = relPath.split('/');
  if (segs.some((s) => s === '' || s === '.' || s === '..') || segs[0] === RESERVED_DIR) throw new Error(`refusing catalogue path ${JSON.stringify(relPath)}`);
  return segs;
}

/** Write `text` to `relPath` under root atomically and durably. */
export async function writeCatalogFile(root: string, relPath: string, text: string): Promise<void> {
  const segs = segmentsOf(relPath);
  const created = await ensureParentDirs(root, segs.slice(0, -1));
  const tmpDir = path.join(root, CATALOG_TMP_DIR);
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
    throw new Error(`${relPath} is a directory; the catalogue file cannot go there`);
  }
  try {
    await fsp.rename(tmp, dest);
  } catch (e) {
    await fsp.rm(tmp, { force: true });
    throw e;
  }
  await syncCreatedDirs(created, path.dirname(dest));
}

/** Remove a catalogue file (absent is fine) and sync its directory. */
export async function removeCatalogFile(root: string, relPath: string): Promise<void> {
  const segs = segmentsOf(relPath);
  const dest = path.join(root, ...segs);
  const st = await lstatOrNull(dest);
  if (!st || st.isDirectory()) return;
  await fsp.rm(dest, { force: true });
  await fsyncDir(path.dirname(dest)).catch(() => undefined);
}

/** Start-up: temporary files of a writer that died before its rename. */
export async function clearCatalogTmp(root: string): Promise<void> {
  await fsp.rm(path.join(root, CATALOG_TMP_DIR), { recursive: true, force: true });
}
