// Token handling: in memory only, renewed before expiry and on 401, with exactly one renewal in flight
// however many workers ask at once. The renewal path itself never triggers another renewal.
import { request, type Dispatcher } from 'undici';
import { SyncError, TOKEN_ENDPOINT_MISSING, errorFromStatus, classifyError } from '../errors.js';
import { tokenResponse } from './wire.js';
import type { Secret } from '../lib/secret.js';
import type { Logger } from '../lib/logger.js';
import type { Authenticator } from './api-key.js';
import { redactUrl, withSlash } from '../lib/url-safety.js';

export type TokenEncoding = 'json' | 'form';

export interface TokenManagerOptions {
  baseUrl: string;
  username: string;
  password: Secret;
  dispatcher: Dispatcher;
  /** 'auto' tries JSON first and falls back to form on 415/422, remembering what worked. */
  encoding: 'auto' | TokenEncoding;
  clock?: () => number;
  logger?: Logger;
  headersTimeoutMs?: number;
  /** Called after every successful renewal (metrics). */
  onRenewed?: () => void;
}

const DEFAULT_LIFETIME_MS = 24 * 3600_000;

interface HeldToken {
  value: string;
  issuedAt: number;
  renewAt: number;
}

/** Decode a numeric JWT claim in seconds (exp, iat) as ms without verifying it; null when absent or not a JWT. */
function jwtTimeClaimMs(token: string, claim: 'exp' | 'iat'): number | null {
  const parts = token.split('.');
  if (parts.length !== 3) return null;
  try {
    const payload = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;
    const v = payload?.[claim];
    return typeof v === 'number' && Number.isFinite(v) ? v * 1000 : null;
  } catch {
    return null;
  }
}

/** Decode a JWT's `exp` (seconds) without verifying it; null when the token is not a JWT. */
export function jwtExpiryMs(token: string): number | null {
  return jwtTimeClaimMs(token, 'exp');
}

/**
 * When a token received at `issuedAt` (our clock) expires, in our clock. A JWT's exp is in the
 * server's clock: if ours disagrees by a large part of the lifetime (it would look expired, or
 * nearly, on arrival and be renewed on every call), the JWT's own iat..exp span is anchored at
 * `issuedAt` instead. Without a usable exp: expires_in, else 24 h (a 401 renews earlier anyway).
 */
export function tokenExpiryMs(token: string, issuedAt: number, expiresInS?: number): number {
  const exp = jwtExpiryMs(token);
  if (exp !== null) {
    const iat = jwtTimeClaimMs(token, 'iat');
    if (iat !== null && exp > iat && exp - issuedAt < (exp - iat) / 2) return issuedAt + (exp - iat);
    if (exp > issuedAt) return exp;
  }
  return expiresInS ? issuedAt + expiresInS * 1000 : issuedAt + DEFAULT_LIFETIME_MS;
}

/** When to renew: a margin before expiry of 10 % of the lifetime, at most 5 minutes. */
export function renewalTime(issuedAt: number, expiresAt: number): number {
  const lifetime = Math.max(0, expiresAt - issuedAt);
  const margin = Math.min(5 * 60_000, lifetime * 0.1);
  return expiresAt - margin;
}

export class TokenManager implements Authenticator {
  readonly scheme = 'bearer' as const;
  readonly #opts: TokenManagerOptions;
  readonly #clock: () => number;
  #held: HeldToken | null = null;
  #inflight: Promise<string> | null = null;
  #encoding: TokenEncoding | null;
  /** Number of successful token requests (initial one included). */
  renewals = 0;

  constructor(opts: TokenManagerOptions) {
    this.#opts = opts;
    this.#clock = opts.clock ?? Date.now;
    this.#encoding = opts.encoding === 'auto' ? null : opts.encoding;
  }

  /** The encoding that worked, once known. */
  get encoding(): TokenEncoding | null {
    return this.#encoding;
  }

