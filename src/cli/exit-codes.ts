// Exit codes, chosen in one place from error classes (documented in README).
import { SyncError } from '../errors.js';
import { LockedError } from '../ops/lock.js';

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
  /** sync was interrupted (Ctrl-C, SIGINT = 128 + 2); the rest stays queued. SIGTERM gives 143. */
  INTERRUPTED: 130,
} as const;

export function exitCodeFor(e: unknown): number {
  if (e instanceof LockedError) return EXIT.LOCKED;
  if (e instanceof SyncError) {
    // Rejected credentials, or no token endpoint at api.url: the API cannot be used as configured.
    if (e.kind === 'auth_rejected') return EXIT.UNREACHABLE;
    if (e.kind === 'fatal' || e.errorClass === 'config') return EXIT.USAGE;
    if (['network', 'timeout', 'http_5xx', 'rate_limited'].includes(e.errorClass)) return EXIT.UNREACHABLE;
  }
  return EXIT.FAILURES;
}

export class UsageError extends Error {}
