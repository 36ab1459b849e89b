// Retry policy as data (issue 23 §4): the error table decides what a failed try does next (retry,
// wait for Retry-After, pause, fail), and one loop (lib/retry.ts) carries it out for the poll, the
// listing and a download's quick retries.
import { describe, expect, it } from 'vitest';
import { DEFAULT_MAX_RETRY_AFTER_MS } from '../../src/lib/retry-after.js';
import { ERRORS, RETRY_BY_KIND, SyncError, errorFromStatus, retryDecision, type ErrorCode, type RetryDecision } from '../../src/errors.js';
import { nextTurn, retry, type RetryPolicy, type RetryTurn } from '../../src/lib/retry.js';

const of = (code: ErrorCode, retryAfterMs?: number) => new SyncError('x', { code, retryAfterMs });
const codes = Object.keys(ERRORS) as ErrorCode[];

describe('the retry table', () => {
  it('decides for every kind', () => {
    expect(RETRY_BY_KIND).toEqual({
      retryable: 'retry',
      auth: 'fail',
      auth_rejected: 'pause',
      gone: 'fail',
      permanent: 'fail',
      disk_full: 'pause',
      state_full: 'pause',
      aborted: 'fail',
      fatal: 'fail',
    });
  });

  it.each<[ErrorCode, RetryDecision]>([
    ['SYNC_API_HTTP_5XX', 'retry'],
    ['SYNC_API_TIMEOUT', 'retry'],
    ['SYNC_API_ECONNRESET', 'retry'],
    ['SYNC_API_BAD_LISTING', 'retry'],
    ['SYNC_TRANSFER_SHORT_BODY', 'retry'],
    ['SYNC_TRANSFER_CHECKSUM_MISMATCH', 'retry'],
    ['SYNC_TRANSFER_RANGE_MISMATCH', 'retry'],
    ['SYNC_IO', 'retry'],
    ['SYNC_INTERNAL', 'retry'],
    ['SYNC_API_RATE_LIMITED', 'wait'],
    ['SYNC_MIRROR_DISK_FULL', 'pause'],
    ['SYNC_MIRROR_NO_ROOM', 'pause'],
    ['SYNC_STATE_DISK_FULL', 'pause'],
    ['SYNC_STORE_DISK_FULL', 'pause'],
    ['SYNC_STORE_UNAVAILABLE', 'retry'],
    ['SYNC_STORE_CONFLICT', 'retry'],
    ['SYNC_AUTH_REJECTED', 'pause'],
    ['SYNC_API_KEY_REJECTED', 'pause'],
    ['SYNC_TRANSFER_SIZE_MISMATCH', 'fail'],
    ['SYNC_API_UNAUTHORIZED', 'fail'],
    ['SYNC_API_GONE', 'fail'],
    ['SYNC_API_HTTP_4XX', 'fail'],
    ['SYNC_MIRROR_UNSAFE_KEY', 'fail'],
    ['SYNC_ABORTED', 'fail'],
    ['SYNC_LEASE_LOST', 'fail'],
    ['SYNC_CONFIG_INVALID', 'fail'],
  ])('%s → %s', (code, decision) => {
    expect(retryDecision(of(code))).toBe(decision);
    expect(of(code).retryable).toBe(decision === 'retry' || decision === 'wait');
  });

  it('turns a retry with a Retry-After into a wait, and nothing else', () => {
    expect(retryDecision(errorFromStatus(503, 'GET', { retryAfterMs: 2000 }))).toBe('wait');
    expect(retryDecision(errorFromStatus(503, 'GET'))).toBe('retry');
    expect(retryDecision(errorFromStatus(429, 'GET'))).toBe('wait');
    expect(retryDecision(of('SYNC_MIRROR_DISK_FULL', 2000))).toBe('pause');
    expect(retryDecision(of('SYNC_API_HTTP_4XX', 2000))).toBe('fail');
  });

  it('disk-full (the mirror\'s or the state\'s) is a pause, not a retry: not retryable', () => {
    for (const code of codes.filter((c) => ERRORS[c].kind === 'disk_full' || ERRORS[c].kind === 'state_full')) {
      expect(retryDecision(of(code)), code).toBe('pause');
      expect(of(code).retryable, code).toBe(false);
    }
  });

  it('gives every code a decision', () => {
    for (const code of codes) expect(['retry', 'wait', 'pause', 'fail'], code).toContain(retryDecision(of(code)));
  });
});

