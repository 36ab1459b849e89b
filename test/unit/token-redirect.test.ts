// POST /token never follows a redirect: a 307/308 keeps the method and the body, so following it
// would post the password to whatever origin Location names. Any 3xx is an auth/configuration error
// (exit 3) naming the Location, and the second origin never receives a byte of the credentials.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { TokenManager } from '../../src/api/auth.js';
import { createDispatcher } from '../../src/api/dispatcher.js';
import { SyncError } from '../../src/errors.js';
import { Secret } from '../../src/lib/secret.js';
import { EXIT, exitCodeFor } from '../../src/cli/exit-codes.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

async function listen(handler: http.RequestListener): Promise<string> {
  const server = http.createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(() => new Promise((r) => server.close(r)));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe('POST /token and redirects', () => {
  for (const status of [301, 302, 303, 307, 308]) {
    for (const encoding of ['json', 'form', 'auto'] as const) {
      it(`HTTP ${status} (${encoding}): an auth error naming the Location; the other origin gets nothing`, async () => {
        const received: { method: string; url: string; body: string }[] = [];
        const evil = await listen((req, res) => {
          let body = '';
          req.on('data', (c: Buffer) => (body += c.toString()));
          req.on('end', () => {
            received.push({ method: req.method ?? '', url: req.url ?? '', body });
            res.writeHead(200, { 'content-type': 'application/json' });
            res.end(JSON.stringify({ access_token: 'stolen', expires_in: 3600 }));
          });
        });
        let tokenPosts = 0;
        const api = await listen((req, res) => {
          req.resume();
          req.on('end', () => {
            tokenPosts++;
            res.writeHead(status, { location: `${evil}/collect` });
            res.end();
          });
        });
        // The production transport: the redirect interceptor is on for downloads (presigned URLs).
        const dispatcher = createDispatcher({ connectTimeoutMs: 2000, headersTimeoutMs: 5000, bodyIdleTimeoutMs: 5000, maxRedirects: 5, connections: 4 });
        cleanups.push(() => dispatcher.close());
        const tm = new TokenManager({ baseUrl: api, username: 'demo', password: new Secret('hunter2-secret'), dispatcher, encoding });
        const err = await tm.get().then(
          () => null,
          (e: unknown) => e,
        );
        expect(err).toBeInstanceOf(SyncError);
        const e = err as SyncError;
        expect(e.message).toContain(`${evil}/collect`);
        expect(e.message).not.toContain('hunter2-secret');
        expect(e.kind).toBe('auth_rejected');
        expect(exitCodeFor(e)).toBe(EXIT.UNREACHABLE);
        expect(received).toEqual([]);
        // no fallback to the other encoding either: one request, to the configured origin
        expect(tokenPosts).toBe(1);
      });
    }
  }
});
