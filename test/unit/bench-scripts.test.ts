// The benchmark scripts are run by hand (`npm run bench`), not by the tests, so a syntax error in one
// would only show the next time someone measures. Each must at least parse.
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const BENCH = path.resolve(__dirname, '../../bench');
const scripts = readdirSync(BENCH).filter((f) => f.endsWith('.mjs'));

describe('bench scripts', () => {
  it('there are scripts to check', () => expect(scripts).toContain('run.mjs'));
  it.each(scripts)('%s parses (node --check)', (f) => {
    execFileSync(process.execPath, ['--check', path.join(BENCH, f)], { stdio: 'pipe' });
  });
});
