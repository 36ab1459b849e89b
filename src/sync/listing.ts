// Walking a listing: every page of the source (GET /assets or POST /stac/search) from one starting point, each page retried quickly on
// retryable errors (honouring Retry-After), a repeated continuation token treated as an error instead
// of an endless loop, and shutdown checked between pages. Used by polls, reconciles and `ls`.
import pRetry from 'p-retry';
import type { Source } from '../api/source.js';
import { SyncError, classifyError } from '../api/errors.js';
import type { ListPage } from '../api/wire.js';
import type { Logger } from '../ops/logger.js';
import { sleep } from '../ops/timers.js';

export interface ListingOptions {
  /** The source being listed (asset API or STAC). */
  api: Pick<Source, 'listPage'>;
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
}

export async function* listPages(o: ListingOptions): AsyncGenerator<ListPage> {
  const seen = new Set<string>();
  const fetchPage = (token: string | null): Promise<ListPage> => {
    if (o.signal?.aborted) return Promise.reject(new SyncError(`${o.what} interrupted by shutdown`, { code: 'SYNC_ABORTED', kind: 'aborted', errorClass: 'aborted' }));
    return pRetry(() => o.api.listPage({ after: o.after, limit: o.pageSize, continuationToken: token, signal: o.signal }), {
      retries: o.retries,
      minTimeout: o.retryMinMs ?? 1000,
      maxTimeout: 30_000,
      randomize: true,
      signal: o.signal,
      shouldRetry: ({ error }) => classifyError(error).kind === 'retryable' && !o.signal?.aborted,
      onFailedAttempt: async ({ error, retriesLeft }) => {
        const e = classifyError(error);
        if (e.kind !== 'retryable' || retriesLeft === 0) return;
        o.logger?.warn({ errorClass: e.errorClass, status: e.status, retriesLeft, err: e.message }, `${o.what}: listing page failed; retrying`);
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
          throw new SyncError(`${o.what}: the server repeated a continuation token or next link (the listing would loop)`, {
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
