// The STAC API as a source, a composition of its parts:
// - boundary.ts: requests to the API; a malformed body (StacWireError) becomes a bad listing there, once
// - search-walk.ts: the listing, over collections.ts (paged by paging.ts), conformance.ts (a table),
//   strategy.ts (the probe), search.ts (bodies, next links, tokens) and search-page.ts (a page read
//   into jobs, items.ts, and catalog records, record.ts)
// - presigned.ts: where a job's bytes are, and the refresh of an expired or refused pre-signed URL
// - locator.ts: what a job keeps to find its bytes again (jobs.locator)
import type { ApiClient, DownloadParams, DownloadResponse, ListParams } from '../client.js';
import type { ListPage } from '../wire.js';
import type { Expectation, Location, Source, SourceInfo, SourceJob } from '../source.js';
import type { Logger } from '../../lib/logger.js';
import { otherName, probeFileName } from '../file-name.js';
import { StacApi } from './boundary.js';
import { fetchCollectionDoc } from './collections.js';
import { reportDroppedLinks } from './dropped-links.js';
import { parseLocator } from './locator.js';
import { PresignedUrls, type LocateOptions } from './presigned.js';
import { SearchWalk, type WalkSettings } from './search-walk.js';
import type { OnDroppedLink } from './documents.js';

export { windowDatetime } from './search.js';
export { EXPIRY_MARGIN_MS } from './presigned.js';
export { CLOCK_MARGIN_MS } from './search-walk.js';

export interface StacSettings extends WalkSettings {
  /** The datetime window's lookback (stac.lookback). */
  lookbackMs: number;
}

export class StacSource implements Source {
  readonly kind = 'stac' as const;
  readonly #api: StacApi;
  readonly #log: Logger | undefined;
  readonly #onDrop: OnDroppedLink;
  readonly #walk: SearchWalk;
  readonly #urls: PresignedUrls;
  readonly #lookbackMs: number;
  /** Whether a Content-Disposition that differs from an href's name was reported (once per process). */
  #namesDiffer = false;

  constructor(api: ApiClient, settings: StacSettings, logger?: Logger) {
    this.#api = new StacApi(api);
    this.#log = logger;
    this.#lookbackMs = settings.lookbackMs;
    this.#onDrop = reportDroppedLinks(logger);
    this.#walk = new SearchWalk(this.#api, settings, this.#onDrop, logger);
    this.#urls = new PresignedUrls(this.#api, this.#onDrop, logger);
  }

  async beginPoll(signal?: AbortSignal): Promise<{ lookbackMs?: number | undefined }> {
    const { strategy } = await this.#walk.begin(signal);
    return { lookbackMs: strategy === 'datetime' ? this.#lookbackMs : undefined };
  }

  listPage(params: ListParams): Promise<ListPage> {
    return this.#walk.page(params);
  }

  locate(job: SourceJob, opts?: LocateOptions): Promise<Location> {
    return this.#urls.locate(job, opts);
  }

  async download(job: SourceJob, params: DownloadParams): Promise<DownloadResponse> {
    const { res, url } = await this.#urls.download(job, params);
    this.#checkName(job, url, res.contentDisposition);
    return res;
  }

  /**
   * Constellr's script names a file by Content-Disposition: when storage names a file otherwise than
   * its href's path (which names it here), say so once, so a difference from the script is not silent.
   */
  #checkName(job: SourceJob, url: URL, disposition: string | null): void {
    const given = this.#namesDiffer || disposition === null || this.namedByServer(job) ? null : otherName(url, disposition);
    if (given === null) return;
    this.#namesDiffer = true;
    this.#log?.warn({ key: job.key, contentDisposition: given }, "storage names this file otherwise than its href (Content-Disposition); files are named by their hrefs, so names can differ from the official download script's");
  }

  /** Whether the job's href names no file, so the server names it (fileName). */
  namedByServer(job: SourceJob): boolean {
    try {
      return parseLocator(job.locator, job.key).namedByServer;
    } catch {
      return false; // download() reports the missing locator
    }
  }

  /**
   * For a job whose href names no file: one GET of its first byte, to read the name the server gives
   * it, as Constellr's download script does (Content-Disposition, else the last path segment of the
   * URL that answered). The body is not read.
   */
  async fileName(job: SourceJob, signal?: AbortSignal): Promise<string | null> {
    return this.namedByServer(job) ? probeFileName((p) => this.download(job, p), signal) : null;
  }

  expect(job: SourceJob): Expectation {
    let sha256: string | null = null;
    try {
      sha256 = parseLocator(job.locator, job.key).sha256;
    } catch {
      /* download() reports the missing locator */
    }
    return { size: job.remoteSize, etag: null, sha256 };
  }

  /** A collection document as the API has it (validated), for the mirror's catalog. */
  fetchCollection(id: string, signal?: AbortSignal): Promise<Record<string, unknown>> {
    return fetchCollectionDoc(this.#api, id, this.#onDrop, signal);
  }

  describe(): SourceInfo {
    const { strategy, reason } = this.#walk.strategy;
    return { source: 'stac', strategy, reason };
  }
}
