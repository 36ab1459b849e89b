// One poll cycle: list from HWM − lookback, follow every page, upsert each page in one transaction,
// and move the HWM only after the last page is committed, only from server timestamps, and never
// past the server's clock at the start of the poll (see ceilingOf).
import { classifyError } from '../errors.js';
import type { RemoteAsset } from '../api/wire.js';
import { recordListedItems, type ListedItems, type ListingDeps } from './listing-shared.js';
import { crashPoint } from '../lib/crash-point.js';
import { listPages, pageRetry } from './listing.js';
import { retry } from '../lib/retry.js';
import type { PollStore } from '../store/types.js';

export interface PollSettings {
  pageSize: number;
  lookbackMs: number;
  sinceMs: number | null;
  /** Quick retries of one page before the poll fails. */
  pageRetries: number;
  pageRetryMinMs?: number;
  /** List everything from `since`, ignoring the HWM (`sync --rescan`: keys newly included by filters). */
  full?: boolean;
  /** Fail fast when the API cannot be reached at all (one-shot commands; see listing.ts). */
  unreachable?: { attempts: number; afterMs: number } | undefined;
  /** sync.maxListingPages: more pages than this stop the poll (a listing that never ends). */
  maxPages?: number;
}

/** The part of the state store a poll uses. */
export type { PollStore };

/** onPage is called after each commit of listed keys, a group of pages of about COMMIT_KEYS. */
export interface PollDeps extends ListingDeps {
  /** Only the cursor and page methods: a dry run passes a planner that writes nothing. */
  store: PollStore;
  settings: PollSettings;
  onRateLimited?(ms: number): void;
  /** STAC with stac.catalog: the mirror's catalog, which keeps the listed items. */
  catalog?: Pick<ListedItems, 'record'> | null;
  /** state.dir: no space for a file under it is the state's disk (state_full), not the mirror's. */
  stateDir?: string | undefined;
}

/**
 * LastModified has whole seconds: an object written later in the same second as the server's `Date`
 * can carry that very second. The mark stays one second below the server's time.
 */
export const CLOCK_MARGIN_MS = 1000;

/** Listed keys committed per transaction (several pages; the API serves at most 1,000 a page). */
export const COMMIT_KEYS = 5000;

/**
 * The most the mark may be after a poll: the server's time when the poll started, from the `Date`
 * header of the first listing response (our clock at the start of the poll only when it has none),
 * minus CLOCK_MARGIN_MS. Anything dated later (a skewed clock upstream, or a key behind the walk that
 * changed while later pages were listed) is still listed and queued; it just does not move the mark,
 * so the next poll asks again from before it.
 */
export function ceilingOf(firstPage: { serverDateMs?: number | null } | null, pollStartedMs: number): number {
  const serverNow = firstPage?.serverDateMs ?? pollStartedMs;
  return serverNow - CLOCK_MARGIN_MS;
}

export interface PollResult {
  pages: number;
  listed: number;
  inserted: number;
  changed: number;
  hwmBefore: number | null;
  hwmAfter: number | null;
  listedAfter: number | null;
  durationMs: number;
  /** Server clock − our clock at the first listing response (ms); null without a Date header. */
  clockSkewMs: number | null;
}

/**
 * Where the next poll starts: HWM − lookback, never before `since`. Null lists everything. `since`
 * is inclusive, but the server's lastModifiedAfter may be strict, so the request starts one second
 * earlier and the filters drop what is older than `since`.
 */
export function listStart(hwmMs: number | null, s: PollSettings): number | null {
  const floor = s.sinceMs === null ? null : s.sinceMs - 1000;
  if (hwmMs === null || s.full) return floor;
  const from = hwmMs - s.lookbackMs;
  return floor !== null ? Math.max(from, floor) : from;
}

