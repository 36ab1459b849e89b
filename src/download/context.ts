// What the download of one file needs from the process (FileContext) and what it is handed per job
// (FileRun, one plain object whose lease fields the worker's heartbeat updates), and what it answers.
import type { Source } from '../api/source.js';
import type { SyncError } from '../errors.js';
import type { BackoffPolicy } from '../lib/backoff.js';
import type { Logger } from '../lib/logger.js';
import type { MirrorLayoutSettings } from '../mirror/layout.js';
import type { ClaimedJob, WorkerStore } from '../store/types.js';
import type { CommitBatcher } from './group-commit.js';
import type { StagingClaim } from './staging.js';

export interface WorkerSettings {
  leaseMs: number;
  quickRetries: number;
  backoff: BackoffPolicy;
  freeSpaceReserve: number;
  minDownloadRate: number;
  /** Base delay of the quick in-run retries. */
  quickRetryMinMs?: number;
  /** Name rules of the mirror's filesystem, the case-conflict policy, previous versions. */
  layout?: MirrorLayoutSettings;
  /**
   * Other processes write into this mirror too (replicas on a shared state): staging names are then
   * claimed with an O_EXCL file. A single instance holds the instance lock, so activeStaging suffices.
   */
  sharedStaging?: boolean;
  /** Files of at least this many bytes are fetched as parallel ranges (sync.rangedThreshold). */
  rangedThreshold?: number;
  /** Ranges fetched at once for one such file; 1 = one stream (sync.rangedStreams). */
  rangedStreams?: number;
}

/** What a download reports as it goes (the worker's events, sync/worker-events.ts, are a superset). */
export interface FileEvents {
  /** Body bytes received; `job` names the download they belong to (per-download progress). */
  onBytes?(n: number, job?: ClaimedJob): void | Promise<void>;
  onRetry?(job: ClaimedJob, error: SyncError): void;
  /** A 429 with Retry-After: every worker should pause that long. */
  onRateLimited?(ms: number): void;
}

/** What a file's download needs from the process; the worker's context is one. */
export interface FileContext {
  /** The source (asset API or STAC): it locates each job's bytes. */
  api: Source;
  store: WorkerStore;
  root: string;
  logger: Logger;
  clock: () => number;
  settings: WorkerSettings;
  /** Staging names being written in this process: two workers never share a partial. */
  activeStaging: Set<string>;
  events: FileEvents;
  /** Free bytes on the mirror filesystem (fresh = no cached reading); defaults to a statfs each time. */
  freeSpace?(fresh: boolean): Promise<number>;
  /** Waits until the pool may proceed (pauses for 429s, etc.). */
  waitForGate?(signal: AbortSignal): Promise<void>;
  /** Group commit of small files (the pool's); without it every file commits on its own. */
  commits?: CommitBatcher;
}

/** One job's download: the job, its log, and its lease as the worker's heartbeat sees it. */
export interface FileRun {
  job: ClaimedJob;
  log: Logger;
  /** Aborted when the lease is lost or the process shuts down. */
  signal: AbortSignal;
  /** Set by the heartbeat when the lease was lost. */
  leaseLost: boolean;
  /** The cross-process staging claim (shared staging), touched by the heartbeat. */
  stagingClaim: StagingClaim | null;
  started: number;
}

/** What the download of a file came to; the worker records a failure and reports every outcome. */
export type FileOutcome =
  | { kind: 'done'; file: { bytes: number; sha256: string; path: string; received: number; resumedFrom?: number }; replaced: boolean; durationMs: number }
  | { kind: 'requeued' | 'skipped' | 'deferred' }
  /** placed: the file was renamed into place before the commit found the lease gone. */
  | { kind: 'lost'; placed: boolean }
  /** The staging was settled as the error's kind asks; `stagedBytes`: what is kept for resume. */
  | { kind: 'failed'; error: SyncError; stagedBytes: number };

/** The free-space pre-check failed: nothing was written, so the partial is kept. */
export const NO_ROOM_CODE = 'SYNC_MIRROR_NO_ROOM';
