// The state store's roles (PollStore, WorkerStore, OutboxStore, ReconcileStore, StatusStore…; the
// catalog's CatalogStore is in catalog-store.ts): callers take a role, never the whole store. SQLite
// and PostgreSQL implement the same semantics (SqlStore over src/store/sql/*); methods are async so
// both fit; only committed facts count.
import type { SourceJob } from '../api/source.js';
import type { RemoteAsset } from '../api/wire.js';
import type { ClaimOrder } from '../config/schema.js';
import type { ListedSize } from '../lib/size.js';
import type { CatalogStore } from './catalog-store.js';

export const JOB_STATES = ['queued', 'running', 'done', 'failed', 'gone'] as const;
export type JobState = (typeof JOB_STATES)[number];

export interface Job {
  id: number;
  key: string;
  remoteModifiedMs: number;
  /** Listed bytes; null when the listing did not say. */
  remoteSize: ListedSize;
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
  /** Path reserved or held in the mirror (relative; folder markers end in '/'). */
  mirrorPath: string | null;
  /** A segment or the whole path was shortened (NAME_MAX / PATH_MAX). */
  shortened: boolean;
  /** Set when a complete full listing no longer returned the key (deleted_remote). */
  remoteDeletedAt: number | null;
  /** What reconcile did with the local file. */
  localRemoved: 'trash' | 'delete' | null;
}

/** A reservation of a mirror path by a job; `owner` is the key already holding it, if any. */
export interface PathReservation {
  /** False when the lease was lost. */
  ok: boolean;
  owner: { key: string; mirrorPath: string } | null;
}

export interface ReconcileRecord {
  id: number;
  startedAt: number;
  finishedAt: number | null;
  listed: number;
  queued: number;
  missing: number;
  applied: number;
  guarded: boolean;
  policy: string | null;
  error: string | null;
  errorClass: string | null;
}

/** A job held by one worker under a lease; `leaseToken` fences every later write. */
export interface ClaimedJob extends SourceJob {
  id: number;
  revision: number;
  attempts: number;
  leaseToken: string;
  leaseUntil: number;
  /** What the mirror held before (for replacements). */
  localPath: string | null;
  /** The mirror path claimWindow reserved for it in the claim's transaction (no other key held it). */
  reservedPath?: string;
  /** Taken from a holder whose lease had expired (dead or hung), as the lease sweep would requeue it. */
  leaseExpired?: true;
}

/** A mirror path a job wants reserved: as written, and as the filesystem compares names. */
export interface PathWant {
  mirrorPath: string;
  pathFold: string;
}

/** A claim window's options: the claim's, and how many of its jobs start at once. */
export interface WindowOptions extends ClaimOptions {
  start: number;
}

/** A leased job, as a heartbeat or a release names it. */
export interface LeaseRef {
  id: number;
  token: string;
}

export interface Cursor {
  hwmMs: number | null;
  /** The source and incremental strategy of the last poll (JSON of SourceInfo), null before one. */
  sourceInfo?: string | null;
  pollStartedAt: number | null;
  pollFinishedAt: number | null;
  pollError: string | null;
  pollErrorClass: string | null;
  pollErrorAt: number | null;
  /** Server clock − our clock, measured at the last complete poll (ms); null when never measured. */
  clockSkewMs: number | null;
  clockSkewAt: number | null;
}

