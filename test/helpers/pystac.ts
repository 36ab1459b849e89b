// Runs test/python/pystac_client_check.py (pystac-client, a real STAC client) in the venv that
// .ci/run creates (.venv-ci). Outside CI a missing venv skips with a printed reason; with CI=true
// it is a failure, so CI can never pass without having run the check.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(import.meta.dirname, '../..');
export const VENV_PYTHON = path.join(ROOT, '.venv-ci', 'bin', 'python');
export const PYSTAC_SCRIPT = path.join(ROOT, 'test', 'python', 'pystac_client_check.py');

/** null when the venv is usable; otherwise why not. */
export function pystacUnavailable(): string | null {
  if (!existsSync(VENV_PYTHON)) return `${VENV_PYTHON} is missing: run .ci/run (or python3 -m venv .venv-ci && .venv-ci/bin/pip install -r test/python/requirements.txt)`;
  return null;
}

/** Skip outside CI when the venv is absent (printing why); in CI the test itself must fail. */
export function skipPystac(): boolean {
  const why = pystacUnavailable();
  if (why && process.env.CI !== 'true') {
    console.log(`skipping pystac-client tests: ${why}`);
    return true;
  }
  return false;
}

export interface PystacOptions {
  collections?: string[];
  filter?: unknown;
  filter_lang?: 'cql2-json' | 'cql2-text';
  sortby?: unknown;
  limit?: number;
  method?: 'GET' | 'POST';
  datetime?: string;
}

export interface PystacItem {
  id: string;
  collection: string;
  assets: Record<string, string>;
  checksums: Record<string, string | null>;
}

export interface PystacResult {
  conformance: Record<string, boolean>;
  collections: string[];
  pages: number;
  matched: number | null;
  items: PystacItem[];
}

/** Run the check against `stacUrl` (the /stac root); the key goes through the environment only. */
export function runPystacCheck(stacUrl: string, apiKey: string, opts: PystacOptions, timeoutMs = 60_000): Promise<PystacResult> {
  return runPythonJson<PystacResult>(PYSTAC_SCRIPT, [stacUrl, JSON.stringify(opts)], { STAC_API_KEY: apiKey, NO_PROXY: '*' }, timeoutMs);
}

/** Run a check script with the venv's Python (only PATH and `env` in its environment) and parse the JSON it prints. */
export function runPythonJson<T>(script: string, args: string[], env: Record<string, string>, timeoutMs: number): Promise<T> {
  const why = pystacUnavailable();
  if (why) return Promise.reject(new Error(why));
  const name = path.basename(script);
  return new Promise((resolve, reject) => {
    const child = spawn(VENV_PYTHON, [script, ...args], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
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
      if (code !== 0) return reject(new Error(`${name} exited ${code ?? signal}: ${err.slice(-4000)}`));
      try {
        resolve(JSON.parse(out) as T);
      } catch (e) {
        reject(new Error(`${name} printed no JSON (${(e as Error).message}): ${out.slice(0, 500)}`));
      }
    });
  });
}
