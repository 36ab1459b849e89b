// The boundary with the STAC API. Every request of the STAC source goes out here and every body comes
// back through a reader (documents.ts, record.ts, items.ts, search.ts, paging.ts). The parts throw
// StacWireError for any response that is wrong (a malformed body, an item that cannot become jobs, a
// next link that leads nowhere or in a circle); it becomes our SYNC_API_BAD_LISTING here, once, and
// nowhere else. HTTP errors pass as the client classified them (with their status), so callers can
// still tell a 400 from a bad body.
import { SyncError } from '../../errors.js';
import type { ApiClient } from '../client.js';
import { StacWireError } from './documents.js';

/** A response or a listed item that cannot be read: retryable, the next poll may read it. */
function badListing(message: string): SyncError {
  return new SyncError(message, { code: 'SYNC_API_BAD_LISTING' });
}

/** `read()`, with a StacWireError it throws turned into a bad listing. The only such mapping. */
export function fromWire<T>(read: () => T): T {
  try {
    return read();
  } catch (e) {
    throw e instanceof StacWireError ? badListing(e.message) : e;
  }
}

export interface StacCall {
  method: 'GET' | 'POST';
  body?: unknown;
  headers?: Record<string, string> | undefined;
  signal?: AbortSignal | undefined;
}

/** Requests to the STAC API whose bodies are read at the boundary. */
export class StacApi {
  readonly client: ApiClient;

  constructor(client: ApiClient) {
    this.client = client;
  }

  /** A path under the API's base URL (`stac/search`). */
  url(path: string): URL {
    return new URL(path, this.client.baseUrl);
  }

  now(): number {
    return this.client.clock();
  }

  /** One request; its body read by `read` (`context` names the request in errors). */
  async call<T>(url: URL, init: StacCall, context: string, read: (body: unknown) => T): Promise<{ value: T; serverDateMs: number | null }> {
    const { body, serverDateMs } = await this.client.requestJson(url, init, context);
    return { value: fromWire(() => read(body)), serverDateMs };
  }

  /** GET a path under the base URL, its body read by `read`. */
  async get<T>(path: string, read: (body: unknown, context: string) => T, signal?: AbortSignal): Promise<T> {
    const context = `GET /${path}`;
    return (await this.call(this.url(path), { method: 'GET', signal }, context, (b) => read(b, context))).value;
  }
}
