// GET /api/status: the JSON behind the status page. It is the report of `status --json` (the same
// builder, so the two never drift apart) plus what only the running daemon knows: readiness, the
// next scheduled poll, in-flight progress, pauses with their end time, the last hour's history and
// recent completions, and the problems list (filterable). The field set is versioned by apiVersion;
// fields are only ever added within a version (README: "The status page").
import cron from 'node-cron';
import { buildStatusReport } from './report.js';
import type { Config } from '../../config/load.js';
import type { ClaimedJob, Job, JobState, StatusStore } from '../../store/types.js';
import { describeRate, type Rate } from '../../config/timetable.js';
import { publicUrl } from '../../lib/url-safety.js';
import type { Readiness } from '../http-server.js';
import type { Completion, DownloadProgress, HistoryPoint, LiveStatus } from './live.js';

export const STATUS_API_VERSION = 1;

export type ProblemState = 'failed' | 'gone' | 'retrying';
export const PROBLEM_STATES: readonly ProblemState[] = ['failed', 'gone', 'retrying'];

export interface Pause {
  /** rate_limited, api_down, disk_full, state_full, auth_failed, paused, bandwidth. */
  reason: string;
  /** What it means, for people. */
  detail: string;
  /** When it ends (ISO 8601); null: when a check says the condition cleared. */
  until: string | null;
}

export interface Problem {
  key: string;
  state: ProblemState;
  class: string | null;
  status: number | null;
  message: string | null;
  attempts: number;
  /** Next attempt (retrying only). */
  nextRetry: string | null;
  /** Last change of the job. */
  at: string;
}

/** The report of `status --json` for an initialized state (the page always has a store). */
export type StatusReport = Extract<Awaited<ReturnType<typeof buildStatusReport>>, { initialized: true }>;

export interface ApiStatus extends StatusReport {
  apiVersion: number;
  generatedAt: string;
  overall: {
    complete: boolean;
    assets: { done: number; total: number };
    /** Known bytes; `unknown` assets were listed without a size and are not in `total`. */
    bytes: { done: number; total: number; unknown: number };
    ready: boolean;
    readyReason: string;
    lastSuccessfulPoll: string | null;
    nextPoll: string | null;
    source: string;
  };
  replica: { owner: string; poller: boolean };
  /**
   * Downloads running now: this replica's (inFlight, read at the same moment) plus, with PostgreSQL,
   * the other replicas' from the database. `jobs.running` is the database's count at its last read,
   * which may be a refresh old; the page shows this one, so its count agrees with its progress bars.
   */
  runningNow: number;
  inFlight: DownloadProgress[];
  pauses: Pause[];
  history: { bucketSeconds: number; points: HistoryPoint[] };
  recentCompletions: Completion[];
  problems: { total: number; classes: string[]; filter: ProblemFilter; items: Problem[] };
  actions: { enabled: boolean };
}

export interface ProblemFilter {
  states: ProblemState[];
  class: string | null;
  q: string | null;
}

/** What the running daemon provides (tests can fake it). */
export interface StatusSources {
  store: StatusStore;
  config: () => Config;
  live: LiveStatus;
  inFlight: () => Iterable<ClaimedJob>;
  gatePauses: () => { reason: string; until: number | null }[];
  /** The bandwidth rate in force and when it changes next (null: unlimited / no change within a day). */
  bandwidth: () => { rate: Rate; changesAt: number | null } | null;
  readiness: () => Readiness;
  owner: string;
  isPoller: () => boolean;
  actionsEnabled: boolean;
  clock: () => number;
}

