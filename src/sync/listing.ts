// Walking a listing: every page of GET /assets from one starting point, each page retried quickly on
// retryable errors (honouring Retry-After), a repeated continuation token treated as an error instead
// of an endless loop, and shutdown checked between pages. Used by polls, reconciles and `ls`.
import pRetry from 'p-retry';
import type { ApiClient } from '../api/client.js';
import { SyncError, classifyError, connectFailureReason } from '../api/errors.js';
import type { ListPage } from '../api/wire.js';
import type { Logger } from '../ops/logger.js';
import { sleep } from '../ops/timers.js';

export interface ListingOptions {
  api: ApiClient;
  /** lastModifiedAfter, or null for a full listing. */
  after: number | null;
  pageSize: number;
  /** Quick retries of one page before the walk fails. */
  retries: number;
  retryMinMs?: number | undefined;
  signal?: AbortSignal | undefined;
  logger?: Logger | undefined;
  /** What is walking, for messages: "poll", "reconcile", "ls". */
  what: string;
  onRateLimited?: ((ms: number) => void) | undefined;
  /**
   * A one-shot command fails fast when the API cannot be reached at all (connection refused, host
   * not found, connect timeout): it stops retrying a page after `attempts` tries or `afterMs`,
   * whichever comes first. Without it (`run`), such pages get the usual retries.
   */
  unreachable?: { attempts: number; afterMs: number } | undefined;
}

/** The fail-fast budget of one-shot commands: 3 tries within about one connect timeout (10 s by default). */
export function oneShotUnreachable(connectTimeoutMs: number): { attempts: number; afterMs: number } {
  return { attempts: 3, afterMs: connectTimeoutMs };
}

export async function* listPages(o: ListingOptions): AsyncGenerator<ListPage> {
  const seen = new Set<string>();
  const fetchPage = (token: string | null): Promise<ListPage> => {
    if (o.signal?.aborted) return Promise.reject(new SyncError(`${o.what} interrupted by shutdown`, { code: 'SYNC_ABORTED', kind: 'aborted', errorClass: 'aborted' }));
    const started = performance.now();
    // Unreachable and out of budget: no further try (a one-shot command reports it at once).
    const givesUp = (e: SyncError, attemptNumber: number) =>
      o.unreachable !== undefined && connectFailureReason(e) !== null && (attemptNumber >= o.unreachable.attempts || performance.now() - started >= o.unreachable.afterMs);
    return pRetry(() => o.api.listPage({ after: o.after, limit: o.pageSize, continuationToken: token, signal: o.signal }), {
      retries: o.retries,
      minTimeout: o.retryMinMs ?? 1000,
      maxTimeout: 30_000,
      randomize: true,
      signal: o.signal,
      shouldRetry: ({ error, attemptNumber }) => {
        const e = classifyError(error);
        return e.kind === 'retryable' && !o.signal?.aborted && !givesUp(e, attemptNumber);
      },
      onFailedAttempt: async ({ error, retriesLeft, attemptNumber }) => {
        const e = classifyError(error);
        if (e.kind !== 'retryable' || retriesLeft === 0 || givesUp(e, attemptNumber)) return;
        const reason = connectFailureReason(e);
        // Name what failed: often it is POST /token, not the listing, that cannot connect.
        if (reason !== null) o.logger?.warn({ errorClass: e.errorClass, retriesLeft, err: e.message }, `${o.what}: cannot reach the API (${reason}); retrying`);
        else o.logger?.warn({ errorClass: e.errorClass, status: e.status, retriesLeft, err: e.message }, `${o.what}: listing page failed; retrying`);
        if (e.retryAfterMs !== undefined) {
          o.onRateLimited?.(e.retryAfterMs);
          await sleep(e.retryAfterMs, o.signal);
        }
      },
    });
  };
  let next: Promise<ListPage> | null = fetchPage(null);
  try {
    while (next) {
      const page: ListPage = await next;
      next = null;
      if (page.nextToken) {
        if (seen.has(page.nextToken))
          throw new SyncError('GET /assets: the server repeated a continuation token (the listing would loop)', {
            code: 'SYNC_API_BAD_LISTING',
            kind: 'retryable',
            errorClass: 'bad_listing',
          });
        seen.add(page.nextToken);
        // Prefetch: the server prepares the next page while the caller commits this one.
        next = fetchPage(page.nextToken);
      }
      yield page;
    }
  } finally {
    // The caller stopped early (an error, shutdown): nobody will await the prefetched page.
    next?.catch(() => undefined);
  }
}
