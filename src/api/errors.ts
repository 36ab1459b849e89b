// One error type for the whole daemon, classified once by stable code (house style principle 2).
// Callers branch on `kind` and `errorClass`, never on message text.

/** How the daemon reacts to an error. */
export type ErrorKind =
  | 'retryable' // transient: back off and try again
  | 'auth' // 401 on a request: renew the token and replay
  | 'auth_rejected' // the credentials themselves are refused: pause, never a retry storm
  | 'gone' // 404/410: the asset is no longer there
  | 'permanent' // other 4xx, unsafe keys: the job fails without further attempts
  | 'disk_full' // ENOSPC/EDQUOT: release the job, no attempt burned, pause claiming
  | 'aborted' // shutdown or lost lease: not the asset's fault
  | 'fatal'; // configuration / environment problems: stop

/** A stable class name stored with failed jobs and shown in status. */
export type ErrorClass =
  | 'http_5xx'
  | 'rate_limited'
  | 'timeout'
  | 'network'
  | 'short_body'
  | 'size_mismatch'
  | 'checksum_mismatch'
  | 'range_mismatch'
  | 'not_found'
  | 'http_4xx'
  | 'auth'
  | 'auth_rejected'
  | 'bad_listing'
  | 'unsafe_key'
  | 'path_conflict'
  | 'case_conflict'
  | 'disk_full'
  | 'io'
  | 'aborted'
  | 'lease_lost'
  | 'config'
  | 'internal';

export interface SyncErrorOptions {
  code: string;
  kind: ErrorKind;
  errorClass: ErrorClass;
  status?: number | undefined;
  retryAfterMs?: number | undefined;
  cause?: unknown;
}

export class SyncError extends Error {
  readonly code: string;
  readonly kind: ErrorKind;
  readonly errorClass: ErrorClass;
  readonly status: number | undefined;
  readonly retryAfterMs: number | undefined;

  constructor(message: string, opts: SyncErrorOptions) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'SyncError';
    this.code = opts.code;
    this.kind = opts.kind;
    this.errorClass = opts.errorClass;
    this.status = opts.status;
    this.retryAfterMs = opts.retryAfterMs;
  }

  get retryable(): boolean {
    return this.kind === 'retryable' || this.kind === 'disk_full';
  }
}

export function isSyncError(e: unknown): e is SyncError {
  return e instanceof SyncError;
}

/** Network and local error codes that are worth another try. */
const RETRYABLE_NETWORK_CODES: Record<string, ErrorClass> = {
  ECONNRESET: 'network',
  ECONNREFUSED: 'network',
  ECONNABORTED: 'network',
  EPIPE: 'network',
  ENOTFOUND: 'network',
  EAI_AGAIN: 'network',
  EHOSTUNREACH: 'network',
  ENETUNREACH: 'network',
  ENETDOWN: 'network',
  ETIMEDOUT: 'timeout',
  UND_ERR_SOCKET: 'network',
  UND_ERR_CLOSED: 'network',
  UND_ERR_CONNECT_TIMEOUT: 'timeout',
  UND_ERR_HEADERS_TIMEOUT: 'timeout',
  UND_ERR_BODY_TIMEOUT: 'timeout',
  UND_ERR_RES_CONTENT_LENGTH_MISMATCH: 'short_body',
  UND_ERR_REQ_CONTENT_LENGTH_MISMATCH: 'network',
};

const DISK_FULL_CODES = new Set(['ENOSPC', 'EDQUOT']);

/** Parse Retry-After given as delta-seconds or as an HTTP date. */
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

/** Classify an HTTP status into a SyncError (the policy table for statuses). */
export function errorFromStatus(
  status: number,
  context: string,
  opts: { retryAfterMs?: number | undefined; detail?: string | undefined } = {},
): SyncError {
  const detail = opts.detail ? `: ${opts.detail}` : '';
  const msg = `${context}: HTTP ${status}${detail}`;
  if (status === 401) return new SyncError(msg, { code: 'SYNC_API_UNAUTHORIZED', kind: 'auth', errorClass: 'auth', status });
  if (status === 429)
    return new SyncError(msg, {
      code: 'SYNC_API_RATE_LIMITED',
      kind: 'retryable',
      errorClass: 'rate_limited',
      status,
      retryAfterMs: opts.retryAfterMs,
    });
  if (status === 408)
    return new SyncError(msg, { code: 'SYNC_API_TIMEOUT', kind: 'retryable', errorClass: 'timeout', status });
  if (status >= 500)
    return new SyncError(msg, {
      code: `SYNC_API_HTTP_${status}`,
      kind: 'retryable',
      errorClass: 'http_5xx',
      status,
      retryAfterMs: opts.retryAfterMs,
    });
  if (status === 404 || status === 410)
    return new SyncError(msg, { code: 'SYNC_API_GONE', kind: 'gone', errorClass: 'not_found', status });
  return new SyncError(msg, { code: `SYNC_API_HTTP_${status}`, kind: 'permanent', errorClass: 'http_4xx', status });
}

/** Classify anything thrown into a SyncError. Unknown errors are retryable `internal` ones. */
export function classifyError(e: unknown, context = 'request'): SyncError {
  if (e instanceof SyncError) return e;
  const err = e as { code?: unknown; name?: unknown; message?: unknown } | null;
  const code = typeof err?.code === 'string' ? err.code : undefined;
  const message = typeof err?.message === 'string' ? err.message : String(e);
  if (code && DISK_FULL_CODES.has(code))
    return new SyncError(`${context}: no space left on the mirror filesystem (${code})`, {
      code: 'SYNC_MIRROR_DISK_FULL',
      kind: 'disk_full',
      errorClass: 'disk_full',
      cause: e,
    });
  if (code && code in RETRYABLE_NETWORK_CODES)
    return new SyncError(`${context}: ${code} ${message}`, {
      code: `SYNC_API_${code}`,
      kind: 'retryable',
      errorClass: RETRYABLE_NETWORK_CODES[code] ?? 'network',
      cause: e,
    });
  if (err?.name === 'AbortError' || code === 'UND_ERR_ABORTED' || code === 'ABORT_ERR')
    return new SyncError(`${context}: aborted`, { code: 'SYNC_ABORTED', kind: 'aborted', errorClass: 'aborted', cause: e });
  if (err?.name === 'TimeoutError')
    return new SyncError(`${context}: timed out`, { code: 'SYNC_API_TIMEOUT', kind: 'retryable', errorClass: 'timeout', cause: e });
  if (code && /^E[A-Z]+$/.test(code))
    return new SyncError(`${context}: ${code} ${message}`, { code: `SYNC_IO_${code}`, kind: 'retryable', errorClass: 'io', cause: e });
  return new SyncError(`${context}: ${message}`, { code: 'SYNC_INTERNAL', kind: 'retryable', errorClass: 'internal', cause: e });
}
