// The status page's access check. Without http.token the page and /api/status are open (read-only)
// and every action answers 403; they answer only to a Host header that names this listener (an IP
// address, localhost, the listen host or this machine's name), so a DNS-rebinding page cannot read
// them. With a token, the page and /api/* need it: either `Authorization: Bearer <token>` (scripts)
// or a session cookie set by the login form (browsers). A session is a random value made at login,
// kept (as its digest) in this process for SESSION_TTL_MS and revoked at logout; every comparison is
// in constant time. Wrong tokens, at the form or as a bearer, are counted per client address: after
// FAILURES_PER_MINUTE in a minute that address gets 429 for the rest of the minute, and nobody else
// does. Actions authenticated by the cookie also need the X-Constellr-Sync-Action header, which a
// cross-site form cannot send (with SameSite=Strict, a second guard against CSRF).
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type http from 'node:http';
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import type { Secret } from '../lib/secret.js';

export const SESSION_COOKIE = 'constellr_sync_session';
export const ACTION_HEADER = 'x-constellr-sync-action';
/** Wrong tokens allowed per client address and minute before that address gets 429. */
export const FAILURES_PER_MINUTE = 10;
/** How long a login lasts (the cookie's Max-Age and the session's life in this process). */
export const SESSION_TTL_MS = 8 * 3600_000;
/** Bounds on what strangers can make this process remember. */
const MAX_SESSIONS = 1000;
const MAX_TRACKED_CLIENTS = 10_000;

export type AuthResult = { ok: true; via: 'open' | 'bearer' | 'cookie' } | { ok: false; throttled?: true };

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

const digest = (s: string) => createHash('sha256').update(s).digest('hex');

function isLoopbackAddress(a: string): boolean {
  return a === '::1' || /^127\./.test(a) || /^::ffff:127\./i.test(a);
}

/** IPv4 as it is (IPv4-mapped IPv6 unwrapped); IPv6 by its /64, which one subscriber usually holds. */
function addressBucket(a: string): string {
  const v4 = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(a);
  if (v4) return v4[1]!;
  if (isIP(a) !== 6) return a;
  const [head, tail = ''] = a.toLowerCase().split('::') as [string, string?];
  const h = head === '' ? [] : head.split(':');
  const t = a.includes('::') ? (tail === '' ? [] : tail.split(':')) : [];
  const groups = a.includes('::') ? [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t] : h;
  return `${groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, '')).join(':')}::/64`;
}

/**
 * Who is asking, for the failure count: the peer address, or, when the peer is a proxy on this host
 * (loopback) that says X-Forwarded-For, the address the proxy appended last (the one it saw).
 */
export function clientAddress(req: http.IncomingMessage): string {
  const peer = req.socket?.remoteAddress ?? 'unknown';
  const xff = req.headers['x-forwarded-for'];
  if (isLoopbackAddress(peer) && typeof xff === 'string') {
    const last = xff.split(',').at(-1)!.trim();
    if (isIP(last)) return addressBucket(last);
  }
  return addressBucket(peer);
}

export interface HttpAuthOptions {
  clock?: () => number;
  /** The host part of http.listen (what the Host header may name without a token). */
  listenHost?: string;
}

export class HttpAuth {
  readonly #token: string | null;
  readonly #clock: () => number;
  readonly #hosts: Set<string>;
  /** digest of the session value → when it ends */
  readonly #sessions = new Map<string, number>();
  /** client address → wrong tokens in the current minute */
  readonly #failures = new Map<string, { minute: number; n: number }>();

  constructor(token: Secret | undefined, o: HttpAuthOptions | (() => number) = {}) {
    const opts = typeof o === 'function' ? { clock: o } : o;
    this.#token = token ? token.reveal() : null;
    this.#clock = opts.clock ?? Date.now;
    const listen = (opts.listenHost ?? '').toLowerCase().replace(/^\[|\]$/g, '');
    const me = hostname().toLowerCase();
    this.#hosts = new Set(['localhost', listen, me, me.split('.')[0]!].filter((h) => h !== '' && h !== '0.0.0.0' && h !== '::'));
  }

  /** True when a token is configured: actions are possible and the page needs it. */
  get enabled(): boolean {
    return this.#token !== null;
  }

  #minute(): number {
    return Math.floor(this.#clock() / 60_000);
  }