const PAUSE_TEXT: Record<string, string> = {
  rate_limited: 'the API answered 429 Too Many Requests; every download waits for its Retry-After',
  api_down: 'circuit breaker: downloads kept failing as if the API were down',
  disk_full: 'not enough free space on the mirror filesystem; rechecked every few seconds',
  state_full: 'the state database\'s filesystem is full (SQLITE_FULL): nothing can be recorded; rechecked every few seconds',
  auth_failed: 'the API rejects the credentials; retried slowly (sync.authRetryInterval)',
  paused: 'paused',
};

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** Parse ?problems=failed,gone&class=network&q=text; unknown states are ignored. */
export function parseProblemFilter(q: URLSearchParams): ProblemFilter {
  const states = (q.get('problems') ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s): s is ProblemState => (PROBLEM_STATES as readonly string[]).includes(s));
  const cls = q.get('class')?.trim();
  const text = q.get('q')?.trim();
  return { states: states.length > 0 ? [...new Set(states)] : [...PROBLEM_STATES], class: cls ? cls.slice(0, 100) : null, q: text ? text.slice(0, 200) : null };
}

function problemOf(j: Job): Problem {
  const state: ProblemState = j.state === 'failed' || j.state === 'gone' ? j.state : 'retrying';
  return {
    key: j.key,
    state,
    class: j.errorClass,
    status: j.errorStatus,
    message: j.errorMessage,
    attempts: j.attempts,
    nextRetry: state === 'retrying' ? iso(j.runAt) : null,
    at: new Date(j.finishedAt ?? j.updatedAt).toISOString(),
  };
}

/** The API URL as the catalog would keep it: no user info, no key, token or signature parameter. */
export function describeSource(url: string): string {
  try {
    return new URL(publicUrl(url)).href;
  } catch {
    return '(invalid URL)';
  }
}

const nextRunCache = new Map<string, number | null>();
/** The next run of a cron schedule after `now` (null when it cannot be computed). */
export function nextScheduledRun(expression: string, timeZone: string, now: number): number | null {
  const k = JSON.stringify([expression, timeZone]);
  const cached = nextRunCache.get(k);
  if (cached !== undefined && cached !== null && cached > now) return cached;
  let next: number | null = null;
  try {
    const task = cron.createTask(expression, () => undefined, { timezone: timeZone, name: `constellr-sync-next-${Math.random().toString(36).slice(2)}` });
    try {
      next = task.getNextRuns(1)[0]?.getTime() ?? null;
    } finally {
      void task.destroy();
    }
  } catch {
    next = null;
  }
  if (nextRunCache.size > 16) nextRunCache.clear();
  nextRunCache.set(k, next);
  return next;
}

/** What the database says (the expensive part; StatusCache shares it between refreshes). */
export interface StoredStatus {
  report: StatusReport;
  bytes: Record<JobState, number>;
  problems: Problem[];
  /** This replica's downloads in flight when the counts were read (part of report.jobs.running). */
  localRunning: number;
}

export async function loadStoredStatus(store: StatusStore, config: Config, localRunning: () => number = () => 0): Promise<StoredStatus> {
  const local = localRunning();
  const report = (await buildStatusReport(config, store, { now: Date.now() })) as StatusReport;
  const bytes = await store.bytesByState();
  const problems = (await store.problemJobs(500)).map(problemOf);
  return { report, bytes, problems, localRunning: local };
}

