// The storage server: S3-like origin for pre-signed URLs, the asset API's (redirect mode: `exp` and
// `sig` query parameters) and the STAC assets' (X-Amz-* signatures). Answers in S3's XML error
// shape and refuses any request that also carries API credentials.
import { type SimContext, sleep } from './context.js';
import { assetUrlSignature, countDownload, serveContent } from './downloads.js';
import { injected, rateFault } from './faults.js';
import { type Req, type Res, safeDecode, sendXml, splitUrl } from './route-helpers.js';
import { Presigner } from './stac/presign.js';

export async function handleStorage(ctx: SimContext, req: Req, res: Res): Promise<void> {
  const { faults, stats } = ctx;
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    return sendXml(res, 405, 'MethodNotAllowed', 'The specified method is not allowed against this resource.');
  }
  const { path, query } = splitUrl(req.url);
  const q = new URLSearchParams(query);
  const decoded = safeDecode(path.slice(1));
  const stacReq = ctx.stac !== undefined && Presigner.isPresigned(q);
  const stacCheck = stacReq && decoded !== null ? ctx.presigner.check(req.method ?? 'GET', decoded, q, ctx.clock()) : null;
  const key = stacCheck?.ok ? stacCheck.key : decoded;
  const isGet = req.method === 'GET';
  if (isGet) countDownload(ctx, key);
  else stats.headRequests++;
  if (faults.latencyMs > 0) await sleep(ctx, faults.latencyMs);
  if (req.headers.authorization !== undefined || req.headers['x-api-key'] !== undefined) {
    stats.storageCredentialRejects++;
    return sendXml(res, 400, 'InvalidArgument', 'Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified');
  }
  if (stacReq) return serveStacObject(ctx, req, res, stacCheck);
  const sig = q.get('sig');
  const exp = q.get('exp');
  if (!sig || !exp || !key) {
    return sendXml(res, 403, 'AccessDenied', 'Query-string authentication requires the sig and exp parameters');
  }
  const expected = assetUrlSignature(ctx, String(req.method), key, exp);
  if (sig !== expected) {
    return sendXml(res, 403, 'SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided.');
  }
  if (!/^\d+$/.test(exp) || ctx.clock() >= Number(exp) * 1000) {
    return sendXml(res, 403, 'AccessDenied', 'Request has expired');
  }
  if (rateFault(ctx, res, true)) return;
  if (ctx.notFound.has(key)) {
    injected(ctx, 'notFound');
    return sendXml(res, 404, 'NoSuchKey', 'The specified key does not exist.');
  }
  const asset = ctx.inventory.get(key);
  if (!asset) return sendXml(res, 404, 'NoSuchKey', 'The specified key does not exist.');
  await serveContent(ctx, req, res, asset, true);
}

/** A pre-signed STAC asset URL (signature already checked): faults, then the bytes. */
async function serveStacObject(ctx: SimContext, req: Req, res: Res, check: ReturnType<Presigner['check']> | null): Promise<void> {
  if (!check) return sendXml(res, 403, 'AccessDenied', 'Access Denied');
  if (!check.ok) return sendXml(res, check.status, check.code, check.message);
  if (rateFault(ctx, res, true)) return;
  if (ctx.notFound.has(check.key)) {
    injected(ctx, 'notFound');
    return sendXml(res, 404, 'NoSuchKey', 'The specified key does not exist.');
  }
  // An opaque href (knob opaqueHrefs) names an object version by id; the file's name is the object's.
  const key = ctx.stac?.objectKey(check.key);
  const obj = key === undefined ? undefined : ctx.stac?.objects.get(key);
  if (!obj || key === undefined) return sendXml(res, 404, 'NoSuchKey', 'The specified key does not exist.');
  const name = key.slice(key.lastIndexOf('/') + 1);
  const type = name.endsWith('.tiff') || name.endsWith('.tif') ? 'image/tiff' : name.endsWith('.json') ? 'application/json' : 'application/octet-stream';
  const ascii = name.replace(/[^\x20-\x7e]|["\\]/g, '_');
  await serveContent(ctx, req, res, obj, true, {
    'Content-Type': type,
    ...(ctx.stac?.knobs.contentDisposition === false ? {} : { 'Content-Disposition': `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(name)}` }),
  });
}
