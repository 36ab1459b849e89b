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
