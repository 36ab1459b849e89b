// The progress display of `sync`: live in a pseudo-terminal (script(1) from util-linux, else a python3
// pty), with log lines printed above it rather than through it; no escape code at all outside a
// terminal, and --json / --quiet for scripts. Build first: `npx tsc -p .`.
import { spawn, spawnSync } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AssetInventory, startSimulator, type Simulator } from '../../src/simulator/index.js';
import { CLI_MAIN, REPO_ROOT, runCli, tempDirs, type TempDirs } from '../helpers/harness.js';

const ESC = '\x1b';
let sim: Simulator;
const cleanups: (() => Promise<unknown>)[] = [];
const GONE_KEY = 'products/lst/2026/withdrawn.tif';

beforeAll(async () => {
  // Throttled bodies so the display is drawn several times; one key answers 404 (a warning log line).
  const assets = Array.from({ length: 8 }, (_, i) => ({ key: `products/lst/2026/scene-${i}.tif`, size: 192 * 1024, lastModified: Date.UTC(2026, 0, 1, 0, i) }));
  assets.push({ key: GONE_KEY, size: 1000, lastModified: Date.UTC(2026, 0, 2) });
  sim = await startSimulator({ port: 0, adminPort: false, inventory: new AssetInventory(assets), faults: { bodyBytesPerSecond: 384 * 1024, notFoundKeys: [GONE_KEY] }, seed: 1 });
});
afterAll(async () => {
  await sim.close();
});
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!().catch(() => undefined);
});

async function dirs(): Promise<TempDirs> {
  const d = await tempDirs('ops-progress');
  cleanups.push(() => d.cleanup());
  return d;
}

function syncArgs(d: TempDirs, extra: string[] = []): string[] {
  return ['sync', '--api-url', sim.url, '--mirror-dir', d.mirror, '--state-dir', d.state, '--concurrency', '2', ...extra];
}

function env(): Record<string, string> {
  return { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? os.tmpdir(), CONSTELLR_USERNAME: sim.username, CONSTELLR_PASSWORD: sim.password, TERM: 'xterm', COLUMNS: '100' };
}

const hasScript = spawnSync('script', ['--version'], { stdio: 'ignore' }).status === 0;
const hasPython = spawnSync('python3', ['-c', 'import pty'], { stdio: 'ignore' }).status === 0;

