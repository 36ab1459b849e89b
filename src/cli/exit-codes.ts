// Exit codes: the numbers and each error's code live in the error table (src/errors.ts, documented in
// README); the cli applies them.
import { EXIT, exitCodeOf } from '../errors.js';

export { EXIT };

export function exitCodeFor(e: unknown): number {
  return exitCodeOf(e);
}

export class UsageError extends Error {}
