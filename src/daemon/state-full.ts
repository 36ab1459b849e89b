// A full state disk (the filesystem of the SQLite database or of state.dir, or the PostgreSQL server's
// disk, SQLSTATE 53100): the same pause as a full mirror. Whoever meets the error first (a worker loop's claim, the start of a window job, the group
// commit, a poll, a reconcile, the lease sweep) closes the gate once with reason state_full; nothing retries the write in a loop meanwhile.
// The gate's probe reopens it when the filesystem has room again, and the poll that could not be
// recorded runs again at once. The database rolls a failed transaction back, so nothing is half written:
// jobs whose outcome could not be recorded keep their lease until it expires and are then done again.
import { classifyError, isStateFull } from '../errors.js';
import { freeBytes } from '../lib/disk.js';
import type { Gate } from '../sync/gate.js';

/** Free space on the state's filesystem that reopens the gate: room for a few checkpoints, not one row. */
export const STATE_ROOM_BYTES = 4 * 1024 * 1024;

/** How often writes to a full PostgreSQL server are tried again (its disk cannot be seen from here). */
export const STATE_SERVER_RETRY_MS = 30_000;

/**
 * The gate's probe: is there room for the state again? SQLite: STATE_ROOM_BYTES free on the filesystem
 * of state.dir. PostgreSQL (`server`): a replica cannot see the server's disk, so the probe says yes
 * and the next write (the poll it starts, a claim) is the test; a server still full closes the gate
 * again, one pause line every STATE_SERVER_RETRY_MS.
 */
export async function stateHasRoom(stateDir: string, server = false): Promise<boolean> {
  return server || (await freeBytes(stateDir)) >= STATE_ROOM_BYTES;
}

export interface StateFullOptions {
  gate: Gate;
  stateDir: string;
  /** After the gate closed (one cycle, `sync`, stops claiming instead of waiting). */
  onPause?: () => void;
}

/**
 * The handler the writers share: true when `err` is a full state disk (the gate is then closed),
 * false for anything else, which the caller handles as before.
 */
export function stateFullHandler(o: StateFullOptions): (err: unknown, context: string) => boolean {
  return (err, context) => {
    const e = classifyError(err, context, o.stateDir);
    if (!isStateFull(e)) return false;
    o.gate.closeUntilCleared('state_full', { err: e.message, code: e.code, stateDir: o.stateDir });
    o.onPause?.();
    return true;
  };
}