describe('nextTurn', () => {
  const policy: RetryPolicy = { retries: 3, baseMs: 100, maxMs: 1000, maxRetryAfterMs: 5000, random: () => 0.5 };

  it('backs off exponentially up to maxMs', () => {
    expect([1, 2, 3].map((a) => nextTurn(of('SYNC_API_HTTP_5XX'), a, policy)?.waitMs)).toEqual([100, 200, 400]);
    expect(nextTurn(of('SYNC_API_HTTP_5XX'), 3, { ...policy, retries: 10, baseMs: 800 })?.waitMs).toBe(1000);
  });

  it('waits for Retry-After, capped at maxRetryAfterMs (api.maxRetryAfter)', () => {
    const t = nextTurn(of('SYNC_API_RATE_LIMITED', 3000), 1, policy);
    expect(t).toMatchObject({ decision: 'wait', waitMs: 3000, retryAfterMs: 3000, retriesLeft: 3 });
    const week = 7 * 86_400_000;
    expect(nextTurn(of('SYNC_API_RATE_LIMITED', week), 1, policy)).toMatchObject({ waitMs: 5000, retryAfterMs: 5000 });
    expect(nextTurn(of('SYNC_API_HTTP_5XX', week), 1, policy)).toMatchObject({ decision: 'wait', waitMs: 5000, retryAfterMs: 5000 });
    // A Retry-After shorter than the backoff waits the backoff.
    expect(nextTurn(of('SYNC_API_RATE_LIMITED', 10), 2, policy)).toMatchObject({ waitMs: 200, retryAfterMs: 10 });
  });

  it('without a cap, takes the Retry-After the error carries (the API client capped it at api.maxRetryAfter)', () => {
    const { maxRetryAfterMs: _, ...uncapped } = policy;
    expect(nextTurn(of('SYNC_API_RATE_LIMITED', DEFAULT_MAX_RETRY_AFTER_MS * 3), 1, uncapped)).toMatchObject({ waitMs: DEFAULT_MAX_RETRY_AFTER_MS * 3, retryAfterMs: DEFAULT_MAX_RETRY_AFTER_MS * 3 });
  });

  it('has no turn for a pause or a fail, after the last retry, at shutdown or when the caller gives up', () => {
    expect(nextTurn(of('SYNC_MIRROR_DISK_FULL'), 1, policy)).toBeNull();
    expect(nextTurn(of('SYNC_AUTH_REJECTED'), 1, policy)).toBeNull();
    expect(nextTurn(of('SYNC_API_GONE'), 1, policy)).toBeNull();
    expect(nextTurn(of('SYNC_API_HTTP_5XX'), 4, policy)).toBeNull();
    expect(nextTurn(of('SYNC_API_HTTP_5XX'), 1, { ...policy, signal: AbortSignal.abort() })).toBeNull();
    expect(nextTurn(of('SYNC_API_HTTP_5XX'), 2, { ...policy, givesUp: (_e, a) => a >= 2 })).toBeNull();
    expect(nextTurn(of('SYNC_API_HTTP_5XX'), 1, { ...policy, givesUp: (_e, a) => a >= 2 })).not.toBeNull();
  });
});

describe('retry()', () => {
  const fast: RetryPolicy = { retries: 3, baseMs: 1, maxMs: 2, maxRetryAfterMs: 5, random: () => 0.5 };

  function failing(errors: unknown[]): { op: (attempt: number) => Promise<string>; attempts: number[] } {
    const attempts: number[] = [];
    return {
      attempts,
      op: (attempt) => {
        attempts.push(attempt);
        const e = errors.shift();
        return e === undefined ? Promise.resolve('ok') : Promise.reject(e);
      },
    };
  }

  it('tries a retryable failure again and reports each turn', async () => {
    const { op, attempts } = failing([of('SYNC_API_HTTP_5XX'), of('SYNC_API_RATE_LIMITED', 60_000)]);
    const turns: RetryTurn[] = [];
    await expect(retry(op, { ...fast, onRetry: (_e, t) => void turns.push(t) })).resolves.toBe('ok');
    expect(attempts).toEqual([1, 2, 3]);
    expect(turns.map((t) => [t.decision, t.retriesLeft, t.retryAfterMs])).toEqual([
      ['retry', 3, undefined],
      ['wait', 2, 5],
    ]);
  });

  it('classifies plain errors (ECONNRESET is retried)', async () => {
    const { op, attempts } = failing([Object.assign(new Error('reset'), { code: 'ECONNRESET' })]);
    await expect(retry(op, fast)).resolves.toBe('ok');
    expect(attempts).toEqual([1, 2]);
  });

  it('classifies PostgreSQL errors by SQLSTATE: a lost serialization race or connection is retried, a full server is a pause', async () => {
    const sqlstate = (code: string) => Object.assign(new Error(`SQLSTATE ${code}`), { code, severity: 'ERROR' });
    const { op, attempts } = failing([sqlstate('40001'), sqlstate('40P01'), sqlstate('08006')]);
    await expect(retry(op, fast)).resolves.toBe('ok');
    expect(attempts).toEqual([1, 2, 3, 4]);
    const full = sqlstate('53100');
    const once = failing([full]);
    await expect(retry(once.op, fast)).rejects.toBe(full);
    expect(once.attempts).toEqual([1]);
  });

  it('throws a pause or a fail at once, as it was thrown', async () => {
    const enospc = Object.assign(new Error('no space'), { code: 'ENOSPC' });
    for (const e of [enospc, of('SYNC_AUTH_REJECTED'), of('SYNC_API_GONE'), of('SYNC_TRANSFER_SIZE_MISMATCH')]) {
      const { op, attempts } = failing([e]);
      await expect(retry(op, fast)).rejects.toBe(e);
      expect(attempts).toEqual([1]);
    }
  });

  it('throws the last error when the retries run out', async () => {
    const last = of('SYNC_API_HTTP_5XX');
    const { op, attempts } = failing([of('SYNC_API_HTTP_5XX'), of('SYNC_API_HTTP_5XX'), last, of('SYNC_API_HTTP_5XX')]);
    await expect(retry(op, { ...fast, retries: 2 })).rejects.toBe(last);
    expect(attempts).toEqual([1, 2, 3]);
  });

  it('stops at shutdown: an abort during the wait throws the signal reason', async () => {
    const ac = new AbortController();
    const reason = new SyncError('shutting down', { code: 'SYNC_ABORTED' });
    const { op, attempts } = failing([of('SYNC_API_RATE_LIMITED', 60_000), of('SYNC_API_HTTP_5XX')]);
    const p = retry(op, { ...fast, maxRetryAfterMs: 60_000, signal: ac.signal, onRetry: () => ac.abort(reason) });
    await expect(p).rejects.toBe(reason);
    expect(attempts).toEqual([1]);
  });
});