export async function pollOnce(deps: PollDeps): Promise<PollResult> {
  const { api, store, logger, clock, settings } = deps;
  const started = clock();
  const cursor = await store.getCursor();
  await store.startPoll(started);
  // Logged before the source prepares (STAC: conformance, collections, a probe, each retried).
  logger.info({ hwm: cursor.hwmMs === null ? null : new Date(cursor.hwmMs).toISOString() }, 'poll started');
  let after: number | null;
  try {
    // The source may probe the server first and ask for a wider lookback (STAC: a datetime window).
    // Retried like a listing page: these are the first requests of the poll.
    const prep = api.beginPoll
      ? await retry(() => api.beginPoll!(deps.signal), {
          ...pageRetry({ retries: settings.pageRetries, retryMinMs: settings.pageRetryMinMs, signal: deps.signal }),
          onRetry: (e, t) => {
            logger.warn({ errorClass: e.errorClass, status: e.status, retriesLeft: t.retriesLeft, err: e.message }, 'poll: preparing the listing failed; retrying');
            if (t.retryAfterMs !== undefined) deps.onRateLimited?.(t.retryAfterMs);
          },
        })
      : {};
    after = listStart(cursor.hwmMs, prep.lookbackMs === undefined ? settings : { ...settings, lookbackMs: prep.lookbackMs });
  } catch (err) {
    const e = classifyError(err, 'poll', deps.stateDir);
    if (e.kind !== 'aborted') await store.failPoll(e.message, e.errorClass, clock()).catch(() => undefined);
    throw e;
  }
  let maxSeen: number | null = null;
  let first: { serverDateMs?: number | null; receivedAtMs?: number } | null = null;
  const totals = { pages: 0, listed: 0, inserted: 0, changed: 0 };
  logger.info({ listAfter: after === null ? null : new Date(after).toISOString() }, 'listing');
  try {
    const pages = listPages({
      api,
      after,
      pageSize: settings.pageSize,
      retries: settings.pageRetries,
      retryMinMs: settings.pageRetryMinMs,
      signal: deps.signal,
      logger,
      what: 'poll',
      onRateLimited: deps.onRateLimited,
      unreachable: settings.unreachable,
      maxPages: settings.maxPages,
    });
    // Pages are committed in groups of about COMMIT_KEYS keys: one transaction per 1,000-key page
    // spent a third of a 1M-key ingest in commits (bench/README.md, "Listing ingest"). The mark moves
    // only after the last page either way, and a failed listing still commits what it held.
    let held: RemoteAsset[] = [];
    let heldListed = 0;
    const commitHeld = async () => {
      if (heldListed === 0) return;
      const batch = held;
      const listed = heldListed;
      held = [];
      heldListed = 0;
      const r = await store.upsertPage(batch, clock());
      totals.inserted += r.inserted;
      totals.changed += r.changed;
      deps.onPage?.({ inserted: r.inserted, changed: r.changed, listed });
      crashPoint('after_page_commit');
    };
    try {
      for await (const page of pages) {
        first ??= page;
        const wanted = deps.accept ? page.items.filter((a) => deps.accept!(a)) : page.items;
        await recordListedItems(deps.catalog, page.records, wanted);
        held = held.length === 0 ? wanted : held.concat(wanted);
        heldListed += page.items.length;
        totals.pages++;
        totals.listed += page.items.length;
        for (const it of page.items) {
          const c = it.cursorMs ?? it.lastModifiedMs;
          if (maxSeen === null || c > maxSeen) maxSeen = c;
        }
        if (held.length >= COMMIT_KEYS) await commitHeld();
      }
    } catch (err) {
      // Keep what was listed before the failure, as a page-by-page commit would have.
      await commitHeld().catch(() => undefined);
      throw err;
    }
    await commitHeld();
  } catch (err) {
    const e = classifyError(err, 'poll', deps.stateDir);
    if (e.kind !== 'aborted') await store.failPoll(e.message, e.errorClass, clock()).catch(() => undefined);
    throw e;
  }
  const ceiling = ceilingOf(first, started);
  const clockSkewMs = first?.serverDateMs != null && first.receivedAtMs !== undefined ? first.serverDateMs - first.receivedAtMs : null;
  if (maxSeen !== null && maxSeen > ceiling)
    logger.info(
      { newestListed: new Date(maxSeen).toISOString(), ceiling: new Date(ceiling).toISOString(), clockSkewMs },
      'assets dated after the server clock at the start of the poll: queued, but the high-water mark stays at the server clock − 1 s',
    );
  // Capped at the ceiling: also pulls back a mark left in the future by an older version.
  await store.finishPoll(maxSeen === null ? null : Math.min(maxSeen, ceiling), clock(), { capMs: ceiling, clockSkewMs });
  const finished = clock();
  const merged = maxSeen === null ? cursor.hwmMs : Math.max(maxSeen, cursor.hwmMs ?? maxSeen);
  const hwmAfter = merged === null ? null : Math.min(merged, ceiling);
  const result: PollResult = { ...totals, hwmBefore: cursor.hwmMs, hwmAfter, listedAfter: after, durationMs: finished - started, clockSkewMs };
  logger.info(
    { pages: totals.pages, listed: totals.listed, new: totals.inserted, changed: totals.changed, hwm: hwmAfter === null ? null : new Date(hwmAfter).toISOString(), clockSkewMs, durationMs: result.durationMs },
    'poll finished',
  );
  return result;
}
