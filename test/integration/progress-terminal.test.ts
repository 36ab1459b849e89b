// The progress display as a person sees it: `sync` runs in a real terminal of fixed size (a tmux pane,
// 120×35), and the assertions are on the screen and its scrollback as tmux renders them, not on the
// byte stream. Pauses (429 with Retry-After) and one-line log lines (retries) interleave with the
// display; then a second, resumed sync runs in the same pane. The pause line is part of the display
// and counts down; nothing of the display stays behind (no frozen pause lines, no stale copies of
// the display in the scrollback); log lines stay, one row each.
import { spawnSync } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { sampleInventory, startSimulator, type Simulator } from '../../src/simulator/index.js';
import { CLI_MAIN, tempDirs, testSeed, waitUntil } from '../helpers/harness.js';

const hasTmux = spawnSync('tmux', ['-V'], { stdio: 'ignore' }).status === 0;
if (!hasTmux) console.log(`progress-terminal: tmux is not installed${process.env.CI === 'true' ? ' (CI: this fails)' : '; skipped'}`);
const SOCKET = `constellr-test-${process.pid}`;
const COLS = 120;
const ROWS = 35;

const tmux = (...args: string[]) => spawnSync('tmux', ['-L', SOCKET, ...args], { encoding: 'utf8' });
/** The visible screen, one string per row (trailing blanks trimmed). */
const screen = () => tmux('capture-pane', '-p', '-t', 'sync').stdout.split('\n');
/** Scrollback and screen, wrapped rows joined. */
const everything = () => tmux('capture-pane', '-p', '-J', '-S', '-', '-E', '-', '-t', 'sync').stdout.split('\n');

const cleanups: (() => Promise<unknown>)[] = [];
let sim: Simulator | undefined;
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});
afterAll(() => {
  tmux('kill-server');
});

const FRAME_HEAD = /^\d+\/\d+ files {2}/;
const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

describe.skipIf(!hasTmux && process.env.CI !== 'true')('sync in a 120×35 terminal (tmux)', () => {
  it('pauses are a counting-down line of the display, log lines stay above it, and nothing of the display is left behind', async () => {
    const seed = testSeed();
    console.log(`progress-terminal seed: ${seed} (reproduce with TEST_SEED=${seed})`);
    // 429 with Retry-After: 3 on a few requests (pauses long enough to watch count down), resets mid-body
    // (retry log lines, resumed partials), bodies throttled so the display is redrawn many times.
    sim = await startSimulator({
      port: 0,
      adminPort: false,
      inventory: sampleInventory(seed, { count: 90, maxSize: 1024 * 1024 }),
      faults: { rate429: 0.04, retryAfterSeconds: 3, resetRate: 0.06, bodyBytesPerSecond: 4 * 1024 * 1024 },
      seed,
    });
    const s = sim;
    cleanups.push(() => s.close());
    const d = await tempDirs('progress-terminal');
    cleanups.push(() => d.cleanup());
    await fsp.mkdir(d.root, { recursive: true });
    const config = path.join(d.root, 'config.yaml');
    // Each failed attempt is a `retry …` warning line above the display (no quick retries).
    await fsp.writeFile(config, 'sync:\n  quickRetries: 0\n  retryBaseDelay: 200ms\n  retryMaxDelay: 1s\n');
    const sync = `${q(process.execPath)} ${q(CLI_MAIN)} sync -c ${q(config)} --api-url ${q(s.url)} --mirror-dir ${q(d.mirror)} --state-dir ${q(d.state)} --concurrency 4`;
    // First a sync stopped by --max-transfer (the rest stays queued), then the sync that resumes it.
    const script = `${sync} --max-transfer 12MiB; echo "FIRST=$?"; ${sync}; echo "SECOND=$?"; sleep 600`;
    const started = tmux('new-session', '-d', '-x', String(COLS), '-y', String(ROWS), '-s', 'sync', '-e', `CONSTELLR_USERNAME=${s.username}`, '-e', `CONSTELLR_PASSWORD=${s.password}`, 'sh', '-c', script);
    expect(started.status, started.stderr).toBe(0);
    cleanups.push(async () => tmux('kill-session', '-t', 'sync'));

    // While it runs: a pause shows as the second row of the display, and counts down.
    const pauseRow = /^paused: rate limited by the API(?: \(429\))?, retrying in ([\d.]+)(ms|s)/;
    const pauseMs = (row: string) => {
      const m = pauseRow.exec(row)!;
      return Number(m[1]) * (m[2] === 's' ? 1000 : 1);
    };
    const firstPause = await waitUntil(
      () => {
        const rows = screen();
        const at = rows.findIndex((r) => pauseRow.test(r));
        return at > 0 && FRAME_HEAD.test(rows[at - 1]!) && pauseMs(rows[at]!) >= 1000 ? { rows, at, ms: pauseMs(rows[at]!) } : null;
      },
      60_000,
      20,
      'a pause on the display',
    );
    // One pause line on the screen, directly under the display's first row.
    expect(firstPause.rows.filter((r) => pauseRow.test(r)), firstPause.rows.join('\n')).toHaveLength(1);
    const later = await waitUntil(
      () => {
        const rows = screen();
        const row = rows.find((r) => pauseRow.test(r));
        return row && pauseMs(row) < firstPause.ms ? pauseMs(row) : null;
      },
      10_000,
      20,
      'the pause counting down',
    );
    expect(later).toBeLessThan(firstPause.ms);

    await waitUntil(() => everything().some((r) => r.startsWith('SECOND=')), 180_000, 200, 'both syncs to finish');
    const all = everything();
    const text = all.join('\n');
    expect(text).toMatch(/^FIRST=5$/m);
    expect(text).toMatch(/^SECOND=0$/m);
    expect(text).toMatch(/stopped at --max-transfer; \d+ assets remain queued/);
    expect(text).toMatch(/sync finished in \S+: \d+ downloaded .*, 90 mirrored, 0 queued, 0 failed/);
    expect(s.stats.statusCounts['429'] ?? 0, 'the simulator answered some 429s').toBeGreaterThan(0);
    // Nothing of the display stays anywhere, scrollback included: no frame, no current file, no pause.
    expect(all.filter((r) => FRAME_HEAD.test(r) || r.startsWith('  ↓ ') || r.startsWith('paused:')), text).toEqual([]);
    // The log lines stay: one row each, the width of the terminal at most.
    const retries = all.filter((r) => /^retry \d+\/10 /.test(r));
    expect(retries.length, text).toBeGreaterThan(0);
    for (const r of retries) expect(r.length, r).toBeLessThan(COLS);
    expect(text).not.toContain('{"level"');
  }, 240_000);
});
