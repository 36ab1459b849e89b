// The dry run: list exactly as a poll would (same start, same filters, same pages) and classify every
// asset against the state, without writing anything — no job rows, no high-water mark, no files.
// The planner stands in for the store's page methods, so the listing logic is the poller's own.
import type { Source } from '../api/source.js';
import { SyncError } from '../errors.js';
import type { RemoteAsset } from '../api/wire.js';
import { mirrorTarget } from '../mirror/layout.js';
import type { NameRules } from '../mirror/stac-names.js';
import type { Logger } from '../lib/logger.js';
import { sumSizes, type ListedSize } from '../lib/size.js';
import type { Cursor, Job, JobBrief, StateStore, UpsertResult } from '../store/types.js';
import { pollOnce, type PollSettings, type PollStore } from './poller.js';

export type PlanAction = 'fetch' | 'replace' | 'refuse';

export interface PlanItem {
  action: PlanAction;
  key: string;
  /** Listed bytes; null when the listing did not say. */
  size: ListedSize;
  /** Why: new, changed, queued (pending from an earlier run), or the refusal reason. */
  reason: string;
}

export interface PlanTotals {
  count: number;
  /** Known bytes: assets listed without a size are counted in `sizeUnknown`, not summed. */
  bytes: number;
  sizeUnknown: number;
}

export interface SyncPlan {
  /** True when the listing was complete (no lastModifiedAfter): deletions can be predicted. */
  full: boolean;
  listStart: string | null;
  pages: number;
  listed: number;
  fetch: PlanTotals;
  replace: PlanTotals;
  refuse: PlanTotals;
  /** Mirrored keys a complete listing no longer returns (reconcile applies deletePolicy); null when the listing was incremental. */
  delete: { count: number; keys: string[] } | null;
  /** Listed and already mirrored (or failed) at this version: nothing to do. */
  unchanged: number;
  /** Queued jobs whose retry backoff runs beyond this cycle: sync would leave them queued. */
  waiting: number;
  /** fetch + replace bytes (known sizes). */
  totalBytes: number;
  /** fetch + replace assets listed without a size. */
  totalSizeUnknown: number;
  items: PlanItem[];
}

export interface PlanDeps {
  /** The source being listed. */
  api: Pick<Source, 'listPage' | 'beginPoll'>;
  /** The state to compare against; null when there is none yet (everything is new). */
  store: Pick<StateStore, 'getCursor' | 'getJob' | 'jobBriefs'> | null;
  root: string;
  /** The mirror's name rules (`stac` with source: stac). */
  names?: NameRules;
  logger: Logger;
  clock: () => number;
  settings: PollSettings;
  /** List everything (ignore the high-water mark), so deletions can be predicted. */
  full?: boolean;
  /** Queued jobs due within this horizon count as fetched (what `sync` drains). */
  drainHorizonMs: number;
  accept?(asset: RemoteAsset): boolean;
  signal?: AbortSignal;
}

const EMPTY_CURSOR: Cursor = { hwmMs: null, pollStartedAt: null, pollFinishedAt: null, pollError: null, pollErrorClass: null, pollErrorAt: null, clockSkewMs: null, clockSkewAt: null };

/** Would the poller's upsert change this row? Same rule as the SQL upsert. */
function isChanged(job: Job, a: RemoteAsset): boolean {
  return (
    job.remoteModifiedMs !== a.lastModifiedMs ||
    job.remoteSize !== a.size ||
    (a.etag !== null && job.remoteEtag !== null && a.etag !== job.remoteEtag) ||
    job.state === 'gone'
  );
}

export async function planSync(deps: PlanDeps): Promise<SyncPlan> {
  const { store, root } = deps;
  const now = deps.clock();
  const decided = new Map<string, PlanItem | null>();
  let unchanged = 0;

  const refusal = (key: string, size: ListedSize): string | null => {
    try {
      mirrorTarget(root, key, size, { names: deps.names ?? 'plain' });
      return null;
    } catch (e) {
      if (e instanceof SyncError) return e.message;
      throw e;
    }
  };
  const classify = (key: string, size: ListedSize, hadFile: boolean, reason: string): PlanItem => {
    const refused = refusal(key, size);
    if (refused) return { action: 'refuse', key, size, reason: refused };
    return { action: hadFile ? 'replace' : 'fetch', key, size, reason };
  };

  const planner: PollStore = {
    getCursor: async () => {
      const c = store ? await store.getCursor() : EMPTY_CURSOR;
      return deps.full ? { ...c, hwmMs: null } : c;
    },
    startPoll: async () => undefined,
    finishPoll: async () => undefined,
    failPoll: async () => undefined,
    upsertPage: async (items): Promise<UpsertResult> => {
      const r: UpsertResult = { inserted: 0, changed: 0, unchanged: 0 };
      for (const a of items) {
        const job = store ? await store.getJob(a.key) : null;
        if (!job) {
          decided.set(a.key, classify(a.key, a.size, false, 'new'));
          r.inserted++;
        } else if (isChanged(job, a)) {
          decided.set(a.key, classify(a.key, a.size, job.localPath !== null, 'changed'));
          r.changed++;
        } else if (job.state === 'queued' || job.state === 'running') {
          // Unchanged but still pending from an earlier run: decided with the other pending jobs.
          r.unchanged++;
        } else {
          decided.set(a.key, null);
          unchanged++;
          r.unchanged++;
        }
      }
      return r;
    },
  };

  const poll = await pollOnce({
    api: deps.api,
    store: planner,
    logger: deps.logger,
    clock: deps.clock,
    settings: deps.settings,
    signal: deps.signal,
    accept: deps.accept,
  });

  // Work already queued by earlier runs is drained by sync as well (if due within the horizon).
  let waiting = 0;
  const briefs: JobBrief[] = store ? await store.jobBriefs(['queued', 'running', 'done']) : [];
  for (const b of briefs) {
    if (b.state === 'done' || decided.has(b.key)) continue;
    if (b.state === 'queued' && b.runAt - now > deps.drainHorizonMs) {
      waiting++;
      continue;
    }
    decided.set(b.key, classify(b.key, b.remoteSize, b.localPath !== null, 'queued'));
  }

  let del: SyncPlan['delete'] = null;
  if (poll.listedAfter === null) {
    // A complete listing: what is mirrored but no longer listed would be found by reconcile.
    const keys = briefs.filter((b) => b.state === 'done' && !decided.has(b.key)).map((b) => b.key);
    del = { count: keys.length, keys };
  }

  const items = [...decided.values()].filter((i): i is PlanItem => i !== null);
  const sum = (action: PlanAction): PlanTotals => {
    const xs = items.filter((i) => i.action === action);
    const { bytes, unknown } = sumSizes(xs.map((i) => i.size));
    return { count: xs.length, bytes, sizeUnknown: unknown };
  };
  const fetch = sum('fetch');
  const replace = sum('replace');
  return {
    full: poll.listedAfter === null,
    listStart: poll.listedAfter === null ? null : new Date(poll.listedAfter).toISOString(),
    pages: poll.pages,
    listed: poll.listed,
    fetch,
    replace,
    refuse: sum('refuse'),
    delete: del,
    unchanged,
    waiting,
    totalBytes: fetch.bytes + replace.bytes,
    totalSizeUnknown: fetch.sizeUnknown + replace.sizeUnknown,
    items,
  };
}
