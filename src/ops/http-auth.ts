// The status page's access check. Without http.token the page and /api/status are open (read-only)
// and every action answers 403. With a token, the page and /api/* need it: either
// `Authorization: Bearer <token>` (scripts) or a session cookie set by the login form (browsers).
// The cookie holds an HMAC of the token, never the token itself; every comparison is in constant
// time. Actions authenticated by the cookie also need the X-Constellr-Sync-Action header, which a
// cross-site form cannot send (with SameSite=Strict, a second guard against CSRF).
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type http from 'node:http';
import type { Secret } from '../lib/secret.js';

export const SESSION_COOKIE = 'constellr_sync_session';
export const ACTION_HEADER = 'x-constellr-sync-action';
/** Failed logins allowed per minute before the form answers 429 for the rest of that minute. */
const LOGIN_FAILURES_PER_MINUTE = 10;

export type AuthResult = { ok: true; via: 'open' | 'bearer' | 'cookie' } | { ok: false };

/** Equal strings, compared in constant time (digests first, so lengths leak nothing either). */
export function constantTimeEqual(a: string, b: string): boolean {
  const da = createHash('sha256').update(a).digest();
  const db = createHash('sha256').update(b).digest();
  return timingSafeEqual(da, db);
}

function cookieValue(header: string | undefined, name: string): string | null {
  if (!header) return null;
  for (const part of header.split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) return part.slice(i + 1).trim();
  }
  return null;
}

export class HttpAuth {
  readonly #token: string | null;
  readonly #session: string | null;
  readonly #clock: () => number;
  #failures = { minute: 0, n: 0 };

  constructor(token: Secret | undefined, clock: () => number = Date.now) {
    this.#token = token ? token.reveal() : null;
    this.#session = this.#token === null ? null : createHmac('sha256', this.#token).update('constellr-sync status page session v1').digest('hex');
    this.#clock = clock;
  }

  /** True when a token is configured: actions are possible and the page needs it. */
  get enabled(): boolean {
    return this.#token !== null;
  }

  /** Who is asking: open (no token configured), a valid bearer token or session cookie, or nobody. */
  check(req: http.IncomingMessage): AuthResult {
    if (this.#token === null || this.#session === null) return { ok: true, via: 'open' };
    const h = req.headers.authorization;
    if (h) {
      const m = /^Bearer\s+(.+)$/i.exec(h.trim());
      return m && constantTimeEqual(m[1]!, this.#token) ? { ok: true, via: 'bearer' } : { ok: false };
    }
    const c = cookieValue(req.headers.cookie, SESSION_COOKIE);
    if (c !== null && constantTimeEqual(c, this.#session)) return { ok: true, via: 'cookie' };
    return { ok: false };
  }

  /**
   * May this request run an action? Only with a token configured, a valid credential, and (for the
   * cookie) the action header. Returns the HTTP status to answer otherwise.
   */
  checkAction(req: http.IncomingMessage): { ok: true } | { ok: false; status: 401 | 403; message: string } {
    if (!this.enabled) return { ok: false, status: 403, message: 'actions are disabled: no http.token is set (CONSTELLR_SYNC_HTTP_TOKEN); the page is read-only' };
    const a = this.check(req);
    if (!a.ok) return { ok: false, status: 401, message: 'a valid token is required (Authorization: Bearer, or log in on the page)' };
    if (a.via === 'cookie' && req.headers[ACTION_HEADER] !== '1') return { ok: false, status: 403, message: `actions from the page need the ${ACTION_HEADER} header` };
    return { ok: true };
  }

  /** The login form's token: a Set-Cookie value when it is right, 'throttled' after too many failures. */
  login(candidate: string, secure: boolean): string | 'wrong' | 'throttled' | 'disabled' {
    if (this.#token === null || this.#session === null) return 'disabled';
    const minute = Math.floor(this.#clock() / 60_000);
    if (this.#failures.minute !== minute) this.#failures = { minute, n: 0 };
    if (this.#failures.n >= LOGIN_FAILURES_PER_MINUTE) return 'throttled';
    if (!constantTimeEqual(candidate, this.#token)) {
      this.#failures.n++;
      return 'wrong';
    }
    return `${SESSION_COOKIE}=${this.#session}; Path=/; HttpOnly; SameSite=Strict${secure ? '; Secure' : ''}`;
  }

  /** Set-Cookie value that ends the session. */
  logout(): string {
    return `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0`;
  }
}