/** What a complete poll records besides the mark. */
export interface FinishPollOptions {
  /** The mark never ends above this (the server's clock at the start of the poll − 1 s). */
  capMs?: number | null;
  /** The measured server/local clock skew; null leaves the last measurement. */
  clockSkewMs?: number | null;
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

/** The few columns a dry run needs of a job. */
export interface JobBrief {
  key: string;
  state: JobState;
  remoteSize: ListedSize;
  runAt: number;
  localPath: string | null;
}

/** Which failed jobs `retry` queues again; empty means every failed job. */
export interface RequeueSelection {
  keys?: readonly string[] | undefined;
  errorClass?: string | undefined;
}

export type CompleteOutcome = 'done' | 'requeued' | 'lost';

/** What a worker commits for a finished download. */
export interface CompleteInput {
  localPath: string;
  bytes: number;
  sha256: string;
  now: number;
  shortened?: boolean;
}

/** One row of a batched completion: the job, the token of its lease, and what its worker commits. */
export interface CompleteBatchRow extends CompleteInput {
  id: number;
  token: string;
}

/** What a batched completion did with one row ('lost': the lease was lost, nothing was written). */
export interface BatchCompletion {
  id: number;
  outcome: CompleteOutcome;
}

/** The outcome of commitPlaced: whether `place` ran (the file is in place), and the commit's outcome. */
export interface PlacedOutcome {
  placed: boolean;
  outcome: CompleteOutcome;
}
export type RetryOutcome = 'queued' | 'failed' | 'lost';

/** What a notification reports: a download completed (created/updated) or an asset was deleted locally. */
export type OutboxEventType = 'created' | 'updated' | 'deleted';
/** Where notifications go; one outbox row per event and configured sink. */
export type OutboxSink = 'hook' | 'webhook';
export const OUTBOX_SINKS: readonly OutboxSink[] = ['hook', 'webhook'];

export interface OutboxEventInput {
  event: OutboxEventType;
  key: string;
  /** Path relative to the mirror root (null when unknown). */
  path: string | null;
  size: number | null;
  lastModifiedMs: number | null;
  sha256: string | null;
}

/** One pending delivery, as claimed by a notifier. */
export interface OutboxItem extends OutboxEventInput {
  id: number;
  sink: OutboxSink;
  /** Attempts so far, this one included. */
  attempts: number;
  createdAt: number;
}

/** What pruneOutbox removed: expired failed rows, and rows per sink no longer configured. */
export interface OutboxPruned {
  failed: number;
  unconfigured: Partial<Record<OutboxSink, number>>;
}

export interface OutboxCounts {
  pending: number;
  failed: number;
}

// --- role interfaces: each caller depends on the role it uses ---

/** The listing side of a poll: the cursor (high-water mark) and the upsert of listed assets. */
export interface PollStore {
  getCursor(): Promise<Cursor>;
  startPoll(now: number): Promise<void>;
  /** Upsert one listing page in one transaction. Unchanged (LastModified, Size, ETag) is a no-op. */
  upsertPage(items: readonly RemoteAsset[], now: number): Promise<UpsertResult>;
  /** Record a complete poll; the HWM only moves forward. */
  finishPoll(hwmMs: number | null, now: number, opts?: FinishPollOptions): Promise<void>;
  failPoll(message: string, errorClass: string, now: number): Promise<void>;
}

/** Coordination between replicas (PostgreSQL); SQLite has one process per state, so trivial. */
export interface CoordinationStore {
  /** Record which source polled and how it lists incrementally (shown by status). */
  setSourceInfo(info: string): Promise<void>;
  /**
   * Take or renew the poller lease for ttlMs (the database's clock). True while `owner` holds it:
   * exactly one replica polls; when it dies, another takes over once the lease expired.
   */
  tryAcquirePollerLease(owner: string, ttlMs: number): Promise<boolean>;
  /** Give the poller lease up (shutdown) so another replica takes over at once. */
  releasePollerLease(owner: string): Promise<void>;
  /** Called when another process queued work (LISTEN/NOTIFY); returns an unsubscribe function. */
  onJobsAvailable(fn: () => void): () => void;
  /** Start-up: jobs left running by a dead process go back to the queue (or fail at the cap). */
  requeueOrphans(now: number): Promise<number>;
  /** Leases that expired (hung worker) go back to the queue (or fail at the cap). */
  sweepExpiredLeases(now: number): Promise<number>;
}

/** Workers and their pool: claim jobs, hold their leases, commit or give them back; mirror paths. */
export interface WorkerStore {
  /** Lease up to n due jobs in one transaction, each under its own token (batched claims). */
  claimJobs(n: number, opts: ClaimOptions): Promise<ClaimedJob[]>;
  /**
   * claimJobs, and in the same transaction each claimed job's mirror path (`paths`; null: not now)
   * reserved when no other key holds it, as reservePath would (the job's reservedPath says so); a
   * job whose path is held, or that has none yet, reserves it later with reservePath. The first
   * `start` jobs (in order) start at once; the others wait unstarted, and if this process dies
   * before they are released, their requeue gives their attempt back.
   */
  claimWindow(n: number, opts: WindowOptions, paths: (job: ClaimedJob) => PathWant | null): Promise<ClaimedJob[]>;
  /** Extend the lease to leaseMs from now (the backend's clock). */
  heartbeat(id: number, token: string, leaseMs: number, now: number): Promise<boolean>;
  /**
   * Claim window's jobs start (they were claimed unstarted): from now on a death counts their
   * attempts. Many in one transaction (the workers that take a job in the same turn); returns the
   * ids whose lease is still held (those marked).
   */
  markStartedMany(jobs: readonly LeaseRef[], now: number): Promise<number[]>;
  /** heartbeat for many jobs in one transaction; returns the ids whose lease is still held. */
  heartbeatMany(jobs: readonly LeaseRef[], leaseMs: number, now: number): Promise<number[]>;
  /** release for many jobs in one transaction (the unstarted part of a claim window); returns how many. */
  releaseMany(jobs: readonly LeaseRef[], now: number): Promise<number>;
  /** Mark done (or queued again if the listing saw a newer version meanwhile). */
  complete(id: number, token: string, r: CompleteInput): Promise<CompleteOutcome>;
  /**
   * complete() for many jobs in one transaction (group commit): the done rows and their outbox
   * events commit together, each row fenced by its own lease. Returns each row's outcome in input
   * order. The files must already be durable: nothing here touches the disk.
   */
  completeBatch(rows: readonly CompleteBatchRow[]): Promise<BatchCompletion[]>;
  /**
   * Put a finished download in place and commit it, fenced by the lease: `place` (the rename) runs
   * only while the lease is held. PostgreSQL holds the job's row lock (SELECT … FOR UPDATE) from that
   * check until the commit, so no other replica can sweep, claim or commit the job in between; SQLite
   * (one process) checks and extends the lease, places, then commits. placed=false: the lease was lost
   * before anything was placed.
   */
  commitPlaced(id: number, token: string, place: () => Promise<void>, r: CompleteInput & { leaseMs: number }): Promise<PlacedOutcome>;
  /**
   * commitPlaced for a batch (group commit): the leases of all rows are checked (PostgreSQL: their
   * row locks are held until the commit), `place` gets the ids still held and returns the ids it
   * placed, and those rows complete in one transaction. Outcomes in input order; a row not held is
   * { placed: false, outcome: 'lost' }, a held row `place` did not place is { placed: false } too.
   */
  commitPlacedBatch(rows: readonly CompleteBatchRow[], place: (held: readonly number[]) => Promise<ReadonlySet<number>>, leaseMs: number): Promise<PlacedOutcome[]>;
  /**
   * The file in place may be older than what another worker committed (a rename that landed after
   * its lease was lost): fetch the key again. A done/failed/queued row is queued at once with its
   * attempts reset; a running row gets a new revision, so its holder's commit turns into a requeue.
   */
  requeueStale(id: number, now: number): Promise<boolean>;
  /** Retryable failure: queued again retryAfterMs from now (the backend's clock), or failed once attempts reached the cap. */
  retryLater(id: number, token: string, r: { retryAfterMs: number; error: JobError; now: number; consumeAttempt: boolean }): Promise<RetryOutcome>;
  /** Permanent failure. */
  fail(id: number, token: string, error: JobError, now: number): Promise<boolean>;
  markGone(id: number, token: string, error: JobError, now: number): Promise<boolean>;
  /** Give the job back without consuming its attempt (shutdown). */
  release(id: number, token: string, now: number): Promise<boolean>;
  /** Earliest run_at of a queued job, or null when none is queued. */
  nextRunAt(): Promise<number | null>;
  /**
   * Atomically reserve a mirror path for a running job: fails (owner set) when another key that is
   * done, running or holding a file has the same folded path. Fenced by the lease.
   */
  reservePath(id: number, token: string, r: { mirrorPath: string; pathFold: string }): Promise<PathReservation>;
  /** The key (other than excludeKey) whose mirror path is relPath, its folder marker, or below it. */
  findPathOwner(r: { relPath: string; pathFold: string }, excludeKey: string): Promise<string | null>;
  /** End a running job without a file (case_conflict with policy skip): state done, no local path. */
  skip(id: number, token: string, error: JobError, now: number): Promise<boolean>;
}

/**
 * The notification outbox. `complete()` records a created/updated event for every configured sink
 * (see the store's outboxSinks option) in the same transaction that marks the job done.
 */
export interface OutboxStore {
  /** Record an event (e.g. a deletion) for every configured sink; returns the rows written. */
  recordEvent(e: OutboxEventInput, now: number): Promise<number>;
  /** Claim up to n due deliveries for a sink; each stays leased for leaseMs (the backend's clock). */
  claimOutbox(sink: OutboxSink, n: number, now: number, leaseMs: number): Promise<OutboxItem[]>;
  /** Delivered: the row is removed. */
  ackOutbox(id: number): Promise<void>;
  /** Not delivered: try again retryAfterMs from now (the backend's clock), or mark failed once attempts reached maxAttempts. */
  nackOutbox(id: number, r: { retryAfterMs: number; error: string; maxAttempts: number; now: number }): Promise<'retry' | 'failed'>;
  /** Start-up: deliveries left in flight by a dead process are due again now. */
  releaseOutboxLeases(now: number): Promise<number>;
  /** Earliest time a pending delivery of this sink is due (null when none). */
  nextOutboxAt(sink: OutboxSink): Promise<number | null>;
  outboxCounts(): Promise<Record<OutboxSink, OutboxCounts>>;
  /**
   * Bound the outbox: delete failed deliveries that failed more than failedRetentionMs ago, and every
   * row (pending or failed) of a sink not in `sinks` (no longer configured). Returns what went.
   */
  pruneOutbox(r: { failedRetentionMs: number; sinks: readonly OutboxSink[]; now: number }): Promise<OutboxPruned>;
}

/** Full-listing reconciliation: what a complete listing no longer returned, and what was done. */
export interface ReconcileStore extends Pick<PollStore, 'upsertPage'>, Pick<OutboxStore, 'recordEvent'> {
  startReconcile(now: number, policy: string): Promise<number>;
  /** Record that a full listing returned these keys; clears deleted_remote for keys that came back. */
  markListed(keys: readonly string[], reconcileId: number): Promise<void>;
  /** Known keys the full listing `reconcileId` did not return (not yet deleted_remote, not running). */
  reconcileCandidates(reconcileId: number): Promise<Job[]>;
  /** Keys tracked (not deleted_remote): the base of maxDelete percentages. */
  trackedCount(): Promise<number>;
  /** Mark deleted_remote; a job never mirrored ends `gone`. `removed` releases the path reservation. */
  markRemoteDeleted(id: number, r: { now: number; removed: 'trash' | 'delete' | null }): Promise<boolean>;
  finishReconcile(id: number, r: { now: number; listed: number; queued: number; missing: number; applied: number; guarded: boolean; error?: { message: string; errorClass: string } }): Promise<void>;
  lastReconcile(): Promise<ReconcileRecord | null>;
}

/** Read-only views: status, metrics, the status page. */
export interface StatusStore extends Pick<PollStore, 'getCursor'>, Pick<WorkerStore, 'nextRunAt'>, Pick<OutboxStore, 'outboxCounts'>, Pick<ReconcileStore, 'lastReconcile'> {
  readonly backend: 'sqlite' | 'postgres';
  /** The catalog writer's status (the catalog's tables are in the same state). */
  readonly catalog: Pick<CatalogStore, 'getStatus'>;
  counts(): Promise<Record<JobState, number>>;
  recentFailures(limit: number): Promise<Job[]>;
  /**
   * The newest problems, by updated_at: failed and gone jobs, and queued jobs waiting to retry after
   * a failed attempt (attempts > 0, with an error). `runAt` is in the caller's time base (next retry).
   */
  problemJobs(limit: number): Promise<Job[]>;
  /**
   * Known bytes by job state, the byte side of counts(): what done jobs wrote, the listed size of the
   * others; a size the listing omitted is not summed (mirrorTotals counts those).
   */
  bytesByState(): Promise<Record<JobState, number>>;
  getJob(key: string): Promise<Job | null>;
  /** The jobs of these keys, by key, in one query (keys without a job are absent). */
  getJobs(keys: readonly string[]): Promise<Map<string, Job>>;
  /** Jobs still to do (queued + running) and their listed bytes (progress, ETA). */
  backlog(): Promise<{ jobs: number; bytes: number }>;
  /**
   * Known bytes per job state (as bytesByState), how many jobs per state have no known size (listed
   * without one and not downloaded yet), and when the newest file arrived (status: last file).
   */
  mirrorTotals(): Promise<{ bytes: Record<JobState, number>; unknown: Record<JobState, number>; lastDoneAt: number | null }>;
  /** Number of keys marked deleted_remote (a sibling of the state counts in status). */
  remoteDeletedCount(): Promise<number>;
}

/** Operator controls (retry, dry run) and the paging of verify, export and manifests. */
export interface OperatorStore {
  /**
   * Queue failed jobs again with attempts reset and run_at = now (`retry`). Only jobs in state
   * failed are touched; `keys` and `errorClass` narrow the selection (both: AND). Returns the count.
   */
  requeueFailed(sel: RequeueSelection, now: number): Promise<number>;
  /** A short row for every job in one of `states` (dry run: pending work, mirrored keys). */
  jobBriefs(states: readonly JobState[]): Promise<JobBrief[]>;
  /** Jobs in id order after `afterId` (paging for verify and export). */
  listJobs(afterId: number, limit: number): Promise<Job[]>;
  /** Queue jobs again with attempts reset (verify --repair). Running jobs are left alone. */
  requeue(ids: readonly number[], error: JobError, now: number): Promise<number>;
}

/** The whole store, as the runtime opens it; components take the roles they use. */
export interface StateStore extends PollStore, CoordinationStore, WorkerStore, OutboxStore, ReconcileStore, StatusStore, OperatorStore {
  readonly backend: 'sqlite' | 'postgres';
  /** The STAC catalog's tables (items, collections, the writer's status), same database. */
  readonly catalog: CatalogStore;
  close(): Promise<void>;
}
