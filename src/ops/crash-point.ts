// Test-only crash points. They do nothing unless armed from CONSTELLR_SYNC_CRASH_AT (read by the CLI),
// e.g. "after_claim" or "after_rename:3" (crash on the 3rd hit). SIGKILL on ourselves: no exit
// handlers, no flushing, exactly like the OOM killer or a power cut as far as the process knows.

export const CRASH_POINTS = ['after_page_commit', 'after_claim', 'mid_body', 'after_fsync', 'after_rename', 'catalog_item_written', 'catalog_withdrawn'] as const;
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
