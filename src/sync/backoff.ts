// Retry policy as data: exponential backoff with jitter, never shorter than the server's Retry-After.

export interface BackoffPolicy {
  baseMs: number;
  maxMs: number;
}

/** Delay before attempt `attempts + 1`, given `attempts` already made (≥ 1). */
export function backoffDelay(policy: BackoffPolicy, attempts: number, retryAfterMs: number | undefined, random: () => number = Math.random): number {
  const exp = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.max(0, Math.min(30, attempts - 1)));
  const jittered = exp * (0.5 + random()); // ±50 %
  return Math.round(Math.max(retryAfterMs ?? 0, Math.min(policy.maxMs, jittered)));
}
