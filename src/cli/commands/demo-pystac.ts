// The end of `demo --source stac`: open the mirror's catalog with a real STAC reader, pystac, and
// print its collections and item counts (python/demo_pystac.py). pystac comes from the project's
// venv (.venv-ci, made by .ci/run) or a python3 that can import it; when there is none, the demo
// says so plainly.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The script pystac runs (python/ at the package root: shipped by package.json "files" and the image). */
export const PYSTAC_SCRIPT = fileURLToPath(new URL('../../../python/demo_pystac.py', import.meta.url));

function candidates(): string[] {
  const pkg = fileURLToPath(new URL('../../../', import.meta.url));
  return [path.join(pkg, '.venv-ci', 'bin', 'python'), path.join(process.cwd(), '.venv-ci', 'bin', 'python'), 'python3'];
}

/** Lines to print: what pystac saw, or why it could not be run. */
export function openWithPystac(catalogFile: string): { ok: boolean; lines: string[] } {
  for (const py of candidates()) {
    if (py !== 'python3' && !existsSync(py)) continue;
    const probe = spawnSync(py, ['-c', 'import pystac'], { encoding: 'utf8', timeout: 30_000 });
    if (probe.status !== 0) continue;
    const r = spawnSync(py, [PYSTAC_SCRIPT, catalogFile], { encoding: 'utf8', timeout: 120_000 });
    if (r.status !== 0) return { ok: false, lines: [`pystac (${py}) could not open the catalog: ${(r.stderr || r.error?.message || '').trim().split('\n').slice(-3).join(' ')}`] };
    return { ok: true, lines: r.stdout.trimEnd().split('\n') };
  }
  return { ok: true, lines: ['pystac is NOT installed here (no .venv-ci and python3 cannot import it), so no STAC reader was run.', 'Install it with: python3 -m venv .venv-ci && .venv-ci/bin/pip install -r test/python/requirements.txt'] };
}
