// The status page's HTTP routes on the operations listener:
//   GET  /                         the page (login form when a token is set and not given)
//   GET  /assets/<module>.js       the page's browser module and what it imports (page-assets.ts)
//   GET  /api/status               the JSON (see api.ts); 401 without the token when one is set
//   POST /api/actions/retry-failed queue every failed asset again (like `constellr-sync retry`)
//   POST /api/actions/poll-now     poll now, outside the schedule
//   POST /login, POST /logout      the browser session (a random value per login in an HttpOnly cookie)
// The assets need what the page needs (the token or the session cookie, which a module request
// carries). Actions answer 403 when no token is set; without a token every route answers 403 to a Host header
// that does not name this listener (DNS rebinding). /healthz, /readyz and /metrics are not handled here.
import type http from 'node:http';
import type { Logger } from '../../lib/logger.js';
import type { HttpAuth } from '../http-auth.js';
import { parseProblemFilter, type ApiStatus, type ProblemFilter } from './api.js';
import { browserAsset } from './page-assets.js';
import { renderLogin, renderPage } from './page.js';

export interface StatusRouteDeps {
  auth: HttpAuth;
  build(filter: ProblemFilter): Promise<ApiStatus>;
  /** Queue failed jobs again; returns how many. */
  retryFailed(): Promise<number>;
  pollNow(): 'started' | 'running' | 'not_poller' | 'stopped';
  logger: Logger;
}

const MAX_FORM_BYTES = 4096;

function send(res: http.ServerResponse, status: number, type: string, body: string, headers: http.OutgoingHttpHeaders = {}): void {
  res.writeHead(status, {
    'content-type': type,
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    ...headers,
  });
  res.end(body);
}

/** The page allows only its own inline style and its own scripts; nothing loads from anywhere else. */
const HTML_HEADERS: http.OutgoingHttpHeaders = {
  'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; script-src 'self'; connect-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
};

const json = (res: http.ServerResponse, status: number, body: unknown) => send(res, status, 'application/json', `${JSON.stringify(body)}\n`);

function readForm(req: http.IncomingMessage): Promise<URLSearchParams | null> {
  return new Promise((resolve) => {
    let size = 0;
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_FORM_BYTES) {
        resolve(null);
        req.destroy();
        return;
      }
      parts.push(c);
    });
    req.on('end', () => resolve(new URLSearchParams(Buffer.concat(parts).toString('utf8'))));
    req.on('error', () => resolve(null));
  });
}

