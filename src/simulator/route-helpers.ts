// What every simulator route shares: request and response types, the answer writers (JSON for the
// API, S3-style XML for storage), body reading and the small URL and date helpers.
import { randomBytes } from 'node:crypto';
import type http from 'node:http';

export type Req = http.IncomingMessage;
export type Res = http.ServerResponse;

const MAX_BODY = 64 * 1024 * 1024;

/** Thrown by a route to answer `{detail}` with this status (the server's catch-all writes it). */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export function b64url(s: string | Buffer): string {
  return Buffer.from(s).toString('base64url');
}

export function sendBody(res: Res, status: number, contentType: string, body: string, headers: http.OutgoingHttpHeaders = {}): void {
  if (res.headersSent || res.destroyed) return;
  const buf = Buffer.from(body);
  res.writeHead(status, { ...headers, 'Content-Type': contentType, 'Content-Length': buf.length });
  res.end(buf);
}

export function sendJson(res: Res, status: number, body: unknown, headers: http.OutgoingHttpHeaders = {}): void {
  sendBody(res, status, 'application/json', typeof body === 'string' ? body : JSON.stringify(body), headers);
}

export function sendXml(res: Res, status: number, code: string, message: string, headers: http.OutgoingHttpHeaders = {}): void {
  const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message><RequestId>${randomBytes(8).toString('hex').toUpperCase()}</RequestId></Error>`;
  sendBody(res, status, 'application/xml', body, headers);
}

export function readBody(req: Req): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let n = 0;
    req.on('data', (c: Buffer) => {
      n += c.length;
      if (n > MAX_BODY) {
        reject(new HttpError(413, 'body too large'));
        req.destroy();
        return;
      }
      parts.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(parts)));
    req.on('error', reject);
  });
}

/** Resolves when the response can take more bytes, or is closed. */
export function drained(res: Res): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

export function splitUrl(raw: string | undefined): { path: string; query: string } {
  const url = raw ?? '/';
  const qi = url.indexOf('?');
  return qi < 0 ? { path: url, query: '' } : { path: url.slice(0, qi), query: url.slice(qi + 1) };
}

export function safeDecode(s: string): string | null {
  try {
    return decodeURIComponent(s);
  } catch {
    return null;
  }
}

/** Each `/`-separated segment percent-encoded, as a careful client would send it. */
export function encodeKeyPath(key: string): string {
  return key.split('/').map(encodeURIComponent).join('/');
}

export function contentTypeOf(req: Req): string {
  return (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
}

export function httpDate(ms: number): string {
  return new Date(ms).toUTCString();
}

export function isoSeconds(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 19)}Z`;
}
