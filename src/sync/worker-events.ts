// What a worker reports about each job: the pool, the metrics, the live status and the progress
// display listen. Its own module, so ops/ (the floor above sync/) can listen without loading the
// worker and what it imports.
import type { SyncError } from '../errors.js';
import type { ClaimedJob } from '../store/types.js';

/** What the pool wants to hear about; all optional. */
export interface WorkerEvents {
  /** `resumedFrom` > 0: the download continued a partial from that byte (shown as "resumed at …"). */
  onDone?(job: ClaimedJob, r: { bytes: number; sha256: string; path: string; received: number; durationMs: number; replaced: boolean; resumedFrom?: number }): void;
  onOutcome?(job: ClaimedJob, outcome: JobOutcome, error?: SyncError): void;
  /** Body bytes received; `job` names the download they belong to (per-download progress). */
  onBytes?(n: number, job?: ClaimedJob): void | Promise<void>;
  onRetry?(job: ClaimedJob, error: SyncError): void;
  /** A 429 with Retry-After: every worker should pause that long. */
  onRateLimited?(ms: number): void;
  onDiskFull?(job: ClaimedJob, neededBytes: number): void;
  onAuthRejected?(error: SyncError): void;
}

/** `paused`: given back without an attempt because of a shared condition (a full disk, credentials, 429, the state database). */
export type JobOutcome = 'done' | 'requeued' | 'retry' | 'failed' | 'gone' | 'released' | 'lost' | 'deferred' | 'paused' | 'skipped';

/** Combine several WorkerEvents into one (each hook is called in order; errors in one never stop the rest). */
export function combineEvents(...all: (WorkerEvents | undefined)[]): WorkerEvents {
  const list = all.filter((e): e is WorkerEvents => e !== undefined);
  const each =
    <K extends keyof WorkerEvents>(k: K) =>
    (...args: unknown[]): void | Promise<void> => {
      // A hook may return a promise (onBytes for a bandwidth limit): the combination waits for all.
      const waits: Promise<unknown>[] = [];
      for (const e of list) {
        const fn = e[k] as ((...a: unknown[]) => unknown) | undefined;
        try {
          const r = fn?.(...args);
          if (r && typeof (r as Promise<unknown>).then === 'function') waits.push(r as Promise<unknown>);
        } catch {
          // an observer must never break a worker
        }
      }
      if (waits.length > 0) return Promise.all(waits).then(() => undefined);
    };
  const keys: (keyof WorkerEvents)[] = ['onDone', 'onOutcome', 'onBytes', 'onRetry', 'onRateLimited', 'onDiskFull', 'onAuthRejected'];
  const out: WorkerEvents = {};
  for (const k of keys) if (list.some((e) => e[k])) (out as Record<string, unknown>)[k] = each(k);
  return out;
}
