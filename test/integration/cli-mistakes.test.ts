// Every mistake a new operator makes gets exit 2 and one clear line, never a stack trace: invalid
// cron expressions (for every command, before anything starts), a non-http(s) API URL, a misspelt
// key (with the nearest known one), and filesystem paths that cannot be used.
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli, tempDirs, type CliResult, type TempDirs } from '../helpers/harness.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

async function dirsFor(): Promise<TempDirs> {
  const d = await tempDirs('mistakes');
  cleanups.push(() => d.cleanup());
  await fsp.mkdir(d.root, { recursive: true });
  return d;
}

// Nothing listens here and nothing should be contacted: configuration errors stop before the network.
const env = (d: TempDirs, extra: Record<string, string> = {}) => ({
  CONSTELLR_API_URL: 'http://127.0.0.1:9',
  CONSTELLR_USERNAME: 'u',
  CONSTELLR_PASSWORD: 'p',
  CONSTELLR_SYNC_MIRROR_DIR: d.mirror,
  CONSTELLR_SYNC_STATE_DIR: d.state,
  CONSTELLR_SYNC_HTTP_LISTEN: '127.0.0.1:0',
  ...extra,
});

/** Exit 2, the expected message, and nothing that looks like a stack trace. */
function expectMistake(r: CliResult, message: RegExp): void {
  expect(r.code, r.stderr).toBe(2);
  expect(r.stderr).toMatch(message);
  expect(r.stderr + r.stdout).not.toMatch(/\n\s+at .+[(:]\d+|unexpected error/);
}

describe('configuration mistakes: exit 2, one line, no stack trace', () => {
  it.each([
    ['sync', 'sync:\n  schedule: "every 5 minutes"\n', /sync\.schedule.*not a valid cron expression/],
    ['run', 'sync:\n  schedule: "61 * * * *"\n', /sync\.schedule.*not a valid cron expression/],
    ['run', 'sync:\n  reconcileSchedule: nightly\n', /sync\.reconcileSchedule.*not a valid cron expression/],
    ['config', 'sync:\n  reconcileSchedule: nightly\n', /sync\.reconcileSchedule.*not a valid cron expression/],
    ['sync', 'api:\n  url: ftp://x\n', /api\.url.*must be an http\(s\) URL/],
    ['status', 'sync:\n  concurency: 3\n', /sync\.concurency: unknown key \(did you mean "sync\.concurrency"\?\)/],
    ['run', 'concurrency: 3\n', /concurrency: unknown key \(did you mean "sync\.concurrency"\?\)/],
  ])('%s with %j', async (cmd, yaml, message) => {
    const d = await dirsFor();
    const file = path.join(d.root, 'config.yaml');
    await fsp.writeFile(file, yaml);
    const args = cmd === 'config' ? ['config', 'check', '-c', file] : [cmd, '-c', file];
    const e: Record<string, string> = env(d);
    if (yaml.includes('url:')) delete e.CONSTELLR_API_URL; // the environment would win over the file
    const r = await runCli(args, { env: e, timeoutMs: 20_000 });
    expectMistake(r, message);
    // A single mistake is a single line.
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });
});

describe('filesystem mistakes: `cannot use the state directory <path>: <reason>`, exit 2', () => {
  it('the state directory is a file', async () => {
    const d = await dirsFor();
    await fsp.writeFile(d.state, 'not a directory');
    for (const cmd of ['sync', 'run']) expectMistake(await runCli([cmd], { env: env(d) }), new RegExp(`cannot use the state directory ${d.state}: a file is in the way`));
  });

  it('the state file is not a SQLite database', async () => {
    const d = await dirsFor();
    await fsp.mkdir(d.state, { recursive: true });
    await fsp.writeFile(path.join(d.state, 'state.db'), 'x'.repeat(4096));
    expectMistake(await runCli(['sync'], { env: env(d) }), new RegExp(`cannot use the state directory ${d.state}: the state file is not a SQLite database`));
    expectMistake(await runCli(['status'], { env: env(d) }), new RegExp(`cannot use the state directory ${d.state}: the state file is not a SQLite database`));
  });

  it.skipIf(process.getuid?.() === 0)('the state directory is not writable (not as root: root writes anyway)', async () => {
    const d = await dirsFor();
    await fsp.mkdir(d.state, { recursive: true, mode: 0o500 });
    expectMistake(await runCli(['sync'], { env: env(d) }), /cannot use the state directory .*: (permission denied|SQLite cannot open)/);
  });

  it('the mirror path is a file', async () => {
    const d = await dirsFor();
    await fsp.writeFile(d.mirror, 'a file');
    expectMistake(await runCli(['sync'], { env: env(d) }), new RegExp(`cannot use the mirror directory ${d.mirror}: a file is in the way`));
    const below = path.join(d.mirror, 'sub');
    expectMistake(await runCli(['sync'], { env: env(d, { CONSTELLR_SYNC_MIRROR_DIR: below }) }), new RegExp(`cannot use the mirror directory ${below}: a file is in the way`));
  });
});
