// A source only lists and locates: the job table, workers, mirror rules, retries, reconcile, verify
// and both state backends are common. Two implementations: the asset API (assets-source.ts, GET
// /assets) and the STAC API (stac/stac-source.ts, POST /stac/search with pre-signed asset hrefs).
import type { SourceKind } from '../config/schema.js';
import type { DownloadParams, DownloadResponse, ListParams } from './client.js';
import type { ListPage } from './wire.js';
import type { ListedSize } from '../lib/size.js';

/**
 * The part of a claimed job a source reads: which asset version, and the locator it listed. The
 * store's ClaimedJob extends it (the store sits above the sources).
 */
export interface SourceJob {
  key: string;
  /** The listed version's time (STAC: updated, else datetime); with size and etag it names the version. */
  remoteModifiedMs: number;
  remoteSize: ListedSize;
  remoteEtag: string | null;
  /** The source's locator as listed (STAC: href, expiry, checksum); null for the asset API. */
  locator: string | null;
}

/** What a download must match, from the listing (the worker verifies the bytes against it). */
export interface Expectation {
  /** Listed size in bytes; null when the listing did not say (learned from Content-Length). */
  size: number | null;
  /** Listed ETag to compare with the response's; null when the version carries none. */
  etag: string | null;
  /** Hex SHA-256 the bytes must have (a STAC file:checksum); null when none was listed. */
  sha256: string | null;
}

/** Where one job's bytes are, as the worker's download sees it. */
export interface Location {
  url: URL;
  /** Whether API credentials may accompany the request (only to the API origin; never to storage). */
  credentials: boolean;
  /** When the URL stops working (a pre-signed URL's expiry), epoch ms; null when unknown. */
  expiresAt: number | null;
}

/** What `status` shows about the source: which incremental strategy is in use and why. */
export interface SourceInfo {
  source: SourceKind;
  strategy: string;
  reason: string;
}

export interface Source {
  readonly kind: SourceKind;
  /** One listing page; `continuationToken` is opaque (loop detection compares it). */
  listPage(params: ListParams): Promise<ListPage>;
  /**
   * Called before each poll's first page: the source may probe the server and choose how it lists
   * incrementally; it may ask for a wider lookback than sync.lookback.
   */
  beginPoll?(signal?: AbortSignal): Promise<{ lookbackMs?: number | undefined }>;
  /** Where the job's bytes are now; `refresh` asks the server again (an expired or refused URL). */
  locate(job: SourceJob, opts?: { refresh?: boolean; signal?: AbortSignal | undefined }): Promise<Location>;
  /** Start a download of the job (Range for resume); refreshes a refused pre-signed URL itself. */
  download(job: SourceJob, params: DownloadParams): Promise<DownloadResponse>;
  /** What the bytes must match. */
  expect(job: SourceJob): Expectation;
  /**
   * The file name the server gives the job's bytes (Content-Disposition, else the answering URL's last
   * path segment), already safe as one file name; null when the source names files by their keys.
   * Asked once, before the first download of a job whose key could not name the file.
   */
  fileName?(job: SourceJob, signal?: AbortSignal): Promise<string | null>;
  /** Whether the server, not the key, names this job's file (then fileName is asked). */
  namedByServer?(job: SourceJob): boolean;
  describe(): SourceInfo;
}
