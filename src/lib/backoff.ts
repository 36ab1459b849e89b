// Retry policy as data: exponential backoff with jitter, never shorter than the server's Retry-After.

import { DEFAULT_MAX_RETRY_AFTER_MS } from './retry-after.js';

export interface BackoffPolicy {
  baseMs: number;
  maxMs: number;
  /** The longest server Retry-After honoured (api.maxRetryAfter; default 60 s). */
  maxRetryAfterMs?: number | undefined;
}

/** Delay before attempt `attempts + 1`, given `attempts` already made (≥ 1). */
export function backoffDelay(policy: BackoffPolicy, attempts: number, retryAfterMs: number | undefined, random: () => number = Math.random): number {
  const exp = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.max(0, Math.min(30, attempts - 1)));
  const jittered = exp * (0.5 + random()); // ±50 %
  const retryAfter = Math.min(retryAfterMs ?? 0, policy.maxRetryAfterMs ?? DEFAULT_MAX_RETRY_AFTER_MS);
  return Math.round(Math.max(retryAfter, Math.min(policy.maxMs, jittered)));
}
