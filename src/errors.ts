// One error type for the whole daemon, classified once by stable code (house style principle 2).
// The code decides everything else through one closed table: code → kind → error class → exit code.
// Callers branch on the predicates below (or on `kind`/`errorClass`), never on message text.
import path from 'node:path';

/** Process exit codes (documented in README "Exit codes"); the cli chooses them, the table names them. */
export const EXIT = {
  OK: 0,
  /** Some assets failed (they are listed), or the mirror is not clean (verify). */
  FAILURES: 1,
  /** Usage or configuration error. */
  USAGE: 2,
  /** API unreachable, or authentication rejected. */
  UNREACHABLE: 3,
  /** The state directory or the mirror is locked by another instance. */
  LOCKED: 4,
  /** sync stopped claiming at --max-transfer or --max-duration; nothing failed, the rest stays queued. */
  CAPPED: 5,
  /** The state database (state.url) cannot be reached: at start, or longer than sync.outageDeadline in sync. */
  STORE_UNAVAILABLE: 6,
  /** sync was interrupted (Ctrl-C, SIGINT = 128 + 2); the rest stays queued. SIGTERM gives 143. */
  INTERRUPTED: 130,
  /**
   * stdout or stderr was closed by its reader (`status | head -1`): the command stopped quietly, as
   * a process ended by SIGPIPE (128 + 13) does.
   */
  BROKEN_PIPE: 141,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** How the daemon reacts to an error. */
export type ErrorKind =
  | 'retryable' // transient: back off and try again
  | 'auth' // 401 on a request: renew the token and replay
  | 'auth_rejected' // the credentials themselves are refused: pause, never a retry storm
  | 'gone' // 404/410: the asset is no longer there
  | 'permanent' // other 4xx, unsafe keys: the job fails without further attempts
  | 'disk_full' // ENOSPC/EDQUOT: release the job, no attempt burned, pause claiming
  | 'state_full' // the state's filesystem is full: nothing can be recorded; pause claiming, polls and commits
  | 'aborted' // shutdown or lost lease: not the asset's fault
  | 'fatal'; // configuration / environment problems: stop

/**
 * The error classes: a stable name stored with failed jobs and shown in status (the retry class).
 * `apiDown`: the API, or the network to it, is unwell (not the asset): while the circuit breaker is
 * open such a failure burns no attempt. `shared`: a condition of everyone's, never the asset's (the
 * server pacing us, the state database): a job failing so keeps its attempt and is no breaker failure.
 */
export const ERROR_CLASSES = {
  http_5xx: { apiDown: true },
  rate_limited: { apiDown: false, shared: true },
  timeout: { apiDown: true },
  network: { apiDown: true },
  short_body: { apiDown: false },
  size_mismatch: { apiDown: false },
  checksum_mismatch: { apiDown: false },
  range_mismatch: { apiDown: false },
  not_found: { apiDown: false },
  http_4xx: { apiDown: false },
  auth: { apiDown: false },
  auth_rejected: { apiDown: false },
  bad_listing: { apiDown: false },
  changed_upstream: { apiDown: false },
  unsafe_key: { apiDown: false },
  path_conflict: { apiDown: false },
  case_conflict: { apiDown: false },
  disk_full: { apiDown: false },
  state_full: { apiDown: false },
  store_unavailable: { apiDown: false, shared: true },
  store_conflict: { apiDown: false, shared: true },
  io: { apiDown: false },
  aborted: { apiDown: false },
  lease_lost: { apiDown: false },
  config: { apiDown: false },
  internal: { apiDown: false },
} as const satisfies Record<string, { apiDown: boolean; shared?: true }>;

export type ErrorClass = keyof typeof ERROR_CLASSES;

/**
 * What a failed try does next (the poll, a listing page, a download attempt; lib/retry.ts runs it):
 * - `retry`: back off and try again in place;
 * - `wait`: the server paces us: wait its Retry-After (capped by api.maxRetryAfter), then try again;
 * - `pause`: stop, give the work back without burning an attempt, pause until the condition clears;
 * - `fail`: no further try in place (the job queue's attempts decide whether a download comes back).
 */
export type RetryDecision = 'retry' | 'wait' | 'pause' | 'fail';

/** The decision by kind: the retry policy as data. */
export const RETRY_BY_KIND = {
  retryable: 'retry',
  auth: 'fail', // the client has already renewed the token and replayed; a 401 left over is not retried in place
  auth_rejected: 'pause',
  gone: 'fail',
  permanent: 'fail',
  disk_full: 'pause', // retrying cannot make room: claiming pauses until there is
  state_full: 'pause',
  aborted: 'fail',
  fatal: 'fail',
} as const satisfies Record<ErrorKind, RetryDecision>;

/** Classes that decide otherwise than their kind. */
export const RETRY_BY_CLASS: Partial<Record<ErrorClass, RetryDecision>> = {
  rate_limited: 'wait',
  // The asset changed since it was listed: the same claimed version would fail again, so it goes back
  // to the queue for the poll's newer listing instead of being retried in place.
  size_mismatch: 'fail',
};

interface ErrorRow {
  readonly kind: ErrorKind;
  readonly errorClass: ErrorClass;
  readonly exit: ExitCode;
}

const { FAILURES, USAGE, UNREACHABLE, LOCKED, STORE_UNAVAILABLE } = EXIT;

/**
 * The closed table: every code a SyncError can carry, with its kind, class and exit code. HTTP
 * statuses and errno values are not part of the code: they travel in `status` and in the message.
 */
export const ERRORS = {
  // The API answered with an error status (errorFromStatus).
  SYNC_API_UNAUTHORIZED: { kind: 'auth', errorClass: 'auth', exit: FAILURES },
  SYNC_API_RATE_LIMITED: { kind: 'retryable', errorClass: 'rate_limited', exit: UNREACHABLE },
  SYNC_API_TIMEOUT: { kind: 'retryable', errorClass: 'timeout', exit: UNREACHABLE },
  SYNC_API_HTTP_5XX: { kind: 'retryable', errorClass: 'http_5xx', exit: UNREACHABLE },
  SYNC_API_GONE: { kind: 'gone', errorClass: 'not_found', exit: FAILURES },
  SYNC_API_HTTP_4XX: { kind: 'permanent', errorClass: 'http_4xx', exit: FAILURES },
  SYNC_API_BAD_REDIRECT: { kind: 'permanent', errorClass: 'http_4xx', exit: FAILURES },
  SYNC_API_RANGE_NOT_SATISFIABLE: { kind: 'retryable', errorClass: 'range_mismatch', exit: FAILURES },
  SYNC_API_BAD_LISTING: { kind: 'retryable', errorClass: 'bad_listing', exit: FAILURES },
  // Network failures (classifyError, by the errno or undici code in NETWORK_CODES).
  SYNC_API_ECONNRESET: { kind: 'retryable', errorClass: 'network', exit: UNREACHABLE },
  SYNC_API_ECONNREFUSED: { kind: 'retryable', errorClass: 'network', exit: UNREACHABLE },
  SYNC_API_ECONNABORTED: { kind: 'retryable', errorClass: 'network', exit: UNREACHABLE },
  SYNC_API_EPIPE: { kind: 'retryable', errorClass: 'network', exit: UNREACHABLE },
  SYNC_API_ENOTFOUND: { kind: 'retryable', errorClass: 'network', exit: UNREACHABLE },
  SYNC_API_EAI_AGAIN: { kind: 'retryable', errorClass: 'network', exit: UNREACHABLE },
  SYNC_API_EHOSTUNREACH: { kind: 'retryable', errorClass: 'network', exit: UNREACHABLE },
  SYNC_API_ENETUNREACH: { kind: 'retryable', errorClass: 'network', exit: UNREACHABLE },
  SYNC_API_ENETDOWN: { kind: 'retryable', errorClass: 'network', exit: UNREACHABLE },
  SYNC_API_ETIMEDOUT: { kind: 'retryable', errorClass: 'timeout', exit: UNREACHABLE },
  SYNC_API_UND_ERR_SOCKET: { kind: 'retryable', errorClass: 'network', exit: UNREACHABLE },
  SYNC_API_UND_ERR_CLOSED: { kind: 'retryable', errorClass: 'network', exit: UNREACHABLE },
  SYNC_API_UND_ERR_CONNECT_TIMEOUT: { kind: 'retryable', errorClass: 'timeout', exit: UNREACHABLE },
  SYNC_API_UND_ERR_HEADERS_TIMEOUT: { kind: 'retryable', errorClass: 'timeout', exit: UNREACHABLE },
  SYNC_API_UND_ERR_BODY_TIMEOUT: { kind: 'retryable', errorClass: 'timeout', exit: UNREACHABLE },
  SYNC_API_UND_ERR_RES_CONTENT_LENGTH_MISMATCH: { kind: 'retryable', errorClass: 'short_body', exit: FAILURES },
  SYNC_API_UND_ERR_REQ_CONTENT_LENGTH_MISMATCH: { kind: 'retryable', errorClass: 'network', exit: UNREACHABLE },
  // Authentication.
  SYNC_AUTH_FAILED: { kind: 'retryable', errorClass: 'auth', exit: FAILURES },
  SYNC_AUTH_BAD_RESPONSE: { kind: 'retryable', errorClass: 'auth', exit: FAILURES },
  SYNC_AUTH_REJECTED: { kind: 'auth_rejected', errorClass: 'auth_rejected', exit: UNREACHABLE },
  SYNC_AUTH_ENDPOINT_NOT_FOUND: { kind: 'auth_rejected', errorClass: 'auth_rejected', exit: UNREACHABLE },
  SYNC_AUTH_REDIRECT: { kind: 'auth_rejected', errorClass: 'auth_rejected', exit: UNREACHABLE },
  SYNC_API_KEY_REJECTED: { kind: 'auth_rejected', errorClass: 'auth_rejected', exit: UNREACHABLE },
  // The STAC source.
  SYNC_STAC_ITEM_GONE: { kind: 'gone', errorClass: 'not_found', exit: FAILURES },
  SYNC_STAC_ASSET_GONE: { kind: 'gone', errorClass: 'not_found', exit: FAILURES },
  SYNC_STAC_URL_REFUSED: { kind: 'retryable', errorClass: 'http_4xx', exit: FAILURES },
  // The item was fetched again for a fresh URL and is now another version: the next listing brings it.
  SYNC_STAC_ITEM_CHANGED: { kind: 'retryable', errorClass: 'changed_upstream', exit: FAILURES },
  // Downloads.
  SYNC_TRANSFER_SHORT_BODY: { kind: 'retryable', errorClass: 'short_body', exit: FAILURES },
  SYNC_TRANSFER_SIZE_MISMATCH: { kind: 'retryable', errorClass: 'size_mismatch', exit: FAILURES },
  SYNC_TRANSFER_RANGE_MISMATCH: { kind: 'retryable', errorClass: 'range_mismatch', exit: FAILURES },
  SYNC_TRANSFER_CHECKSUM_MISMATCH: { kind: 'retryable', errorClass: 'checksum_mismatch', exit: FAILURES },
  SYNC_LEASE_LOST: { kind: 'aborted', errorClass: 'lease_lost', exit: FAILURES },
  SYNC_ABORTED: { kind: 'aborted', errorClass: 'aborted', exit: FAILURES },
  // The mirror.
  SYNC_MIRROR_UNSAFE_KEY: { kind: 'permanent', errorClass: 'unsafe_key', exit: FAILURES },
  SYNC_MIRROR_SYMLINK: { kind: 'permanent', errorClass: 'unsafe_key', exit: FAILURES },
  SYNC_MIRROR_PATH_CONFLICT: { kind: 'permanent', errorClass: 'path_conflict', exit: FAILURES },
  SYNC_MIRROR_CASE_CONFLICT: { kind: 'permanent', errorClass: 'case_conflict', exit: FAILURES },
  SYNC_MIRROR_DISK_FULL: { kind: 'disk_full', errorClass: 'disk_full', exit: FAILURES },
  /** The free-space pre-check failed: nothing was written, so the partial is kept. */
  SYNC_MIRROR_NO_ROOM: { kind: 'disk_full', errorClass: 'disk_full', exit: FAILURES },
  /** The state database's filesystem is full (SQLITE_FULL; ENOSPC/EDQUOT under state.dir). */
  SYNC_STATE_DISK_FULL: { kind: 'state_full', errorClass: 'state_full', exit: FAILURES },
  // The PostgreSQL server, by SQLSTATE (PG_CODES): its disk is full, the same pause as a full state disk;
  // it cannot serve now, or a transaction lost a serialization or deadlock race: tried again.
  SYNC_STORE_DISK_FULL: { kind: 'state_full', errorClass: 'state_full', exit: FAILURES },
  SYNC_STORE_UNAVAILABLE: { kind: 'retryable', errorClass: 'store_unavailable', exit: STORE_UNAVAILABLE },
  SYNC_STORE_CONFLICT: { kind: 'retryable', errorClass: 'store_conflict', exit: FAILURES },
  SYNC_IO: { kind: 'retryable', errorClass: 'io', exit: FAILURES },
  SYNC_INTERNAL: { kind: 'retryable', errorClass: 'internal', exit: FAILURES },
  // Configuration and environment: stop (exit 2), or another instance holds the lock (exit 4).
  SYNC_CONFIG_INVALID: { kind: 'fatal', errorClass: 'config', exit: USAGE },
  SYNC_CONFIG_CREDENTIALS: { kind: 'fatal', errorClass: 'config', exit: USAGE },
  SYNC_FS_UNUSABLE: { kind: 'fatal', errorClass: 'config', exit: USAGE },
  SYNC_MIRROR_ROOT: { kind: 'fatal', errorClass: 'config', exit: USAGE },
  SYNC_HTTP_LISTEN: { kind: 'fatal', errorClass: 'config', exit: USAGE },
  SYNC_STORE_OPEN: { kind: 'fatal', errorClass: 'config', exit: USAGE },
  SYNC_STORE_OLD: { kind: 'fatal', errorClass: 'config', exit: USAGE },
  SYNC_STORE_TOO_NEW: { kind: 'fatal', errorClass: 'config', exit: USAGE },
  SYNC_STORE_MIGRATE: { kind: 'fatal', errorClass: 'config', exit: USAGE },
  /** The state was made for another catalog (source, API host or account). */
  SYNC_STATE_MISMATCH: { kind: 'fatal', errorClass: 'config', exit: USAGE },
  SYNC_LOCKED: { kind: 'fatal', errorClass: 'config', exit: LOCKED },
} as const satisfies Record<string, ErrorRow>;

export type ErrorCode = keyof typeof ERRORS;

/** The codes of configuration and environment problems (kind fatal): the command stops. */
export type FatalCode = { [C in ErrorCode]: (typeof ERRORS)[C]['kind'] extends 'fatal' ? C : never }[ErrorCode];

export interface SyncErrorOptions<C extends ErrorCode = ErrorCode> {
  /** The code only: the table decides the kind, the class, the exit code and the retry decision. */
  code: C;
  status?: number | undefined;
  retryAfterMs?: number | undefined;
  cause?: unknown;
}

export class SyncError<C extends ErrorCode = ErrorCode> extends Error {
  readonly code: C;
  readonly kind: ErrorKind;
  readonly errorClass: ErrorClass;
  /** The process exit code a command that ends on this error uses. */
  readonly exitCode: ExitCode;
  readonly status: number | undefined;
  readonly retryAfterMs: number | undefined;

  constructor(message: string, opts: SyncErrorOptions<C>) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    const row: ErrorRow = ERRORS[opts.code];
    this.name = 'SyncError';
    this.code = opts.code;
    this.kind = row.kind;
    this.errorClass = row.errorClass;
    this.exitCode = row.exit;
    this.status = opts.status;
    this.retryAfterMs = opts.retryAfterMs;
  }

  /** Tried again in place (retry or wait); disk-full is a pause, not a retry. */
  get retryable(): boolean {
    const d = retryDecision(this);
    return d === 'retry' || d === 'wait';
  }
}