/** Handle a status-page request; false when the path is not one of ours. */
export function handleStatusRoute(d: StatusRouteDeps, req: http.IncomingMessage, res: http.ServerResponse): boolean {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const path = url.pathname;
  const method = req.method ?? 'GET';
  const isGet = method === 'GET' || method === 'HEAD';
  const fail = (e: unknown) => {
    d.logger.error({ err: e }, 'status page request failed');
    if (!res.headersSent) json(res, 500, { error: 'internal error; see the daemon log' });
  };

  const ours = path === '/' || path === '/index.html' || path === '/api/status' || path.startsWith('/assets/') || path.startsWith('/api/actions/') || path === '/login' || path === '/logout';
  if (ours && !d.auth.hostAllowed(req)) {
    send(res, 403, 'text/plain; charset=utf-8', 'unknown Host: open the page at the address it listens on (http.listen), or set http.token to serve it under another name\n');
    return true;
  }
  const throttled = () => send(res, 429, 'text/html; charset=utf-8', renderLogin('Too many wrong tokens; wait a minute.'), { ...HTML_HEADERS, 'retry-after': String(d.auth.retryAfterSeconds()) });

  if (path === '/' || path === '/index.html') {
    if (!isGet) return methodNotAllowed(res, 'GET, HEAD');
    const a = d.auth.check(req);
    if (!a.ok) {
      if (a.throttled) throttled();
      else send(res, 401, 'text/html; charset=utf-8', renderLogin(null), HTML_HEADERS);
      return true;
    }
    const filter = parseProblemFilter(url.searchParams);
    d.build(filter).then((data) => send(res, 200, 'text/html; charset=utf-8', renderPage(data, { actions: d.auth.enabled, loggedIn: a.via === 'cookie', filter }), HTML_HEADERS), fail);
    return true;
  }
  if (path.startsWith('/assets/')) {
    if (!isGet) return methodNotAllowed(res, 'GET, HEAD');
    const a = d.auth.check(req);
    if (!a.ok) {
      send(res, a.throttled ? 429 : 401, 'text/plain; charset=utf-8', 'log in first: the page\'s scripts need what the page needs\n', a.throttled ? { 'retry-after': String(d.auth.retryAfterSeconds()) } : {});
      return true;
    }
    const asset = browserAsset(path.slice('/assets/'.length));
    if (!asset) send(res, 404, 'text/plain; charset=utf-8', 'not found\n');
    else if (req.headers['if-none-match'] === asset.etag) {
      res.writeHead(304, { etag: asset.etag, 'cache-control': asset.cacheControl });
      res.end();
    } else send(res, 200, asset.type, asset.body, { etag: asset.etag, 'cache-control': asset.cacheControl });
    return true;
  }
  if (path === '/api/status') {
    if (!isGet) return methodNotAllowed(res, 'GET, HEAD');
    const a = d.auth.check(req);
    if (!a.ok) {
      if (a.throttled) send(res, 429, 'application/json', `${JSON.stringify({ error: 'too many wrong tokens from this address; wait a minute' })}\n`, { 'retry-after': String(d.auth.retryAfterSeconds()) });
      else json(res, 401, { error: 'a valid token is required (Authorization: Bearer <token>)' });
      return true;
    }
    d.build(parseProblemFilter(url.searchParams)).then((data) => json(res, 200, data), fail);
    return true;
  }
  if (path.startsWith('/api/actions/')) {
    if (method !== 'POST') return methodNotAllowed(res, 'POST');
    const ok = d.auth.checkAction(req);
    if (!ok.ok) {
      send(res, ok.status, 'application/json', `${JSON.stringify({ error: ok.message, message: ok.message })}\n`, ok.status === 429 ? { 'retry-after': String(d.auth.retryAfterSeconds()) } : {});
      return true;
    }
    const action = path.slice('/api/actions/'.length);
    if (action === 'retry-failed') {
      d.retryFailed().then((n) => {
        d.logger.info({ requeued: n, via: 'status page' }, 'failed assets queued again');
        json(res, 200, { requeued: n, message: n === 0 ? 'no failed assets to retry' : `${n} failed asset${n === 1 ? '' : 's'} queued again` });
      }, fail);
      return true;
    }
    if (action === 'poll-now') {
      const r = d.pollNow();
      d.logger.info({ result: r, via: 'status page' }, 'poll requested');
      const message = { started: 'poll started', running: 'a poll is already running', not_poller: 'another replica polls (it holds the poller lease)', stopped: 'the daemon is stopping' }[r];
      json(res, r === 'started' || r === 'running' ? 202 : 409, { poll: r, message });
      return true;
    }
    json(res, 404, { error: `unknown action: ${action.slice(0, 50)}` });
    return true;
  }
  if (path === '/login') {
    if (method !== 'POST') return methodNotAllowed(res, 'POST');
    readForm(req).then((form) => {
      const r = d.auth.login(req, form?.get('token') ?? '');
      if (r === 'disabled') return send(res, 303, 'text/plain; charset=utf-8', 'no token is set\n', { location: './' });
      if (r === 'throttled') return throttled();
      if (r === 'wrong') {
        d.logger.warn({ remote: req.socket.remoteAddress }, 'status page: wrong token at the login form');
        return send(res, 401, 'text/html; charset=utf-8', renderLogin('Wrong token.'), HTML_HEADERS);
      }
      send(res, 303, 'text/plain; charset=utf-8', 'logged in\n', { location: './', 'set-cookie': r });
    }, fail);
    return true;
  }
  if (path === '/logout') {
    if (method !== 'POST') return methodNotAllowed(res, 'POST');
    send(res, 303, 'text/plain; charset=utf-8', 'logged out\n', { location: './', 'set-cookie': d.auth.logout(req) });
    return true;
  }
  return false;
}

function methodNotAllowed(res: http.ServerResponse, allow: string): true {
  send(res, 405, 'text/plain; charset=utf-8', 'method not allowed\n', { allow });
  return true;
}