/** Run the CLI with a pseudo-terminal as stdin/stdout/stderr; returns everything the terminal got. */
function runInPty(
  args: string[],
  timeoutMs = 30_000,
  opts: { env?: Record<string, string>; onOutput?: (output: string, input: (s: string) => void) => void } = {},
): Promise<{ code: number | null; output: string }> {
  const argv = [process.execPath, CLI_MAIN, ...args];
  const quoted = argv.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const [file, fileArgs] = hasScript
    ? ['script', ['-qfec', quoted, '/dev/null']]
    : ['python3', ['-c', 'import pty, sys; sys.exit(pty.spawn(sys.argv[1:]) >> 8)', ...argv]];
  return new Promise((resolve, reject) => {
    const child = spawn(file as string, fileArgs as string[], { cwd: REPO_ROOT, env: { ...env(), ...opts.env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    const input = (s: string) => void child.stdin.write(s);
    const onData = (d: string) => {
      output += d;
      opts.onOutput?.(output, input);
    };
    child.stdout.setEncoding('utf8').on('data', onData);
    child.stderr.setEncoding('utf8').on('data', onData);
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

describe.skipIf(!hasScript && !hasPython)('in a terminal', () => {
  it('shows a live display (files, bytes and percent, rate, ETA, current files), one-line logs above it, then the summary', async () => {
    const d = await dirs();
    const { code, output } = await runInPty(syncArgs(d));
    // 1 = the withdrawn asset is "gone", which is not a failure; every other file is mirrored.
    expect(code, output).toBe(0);
    // Each redraw first erases the previous frame line by line (\r, then ESC[2K ESC[1A per line).
    const frames = output.split(/\r(?:\x1b\[2K\x1b\[1A)*\x1b\[2K/).slice(1);
    expect(frames.length, output).toBeGreaterThanOrEqual(3);
    expect(output).toMatch(/\d+\/\d+ files {2}[\d.]+ (B|KiB|MiB)\/[\d.]+ (B|KiB|MiB) \(\d+%\) {2}[\d.]+ (B|KiB|MiB)\/s {2}ETA \S+/);
    expect(output).toMatch(/↓ products\/lst\/2026\/scene-\d\.tif \(192\.0 KiB\)/);
    expect(output).toMatch(/[1-9]\/9 files .*1 gone/); // the withdrawn asset counts as finished (gone), not failed
    expect(output).toMatch(/sync finished in \S+: 8 downloaded/);
    // The cursor is hidden while drawing and shown again at the end.
    expect(output).toContain(`${ESC}[?25l`);
    expect(output.lastIndexOf(`${ESC}[?25h`)).toBeGreaterThan(output.lastIndexOf(`${ESC}[?25l`));
    // The warning about the withdrawn asset is one line of text (no JSON), at the start of a line
    // (the display erased first, or not drawn yet), never in the middle of a frame.
    expect(output).not.toContain('{"level"');
    const logAt = output.indexOf(`warn: ${GONE_KEY}`);
    expect(logAt, output).toBeGreaterThan(0);
    const lineStart = Math.max(output.lastIndexOf('\n', logAt), output.lastIndexOf('\r', logAt)) + 1;
    expect(output.slice(lineStart, logAt).replace(/\x1b\[[0-9;?]*[A-Za-z]/g, ''), output.slice(Math.max(0, logAt - 200), logAt)).toBe('');
    const line = output.slice(logAt, output.indexOf('\n', logAt)).replace(/\r$/, '');
    expect(line).toMatch(/asset is gone/);
    expect(line.length).toBeLessThanOrEqual(99);
  });

  it('--log-format json keeps JSON log lines above the display', async () => {
    const d = await dirs();
    const { code, output } = await runInPty(syncArgs(d, ['--log-format', 'json']));
    expect(code, output).toBe(0);
    const logAt = output.indexOf('{"level":"warn"');
    expect(logAt, output).toBeGreaterThan(0);
    const line = output.slice(logAt, output.indexOf('\n', logAt)).replace(/\r$/, '');
    expect(JSON.parse(line)).toMatchObject({ level: 'warn', key: GONE_KEY });
  });

  it('under faults: one-line retry warnings, a paused state with its reason, bytes and percent; gives up at sync.outageDeadline (exit 3)', async () => {
    // Every download is reset mid-body: retries, then the circuit breaker opens (API unavailable).
    const faulty = await startSimulator({
      port: 0,
      adminPort: false,
      inventory: new AssetInventory(Array.from({ length: 10 }, (_, i) => ({ key: `products/lst/2026/05/01/a-rather-long-prefix-for-tile-32UPU/scene-${i}_mask.tif`, size: 300 * 1024, lastModified: Date.UTC(2026, 0, 1, 0, i) }))),
      faults: { resetRate: 1 },
      seed: 2,
    });
    cleanups.push(() => faulty.close());
    const d = await dirs();
    const file = `${d.root}/faults.yaml`;
    await fsp.mkdir(d.root, { recursive: true });
    await fsp.writeFile(file, 'sync:\n  quickRetries: 0\n  retryBaseDelay: 200ms\n  retryMaxDelay: 400ms\n  breakerPause: 3s\n  outageDeadline: 4s\n');
    const { code, output } = await runInPty(['sync', '-c', file, '--api-url', faulty.url, '--mirror-dir', d.mirror, '--state-dir', d.state, '--concurrency', '2'], 60_000, {
      env: { CONSTELLR_USERNAME: faulty.username, CONSTELLR_PASSWORD: faulty.password },
    });
    expect(code, output).toBe(3);
    const plain = output.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '');
    // one line per retry, the key shortened in the middle, the reason in words, the next try
    expect(plain).toMatch(/retry \d+\/10 products\/\S*…\S*_mask\.tif: connection (reset|lost); next try in \d/);
    expect(plain).not.toContain('{"level"');
    expect(plain).toMatch(/paused: API unavailable, retrying in \d/);
    expect(plain).toMatch(/\d+\/10 files {2}[\d.]+ (B|KiB|MiB)\/[\d.]+ (KiB|MiB) \(\d+%\)/);
    expect(plain).toMatch(/gave up: the API has been down for more than 4\.0s/);
    expect(plain).toMatch(/10 queued/);
  });

  it('Ctrl-C: `interrupted: N queued; run sync again to resume`, exit 130; the next sync shows the resumed download', async () => {
    const slow = await startSimulator({
      port: 0,
      adminPort: false,
      inventory: new AssetInventory(Array.from({ length: 2 }, (_, i) => ({ key: `slow/file-${i}.bin`, size: 2 * 1024 * 1024, lastModified: Date.UTC(2026, 0, 1, 0, i) }))),
      faults: { bodyBytesPerSecond: 256 * 1024 },
      seed: 3,
    });
    cleanups.push(() => slow.close());
    const d = await dirs();
    const args = ['sync', '--api-url', slow.url, '--mirror-dir', d.mirror, '--state-dir', d.state, '--concurrency', '1'];
    let presses = 0;
    const { code, output } = await runInPty(args, 60_000, {
      env: { CONSTELLR_USERNAME: slow.username, CONSTELLR_PASSWORD: slow.password },
      // Ctrl-C through the terminal (the line discipline turns it into SIGINT) once bytes arrive; a
      // second one aborts the in-flight download, which keeps its partial for the next sync.
      onOutput: (o, input) => {
        if (presses === 0 && /[1-9][\d.]* (KiB|MiB)\/4\.0 MiB/.test(o)) {
          presses++;
          input('\x03');
        } else if (presses === 1 && o.includes('stopping: finishing in-flight')) {
          presses++;
          input('\x03');
        }
      },
    });
    expect(presses, output).toBe(2);
    expect(code, output).toBe(130);
    expect(output).toMatch(/interrupted: 2 queued; run sync again to resume/);
    expect(output).not.toMatch(/waiting for a retry/);
    slow.setFaults({ bodyBytesPerSecond: 0 });
    const again = await runCli(args, { env: { CONSTELLR_USERNAME: slow.username, CONSTELLR_PASSWORD: slow.password } });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/resumed "slow\/file-\d\.bin" at [\d.]+ (KiB|MiB)/);
    expect(again.stderr).toMatch(/; 1 resumed/);
    const mirrored = again.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { msg?: string; resumedAt?: string });
    expect(mirrored.some((l) => l.msg === 'mirrored' && typeof l.resumedAt === 'string')).toBe(true);
  });

  it('--quiet prints no display and no summary even in a terminal', async () => {
    const d = await dirs();
    const { code, output } = await runInPty(syncArgs(d, ['--quiet']));
    expect(code).toBe(0);
    expect(output).not.toContain(ESC);
    expect(output).not.toContain('sync finished');
  });
});

describe('outside a terminal', () => {
  it('prints no escape codes: logs and a plain summary', async () => {
    const d = await dirs();
    const r = await runCli(syncArgs(d), { env: { CONSTELLR_USERNAME: sim.username, CONSTELLR_PASSWORD: sim.password } });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).not.toContain(ESC);
    expect(r.stderr).not.toContain(ESC);
    expect(r.stderr).toMatch(/sync finished in \S+: 8 downloaded/);
    // Logs stay JSON lines, one per line.
    for (const l of r.stdout.split('\n').filter(Boolean)) expect(() => JSON.parse(l)).not.toThrow();
  });

  it('--json prints one machine-readable summary on stdout; --quiet prints nothing on success', async () => {
    const d = await dirs();
    const r = await runCli(syncArgs(d, ['--json']), { env: { CONSTELLR_USERNAME: sim.username, CONSTELLR_PASSWORD: sim.password } });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout + r.stderr).not.toContain(ESC);
    const summary = JSON.parse(r.stdout) as { exitCode: number; downloaded: number; jobs: Record<string, number> };
    expect(summary).toMatchObject({ exitCode: 0, downloaded: 8, jobs: { done: 8, gone: 1 } });

    const d2 = await dirs();
    const q = await runCli(syncArgs(d2, ['--quiet']), { env: { CONSTELLR_USERNAME: sim.username, CONSTELLR_PASSWORD: sim.password } });
    expect(q.code, q.stderr).toBe(0);
    expect(q.stdout).toBe('');
    expect(q.stderr).toBe('');
  });
});