  /** Seconds until a throttled address may try again. */
  retryAfterSeconds(): number {
    return Math.max(1, Math.ceil(((this.#minute() + 1) * 60_000 - this.#clock()) / 1000));
  }

  #throttled(client: string): boolean {
    const f = this.#failures.get(client);
    return f !== undefined && f.minute === this.#minute() && f.n >= FAILURES_PER_MINUTE;
  }

  #fail(client: string): void {
    const minute = this.#minute();
    const f = this.#failures.get(client);
    if (f && f.minute === minute) f.n++;
    else {
      this.#failures.delete(client);
      this.#failures.set(client, { minute, n: 1 });
    }
    if (this.#failures.size > MAX_TRACKED_CLIENTS) {
      for (const [k, v] of this.#failures) if (v.minute !== minute) this.#failures.delete(k);
      // Still too many (a flood from many addresses): forget the oldest.
      for (const k of this.#failures.keys()) {
        if (this.#failures.size <= MAX_TRACKED_CLIENTS) break;
        this.#failures.delete(k);
      }
    }
  }

  /**
   * Without a token, does the Host header name this listener? An IP address or localhost, the listen
   * host or this machine's name, at any port (a container's port may be mapped to another). With a
   * token: always (the token guards). A DNS-rebinding page sends its own domain as Host.
   */
  hostAllowed(req: http.IncomingMessage): boolean {
    if (this.#token !== null) return true;
    const host = req.headers.host;
    if (!host) return false;
    const m = /^(?:\[([^\]]+)\]|([^:]+))(?::(\d{1,5}))?$/.exec(host.trim());
    if (!m) return false;
    const name = (m[1] ?? m[2]!).toLowerCase().replace(/\.$/, '');
    return isIP(name) !== 0 || this.#hosts.has(name);
  }

  /** Who is asking: open (no token configured), a valid bearer token or session cookie, or nobody. */
  check(req: http.IncomingMessage): AuthResult {
    if (this.#token === null) return { ok: true, via: 'open' };
    const h = req.headers.authorization;
    if (h) {
      const client = clientAddress(req);
      if (this.#throttled(client)) return { ok: false, throttled: true };
      const m = /^Bearer\s+(.+)$/i.exec(h.trim());
      if (m && constantTimeEqual(m[1]!, this.#token)) return { ok: true, via: 'bearer' };
      this.#fail(client);
      return { ok: false };
    }
    const c = cookieValue(req.headers.cookie, SESSION_COOKIE);
    if (c !== null && c !== '') {
      const key = digest(c);
      const until = this.#sessions.get(key);
      if (until !== undefined && until > this.#clock()) return { ok: true, via: 'cookie' };
      if (until !== undefined) this.#sessions.delete(key);
    }
    return { ok: false };
  }

  /**
   * May this request run an action? Only with a token configured, a valid credential, and (for the
   * cookie) the action header. Returns the HTTP status to answer otherwise.
   */
  checkAction(req: http.IncomingMessage): { ok: true } | { ok: false; status: 401 | 403 | 429; message: string } {
    if (!this.enabled) return { ok: false, status: 403, message: 'actions are disabled: no http.token is set (CONSTELLR_SYNC_HTTP_TOKEN); the page is read-only' };
    const a = this.check(req);
    if (!a.ok && a.throttled) return { ok: false, status: 429, message: 'too many wrong tokens from this address; wait a minute' };
    if (!a.ok) return { ok: false, status: 401, message: 'a valid token is required (Authorization: Bearer, or log in on the page)' };
    if (a.via === 'cookie' && req.headers[ACTION_HEADER] !== '1') return { ok: false, status: 403, message: `actions from the page need the ${ACTION_HEADER} header` };
    return { ok: true };
  }

  /**
   * The login form's token: a Set-Cookie value with a new session when it is right, 'throttled'
   * after too many wrong tokens from this client address in this minute.
   */
  login(req: http.IncomingMessage, candidate: string): string | 'wrong' | 'throttled' | 'disabled' {
    if (this.#token === null) return 'disabled';
    const client = clientAddress(req);
    if (this.#throttled(client)) return 'throttled';
    if (!constantTimeEqual(candidate, this.#token)) {
      this.#fail(client);
      return 'wrong';
    }
    const now = this.#clock();
    for (const [k, until] of this.#sessions) if (until <= now) this.#sessions.delete(k);
    while (this.#sessions.size >= MAX_SESSIONS) this.#sessions.delete(this.#sessions.keys().next().value!);
    const session = randomBytes(32).toString('hex');
    this.#sessions.set(digest(session), now + SESSION_TTL_MS);
    const secure = req.headers['x-forwarded-proto'] === 'https';
    return `${SESSION_COOKIE}=${session}; Path=/; Max-Age=${SESSION_TTL_MS / 1000}; HttpOnly; SameSite=Strict${secure ? '; Secure' : ''}`;
  }

  /** End the request's session (it no longer works, even if the cookie was kept) and clear the cookie. */
  logout(req: http.IncomingMessage): string {
    const c = cookieValue(req.headers.cookie, SESSION_COOKIE);
    if (c) this.#sessions.delete(digest(c));
    return `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0`;
  }
}
