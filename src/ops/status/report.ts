// What `status` reports, as plain data: is the mirror complete, when did the last file arrive and the
// last poll succeed, when is the next poll, is a daemon running on this state directory. One builder
// for `status`, `status --json`, `status --check` and any HTTP status page; it reads the store and the
// lock's pid file and prints nothing.
import { recordedIdentity } from '../../store/identity.js';
import type { Config } from '../../config/load.js';
import type { StatusStore } from '../../store/types.js';
import { describeStore } from '../../store/open.js';
import { nextScheduledRun, scheduleIntervalMs } from '../http-server.js';
import { readLockHolder } from '../../lib/lock.js';
import { completeness, lastPollFailed } from './completeness.js';

const iso = (ms: number | null | undefined) => (ms === null || ms === undefined ? null : new Date(ms).toISOString());

export interface StatusOptions {
  now: number;
  /** How many recent failures to list. */
  failures?: number;
  /** The last successful poll may be this old before the mirror counts as stale (status --check exit 2). */
  staleAfterMs?: number;
}

/** The staleness threshold by default: as /readyz, http.readyPollIntervals schedule intervals. */
export function defaultStaleAfterMs(config: Config): number {
  return config.http.readyPollIntervals * scheduleIntervalMs(config.sync.schedule, config.sync.timezone);
}

export type StatusReport = Awaited<ReturnType<typeof buildStatusReport>>;

export async function buildStatusReport(config: Config, store: StatusStore | null, o: StatusOptions) {
  const holder = readLockHolder(config.state.dir);
  const daemon = holder?.alive ? { running: true, pid: holder.pid, since: holder.since } : { running: false, pid: null, since: null };
  const staleAfterMs = o.staleAfterMs ?? defaultStaleAfterMs(config);
  const base = {
    now: iso(o.now),
    store: describeStore(config),
    stateDir: config.state.dir,
    mirrorDir: config.mirror.dir,
    // The configured source (assets | stac); once a state has recorded its own, that one.
    source: config.source,
    daemon,
    staleAfterMs,
  };
  if (!store) {
    return {
      ...base,
      initialized: false as const,
      backend: null,
      complete: false,
      completeness: completeness({ queued: 0, running: 0, done: 0, failed: 0, gone: 0 }, { pollFinishedAt: null, pollFailed: false }),
      stale: true,
      check: 2 as 0 | 1 | 2,
      assets: { listed: 0, done: 0, queued: 0, running: 0, failed: 0, gone: 0, deletedRemote: 0, bytesListed: 0, bytesDone: 0, sizeUnknown: 0 },
      jobs: { queued: 0, running: 0, done: 0, failed: 0, gone: 0 },
      remoteDeleted: 0,
      newestRemoteChange: null,
      highWaterMark: null,
      lastFileAt: null,
      lastSuccessfulPollAt: null,
      nextPollAt: null,
      lastPoll: null,
      authFailed: false,
      lastReconcile: null,
      clockSkew: null,
      strategy: null,
      strategyReason: null,
      lastPolledSource: null,
      catalog: null,
      catalogue: null,
      failures: [],
    };
  }
  const [cursor, jobs, remoteDeleted, lastReconcile, failures, totals] = await Promise.all([
    store.getCursor(),
    store.counts(),
    store.remoteDeletedCount(),
    store.lastReconcile(),
    store.recentFailures(o.failures ?? 20),
    store.mirrorTotals(),
  ]);
  const recorded = parseSourceInfo(cursor.sourceInfo ?? null);
  const catalog = config.source === 'stac' && config.stac.catalog ? await catalogStatus(store) : null;
  const listed = jobs.queued + jobs.running + jobs.done + jobs.failed + jobs.gone;
  // Known sizes only: an asset listed without a size counts in sizeUnknown, never as a negative size.
  const bytesListed = Object.values(totals.bytes).reduce((a, b) => a + b, 0);
  const sizeUnknown = Object.values(totals.unknown).reduce((a, b) => a + b, 0);
  const pollFailed = lastPollFailed(cursor);
  const stale = cursor.pollFinishedAt === null || o.now - cursor.pollFinishedAt > staleAfterMs;
  // The one definition of complete, and the one count, that every surface shows (completeness.ts).
  const mirror = completeness(jobs, { pollFinishedAt: cursor.pollFinishedAt, pollFailed });
  const somethingFailed = jobs.failed > 0 || pollFailed || catalog?.failing === true;
  // The state knows its source (store/identity.ts): a STAC state is reported as one whatever the
  // configuration says (sync and run refuse the mismatch).
  const stateSource = recordedIdentity(cursor.sourceInfo)?.source;
  return {
    ...base,
    ...(stateSource ? { source: stateSource } : {}),
    initialized: true as const,
    backend: store.backend,
    complete: mirror.complete,
    /** complete, state, summary ("complete except 2 gone"), done of total, to do, failed, gone. */
    completeness: mirror,
    stale,
    /** `status --check`: 0 fresh and nothing failed, 1 something failed, 2 the last successful poll is too old. */
    check: (stale ? 2 : somethingFailed ? 1 : 0) as 0 | 1 | 2,
    assets: { listed, done: jobs.done, queued: jobs.queued, running: jobs.running, failed: jobs.failed, gone: jobs.gone, deletedRemote: remoteDeleted, bytesListed, bytesDone: totals.bytes.done, sizeUnknown },
    jobs,
    remoteDeleted,
    /** The newest LastModified a complete poll saw (the high-water mark). */
    newestRemoteChange: iso(cursor.hwmMs),
    highWaterMark: iso(cursor.hwmMs),
    lastFileAt: iso(totals.lastDoneAt),
    lastSuccessfulPollAt: iso(cursor.pollFinishedAt),
    // Only a running daemon polls on the schedule.
    nextPollAt: daemon.running ? iso(nextScheduledRun(config.sync.schedule, config.sync.timezone)) : null,
    lastPoll: {
      startedAt: iso(cursor.pollStartedAt),
      finishedAt: iso(cursor.pollFinishedAt),
      failed: pollFailed,
      error: cursor.pollError,
      errorClass: cursor.pollErrorClass,
      errorAt: iso(cursor.pollErrorAt),
    },
    authFailed: pollFailed && cursor.pollErrorClass === 'auth_rejected',
    // Server clock − this host's clock at the last complete poll (from the API's Date header).
    // The incremental strategy and its reason, as recorded by the last successful poll.
    strategy: recorded?.strategy ?? null,
    strategyReason: recorded?.reason ?? null,
    lastPolledSource: recorded?.source ?? null,
    clockSkew: cursor.clockSkewMs === null ? null : { seconds: cursor.clockSkewMs / 1000, measuredAt: iso(cursor.clockSkewAt) },
    lastReconcile: lastReconcile && {
      startedAt: iso(lastReconcile.startedAt),
      finishedAt: iso(lastReconcile.finishedAt),
      policy: lastReconcile.policy,
      listed: lastReconcile.listed,
      queued: lastReconcile.queued,
      missing: lastReconcile.missing,
      applied: lastReconcile.applied,
      guarded: lastReconcile.guarded,
      error: lastReconcile.error,
    },
    /** The STAC catalog writer's current error (source: stac with stac.catalog; null otherwise). */
    catalog,
    /** @deprecated The old name of `catalog`, the same value: kept so that scripts reading it do not break. */
    catalogue: catalog,
    failures: failures.map((f) => ({ key: f.key, class: f.errorClass, status: f.errorStatus, message: f.errorMessage, attempts: f.attempts, at: iso(f.finishedAt) })),
  };
}

