// The server's Retry-After: parsing the header (delta-seconds or an HTTP date), and the cap used when
// nothing else is configured. The error table (errors.ts) carries the parsed delay; backoff.ts obeys it.
/**
 * The longest Retry-After honoured when nothing else is configured (api.maxRetryAfter). A server, or
 * anything in between, asking for hours or weeks would otherwise stall a sync for that long.
 */
export const DEFAULT_MAX_RETRY_AFTER_MS = 60_000;

/** Parse Retry-After given as delta-seconds or as an HTTP date (uncapped: callers clamp it). */
export function parseRetryAfter(value: string | string[] | undefined, now: number): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (v === undefined || v.trim() === '') return undefined;
  const trimmed = v.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * 1000);
  // An HTTP date names a month ("Wed, 21 Oct 2015 07:28:00 GMT"); V8's Date.parse would also accept
  // "-5" or "5 " as dates in 2001, turning an invalid header into "retry now".
  if (!/\b(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)\b/i.test(trimmed)) return undefined;
  // HTTP dates are always GMT; the asctime form carries no zone, and Date.parse would read it as local time.
  const at = Date.parse(/\b(GMT|UTC|Z)\b|[+-]\d{4}$/i.test(trimmed) ? trimmed : `${trimmed} GMT`);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}