/** What a failed try does next, from the tables above: a Retry-After turns a retry into a wait. */
export function retryDecision(e: SyncError): RetryDecision {
  const d: RetryDecision = RETRY_BY_CLASS[e.errorClass] ?? RETRY_BY_KIND[e.kind];
  return d === 'retry' && e.retryAfterMs !== undefined ? 'wait' : d;
}

export function isSyncError(e: unknown): e is SyncError {
  return e instanceof SyncError;
}

/** A 401 on a request: renew the token and replay. */
export function isAuth(e: SyncError): boolean {
  return e.kind === 'auth';
}

/** The credentials (or api.url's token endpoint) are refused: pause, never a retry storm. */
export function isAuthRejected(e: SyncError): boolean {
  return e.kind === 'auth_rejected';
}

/** The API answered 429: pause claiming for Retry-After; not the asset's fault. */
export function isRateLimited(e: SyncError): boolean {
  return e.errorClass === 'rate_limited';
}

/** The API, or the network to it, is unwell (5xx, timeouts, connection failures): not the asset. */
export function isApiDown(e: SyncError): boolean {
  return ERROR_CLASSES[e.errorClass].apiDown;
}

/** A condition of everyone's (a 429, the state database): a job failing so keeps its attempt. */
export function isShared(e: SyncError): boolean {
  return (ERROR_CLASSES[e.errorClass] as { shared?: true }).shared === true;
}

