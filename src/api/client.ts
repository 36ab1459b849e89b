// The Constellr API client: listing pages and streaming downloads. Every request goes through
// `#authed`, which replays once with a renewed token on 401 (the replay is not a failed attempt).
import { request, type Dispatcher } from 'undici';
import type { Readable } from 'node:stream';
import { SyncError, errorFromStatus, classifyError, parseRetryAfter, isSyncError } from './errors.js';
import { parseListPage, WireError, type ListPage } from './wire.js';
import { withSlash, type TokenManager } from './auth.js';

export interface ListParams {
  after?: number | null | undefined;
  before?: number | null | undefined;
  limit: number;
  continuationToken?: string | null | undefined;
  signal?: AbortSignal | undefined;
}

export interface DownloadParams {
  /** Resume from this byte offset with `Range: bytes=N-`. */
  rangeStart?: number | undefined;
  /** Validator for If-Range (a strong ETag or a Last-Modified date), so a changed object yields a full 200 instead of a wrong 206. */
  ifRange?: string | null | undefined;
  signal?: AbortSignal | undefined;
}

export interface ContentRange {
  start: number;
  end: number;
  total: number | null;
}

export interface DownloadResponse {
  status: number;
  contentLength: number | null;
  etag: string | null;
  /** The Last-Modified header as sent (an HTTP date): the If-Range validator when there is no strong ETag. */
  lastModified: string | null;
  contentRange: ContentRange | null;
  body: Readable & { dump(opts?: { limit: number }): Promise<void> };
}

/** Percent-encode each `/`-separated segment of a key; keys are data, never pre-encoded URLs. */
export function encodeKeyPath(key: string): string {
  return key
    .split('/')
    .map((seg) => encodeURIComponent(seg))
    .join('/');
}

export function parseContentRange(v: string | undefined): ContentRange | null {
  if (!v) return null;
  const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(v.trim());
  if (!m) return null;
  return { start: Number(m[1]), end: Number(m[2]), total: m[3] === '*' ? null : Number(m[3]) };
}

function header(h: Dispatcher.ResponseData['headers'], name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
}

export interface ApiClientOptions {
  baseUrl: string;
  dispatcher: Dispatcher;
  tokens: TokenManager;
  clock?: () => number;
  headersTimeoutMs?: number;
  bodyIdleTimeoutMs?: number;
}

export class ApiClient {
  readonly #opts: ApiClientOptions;
  readonly #base: string;
  readonly #clock: () => number;

  constructor(opts: ApiClientOptions) {
    this.#opts = opts;
    this.#base = withSlash(opts.baseUrl);
    this.#clock = opts.clock ?? Date.now;
  }

  get tokens(): TokenManager {
    return this.#opts.tokens;
  }

