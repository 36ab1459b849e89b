// The transport stays on HTTP/1.1 where a TLS server offers HTTP/2 (ALPN h2): undici 8 would switch,
// and one connection per concurrent download (`connections`), the timeouts and the error codes that
// src/errors.ts maps are HTTP/1.1's (src/api/dispatcher.ts, allowH2: false).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDispatcher } from '../../src/api/dispatcher.js';

let server: http2.Http2SecureServer;
let url: string;
const tmp = mkdtempSync(path.join(os.tmpdir(), 'dispatcher-h1-'));
const savedReject = process.env.NODE_TLS_REJECT_UNAUTHORIZED;

beforeAll(async () => {
  // a throw-away self-signed certificate for 127.0.0.1
  const key = path.join(tmp, 'key.pem');
  const cert = path.join(tmp, 'cert.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
    '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert], { stdio: 'pipe' });
  server = http2.createSecureServer({ key: readFileSync(key), cert: readFileSync(cert), allowHTTP1: true }, (req, res) => {
    res.end(JSON.stringify({ httpVersion: req.httpVersion }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  // the dispatcher has no TLS options: accept the self-signed certificate for this file's requests
  process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0';
});

afterAll(async () => {
  if (savedReject === undefined) delete process.env.NODE_TLS_REJECT_UNAUTHORIZED;
  else process.env.NODE_TLS_REJECT_UNAUTHORIZED = savedReject;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  rmSync(tmp, { recursive: true, force: true });
});

describe('the HTTP transport', () => {
  it('speaks HTTP/1.1 to a TLS server that offers HTTP/2', async () => {
    const dispatcher = createDispatcher({ connectTimeoutMs: 5000, headersTimeoutMs: 5000, bodyIdleTimeoutMs: 5000, maxRedirects: 5, connections: 2 });
    try {
      const res = await request(url, { dispatcher });
      expect(await res.body.json()).toEqual({ httpVersion: '1.1' });
    } finally {
      await dispatcher.close();
    }
  });
});
