// The terminal side of `sync`: the duration formatter at its boundaries, keys shortened in the
// middle, log lines as one line of text, and the progress frame (bytes, percent, paused state).
import { describe, expect, it } from 'vitest';
import { formatDuration } from '../../src/config/duration.js';
import { formatLogLine, shortenMiddle } from '../../src/cli/log-text.js';
import { ProgressDisplay } from '../../src/cli/progress.js';
import { exitCodeOf, pauseOf } from '../../src/cli/commands/sync.js';
import { EXIT } from '../../src/cli/exit-codes.js';

describe('formatDuration', () => {
  it.each([
    [0, '0ms'],
    [999, '999ms'],
    [999.6, '1.0s'],
    [1000, '1.0s'],
    [59_949, '59.9s'],
    [59_950, '1m00s'],
    [59_999, '1m00s'],
    [60_000, '1m00s'],
    [65_000, '1m05s'],
    [119_499, '1m59s'],
    [119_700, '2m00s'],
    [3_599_499, '59m59s'],
    [3_599_500, '1h00m'],
    [3_600_000, '1h00m'],
    [7_170_000, "2h00m"],
    [86_400_000, '24h00m'],
  ])('%d ms → %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });

  it('never prints 60 seconds or 60 minutes, across every boundary', () => {
    for (let ms = 0; ms < 2 * 3_600_000; ms += 499) expect(formatDuration(ms)).not.toMatch(/(^|\D)60(\.0)?[sm]|^60\.0s/);
  });
});

describe('one-line text for the terminal', () => {
  it('shortens in the middle, keeping the file name', () => {
    const key = 'products/lst/2026/05/01/tile-32UPU/LST_2026-05-01T10-22-33_mask.tif';
    const s = shortenMiddle(key, 30);
    expect(s).toHaveLength(30);
    expect(s).toContain('…');
    expect(s.endsWith('_mask.tif')).toBe(true);
    expect(s.startsWith('products/')).toBe(true);
    expect(shortenMiddle('short', 30)).toBe('short');
  });

  it('a retry log line becomes `retry N/M key: reason; next try in …`', () => {
    const line = JSON.stringify({
      level: 'warn',
      msg: 'download failed; will retry',
      key: 'products/lst/2026/05/01/tile-32UPU/LST_2026-05-01T10-22-33_mask.tif',
      errorClass: 'network',
      code: 'SYNC_API_ECONNRESET',
      attempts: 2,
      retryInMs: 22_000,
    });
    const text = formatLogLine(line, { width: 80, maxAttempts: 10 });
    expect(text).toMatch(/^retry 2\/10 products\/.*….*_mask\.tif: connection reset; next try in 22\.0s$/);
    expect(text.length).toBeLessThanOrEqual(80);
    expect(text).not.toContain('\n');
  });

  it('other lines: level, shortened key, message, reason; a resumed download says so', () => {
    expect(formatLogLine(JSON.stringify({ level: 'warn', msg: 'asset is gone', key: 'a/b.tif', errorClass: 'not_found', status: 404 }), { width: 100, maxAttempts: 10 })).toBe(
      'warn: a/b.tif: asset is gone: not found (HTTP 404)',
    );
    expect(formatLogLine(JSON.stringify({ level: 'info', msg: 'mirrored', key: 'a/b.tif', resumedFrom: 39_007_027 }), { width: 100, maxAttempts: 10 })).toBe('done a/b.tif (resumed at 37.2 MiB)');
    expect(formatLogLine(JSON.stringify({ level: 'warn', msg: 'pausing all downloads', reason: 'api_down', pauseMs: 40_000 }), { width: 100, maxAttempts: 10 })).toBe('paused: API unavailable, retrying in 40.0s');
    expect(formatLogLine('not json\n', { width: 100, maxAttempts: 10 })).toBe('not json');
  });
});

describe('progress frame', () => {
  it('shows bytes done/total with a percentage, and the paused state with its reason', async () => {
    let paused: { reason: string; untilMs: number | null } | null = null;
    const p = new ProgressDisplay({ out: { write: () => true, columns: 100 }, clock: () => 1000 });
    const ev = p.events();
    p.start({ inFlight: () => [], backlog: async () => ({ jobs: 3, bytes: 3 * 1024 * 1024 }), paused: () => paused });
    // the first backlog read is asynchronous
    await new Promise((r) => setImmediate(r));
    ev.onDone!({ key: 'x' } as never, { bytes: 1024 * 1024, sha256: '', path: 'x', received: 1024 * 1024, durationMs: 1, replaced: false });
    ev.onOutcome!({ key: 'x' } as never, 'done');
    let f = p.frame();
    expect(f[0]).toMatch(/^1\/3 files {2}1\.0 MiB\/3\.0 MiB \(33%\)/);
    paused = pauseOf({ open: false, reasons: ['api_down'], until: 41_000 }, 1000);
    f = p.frame();
    expect(f[1]).toBe('paused: API unavailable, retrying in 40.0s');
    expect(f[0]).toContain('ETA -');
    p.stop();
  });
});

describe('exit codes of sync', () => {
  const summary = { poll: null, pollError: null, stats: { done: 0, failed: 0, gone: 0, retried: 0, released: 0, bytes: 0, outcomes: {} }, durationMs: 1 };
  const counts = { queued: 2, running: 0, done: 1, failed: 0, gone: 0 };
  it('Ctrl-C is 130 (SIGTERM 143); an API outage past the deadline is 3, a database one 6', () => {
    expect(exitCodeOf(summary, counts, 'SIGINT')).toBe(130);
    expect(exitCodeOf(summary, counts, 'SIGTERM')).toBe(143);
    expect(exitCodeOf({ ...summary, outage: { what: 'api', sinceMs: 0, deadlineMs: 1000 } }, counts, null)).toBe(EXIT.UNREACHABLE);
    expect(exitCodeOf({ ...summary, outage: { what: 'store', sinceMs: 0, deadlineMs: 1000 } }, counts, null)).toBe(EXIT.STORE_UNAVAILABLE);
    expect(exitCodeOf(summary, counts, null)).toBe(EXIT.FAILURES);
  });
});