/** The catalog writer's error as recorded in the state: failing, on which path, since when. */
export async function catalogStatus(store: StatusStore): Promise<{ failing: boolean; error: string | null; errorClass: string | null; path: string | null; since: string | null } | null> {
  const s = await Promise.resolve()
    .then(() => store.catalog.getStatus())
    .catch(() => null);
  if (!s) return null;
  return { failing: s.error !== null, error: s.error, errorClass: s.code, path: s.path, since: iso(s.failingSince) };
}

function parseSourceInfo(text: string | null): { source: string; strategy: string; reason: string } | null {
  if (!text) return null;
  try {
    const o = JSON.parse(text) as { source?: unknown; strategy?: unknown; reason?: unknown };
    return typeof o.source === 'string' && typeof o.strategy === 'string' ? { source: o.source, strategy: o.strategy, reason: String(o.reason ?? '') } : null;
  } catch {
    return null;
  }
}

/** "just now", "45 s ago", "2 min ago", "3 h ago", "4 days ago"; "in 2 min" for the future. */
export function relativeTime(atMs: number, nowMs: number): string {
  const d = nowMs - atMs;
  const a = Math.abs(d);
  const n =
    a < 5_000 ? null : a < 60_000 ? `${Math.round(a / 1000)} s` : a < 3_600_000 ? `${Math.round(a / 60_000)} min` : a < 172_800_000 ? `${Math.round(a / 3_600_000)} h` : `${Math.round(a / 86_400_000)} days`;
  if (n === null) return 'just now';
  return d >= 0 ? `${n} ago` : `in ${n}`;
}
