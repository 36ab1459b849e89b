// One HTTP exchange with redirects followed here rather than by the dispatcher, so credentials are
// scoped: the credential headers (X-Api-Key, Authorization) go only to the configured API origin.
// undici's redirect interceptor strips Authorization across origins but not custom headers such as
// X-Api-Key, so requests that carry credentials never use it (maxRedirections: 0 per request).
import { request, type Dispatcher } from 'undici';
import { SyncError } from '../errors.js';

export interface SendOptions {
  method: 'GET' | 'POST';
  /** Headers without credentials (sent everywhere). */
  headers: Record<string, string>;
  body?: string | undefined;
  /** Credential headers, sent only while the URL's origin is `origin` (never to storage, never across a redirect). */
  credentials?: { origin: string; headers: Record<string, string> } | null | undefined;
  dispatcher: Dispatcher;
  maxRedirects: number;
  signal?: AbortSignal | undefined;
  headersTimeout?: number | undefined;
  bodyTimeout?: number | undefined;
  highWaterMark?: number | undefined;
}

export interface SendResult {
  res: Dispatcher.ResponseData;
  /** The URL that answered (after redirects). */
  url: URL;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

function headerValue(h: Dispatcher.ResponseData['headers'], name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
}

export async function send(start: URL, o: SendOptions): Promise<SendResult> {
  let url = start;
  let method = o.method;
  let body = o.body;
  for (let hops = 0; ; hops++) {
    const creds = o.credentials && url.origin === o.credentials.origin ? o.credentials.headers : {};
    const headers: Record<string, string> = { ...o.headers, ...creds };
    if (body === undefined) delete headers['content-type'];
    const res = (await request(url, {
      method,
      dispatcher: o.dispatcher,
      headers,
      body,
      signal: o.signal,
      headersTimeout: o.headersTimeout,
      bodyTimeout: o.bodyTimeout,
      highWaterMark: o.highWaterMark,
      // Per request: the dispatcher's redirect interceptor stays out of it (see the file comment).
      maxRedirections: 0,
    } as Parameters<typeof request>[1])) as Dispatcher.ResponseData;
    const location = headerValue(res.headers, 'location');
    if (!REDIRECTS.has(res.statusCode) || location === undefined || hops >= o.maxRedirects) return { res, url };
    await res.body.dump().catch(() => undefined);
    let next: URL;
    try {
      next = new URL(location, url);
    } catch {
      throw new SyncError(`${method} ${url.pathname}: redirect to an invalid location`, { code: 'SYNC_API_BAD_REDIRECT', status: res.statusCode });
    }
    if (next.protocol !== 'http:' && next.protocol !== 'https:')
      throw new SyncError(`${method} ${url.pathname}: redirect to a ${next.protocol} URL was refused`, { code: 'SYNC_API_BAD_REDIRECT', status: res.statusCode });
    // 303 (and 301/302 after a POST, as browsers do) continue as a GET without the body.
    if (res.statusCode === 303 || ((res.statusCode === 301 || res.statusCode === 302) && method === 'POST')) {
      method = 'GET';
      body = undefined;
    }
    url = next;
  }
}
