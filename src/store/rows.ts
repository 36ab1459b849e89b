// Row shapes shared by the SQLite and PostgreSQL stores (same column names in both schemas) and
// their mapping to the domain types. One place, so the backends cannot drift apart.
import type { ListedSize } from '../lib/size.js';
import type { ClaimedJob, Job, JobState, OutboxItem, OutboxSink, ReconcileRecord } from './types.js';

/**
 * The remote_size column keeps an unknown size as -1 (NOT NULL since the first schema; -1 sorts
 * first, as `smallest-first` claims expect). Only these three know it: every row is read through
 * sizeOfColumn, every listed size bound through sizeColumn, and SQL asks listedSizeSql.
 */
export function listedSizeSql(col: string): string {
  return `${col} >= 0`;
}
export function sizeColumn(size: ListedSize): number {
  return size ?? -1;
}
export function sizeOfColumn(v: number | string): ListedSize {
  const n = Number(v);
  return n < 0 ? null : n;
}

export interface JobRow {
  id: number;
  key: string;
  remote_modified_ms: number;
  remote_size: number;
  remote_etag: string | null;
  revision: number;
  state: JobState;
  attempts: number;
  run_at: number;
  error_class: string | null;
  error_status: number | null;
  error_message: string | null;
  local_path: string | null;
  local_modified_ms: number | null;
  bytes_written: number | null;
  sha256: string | null;
  updated_at: number;
  finished_at: number | null;
  mirror_path: string | null;
  shortened: number;
  remote_deleted_at: number | null;
  local_removed: 'trash' | 'delete' | null;
}

/** The columns a job row and a claimed row share: which job, which listed version, how many tries. */
type JobHeadRow = Pick<JobRow, 'id' | 'key' | 'remote_modified_ms' | 'remote_size' | 'remote_etag' | 'revision' | 'attempts'>;

function rowToJobHead(r: JobHeadRow): Pick<Job, 'id' | 'key' | 'remoteModifiedMs' | 'remoteSize' | 'remoteEtag' | 'revision' | 'attempts'> {
  return {
    id: r.id,
    key: r.key,
    remoteModifiedMs: r.remote_modified_ms,
    remoteSize: sizeOfColumn(r.remote_size),
    remoteEtag: r.remote_etag,
    revision: r.revision,
    attempts: r.attempts,
  };
}

export function rowToJob(r: JobRow): Job {
  return {
    ...rowToJobHead(r),
    state: r.state,
    runAt: r.run_at,
    errorClass: r.error_class,
    errorStatus: r.error_status,
    errorMessage: r.error_message,
    localPath: r.local_path,
    localModifiedMs: r.local_modified_ms,
    bytesWritten: r.bytes_written,
    sha256: r.sha256,
    updatedAt: r.updated_at,
    finishedAt: r.finished_at,
    mirrorPath: r.mirror_path ?? null,
    shortened: r.shortened === 1,
    remoteDeletedAt: r.remote_deleted_at ?? null,
    localRemoved: r.local_removed ?? null,
  };
}

export interface ClaimedRow extends JobHeadRow {
  lease_token: string;
  lease_until: number;
  local_path: string | null;
  locator?: string | null;
  /** 1: the claim took it from a holder whose lease had expired. */
  lease_expired?: number | null;
}

export function rowToClaimed(r: ClaimedRow): ClaimedJob {
  return {
    ...rowToJobHead(r),
    leaseToken: r.lease_token,
    leaseUntil: r.lease_until,
    localPath: r.local_path,
    locator: r.locator ?? null,
    ...(Number(r.lease_expired) === 1 ? { leaseExpired: true as const } : {}),
  };
}

export interface OutboxRow {
  id: number;
  sink: OutboxSink;
  event: OutboxItem['event'];
  key: string;
  path: string | null;
  size: number | null;
  last_modified_ms: number | null;
  sha256: string | null;
  attempts: number;
  created_at: number;
}

export function rowToOutboxItem(r: OutboxRow): OutboxItem {
  return {
    id: r.id,
    sink: r.sink,
    event: r.event,
    key: r.key,
    path: r.path,
    size: r.size,
    lastModifiedMs: r.last_modified_ms,
    sha256: r.sha256,
    attempts: r.attempts,
    createdAt: r.created_at,
  };
}

export interface ReconcileRow {
  id: number;
  started_at: number;
  finished_at: number | null;
  listed: number;
  queued: number;
  missing: number;
  applied: number;
  guarded: number;
  policy: string | null;
  error: string | null;
  error_class: string | null;
}

export function rowToReconcile(r: ReconcileRow): ReconcileRecord {
  return {
    id: r.id,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
    listed: r.listed,
    queued: r.queued,
    missing: r.missing,
    applied: r.applied,
    guarded: r.guarded === 1,
    policy: r.policy,
    error: r.error,
    errorClass: r.error_class,
  };
}
