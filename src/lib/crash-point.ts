// Test-only crash points. They do nothing unless armed from CONSTELLR_SYNC_CRASH_AT (read by the CLI),
// e.g. "after_claim" or "after_rename:3" (crash on the 3rd hit). SIGKILL on ourselves: no exit
// handlers, no flushing, exactly like the OOM killer or a power cut as far as the process knows.

export const CRASH_POINTS = ['after_page_commit', 'window_claimed', 'window_started', 'window_released', 'after_claim', 'mid_body', 'mid_ranges', 'after_part', 'after_fsync', 'after_rename', 'batch_synced', 'batch_renamed', 'batch_dirs_synced', 'batch_committed', 'catalog_item_written', 'catalog_collection_written', 'catalog_root_written', 'catalog_withdrawn', 'index_synced', 'index_renamed'] as const;
export type CrashPointName = (typeof CRASH_POINTS)[number];

let armed: { name: string; remaining: number } | null = null;

export function armCrashPoint(spec: string | undefined): void {
  if (!spec) {
    armed = null;
    return;
  }
  const [name, n] = spec.split(':');
  if (!(CRASH_POINTS as readonly string[]).includes(name!)) throw new Error(`unknown crash point ${name}; known: ${CRASH_POINTS.join(', ')}`);
  armed = { name: name!, remaining: n ? Math.max(1, Number(n)) : 1 };
}

export function isArmed(name: CrashPointName): boolean {
  return armed !== null && armed.name === name;
}

export function crashPoint(name: CrashPointName): void {
  if (armed === null || armed.name !== name) return;
  armed.remaining--;
  if (armed.remaining > 0) return;
  process.stderr.write(`crash point ${name}: SIGKILL\n`);
  process.kill(process.pid, 'SIGKILL');
}

// Test-only stall points, armed from CONSTELLR_SYNC_STALL_AT, fire on the first hit: "before_rename:6000"
// blocks the whole process for 6 s (like a GC pause: no timers, no heartbeats), "before_rename:stop"
// stops it with SIGSTOP until someone sends SIGCONT. Announced on stderr so a test can wait for it.
export const STALL_POINTS = ['before_rename'] as const;
export type StallPointName = (typeof STALL_POINTS)[number];

let stall: { name: string; ms: number | 'stop' } | null = null;

export function armStallPoint(spec: string | undefined): void {
  if (!spec) {
    stall = null;
    return;
  }
  const [name, how] = spec.split(':');
  if (!(STALL_POINTS as readonly string[]).includes(name!)) throw new Error(`unknown stall point ${name}; known: ${STALL_POINTS.join(', ')}`);
  const n = Number(how);
  if (how !== 'stop' && (!Number.isFinite(n) || n <= 0)) throw new Error(`stall point ${name}: give a time in ms or "stop", e.g. ${name}:5000`);
  stall = { name: name!, ms: how === 'stop' ? 'stop' : n };
}

export function stallPoint(name: StallPointName): void {
  if (stall === null || stall.name !== name) return;
  const ms = stall.ms;
  stall = null;
  process.stderr.write(`stall point ${name}: ${ms === 'stop' ? 'SIGSTOP' : `${ms} ms`}\n`);
  if (ms === 'stop') process.kill(process.pid, 'SIGSTOP');
  else Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
  process.stderr.write(`stall point ${name}: resumed\n`);
}