/** Build the /api/status document: the stored part (from the cache when given) plus the live one. */
export async function buildApiStatus(src: StatusSources, filter: ProblemFilter = parseProblemFilter(new URLSearchParams()), cache?: StatusCache): Promise<ApiStatus> {
  const config = src.config();
  const load = () => loadStoredStatus(src.store, config, () => [...src.inFlight()].length);
  const { report, bytes, problems: all, localRunning } = cache ? await cache.get(load) : await load();
  // One reading of this replica's downloads serves the bars and the running count.
  const inFlight = src.live.inFlight(src.inFlight());
  // SQLite has one process per state directory: every running job is this one's.
  const otherReplicas = report.backend === 'sqlite' ? 0 : Math.max(0, report.jobs.running - localRunning);
  const now = src.clock();
  const jobs = report.jobs as Record<JobState, number>;
  const total = Object.values(jobs).reduce((a, b) => a + b, 0);
  const totalBytes = Object.values(bytes).reduce((a, b) => a + b, 0);
  const r = src.readiness();
  const lastOk = report.lastSuccessfulPollAt;
  const pauses: Pause[] = src.gatePauses().map((p) => ({ reason: p.reason, detail: PAUSE_TEXT[p.reason] ?? p.reason, until: iso(p.until) }));
  const bw = src.bandwidth();
  if (bw && bw.rate !== null)
    pauses.push({ reason: 'bandwidth', detail: `downloads limited to ${describeRate(bw.rate)} by sync.bandwidth`, until: iso(bw.changesAt) });
  const needle = filter.q?.toLowerCase() ?? null;
  const items = all.filter(
    (p) => filter.states.includes(p.state) && (filter.class === null || p.class === filter.class) && (needle === null || p.key.toLowerCase().includes(needle) || (p.message ?? '').toLowerCase().includes(needle)),
  );
  return {
    apiVersion: STATUS_API_VERSION,
    generatedAt: new Date(now).toISOString(),
    ...report,
    overall: {
      complete: report.complete,
      assets: { done: jobs.done, total },
      bytes: { done: bytes.done, total: totalBytes, unknown: report.assets.sizeUnknown },
      ready: r.ready,
      readyReason: r.reason,
      lastSuccessfulPoll: lastOk,
      nextPoll: iso(nextScheduledRun(config.sync.schedule, config.sync.timezone, now)),
      // Which source (assets | stac) and where; the URL without user info or query.
      source: `${config.source} at ${describeSource(config.api.url)}`,
    },
    replica: { owner: src.owner, poller: src.isPoller() },
    runningNow: otherReplicas + inFlight.length,
    inFlight,
    pauses,
    history: { bucketSeconds: src.live.bucketSeconds, points: src.live.history() },
    recentCompletions: src.live.recent(),
    problems: { total: all.length, classes: [...new Set(all.map((p) => p.class).filter((c): c is string => c !== null))].sort(), filter, items: items.slice(0, 200) },
    actions: { enabled: src.actionsEnabled },
  };
}

/**
 * The bandwidth rate in force and the next minute it changes (scanning up to a day ahead, minute by
 * minute, cached per minute): what the page shows as the "bandwidth" pause.
 */
export function bandwidthWindow(rateAtMs: (ms: number) => Rate, now: number, cache: { minute: number; value: { rate: Rate; changesAt: number | null } } | null): { rate: Rate; changesAt: number | null } {
  const minute = Math.floor(now / 60_000);
  if (cache && cache.minute === minute) return cache.value;
  const rate = rateAtMs(now);
  let changesAt: number | null = null;
  if (rate !== null) {
    for (let m = minute + 1; m <= minute + 24 * 60; m++) {
      if (rateAtMs(m * 60_000) !== rate) {
        changesAt = m * 60_000;
        break;
      }
    }
  }
  return { rate, changesAt };
}

/**
 * The stored part of one build serves every viewer for a while: the counts and sums scan the jobs
 * table, and SQLite does that on the daemon's own thread. A result is reused for max(1 s, 10 × the
 * time it took), at most a minute, so refreshes cost at most about a tenth of the daemon's time
 * whatever the number of open tabs. The live part (progress, pauses, history) is always fresh;
 * actions clear the cache.
 */
export class StatusCache {
  #entry: { at: number; ttl: number; value: Promise<StoredStatus> } | null = null;

  get(load: () => Promise<StoredStatus>): Promise<StoredStatus> {
    const now = performance.now();
    const hit = this.#entry;
    if (hit && now - hit.at < hit.ttl) return hit.value;
    const value = load();
    const entry = { at: now, ttl: 1000, value };
    this.#entry = entry;
    value.then(
      () => (entry.ttl = Math.min(60_000, Math.max(1000, 10 * (performance.now() - now)))),
      () => {
        if (this.#entry === entry) this.#entry = null;
      },
    );
    return value;
  }

  clear(): void {
    this.#entry = null;
  }
}
