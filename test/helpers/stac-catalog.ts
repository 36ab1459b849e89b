// Runs test/python/stac_catalog_check.py (pystac + stac-pydantic in the venv .ci/run makes) on a mirror
// and returns what the real STAC tools saw. Skipping rules as for pystac-client (helpers/pystac.ts).
import { spawn } from 'node:child_process';
import path from 'node:path';
import { VENV_PYTHON, pystacUnavailable } from './pystac.js';

const SCRIPT = path.resolve(import.meta.dirname, '../python/stac_catalog_check.py');

export interface CatalogCheck {
  catalogType: string | null;
  collections: Record<string, { items: number; extent: { spatial: { bbox: number[][] }; temporal: { interval: (string | null)[][] } } }>;
  items: {
    collection: string;
    id: string;
    geometry: unknown;
    bbox: number[] | null;
    properties: Record<string, unknown>;
    canonical: string | null;
    path: string;
    assets: Record<string, { path: string; size: number; checksum: string }>;
  }[];
  problems: string[];
}

export function runCatalogCheck(mirror: string, timeoutMs = 120_000): Promise<CatalogCheck> {
  const why = pystacUnavailable();
  if (why) return Promise.reject(new Error(why));
  return new Promise((resolve, reject) => {
    const child = spawn(VENV_PYTHON, [SCRIPT, mirror], { env: { PATH: process.env.PATH ?? '' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (err += d.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code !== 0) return reject(new Error(`stac_catalog_check.py exited ${code ?? signal}: ${err.slice(-4000)}`));
      try {
        resolve(JSON.parse(out) as CatalogCheck);
      } catch (e) {
        reject(new Error(`stac_catalog_check.py printed no JSON (${(e as Error).message}): ${out.slice(0, 500)}`));
      }
    });
  });
}