/** The state database's filesystem is full: claims, polls and commits pause until a probe finds room. */
export function isStateFull(e: SyncError): boolean {
  return e.kind === 'state_full';
}

/** The API cannot be used as configured right now (down, throttling, refusing the credentials): exit 3. */
export function isUnreachable(e: SyncError): boolean {
  return e.exitCode === EXIT.UNREACHABLE;
}

/** The state database cannot be reached (no answer, a connection exception, a shutdown): exit 6. */
export function isStoreUnavailable(e: SyncError): boolean {
  return e.errorClass === 'store_unavailable';
}

/** The exit code for anything a command ends on: a SyncError's from the table, else FAILURES. */
export function exitCodeOf(e: unknown): ExitCode {
  return e instanceof SyncError ? e.exitCode : EXIT.FAILURES;
}

/** A download that does not match what was listed or asked for, by the check that failed. */
export const MISMATCH_CODES = {
  size_mismatch: 'SYNC_TRANSFER_SIZE_MISMATCH',
  range_mismatch: 'SYNC_TRANSFER_RANGE_MISMATCH',
  checksum_mismatch: 'SYNC_TRANSFER_CHECKSUM_MISMATCH',
} as const satisfies Partial<Record<ErrorClass, ErrorCode>>;

/** Network error codes (errno, undici) worth another try, and the code each becomes. */
const NETWORK_CODES: Record<string, ErrorCode> = {
  ECONNRESET: 'SYNC_API_ECONNRESET',
  ECONNREFUSED: 'SYNC_API_ECONNREFUSED',
  ECONNABORTED: 'SYNC_API_ECONNABORTED',
  EPIPE: 'SYNC_API_EPIPE',
  ENOTFOUND: 'SYNC_API_ENOTFOUND',
  EAI_AGAIN: 'SYNC_API_EAI_AGAIN',
  EHOSTUNREACH: 'SYNC_API_EHOSTUNREACH',
  ENETUNREACH: 'SYNC_API_ENETUNREACH',
  ENETDOWN: 'SYNC_API_ENETDOWN',
  ETIMEDOUT: 'SYNC_API_ETIMEDOUT',
  UND_ERR_SOCKET: 'SYNC_API_UND_ERR_SOCKET',
  UND_ERR_CLOSED: 'SYNC_API_UND_ERR_CLOSED',
  UND_ERR_CONNECT_TIMEOUT: 'SYNC_API_UND_ERR_CONNECT_TIMEOUT',
  UND_ERR_HEADERS_TIMEOUT: 'SYNC_API_UND_ERR_HEADERS_TIMEOUT',
  UND_ERR_BODY_TIMEOUT: 'SYNC_API_UND_ERR_BODY_TIMEOUT',
  UND_ERR_RES_CONTENT_LENGTH_MISMATCH: 'SYNC_API_UND_ERR_RES_CONTENT_LENGTH_MISMATCH',
  UND_ERR_REQ_CONTENT_LENGTH_MISMATCH: 'SYNC_API_UND_ERR_REQ_CONTENT_LENGTH_MISMATCH',
};

