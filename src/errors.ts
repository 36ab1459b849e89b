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

/**
 * Filesystem problems an operator causes and must fix (a path that is a file, no permission, a
 * read-only mount, a state file SQLite cannot open), by code, in plain words. Anything else is not
 * the operator's: it stays as it was thrown.
 */
const OPERATOR_FS_REASONS: Record<string, string> = {
  ENOTDIR: 'a file is in the way (not a directory)',
  EEXIST: 'a file is in the way (not a directory)',
  EISDIR: 'a directory is where a file should be',
  EACCES: 'permission denied (check its owner and mode)',
  EPERM: 'operation not permitted (check its owner and mode)',
  EROFS: 'read-only filesystem',
  ELOOP: 'too many symbolic links',
  ENAMETOOLONG: 'path too long',
  SQLITE_CANTOPEN: 'SQLite cannot open its database there',
  SQLITE_READONLY: 'the state database is read-only',
  SQLITE_NOTADB: 'the state file is not a SQLite database',
  SQLITE_CORRUPT: 'the state database is corrupt (restore it from a backup, or move it away to start over)',
  SQLITE_PERM: 'permission denied (check its owner and mode)',
  SQLITE_AUTH: 'permission denied (check its owner and mode)',
};

/** `cannot use <what> <path>: <reason>` (exit 2) for an operator-caused filesystem error, else null. */
export function operatorFsError(what: string, dir: string, e: unknown): SyncError | null {
  if (e instanceof SyncError) return null;
  const code = (e as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return null;
  const reason = OPERATOR_FS_REASONS[code] ?? (code.startsWith('SQLITE_CANTOPEN') ? OPERATOR_FS_REASONS.SQLITE_CANTOPEN : code.startsWith('SQLITE_READONLY') ? OPERATOR_FS_REASONS.SQLITE_READONLY : undefined);
  if (!reason) return null;
  return new SyncError(`cannot use ${what} ${dir}: ${reason}`, { code: 'SYNC_FS_UNUSABLE', kind: 'fatal', errorClass: 'config', cause: e });
}

/** Failures to connect at all (the API is unreachable), by code, in plain words. */
const CONNECT_FAILURES: Record<string, string> = {
  SYNC_API_ECONNREFUSED: 'connection refused',
  SYNC_API_ENOTFOUND: 'host not found',
  SYNC_API_EAI_AGAIN: 'name lookup failed',
  SYNC_API_EHOSTUNREACH: 'host unreachable',
  SYNC_API_ENETUNREACH: 'network unreachable',
  SYNC_API_ENETDOWN: 'network is down',
  SYNC_API_UND_ERR_CONNECT_TIMEOUT: 'connection timed out',
};

/** Why the API could not be reached at all ("connection refused"), or null for any other error. */
export function connectFailureReason(e: SyncError): string | null {
  return CONNECT_FAILURES[e.code] ?? null;
}

/** `cannot reach <url> (connection refused): check api.url / CONSTELLR_API_URL`, or null. */
export function unreachableMessage(e: SyncError, apiUrl: string): string | null {
  const reason = connectFailureReason(e);
  return reason === null ? null : `cannot reach ${apiUrl} (${reason}): check api.url / CONSTELLR_API_URL`;
}

/** The token endpoint answered 404/405/410: api.url points somewhere that is not the API. */
export const TOKEN_ENDPOINT_MISSING = 'SYNC_AUTH_ENDPOINT_NOT_FOUND';
