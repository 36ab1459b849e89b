// Retry-After is capped (api.maxRetryAfter, clamped and logged once), and no wait in the daemon can
// overflow setTimeout: Node fires a delay above 2^31-1 ms after 1 ms, which turned a long pause into
// a spin of ~800 wake-ups per second.
import { getEventListeners } from 'node:events';
import { Agent } from 'undici';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { TokenManager } from '../../src/api/auth.js';
import { ApiClient } from '../../src/api/client.js';
import { SyncError } from '../../src/errors.js';
import { Secret } from '../../src/lib/secret.js';
import { configSchema } from '../../src/config/schema.js';
import { MAX_TIMER_MS, Wakeup, repeat, sleep, timeoutSignal, withDeadline } from '../../src/lib/timers.js';
import { backoffDelay } from '../../src/lib/backoff.js';
import { Gate, breakerSettings } from '../../src/sync/gate.js';
import { capturingLogger } from '../helpers/log-lines.js';
import { startFakeApi, type FakeApi } from '../helpers/fake-api.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
  vi.useRealTimers();
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

/** Every delay handed to setTimeout/setInterval from now on. */
function recordTimerDelays(): number[] {
  const delays: number[] = [];
  const st = globalThis.setTimeout;
  vi.spyOn(globalThis, 'setTimeout').mockImplementation(((fn: () => void, ms?: number, ...rest: unknown[]) => {
    delays.push(ms ?? 0);
    return st(fn, Math.min(ms ?? 0, 2 ** 31 - 1), ...rest);
  }) as typeof setTimeout);
  return delays;
}

describe('Retry-After cap', () => {
  async function client(retryAfter: string, maxRetryAfterMs: number): Promise<{ api: ApiClient; lines: Record<string, unknown>[]; fake: FakeApi }> {
    const fake = await startFakeApi(() => ({ status: 429, headers: { 'retry-after': retryAfter } }));
    cleanups.push(() => fake.close());
    const dispatcher = new Agent();
    cleanups.push(() => dispatcher.close());
    const { logger, lines } = capturingLogger();
    const tokens = new TokenManager({ baseUrl: fake.url, username: 'u', password: new Secret('p'), dispatcher, encoding: 'json' });
    const api = new ApiClient({ baseUrl: fake.url, dispatcher, tokens, logger, maxRetryAfterMs });
    return { api, lines, fake };
  }

  it.each([
    ['delta-seconds', '99999999'],
    ['an HTTP date a year ahead', new Date(Date.now() + 365 * 86_400_000).toUTCString()],
  ])('a huge Retry-After (%s) is clamped to api.maxRetryAfter and logged once', async (_what, value) => {
    const { api, lines } = await client(value, 2000);
    for (let i = 0; i < 3; i++) {
      const e = (await api.listPage({ limit: 10 }).catch((x: unknown) => x)) as SyncError;
      expect(e).toBeInstanceOf(SyncError);
      expect(e.errorClass).toBe('rate_limited');
      expect(e.retryAfterMs).toBe(2000);
    }
    const warned = lines.filter((l) => l.msg === 'Retry-After is longer than api.maxRetryAfter; clamped' && l.level === 'warn');
    expect(warned).toHaveLength(1);
    expect(warned[0]).toMatchObject({ maxRetryAfterMs: 2000 });
  });

  it('a Retry-After within the cap is honoured as sent', async () => {
    const { api } = await client('1', 2000);
    const e = (await api.listPage({ limit: 10 }).catch((x: unknown) => x)) as SyncError;
    expect(e.retryAfterMs).toBe(1000);
  });

  it('api.maxRetryAfter defaults to 60 s and takes a duration', () => {
    expect(configSchema.parse({}).api.maxRetryAfter).toBe(60_000);
    expect(configSchema.parse({ api: { maxRetryAfter: '5m' } }).api.maxRetryAfter).toBe(300_000);
    expect(() => configSchema.parse({ api: { maxRetryAfter: '30d' } })).toThrow(/maxRetryAfter/);
  });

  it('job backoff (run_at) never waits longer than the cap for a Retry-After', () => {
    const policy = { baseMs: 1000, maxMs: 10_000, maxRetryAfterMs: 60_000 };
    expect(backoffDelay(policy, 1, 10 ** 12, () => 0.5)).toBe(60_000);
    // without an explicit cap the default (60 s) applies: a webhook's Retry-After is bounded too
    expect(backoffDelay({ baseMs: 1000, maxMs: 10_000 }, 1, 10 ** 12, () => 0.5)).toBe(60_000);
    expect(backoffDelay(policy, 1, 30_000, () => 0.5)).toBe(30_000);
  });
});

