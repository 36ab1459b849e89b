// The asset API as a source (today's behaviour): GET /assets pages, GET /assets/{key} downloads with
// credentials (redirects to storage are followed without them).
import { encodeKeyPath, type ApiClient, type DownloadParams, type DownloadResponse, type ListParams } from './client.js';
import type { Expectation, Location, Source, SourceInfo, SourceJob } from './source.js';
import type { ListPage } from './wire.js';

export class AssetsSource implements Source {
  readonly kind = 'assets' as const;
  readonly #api: ApiClient;

  constructor(api: ApiClient) {
    this.#api = api;
  }

  listPage(params: ListParams): Promise<ListPage> {
    return this.#api.listPage(params);
  }

  async locate(job: SourceJob): Promise<Location> {
    return { url: new URL(`assets/${encodeKeyPath(job.key)}`, this.#api.baseUrl), credentials: true, expiresAt: null };
  }

  download(job: SourceJob, params: DownloadParams): Promise<DownloadResponse> {
    return this.#api.download(job.key, params);
  }

  expect(job: SourceJob): Expectation {
    return { size: job.remoteSize, etag: job.remoteEtag, sha256: null };
  }

  describe(): SourceInfo {
    return { source: 'assets', strategy: 'lastModified', reason: 'GET /assets filters on LastModified (lastModifiedAfter) from the newest remote change seen minus sync.lookback' };
  }
}
