// S3-style pre-signed URLs for STAC asset hrefs (SigV4 query parameters, simplified signature):
// `GET <storage>/<bucket>/<key>?X-Amz-Algorithm=…&X-Amz-Credential=…&X-Amz-Date=YYYYMMDDTHHMMSSZ
//  &X-Amz-Expires=<seconds>&X-Amz-SignedHeaders=host&X-Amz-Signature=<hex>`.
// Like S3, the signature covers the method: a URL signed for GET refuses HEAD.
import { createHmac, timingSafeEqual } from 'node:crypto';

export const STAC_BUCKET = 'constellr-lst';
const REGION = 'eu-central-1';
const MAX_EXPIRES = 604_800; // S3's limit: 7 days

function encodeKeyPath(key: string): string {
  return key.split('/').map(encodeURIComponent).join('/');
}

function amzDate(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 19).replace(/[-:]/g, '')}Z`;
}

function parseAmzDate(s: string): number | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(s);
  if (!m) return undefined;
  const ms = Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!);
  return Number.isFinite(ms) ? ms : undefined;
}

export type PresignCheck =
  | { ok: true; key: string }
  | { ok: false; status: 400 | 403; code: string; message: string };

export class Presigner {
  constructor(
    private readonly secret: Buffer,
    private readonly accessKey = 'ASIASIMULATORKEY0001',
  ) {}

  private sign(method: string, key: string, date: string, expires: string): string {
    return createHmac('sha256', this.secret).update(`${method}\n/${STAC_BUCKET}/${key}\n${date}\n${expires}`).digest('hex');
  }

  /** URL for `key` on the storage origin, valid for `ttlSeconds` from `nowMs`. */
  url(storageOrigin: string, key: string, nowMs: number, ttlSeconds: number): string {
    const date = amzDate(Math.floor(nowMs / 1000) * 1000);
    const expires = String(Math.min(MAX_EXPIRES, Math.max(1, Math.floor(ttlSeconds))));
    const q = new URLSearchParams({
      'X-Amz-Algorithm': 'AWS4-HMAC-SHA256',
      'X-Amz-Credential': `${this.accessKey}/${date.slice(0, 8)}/${REGION}/s3/aws4_request`,
      'X-Amz-Date': date,
      'X-Amz-Expires': expires,
      'X-Amz-SignedHeaders': 'host',
      'X-Amz-Signature': this.sign('GET', key, date, expires),
    });
    return `${storageOrigin}/${STAC_BUCKET}/${encodeKeyPath(key)}?${q.toString()}`;
  }

  /** True when the query carries SigV4 parameters (so the request is for a STAC asset). */
  static isPresigned(q: URLSearchParams): boolean {
    return q.has('X-Amz-Signature') || q.has('X-Amz-Algorithm');
  }

  /** Check a request for `/<bucket>/<key>` (decoded path without the leading slash). */
  check(method: string, decodedPath: string, q: URLSearchParams, nowMs: number): PresignCheck {
    const prefix = `${STAC_BUCKET}/`;
    if (!decodedPath.startsWith(prefix)) return { ok: false, status: 403, code: 'AccessDenied', message: 'Access Denied' };
    const key = decodedPath.slice(prefix.length);
    const date = q.get('X-Amz-Date');
    const expires = q.get('X-Amz-Expires');
    const sig = q.get('X-Amz-Signature');
    if (q.get('X-Amz-Algorithm') !== 'AWS4-HMAC-SHA256' || !date || !expires || !sig) {
      return { ok: false, status: 400, code: 'AuthorizationQueryParametersError', message: 'Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.' };
    }
    const signedAt = parseAmzDate(date);
    if (signedAt === undefined || !/^\d{1,6}$/.test(expires) || Number(expires) > MAX_EXPIRES) {
      return { ok: false, status: 400, code: 'AuthorizationQueryParametersError', message: 'X-Amz-Date or X-Amz-Expires is malformed' };
    }
    const want = Buffer.from(this.sign(method, key, date, expires));
    const got = Buffer.from(sig);
    if (want.length !== got.length || !timingSafeEqual(want, got)) {
      return { ok: false, status: 403, code: 'SignatureDoesNotMatch', message: 'The request signature we calculated does not match the signature you provided. Check your key and signing method.' };
    }
    if (nowMs >= signedAt + Number(expires) * 1000) {
      return { ok: false, status: 403, code: 'AccessDenied', message: 'Request has expired' };
    }
    return { ok: true, key };
  }
}