  /** Run a request with the current token; on 401 renew (single-flight) and replay, at most twice. */
  async #authed<T>(fn: (token: string) => Promise<T>): Promise<T> {
    let token = await this.#opts.tokens.get();
    for (let replays = 0; ; replays++) {
      try {
        return await fn(token);
      } catch (e) {
        if (isSyncError(e) && e.kind === 'auth' && replays < 2) {
          token = await this.#opts.tokens.renew(token);
          continue;
        }
        throw e;
      }
    }
  }

  async #failFromResponse(res: Dispatcher.ResponseData, context: string): Promise<never> {
    let detail: string | undefined;
    try {
      const text = await res.body.text();
      detail = text.slice(0, 200).replace(/\s+/g, ' ').trim() || undefined;
    } catch {
      /* the body is only for the message */
    }
    throw errorFromStatus(res.statusCode, context, {
      retryAfterMs: parseRetryAfter(res.headers['retry-after'], this.#clock()),
      detail,
    });
  }

  /** GET /assets, one page, validated. */
  listPage(params: ListParams): Promise<ListPage> {
    const url = new URL('assets', this.#base);
    if (params.after != null) url.searchParams.set('lastModifiedAfter', isoSeconds(params.after));
    if (params.before != null) url.searchParams.set('lastModifiedBefore', isoSeconds(params.before));
    url.searchParams.set('limit', String(params.limit));
    if (params.continuationToken) url.searchParams.set('continuation_token', params.continuationToken);
    return this.#authed(async (token) => {
      let res: Dispatcher.ResponseData;
      try {
        res = await request(url, {
          method: 'GET',
          dispatcher: this.#opts.dispatcher,
          headers: { authorization: `Bearer ${token}`, accept: 'application/json' },
          signal: params.signal,
          headersTimeout: this.#opts.headersTimeoutMs,
          bodyTimeout: this.#opts.bodyIdleTimeoutMs,
        });
      } catch (e) {
        throw classifyError(e, 'GET /assets');
      }
      if (res.statusCode !== 200) return this.#failFromResponse(res, 'GET /assets');
      let body: unknown;
      try {
        body = await res.body.json();
      } catch (e) {
        if (isSyncError(e)) throw e;
        const c = classifyError(e, 'GET /assets');
        if (c.errorClass !== 'internal') throw c;
        throw new SyncError('GET /assets: the response is not valid JSON', {
          code: 'SYNC_API_BAD_LISTING',
          kind: 'retryable',
          errorClass: 'bad_listing',
          cause: e,
        });
      }
      try {
        return parseListPage(body);
      } catch (e) {
        if (e instanceof WireError)
          throw new SyncError(`GET /assets: ${e.message}`, { code: 'SYNC_API_BAD_LISTING', kind: 'retryable', errorClass: 'bad_listing' });
        throw e;
      }
    });
  }

  /**
   * GET /assets/{key}. Resolves once headers arrived with a 200 or 206; the caller streams the body.
   * Redirects are followed by the dispatcher; Authorization never crosses to another origin.
   */
  download(key: string, params: DownloadParams = {}): Promise<DownloadResponse> {
    const url = new URL(`assets/${encodeKeyPath(key)}`, this.#base);
    return this.#authed(async (token) => {
      const headers: Record<string, string> = { authorization: `Bearer ${token}`, 'accept-encoding': 'identity' };
      if (params.rangeStart && params.rangeStart > 0) {
        headers.range = `bytes=${params.rangeStart}-`;
        if (params.ifRange) headers['if-range'] = params.ifRange;
      }
      let res: Dispatcher.ResponseData;
      try {
        res = await request(url, {
          method: 'GET',
          dispatcher: this.#opts.dispatcher,
          headers,
          signal: params.signal,
          headersTimeout: this.#opts.headersTimeoutMs,
          bodyTimeout: this.#opts.bodyIdleTimeoutMs,
          highWaterMark: 256 * 1024,
        });
      } catch (e) {
        throw classifyError(e, `GET ${key}`);
      }
      if (res.statusCode !== 200 && res.statusCode !== 206) {
        if (res.statusCode === 416) {
          await res.body.dump().catch(() => undefined);
          throw new SyncError(`GET ${key}: range not satisfiable`, {
            code: 'SYNC_API_RANGE_NOT_SATISFIABLE',
            kind: 'retryable',
            errorClass: 'range_mismatch',
            status: 416,
          });
        }
        return this.#failFromResponse(res, `GET ${key}`);
      }
      const len = header(res.headers, 'content-length');
      return {
        status: res.statusCode,
        contentLength: len !== undefined && /^\d+$/.test(len) ? Number(len) : null,
        etag: header(res.headers, 'etag') ?? null,
        lastModified: header(res.headers, 'last-modified') ?? null,
        contentRange: parseContentRange(header(res.headers, 'content-range')),
        body: res.body as DownloadResponse['body'],
      };
    });
  }
}

/** ISO 8601 UTC with whole seconds, as the API documents. Rounds down so nothing is skipped. */
export function isoSeconds(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}
