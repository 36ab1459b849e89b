// Code is code, not a string (issue 26 §5): the hash thread, the status page's browser module and the
// demo's pystac script are files of their own, found where the package and the image put them.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { PYSTAC_SCRIPT } from '../../src/cli/commands/demo-pystac.js';
import { compiledSibling } from '../../src/lib/compiled.js';
import { BROWSER_MODULES } from '../../src/ops/status/page-assets.js';
import { REPO_ROOT } from '../helpers/harness.js';

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sources(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : []));
}

describe('code in files', () => {
  it('a compiled sibling is beside a compiled module, and under dist/ for a source module run by the test runner', () => {
    expect(compiledSibling('./hash-thread.js', 'file:///app/dist/sync/hash.js').href).toBe('file:///app/dist/sync/hash-thread.js');
    expect(compiledSibling('./hash-thread.js', 'file:///src/app/src/sync/hash.ts').href).toBe('file:///src/app/dist/sync/hash-thread.js');
    expect(compiledSibling('../ops/x.js', 'file:///app/src/sync/hash.ts').href).toBe('file:///app/dist/ops/x.js');
  });

  it('the hash thread and the browser modules are compiled files beside their loaders (build first)', () => {
    const src = pathToFileURL(path.join(REPO_ROOT, 'src', 'download', 'hash.ts')).href;
    expect(existsSync(fileURLToPath(compiledSibling('./hash-thread.js', src)))).toBe(true);
    for (const m of BROWSER_MODULES) expect(existsSync(path.join(REPO_ROOT, 'dist', 'ops', 'status', m)), m).toBe(true);
    for (const m of BROWSER_MODULES) expect(existsSync(path.join(REPO_ROOT, 'src', 'ops', 'status', m.replace(/\.js$/, '.ts'))), m).toBe(true);
  });

  it('no source runs code kept in a string: no eval workers, no Function source, no inline scripts', () => {
    for (const f of sources(path.join(REPO_ROOT, 'src'))) {
      const text = readFileSync(f, 'utf8');
      const rel = path.relative(REPO_ROOT, f);
      expect(text, rel).not.toMatch(/eval:\s*true|new Function\(|\.toString\(\)\)\.join|__name=|<script>/);
      expect(text, rel).not.toMatch(/spawnSync\([^)]*'-c',\s*[A-Z_]+\b/);
    }
  });

  it("the demo's pystac script ships with the package and the image", () => {
    expect(existsSync(PYSTAC_SCRIPT)).toBe(true);
    const rel = path.relative(REPO_ROOT, PYSTAC_SCRIPT);
    const top = rel.split(path.sep)[0]!;
    const files = (JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { files: string[] }).files;
    expect(files).toContain(top);
    const docker = readFileSync(path.join(REPO_ROOT, 'Dockerfile'), 'utf8');
    const runtime = docker.slice(docker.lastIndexOf('\nFROM '));
    expect(runtime).toMatch(new RegExp(`^COPY ${top} \\./${top}$`, 'm'));
    expect(readFileSync(path.join(REPO_ROOT, '.dockerignore'), 'utf8').split('\n')).not.toContain(top);
  });
});
