// Workspace API keys (Constellr's current authentication): every API request carries `X-Api-Key`,
// nothing is renewed, and a 401 means the key itself is invalid, expired or revoked. It implements
// the same Authenticator as the legacy bearer-token manager, so the client and the engine treat both
// alike: `renew` after a 401 is where a token would be fetched again; for a key it is a clear,
// non-retried error (exit 3).
import { request, type Dispatcher } from 'undici';
import { SyncError, classifyError } from '../errors.js';
import type { Secret } from '../lib/secret.js';
import { withSlash } from '../lib/url-safety.js';

/** How requests to the API origin are authenticated (bearer token or API key). */
export interface Authenticator {
  readonly scheme: 'bearer' | 'api-key';
  /** A credential valid now (a token may be fetched; a key is returned as is). */
  get(): Promise<string>;
  /**
   * Called after `stale` was refused with 401 (or with null by the engine's slow auth probe): a new
   * token, or, for a key, an auth_rejected error.
   */
  renew(stale: string | null): Promise<string>;
  /** Forget a held credential (after a rejection). */
  clear(): void;
  /** Literal secret values, for scrubbing logs. */
  secrets(): string[];
  /** The request headers that carry `value`. Only ever sent to the API origin. */
  headers(value: string): Record<string, string>;
}

export interface ApiKeyAuthOptions {
  key: Secret;
  /** Base URL of the API; the probe asks `${base}/${probePath}`. */
  baseUrl: string;
  /** A cheap authenticated GET that tells whether the key is accepted now ("stac/", "assets?limit=1"). */
  probePath: string;
  dispatcher: Dispatcher;
  headersTimeoutMs?: number;
}

export const API_KEY_REJECTED_MESSAGE =
  'the API refused the API key (HTTP 401): it is invalid, expired or revoked; create a new key in the Constellr workspace and set CONSTELLR_API_KEY (or CONSTELLR_API_KEY_FILE)';

export function apiKeyRejected(context: string): SyncError {
  return new SyncError(`${context}: ${API_KEY_REJECTED_MESSAGE}`, {
    code: 'SYNC_API_KEY_REJECTED',
    status: 401,
  });
}

export class ApiKeyAuth implements Authenticator {
  readonly scheme = 'api-key' as const;
  readonly #o: ApiKeyAuthOptions;

  constructor(o: ApiKeyAuthOptions) {
    this.#o = o;
  }

  async get(): Promise<string> {
    return this.#o.key.reveal();
  }

  /**
   * A key cannot be renewed: after a 401 it is rejected at once. The engine's slow probe (stale =
   * null) asks the API whether the key is accepted again (a revoked key stays revoked, but an
   * outage that answered 401 ends).
   */
  async renew(stale: string | null): Promise<string> {
    if (stale !== null) throw apiKeyRejected('API request');
    const url = new URL(this.#o.probePath, withSlash(this.#o.baseUrl));
    let res: Dispatcher.ResponseData;
    try {
      // No redirects are followed here: the key goes to the API origin only.
      res = (await request(url, {
        method: 'GET',
        dispatcher: this.#o.dispatcher,
        headers: { ...this.headers(this.#o.key.reveal()), accept: 'application/json' },
        maxRedirections: 0,
        headersTimeout: this.#o.headersTimeoutMs,
        bodyTimeout: this.#o.headersTimeoutMs,
      } as Parameters<typeof request>[1])) as Dispatcher.ResponseData;
    } catch (e) {
      throw classifyError(e, `GET /${this.#o.probePath}`);
    }
    await res.body.dump().catch(() => undefined);
    if (res.statusCode === 401) throw apiKeyRejected(`GET /${this.#o.probePath}`);
    return this.#o.key.reveal();
  }

  clear(): void {
    /* nothing is held beyond the configured key */
  }

  secrets(): string[] {
    return [this.#o.key.reveal()];
  }

  headers(value: string): Record<string, string> {
    return { 'x-api-key': value };
  }
}
