// The state store interface. SQLite implements it today; the PostgreSQL backend implements the same
// semantics. Methods are async so both fit; only committed facts count.
import type { RemoteAsset } from '../api/wire.js';
import type { ClaimOrder } from '../config/schema.js';

export const JOB_STATES = ['queued', 'running', 'done', 'failed', 'gone'] as const;
export type JobState = (typeof JOB_STATES)[number];

export interface Job {
  id: number;
  key: string;
  remoteModifiedMs: number;
  remoteSize: number;
  remoteEtag: string | null;
  revision: number;
  state: JobState;
  attempts: number;
  runAt: number;
  errorClass: string | null;
  errorStatus: number | null;
  errorMessage: string | null;
  localPath: string | null;
  localModifiedMs: number | null;
  bytesWritten: number | null;
  sha256: string | null;
  updatedAt: number;
  finishedAt: number | null;
}

/** A job held by one worker under a lease; `leaseToken` fences every later write. */
export interface ClaimedJob {
  id: number;
  key: string;
  remoteModifiedMs: number;
  remoteSize: number;
  remoteEtag: string | null;
  revision: number;
  attempts: number;
  leaseToken: string;
  leaseUntil: number;
  /** What the mirror held before (for replacements). */
  localPath: string | null;
}

export interface Cursor {
  hwmMs: number | null;
  pollStartedAt: number | null;
  pollFinishedAt: number | null;
  pollError: string | null;
  pollErrorClass: string | null;
  pollErrorAt: number | null;
}

export interface UpsertResult {
  inserted: number;
  changed: number;
  unchanged: number;
}

export interface JobError {
  errorClass: string;
  status?: number | null | undefined;
  message: string;
}

export interface ClaimOptions {
  owner: string;
  leaseMs: number;
  now: number;
  order: ClaimOrder;
}

export type CompleteOutcome = 'done' | 'requeued' | 'lost';
export type RetryOutcome = 'queued' | 'failed' | 'lost';

export interface StateStore {
  readonly backend: 'sqlite' | 'postgres';
  getCursor(): Promise<Cursor>;
  startPoll(now: number): Promise<void>;
  /** Upsert one listing page in one transaction. Unchanged (LastModified, Size, ETag) is a no-op. */
  upsertPage(items: readonly RemoteAsset[], now: number): Promise<UpsertResult>;
  /** Record a complete poll; the HWM only moves forward. */
  finishPoll(hwmMs: number | null, now: number): Promise<void>;
  failPoll(message: string, errorClass: string, now: number): Promise<void>;

  claim(n: number, opts: ClaimOptions): Promise<ClaimedJob[]>;
  heartbeat(id: number, token: string, leaseUntil: number, now: number): Promise<boolean>;
  /** Mark done (or queued again if the listing saw a newer version meanwhile). */
  complete(id: number, token: string, r: { localPath: string; bytes: number; sha256: string; now: number }): Promise<CompleteOutcome>;
  /** Retryable failure: queued at runAt, or failed once attempts reached the cap. */
  retryLater(id: number, token: string, r: { runAt: number; error: JobError; now: number; consumeAttempt: boolean }): Promise<RetryOutcome>;
  /** Permanent failure. */
  fail(id: number, token: string, error: JobError, now: number): Promise<boolean>;
  markGone(id: number, token: string, error: JobError, now: number): Promise<boolean>;
  /** Give the job back without consuming its attempt (shutdown). */
  release(id: number, token: string, now: number): Promise<boolean>;
  /** Start-up: jobs left running by a dead process go back to the queue (or fail at the cap). */
  requeueOrphans(now: number): Promise<number>;
  /** Leases that expired (hung worker) go back to the queue (or fail at the cap). */
  sweepExpiredLeases(now: number): Promise<number>;

  counts(): Promise<Record<JobState, number>>;
  recentFailures(limit: number): Promise<Job[]>;
  getJob(key: string): Promise<Job | null>;
  /** Earliest run_at of a queued job, or null when none is queued. */
  nextRunAt(): Promise<number | null>;
  close(): Promise<void>;
}