const DISK_FULL_CODES = new Set(['ENOSPC', 'EDQUOT']);

// PostgreSQL SQLSTATEs (pg's DatabaseError `code`): disk_full; what passes with time (class 08, connection
// exceptions; insufficient_resources, out_of_memory, too_many_connections, admin_shutdown, crash_shutdown,
// cannot_connect_now); serialization_failure and deadlock_detected.
const PG_CODES = { '53100': 'SYNC_STORE_DISK_FULL', ...Object.fromEntries(['53000', '53200', '53300', '57P01', '57P02', '57P03'].map((c) => [c, 'SYNC_STORE_UNAVAILABLE'])), '40001': 'SYNC_STORE_CONFLICT', '40P01': 'SYNC_STORE_CONFLICT' } as Record<string, ErrorCode>;
// SQLite: another connection (a `status`, a backup, `sqlite3` in a shell) holds the lock past busy_timeout,
// with its extended codes (SQLITE_BUSY_SNAPSHOT…): passes with time, as 40001 does. Not SQLITE_LOCKED:
// without shared cache (better-sqlite3 has none) it is this connection's own conflict (a DDL while one of
// its statements is active), a bug that waiting does not fix.
const storeCodeOf = (code: string): ErrorCode | undefined =>
  PG_CODES[code] ?? (/^08[0-9A-Z]{3}$/.test(code) ? 'SYNC_STORE_UNAVAILABLE' : /^SQLITE_BUSY(_|$)/.test(code) ? 'SYNC_STORE_CONFLICT' : undefined);

