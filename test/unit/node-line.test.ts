// Which Node.js the suite runs on. .ci/run runs the suites on several lines and names the one each run
// expects in CONSTELLR_CI_NODE; the tests spawn daemons with process.execPath and sometimes `node`
// from PATH, and both must be that line, or a run "on 26" would test 24 in its children.
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

describe('the Node.js line of the suite', () => {
  it('is the one .ci/run names, for the suite and for the children it spawns by path and by PATH', () => {
    const expected = process.env.CONSTELLR_CI_NODE ?? process.version;
    const byPath = execFileSync(process.execPath, ['-p', 'process.version'], { encoding: 'utf8' }).trim();
    const byName = execFileSync('node', ['-p', 'process.version'], { encoding: 'utf8' }).trim();
    expect({ suite: process.version, execPath: byPath, PATH: byName }).toEqual({
      suite: expected,
      execPath: expected,
      PATH: expected,
    });
  });
});
