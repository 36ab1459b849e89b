// Why the API could not be reached at all, in plain words: the table of connect failures by error
// code (src/errors.ts classifies them), for the listing's fail-fast and the commands' one-line messages.
import type { ErrorCode, SyncError } from '../errors.js';

/** Failures to connect at all (the API is unreachable), by code, in plain words. */
const CONNECT_FAILURES: Partial<Record<ErrorCode, string>> = {
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

/** Why the state database gave no answer, by the socket's errno, in plain words. */
const STORE_SOCKET_FAILURES: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'name lookup failed',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ENETDOWN: 'network is down',
  ETIMEDOUT: 'connection timed out',
};

/** The innermost cause of an error (a SyncError → the store's StoreFault → the driver's error). */
function rootCause(e: unknown): { code?: unknown; message?: unknown; severity?: unknown } {
  let c = e as { cause?: unknown } | null;
  for (let i = 0; i < 5 && c?.cause !== undefined && c.cause !== null; i++) c = c.cause as { cause?: unknown };
  return (c ?? {}) as { code?: unknown; message?: unknown; severity?: unknown };
}

/**
 * `the state database at postgres://u@db:5432/x cannot be reached (connection refused): …`, for a
 * store_unavailable error that ends a command (exit 6), or null for any other error. `databaseUrl` is
 * already redacted (never a password); the reason is the socket's errno in words, the server's
 * SQLSTATE, or the driver's own words ("Connection terminated unexpectedly").
 */
export function storeUnreachableMessage(e: SyncError, databaseUrl: string | null): string | null {
  if (e.errorClass !== 'store_unavailable') return null;
  const root = rootCause(e);
  const code = typeof root.code === 'string' ? root.code : undefined;
  const words = typeof root.message === 'string' && root.message !== '' ? root.message : e.message;
  const reason = (code && STORE_SOCKET_FAILURES[code]) ?? (code && root.severity !== undefined ? `SQLSTATE ${code}: ${words}` : words);
  const where = databaseUrl === null ? 'the state database' : `the state database at ${databaseUrl}`;
  return `${where} cannot be reached (${reason}): check that the server is up and state.url / CONSTELLR_SYNC_DATABASE_URL`;
}
