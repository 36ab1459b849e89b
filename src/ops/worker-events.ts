// What a worker reports about each job: the pool, the metrics, the live status and the progress
// display listen. Defined here, below sync/, so ops/ can listen without importing the worker.
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

/** `paused`: given back without an attempt because of a shared condition (disk full, credentials, 429). */
export type JobOutcome = 'done' | 'requeued' | 'retry' | 'failed' | 'gone' | 'released' | 'lost' | 'deferred' | 'paused' | 'skipped';
