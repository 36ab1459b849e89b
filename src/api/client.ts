// The Constellr API client: listing pages and streaming downloads. Every request goes through
// `#authed`, which replays once with a renewed token on 401 (the replay is not a failed attempt); with
// an API key a 401 is final (auth_rejected). Credentials go only to the API origin (see request.ts).
import type { Dispatcher } from 'undici';
import type { Readable } from 'node:stream';
import { SyncError, errorFromStatus, classifyError, isSyncError } from '../errors.js';
import { parseRetryAfter } from '../lib/retry-after.js';
import { parseHttpDate, parseListPage, WireError, type ListPage } from './wire.js';
import { DEFAULT_MAX_RETRY_AFTER_MS } from '../lib/retry-after.js';
import { scrubSecrets, type Logger } from '../lib/logger.js';
import { withSlash } from '../lib/url-safety.js';
import type { Authenticator } from './api-key.js';
import { send } from './request.js';

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
  /** Last byte (inclusive) of a bounded range, `Range: bytes=N-M` (a part of a ranged download). */
  rangeEnd?: number | undefined;
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
  /** The Content-Disposition header as sent (untrusted: api/file-name.ts reads a name from it). */
  contentDisposition: string | null;
  /** The URL that answered, after redirects. */
  url: string;
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
  tokens: Authenticator;
  /** Redirects followed per request (credentials never cross to another origin). */
  maxRedirects?: number;
  clock?: () => number;
  headersTimeoutMs?: number;
  bodyIdleTimeoutMs?: number;
  /** The longest Retry-After honoured (api.maxRetryAfter); longer ones are clamped and logged once. */
  maxRetryAfterMs?: number;
  logger?: Logger;
}

export class ApiClient {
  readonly #opts: ApiClientOptions;
  readonly #base: string;
  readonly #clock: () => number;
  #clampLogged = false;

  constructor(opts: ApiClientOptions) {
    this.#opts = opts;
    this.#base = withSlash(opts.baseUrl);
    this.#clock = opts.clock ?? Date.now;
  }

  get tokens(): Authenticator {
    return this.#opts.tokens;
  }

  /** The API's base URL, ending in '/'. */
  get baseUrl(): string {
    return this.#base;
  }

  get clock(): () => number {
    return this.#clock;
  }