describe('no delay overflows setTimeout', () => {
  const HUGE = 2 ** 31 + 10_000;

  it('sleep() waits in chunks: no delay above 2^31-1 ms, and it still lasts the whole time', async () => {
    vi.useFakeTimers();
    const delays = recordTimerDelays();
    let done = false;
    void sleep(HUGE).then(() => (done = true));
    await vi.advanceTimersByTimeAsync(MAX_TIMER_MS);
    expect(done).toBe(false);
    await vi.advanceTimersByTimeAsync(HUGE - MAX_TIMER_MS);
    expect(done).toBe(true);
    expect(delays.length).toBeGreaterThan(0);
    expect(Math.max(...delays)).toBeLessThanOrEqual(MAX_TIMER_MS);
  });

  it('sleep() still ends at once on abort', async () => {
    const ac = new AbortController();
    const p = sleep(HUGE, ac.signal);
    ac.abort();
    await p;
  });

  it('Wakeup.sleep clamps its timer', async () => {
    const delays = recordTimerDelays();
    const w = new Wakeup();
    const p = w.sleep(HUGE);
    w.wake();
    await p;
    expect(Math.max(...delays)).toBeLessThanOrEqual(MAX_TIMER_MS);
  });

  it('the gate paused for longer than 2^31 ms waits with bounded timers, not a spin', async () => {
    const { logger } = capturingLogger();
    let now = 1_000_000;
    const gate = new Gate({ logger, clock: () => now });
    gate.pauseFor('rate_limited', HUGE);
    const delays = recordTimerDelays();
    const ac = new AbortController();
    const waiting = gate.wait(ac.signal);
    // let the gate arm its timer
    await new Promise((r) => setImmediate(r));
    expect(delays.length).toBe(1);
    expect(delays[0]!).toBeLessThanOrEqual(MAX_TIMER_MS);
    now += HUGE;
    ac.abort();
    await waiting;
  });
});

describe('timeoutSignal()', () => {
  it('a deadline beyond 2^31-1 ms fires at its time, not after 1 ms (AbortSignal.timeout would)', async () => {
    vi.useFakeTimers();
    const HUGE = 2 ** 32 + 10_000; // AbortSignal.timeout throws ERR_OUT_OF_RANGE here
    const s = timeoutSignal(HUGE);
    await vi.advanceTimersByTimeAsync(MAX_TIMER_MS);
    expect(s.aborted).toBe(false);
    await vi.advanceTimersByTimeAsync(MAX_TIMER_MS);
    expect(s.aborted).toBe(false);
    await vi.advanceTimersByTimeAsync(HUGE - 2 * MAX_TIMER_MS);
    expect(s.aborted).toBe(true);
    expect((s.reason as Error).name).toBe('TimeoutError');
  });
});

describe('withDeadline()', () => {
  it('aborts at the deadline with a TimeoutError, follows the outer signal, and leaves no timer or listener behind', async () => {
    vi.useFakeTimers();
    const outer = new AbortController();
    const timedOut = withDeadline(outer.signal, 1000, (s) => new Promise((_, reject) => s.addEventListener('abort', () => reject(s.reason))));
    const caught = timedOut.catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(1000);
    expect(((await caught) as Error).name).toBe('TimeoutError');
    const followed = withDeadline(outer.signal, 60_000, (s) => new Promise((_, reject) => s.addEventListener('abort', () => reject(s.reason)))).catch((e: unknown) => e);
    outer.abort(new Error('lease lost'));
    expect(((await followed) as Error).message).toBe('lease lost');
    const fresh = new AbortController();
    expect(await withDeadline(fresh.signal, 60_000, async () => 'done')).toBe('done');
    expect(vi.getTimerCount()).toBe(0);
    expect(getEventListeners(fresh.signal, 'abort')).toHaveLength(0);
  });
});

describe('repeat()', () => {
  it('a long interval arms clamped timers; reschedule() applies a shorter interval at once', async () => {
    const delays = recordTimerDelays();
    let interval = 2 ** 32;
    let calls = 0;
    const r = repeat(() => calls++, () => interval);
    expect(Math.max(...delays)).toBeLessThanOrEqual(MAX_TIMER_MS);
    interval = 5;
    r.reschedule();
    const deadline = Date.now() + 5000;
    while (calls < 2 && Date.now() < deadline) await new Promise((res) => setImmediate(res));
    r.stop();
    expect(calls).toBeGreaterThanOrEqual(2);
  });
});

describe('the circuit breaker is capped like Retry-After', () => {
  it('doubles from sync.breakerPause up to api.maxRetryAfter, never below the first pause', () => {
    const cfg = configSchema.parse({});
    const b = breakerSettings({ concurrency: cfg.sync.concurrency, breakerPauseMs: cfg.sync.breakerPause, maxRetryAfterMs: cfg.api.maxRetryAfter });
    expect(b).toEqual({ threshold: 12, baseMs: 5_000, maxMs: 60_000 });
    expect(breakerSettings({ concurrency: 2, breakerPauseMs: 5_000, maxRetryAfterMs: 3_600_000 }).maxMs).toBe(3_600_000);
    expect(breakerSettings({ concurrency: 2, breakerPauseMs: 90_000, maxRetryAfterMs: 60_000 }).maxMs).toBe(90_000);
  });
});