// The store's driver got no answer: the socket's errno (ENOENT: a Unix socket whose server is not
// running), or pg's words for a connection lost or never made. ENOTFOUND too, deliberately: once the
// store was opened the host did resolve, so it is a DNS blip (and at start, a container or service
// name not registered yet); a mistyped host is then exit 6 with `host not found`, restarted by systemd
// with that line in the journal each time, rather than a DNS hiccup taken for a bug (exit 2, no restart).
// Anything else without a SQLSTATE (a missing password, an SSL mismatch, a value pg cannot serialize, a
// pool used after end) is ours: internal, with its stack.
const STORE_SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENETDOWN', 'EAI_AGAIN', 'ENOTFOUND']);
const STORE_LOST_MESSAGES = new Set([
  'Connection terminated unexpectedly', // the server closed the socket (a restart, a killed backend)
  'Connection terminated due to connection timeout', // the pool's connectionTimeoutMillis
  'timeout expired', // the client's connectionTimeoutMillis
  'timeout exceeded when trying to connect', // every pooled connection busy (hung) that long
  'Client has encountered a connection error and is not queryable',
]);
function storeUnreachable(err: { code?: unknown; message?: unknown; syscall?: unknown } | null): boolean {
  if (typeof err?.code === 'string') return STORE_SOCKET_CODES.has(err.code) || (err.code === 'ENOENT' && err.syscall === 'connect');
  return typeof err?.message === 'string' && STORE_LOST_MESSAGES.has(err.message);
}