  /** One request; `token` (when given) is sent as credentials, to the API origin only. */
  #send(url: URL, init: { method: 'GET' | 'POST'; headers: Record<string, string>; body?: string | undefined; signal?: AbortSignal | undefined; stream?: boolean }, token: string | null) {
    const origin = new URL(this.#base).origin;
    return send(url, {
      ...init,
      credentials: token === null ? null : { origin, headers: this.#opts.tokens.headers(token) },
      dispatcher: this.#opts.dispatcher,
      maxRedirects: this.#opts.maxRedirects ?? 5,
      headersTimeout: this.#opts.headersTimeoutMs,
      bodyTimeout: this.#opts.bodyIdleTimeoutMs,
      highWaterMark: init.stream ? 256 * 1024 : undefined,
    });
  }

  /**
   * An authenticated JSON request to the API (the STAC endpoints). Returns the parsed body and the
   * server's Date header; statuses other than 200 are classified errors. `context` names the request.
   */
  requestJson(url: URL, init: { method: 'GET' | 'POST'; body?: unknown; headers?: Record<string, string> | undefined; signal?: AbortSignal | undefined }, context: string): Promise<{ body: unknown; serverDateMs: number | null }> {
    return this.#authed(async (token) => {
      let res: Dispatcher.ResponseData;
      try {
        ({ res } = await this.#send(
          url,
          {
            method: init.method,
            headers: { ...(init.headers ?? {}), accept: 'application/geo+json, application/json', 'content-type': 'application/json' },
            body: init.body === undefined ? undefined : JSON.stringify(init.body),
            signal: init.signal,
          },
          token,
        ));
      } catch (e) {
        throw classifyError(e, context);
      }
      if (res.statusCode !== 200) return this.#failFromResponse(res, context);
      const date = header(res.headers, 'date');
      const serverDateMs = date ? Date.parse(date) : NaN;
      try {
        return { body: await res.body.json(), serverDateMs: Number.isNaN(serverDateMs) ? null : serverDateMs };
      } catch (e) {
        const c = classifyError(e, context);
        if (c.errorClass !== 'internal') throw c;
        throw new SyncError(`${context}: the response is not valid JSON`, { code: 'SYNC_API_BAD_LISTING', cause: e });
      }
    });
  }

  /**
   * GET a storage URL (a pre-signed STAC asset href) with no credentials at all: neither the API key
   * nor a token is ever sent to it, on any hop. Resolves once headers arrived with a 200 or 206.
   */
  async downloadUrl(url: URL, context: string, params: DownloadParams = {}): Promise<DownloadResponse> {
    let res: Dispatcher.ResponseData;
    let at: URL;
    try {
      ({ res, url: at } = await this.#send(url, { method: 'GET', headers: rangeHeaders(params), signal: params.signal, stream: true }, null));
    } catch (e) {
      throw classifyError(e, context);
    }
    return this.#downloadResponse(res, at, context);
  }

  async #downloadResponse(res: Dispatcher.ResponseData, at: URL, context: string): Promise<DownloadResponse> {
    if (res.statusCode !== 200 && res.statusCode !== 206) {
      if (res.statusCode === 416) {
        await res.body.dump().catch(() => undefined);
        throw new SyncError(`${context}: range not satisfiable`, {
          code: 'SYNC_API_RANGE_NOT_SATISFIABLE',
          status: 416,
        });
      }
      return this.#failFromResponse(res, context);
    }
    const len = header(res.headers, 'content-length');
    return {
      status: res.statusCode,
      contentLength: len !== undefined && /^\d+$/.test(len) ? Number(len) : null,
      etag: header(res.headers, 'etag') ?? null,
      lastModified: header(res.headers, 'last-modified') ?? null,
      contentRange: parseContentRange(header(res.headers, 'content-range')),
      contentDisposition: header(res.headers, 'content-disposition') ?? null,
      url: at.href,
      body: res.body as DownloadResponse['body'],
    };
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
      // The excerpt becomes part of an error that the state keeps (jobs.error_message) and the status
      // page shows: scrubbed like a log line (a storage error may echo the signed request).
      detail = scrubSecrets(text.slice(0, 200).replace(/\s+/g, ' ').trim()) || undefined;
    } catch {
      /* the body is only for the message */
    }
    throw errorFromStatus(res.statusCode, context, {
      retryAfterMs: this.#capRetryAfter(parseRetryAfter(res.headers['retry-after'], this.#clock()), context),
      detail,
    });
  }

  /** Clamp a server's Retry-After to api.maxRetryAfter; the first clamp is logged as a warning. */
  #capRetryAfter(ms: number | undefined, context: string): number | undefined {
    const max = this.#opts.maxRetryAfterMs ?? DEFAULT_MAX_RETRY_AFTER_MS;
    if (ms === undefined || ms <= max) return ms;
    const fields = { context, retryAfterMs: ms, maxRetryAfterMs: max };
    if (!this.#clampLogged) {
      this.#clampLogged = true;
      this.#opts.logger?.warn(fields, 'Retry-After is longer than api.maxRetryAfter; clamped');
    } else {
      this.#opts.logger?.debug(fields, 'Retry-After clamped');
    }
    return max;
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
        ({ res } = await this.#send(url, { method: 'GET', headers: { accept: 'application/json' }, signal: params.signal }, token));
      } catch (e) {
        throw classifyError(e, 'GET /assets');
      }
      if (res.statusCode !== 200) return this.#failFromResponse(res, 'GET /assets');
      const receivedAtMs = this.#clock();
      const serverDateMs = parseHttpDate(res.headers.date);
      let body: unknown;
      try {
        body = await res.body.json();
      } catch (e) {
        if (isSyncError(e)) throw e;
        const c = classifyError(e, 'GET /assets');
        if (c.errorClass !== 'internal') throw c;
        throw new SyncError('GET /assets: the response is not valid JSON', {
          code: 'SYNC_API_BAD_LISTING',
          cause: e,
        });
      }
      try {
        return { ...parseListPage(body), serverDateMs, receivedAtMs };
      } catch (e) {
        if (e instanceof WireError)
          throw new SyncError(`GET /assets: ${e.message}`, { code: 'SYNC_API_BAD_LISTING' });
        throw e;
      }
    });
  }

  /**
   * GET /assets/{key}. Resolves once headers arrived with a 200 or 206; the caller streams the body.
   * Redirects are followed; the credentials never cross to another origin (storage).
   */
  download(key: string, params: DownloadParams = {}): Promise<DownloadResponse> {
    const url = new URL(`assets/${encodeKeyPath(key)}`, this.#base);
    return this.#authed(async (token) => {
      let res: Dispatcher.ResponseData;
      let at: URL;
      try {
        ({ res, url: at } = await this.#send(url, { method: 'GET', headers: rangeHeaders(params), signal: params.signal, stream: true }, token));
      } catch (e) {
        throw classifyError(e, `GET ${key}`);
      }
      return this.#downloadResponse(res, at, `GET ${key}`);
    });
  }
}

function rangeHeaders(params: DownloadParams): Record<string, string> {
  const headers: Record<string, string> = { 'accept-encoding': 'identity' };
  if ((params.rangeStart && params.rangeStart > 0) || params.rangeEnd !== undefined) {
    headers.range = `bytes=${params.rangeStart ?? 0}-${params.rangeEnd ?? ''}`;
    if (params.ifRange) headers['if-range'] = params.ifRange;
  }
  return headers;
}

/** ISO 8601 UTC with whole seconds, as the API documents. Rounds down so nothing is skipped. */
export function isoSeconds(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}
