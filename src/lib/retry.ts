// One retry loop for the poll, the listing and a download's quick retries (issue 23 §4). What a
// failed try does next is the error table's (errors.ts: retryDecision); how long it waits is the
// backoff's (backoff.ts: never shorter than the server's Retry-After, which is capped). Callers only
// say how many tries, how long, and what to log or report before each wait.
import { classifyError, retryDecision, type SyncError } from '../errors.js';
import { backoffDelay, type BackoffPolicy } from './backoff.js';
import { sleep } from './timers.js';

export interface RetryPolicy extends BackoffPolicy {
  // maxRetryAfterMs (from BackoffPolicy): the longest Retry-After honoured; when not given, the one
  // the error carries, which the API client has already capped at api.maxRetryAfter.
  /** Further tries after the first (0: one try). */
  retries: number;
  /** Shutdown: no further try, and a wait ends at once. */
  signal?: AbortSignal | undefined;
  /** Stop early though the table says retry (a one-shot command's budget for an unreachable API). */
  givesUp?: ((e: SyncError, attempt: number) => boolean) | undefined;
  /** Before each wait (log, count, report a rate limit); awaited. */
  onRetry?: ((e: SyncError, turn: RetryTurn) => void | Promise<void>) | undefined;
  random?: () => number;
}

/** A failed try that will be tried again. */
export interface RetryTurn {
  /** The try that failed (1 = the first). */
  attempt: number;
  retriesLeft: number;
  decision: 'retry' | 'wait';
  /** The wait before the next try. */
  waitMs: number;
  /** The server's Retry-After, capped (api.maxRetryAfter); undefined when it sent none. */
  retryAfterMs: number | undefined;
}

/**
 * Run `op` (given its try number) until it succeeds, the table says pause or fail, the tries run out
 * or the signal aborts; then the last error is thrown as it was (an abort during a wait throws the
 * signal's reason, as does a signal aborted by the time a try succeeds).
 */
export async function retry<T>(op: (attempt: number) => Promise<T>, policy: RetryPolicy): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    policy.signal?.throwIfAborted();
    let result: T;
    try {
      result = await op(attempt);
    } catch (err) {
      const e = classifyError(err);
      const turn = nextTurn(e, attempt, policy);
      if (turn === null) throw err;
      await policy.onRetry?.(e, turn);
      await sleep(turn.waitMs, policy.signal);
      continue;
    }
    policy.signal?.throwIfAborted();
    return result;
  }
}

/** The next turn after try `attempt` failed with `e`, or null when there is none. */
export function nextTurn(e: SyncError, attempt: number, policy: RetryPolicy): RetryTurn | null {
  const decision = retryDecision(e);
  const retriesLeft = policy.retries - attempt + 1;
  if (decision !== 'retry' && decision !== 'wait') return null;
  if (retriesLeft <= 0 || policy.signal?.aborted || policy.givesUp?.(e, attempt)) return null;
  const retryAfterMs = e.retryAfterMs === undefined ? undefined : Math.min(e.retryAfterMs, policy.maxRetryAfterMs ?? e.retryAfterMs);
  const waitMs = backoffDelay({ ...policy, maxRetryAfterMs: retryAfterMs }, attempt, retryAfterMs, policy.random);
  return { attempt, retriesLeft, decision, waitMs, retryAfterMs };
}