  /** A token valid now; renews (single-flight) when none is held or it is due for renewal. */
  async get(): Promise<string> {
    const held = this.#held;
    if (held && this.#clock() < held.renewAt) return held.value;
    return this.renew(held?.value ?? null);
  }

  /**
   * Renew after `stale` was rejected. If another caller already replaced that token, the new one is
   * returned without a second request.
   */
  renew(stale: string | null): Promise<string> {
    if (this.#inflight) return this.#inflight;
    const held = this.#held;
    if (held && held.value !== stale && this.#clock() < held.renewAt) return Promise.resolve(held.value);
    this.#inflight = this.#fetch().finally(() => {
      this.#inflight = null;
    });
    return this.#inflight;
  }

  /** Forget the token (e.g. after the credentials were rejected). */
  clear(): void {
    this.#held = null;
  }

  headers(value: string): Record<string, string> {
    return { authorization: `Bearer ${value}` };
  }

  /** Token values currently held, for scrubbing logs. */
  secrets(): string[] {
    return this.#held ? [this.#held.value] : [];
  }

  async #fetch(): Promise<string> {
    const order: TokenEncoding[] = this.#encoding ? [this.#encoding] : ['json', 'form'];
    let lastError: SyncError | null = null;
    for (const enc of order) {
      const result = await this.#request(enc);
      if (typeof result === 'string') {
        if (this.#encoding !== enc) {
          this.#opts.logger?.debug({ encoding: enc }, 'token endpoint accepted this encoding; remembering it');
          this.#encoding = enc;
        }
        return result;
      }
      lastError = result;
      // Only a 415/422 in auto mode means "try the other encoding".
      if (!(this.#opts.encoding === 'auto' && (result.status === 415 || result.status === 422))) break;
    }
    throw lastError ?? new SyncError('token request failed', { code: 'SYNC_AUTH_FAILED' });
  }

  /** One token request; returns the token, or a classified error to act on. Network errors throw. */
  async #request(enc: TokenEncoding): Promise<string | SyncError> {
    const { baseUrl, username, password, dispatcher } = this.#opts;
    const body =
      enc === 'json'
        ? JSON.stringify({ username, password: password.reveal() })
        : new URLSearchParams({ username, password: password.reveal() }).toString();
    let res: Dispatcher.ResponseData;
    try {
      // maxRedirections is read by the redirect interceptor (0 = pass through); undici's request
      // types do not list it, hence the widened options object.
      const options: Omit<Dispatcher.RequestOptions<null>, 'origin' | 'path'> & { dispatcher: Dispatcher; maxRedirections: number } = {
        method: 'POST',
        dispatcher,
        headers: {
          'content-type': enc === 'json' ? 'application/json' : 'application/x-www-form-urlencoded',
          accept: 'application/json',
        },
        body,
        // Never follow a redirect here: a 307/308 re-posts the body (the password) to whatever origin
        // Location names, and undici strips only Authorization on the way. The credentials go only to
        // the configured API origin. (The shared dispatcher follows redirects for presigned downloads.)
        maxRedirections: 0,
        headersTimeout: this.#opts.headersTimeoutMs,
        bodyTimeout: this.#opts.headersTimeoutMs,
      };
      res = await request(new URL('token', withSlash(baseUrl)), options);
    } catch (e) {
      throw classifyError(e, 'POST /token');
    }
    const issuedAt = this.#clock();
    if (res.statusCode !== 200) {
      await res.body.dump().catch(() => undefined);
      if (res.statusCode >= 300 && res.statusCode < 400) return tokenRedirectError(res.statusCode, res.headers.location, baseUrl);
      if (res.statusCode === 401 || res.statusCode === 403) {
        return new SyncError(`POST /token: the API rejected the credentials (HTTP ${res.statusCode}); check CONSTELLR_USERNAME and CONSTELLR_PASSWORD`, {
          code: 'SYNC_AUTH_REJECTED',
          status: res.statusCode,
        });
      }
      if (res.statusCode === 404 || res.statusCode === 405 || res.statusCode === 410) {
        // No token endpoint here: a wrong api.url. Never succeeds by retrying; handled like rejected
        // credentials (no retry storm, no attempt burned, exit 3), with the fix in the message.
        return new SyncError(`POST ${redactUrl(new URL('token', withSlash(baseUrl)).href)}: HTTP ${res.statusCode}: no token endpoint there; is api.url right? (check api.url / CONSTELLR_API_URL)`, {
          code: TOKEN_ENDPOINT_MISSING,
          status: res.statusCode,
        });
      }
      const err = errorFromStatus(res.statusCode, `POST /token (${enc})`);
      // 401, 403, 404, 405 and 410 are handled above: what is left is a 4xx (permanent) or a retryable one.
      if (err.kind === 'permanent') return err;
      throw err;
    }
    let json: unknown;
    try {
      json = await res.body.json();
    } catch (e) {
      throw new SyncError('POST /token: response is not JSON', { code: 'SYNC_AUTH_BAD_RESPONSE', cause: e });
    }
    const parsed = tokenResponse.safeParse(json);
    if (!parsed.success) {
      throw new SyncError('POST /token: response has no access_token', { code: 'SYNC_AUTH_BAD_RESPONSE' });
    }
    const value = parsed.data.access_token;
    const exp = tokenExpiryMs(value, issuedAt, parsed.data.expires_in);
    this.#held = { value, issuedAt, renewAt: renewalTime(issuedAt, exp) };
    this.renewals++;
    this.#opts.onRenewed?.();
    this.#opts.logger?.debug({ renewals: this.renewals, validForMs: exp - issuedAt }, 'obtained a new API token');
    return value;
  }
}

/**
 * A 3xx on POST /token: a configuration problem (api.url points at a proxy, an old host, http instead
 * of https…), reported like rejected credentials (exit 3, no retry storm), naming where it pointed.
 */
function tokenRedirectError(status: number, location: string | string[] | undefined, baseUrl: string): SyncError {
  const loc = Array.isArray(location) ? location[0] : location;
  // Show only scheme, host and path of the target: a query string may carry someone's secrets.
  let shown = '(no Location header)';
  if (loc) {
    try {
      const u = new URL(loc, withSlash(baseUrl));
      shown = `${u.origin}${u.pathname}`;
    } catch {
      shown = JSON.stringify(loc.slice(0, 200));
    }
  }
  return new SyncError(
    `POST /token: the API answered HTTP ${status}, a redirect to ${shown}; credentials are never sent to a redirect target. Set api.url to the origin that serves /token`,
    { code: 'SYNC_AUTH_REDIRECT', status },
  );
}