/**
 * An error of the state store's own connection or statements, tagged at the store's boundary
 * (postgres-store.ts): the database's, whatever its code. classifyError reads its cause's SQLSTATE;
 * a socket error (ECONNREFUSED, ECONNRESET…) or a connection pg says it lost is store_unavailable,
 * anything else without a SQLSTATE internal.
 */
export class StoreFault extends Error {
  constructor(backend: string, cause: unknown) {
    super(`${backend}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = 'StoreFault';
  }
}

/** Classify an HTTP status into a SyncError (the policy table for statuses). */
export function errorFromStatus(
  status: number,
  context: string,
  opts: { retryAfterMs?: number | undefined; detail?: string | undefined } = {},
): SyncError {
  const detail = opts.detail ? `: ${opts.detail}` : '';
  const msg = `${context}: HTTP ${status}${detail}`;
  if (status === 401) return new SyncError(msg, { code: 'SYNC_API_UNAUTHORIZED', status });
  if (status === 429) return new SyncError(msg, { code: 'SYNC_API_RATE_LIMITED', status, retryAfterMs: opts.retryAfterMs });
  if (status === 408) return new SyncError(msg, { code: 'SYNC_API_TIMEOUT', status });
  if (status >= 500) return new SyncError(msg, { code: 'SYNC_API_HTTP_5XX', status, retryAfterMs: opts.retryAfterMs });
  if (status === 404 || status === 410) return new SyncError(msg, { code: 'SYNC_API_GONE', status });
  return new SyncError(msg, { code: 'SYNC_API_HTTP_4XX', status });
}

/**
 * Classify anything thrown into a SyncError. Unknown errors are retryable `internal` ones. SQLITE_FULL,
 * ENOSPC/EDQUOT under `stateDir` and PostgreSQL's 53100 are the state's disk; other ENOSPC the mirror's.
 */
export function classifyError(e: unknown, context = 'request', stateDir?: string): SyncError {
  if (e instanceof SyncError) return e;
  const store = e instanceof StoreFault;
  const err = (store ? e.cause : e) as { code?: unknown; name?: unknown; message?: unknown; path?: unknown; severity?: unknown; syscall?: unknown } | null;
  const code = typeof err?.code === 'string' ? err.code : undefined;
  const message = typeof err?.message === 'string' ? err.message : String(e);
  const inState = stateDir !== undefined && typeof err?.path === 'string' && !path.relative(stateDir, err.path).startsWith('..');
  if (code?.startsWith('SQLITE_FULL') || (code && DISK_FULL_CODES.has(code) && inState))
    return new SyncError(`${context}: no space left on the state filesystem (${code})`, { code: 'SYNC_STATE_DISK_FULL', cause: e });
  if (code && DISK_FULL_CODES.has(code))
    return new SyncError(`${context}: no space left on the mirror filesystem (${code})`, { code: 'SYNC_MIRROR_DISK_FULL', cause: e });
  const db = code === undefined ? undefined : storeCodeOf(code);
  if (db === 'SYNC_STORE_DISK_FULL') return new SyncError(`${context}: no space left on the PostgreSQL server (SQLSTATE ${code}: ${message})`, { code: db, cause: e });
  if (db && code?.startsWith('SQLITE_')) return new SyncError(`${context}: the SQLite state is locked by another connection (${code}: ${message})`, { code: db, cause: e });
  if (db) return new SyncError(`${context}: PostgreSQL SQLSTATE ${code}: ${message}`, { code: db, cause: e });
  // No answer from the server (a socket error, a connection dropped): the database is unreachable, not the API.
  if (store && err?.severity === undefined && storeUnreachable(err))
    return new SyncError(`${context}: the state database cannot be reached (${e.message}${code ? `, ${code}` : ''})`, { code: 'SYNC_STORE_UNAVAILABLE', cause: e });
  // Anything else the store's driver threw is a bug or a setting (never the API's network).
  if (store) return new SyncError(`${context}: ${e.message}`, { code: 'SYNC_INTERNAL', cause: e });
  const network = code === undefined ? undefined : NETWORK_CODES[code];
  if (network) return new SyncError(`${context}: ${code} ${message}`, { code: network, cause: e });
  if (err?.name === 'AbortError' || code === 'UND_ERR_ABORTED' || code === 'ABORT_ERR')
    return new SyncError(`${context}: aborted`, { code: 'SYNC_ABORTED', cause: e });
  if (err?.name === 'TimeoutError') return new SyncError(`${context}: timed out`, { code: 'SYNC_API_TIMEOUT', cause: e });
  if (code && /^E[A-Z]+$/.test(code)) return new SyncError(`${context}: ${code} ${message}`, { code: 'SYNC_IO', cause: e });
  return new SyncError(`${context}: ${message}`, { code: 'SYNC_INTERNAL', cause: e });
}

/** A write to a closed pipe (our stdout or stderr; never an API socket, whose EPIPE is a SyncError). */
export function isBrokenPipe(e: unknown): boolean {
  return !(e instanceof SyncError) && (e as { code?: unknown } | null)?.code === 'EPIPE';
}

/** The token endpoint answered 404/405/410: api.url points somewhere that is not the API. */
export const TOKEN_ENDPOINT_MISSING = 'SYNC_AUTH_ENDPOINT_NOT_FOUND' satisfies ErrorCode;
