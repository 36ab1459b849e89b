// Exit codes: the numbers and each error's code live in the error table (src/errors.ts, documented in
// README); the cli applies them.
import { EXIT, StoreFault, classifyError, exitCodeOf, type SyncError } from '../errors.js';

export { EXIT };

export function exitCodeFor(e: unknown): number {
  return exitCodeOf(e);
}

export class UsageError extends Error {}

/**
 * A StoreFault that reached a command's top level (the database lost during start-up recovery, or
 * under a command's last reads): classified as anywhere else, so it is one line (`the state database
 * at … cannot be reached`, exit 6). Null for what the database's classes do not explain (an SQL error
 * is a bug: its stack is kept).
 */
export function storeFaultError(e: unknown): SyncError | null {
  if (!(e instanceof StoreFault)) return null;
  const c = classifyError(e, 'state database');
  return c.code === 'SYNC_INTERNAL' ? null : c;
}
