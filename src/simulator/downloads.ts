// GET/HEAD /assets/{key}: range-capable downloads (Range, If-Range, ETag, Last-Modified) with the
// body faults (reset, truncation, throttling), served here or, in redirect mode, as a 302 to a
// pre-signed URL on the storage server. serveContent is shared with the storage server.
import { createHmac } from 'node:crypto';
import type http from 'node:http';
import type { Asset } from './inventory.js';
import { fillContent } from './content.js';
import { type SimContext, bumpMap, sleep } from './context.js';
import { injected, rateFault } from './faults.js';
import { type Req, type Res, drained, encodeKeyPath, httpDate, safeDecode, sendJson, sendXml } from './route-helpers.js';
import { authenticate } from './token.js';

const WRITE_SIZE = 256 * 1024;

type RangeResult = { start: number; end: number } | 'unsatisfiable' | null;

/** RFC 9110 single byte range; null means "ignore the header" (serve 200). */
export function parseRange(header: string, size: number): RangeResult {
  const m = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  if (!m) return null;
  const [, a = '', b = ''] = m;
  if (a === '' && b === '') return null;
  if (a === '') {
    const n = Number(b);
    if (n === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(a);
  if (b !== '' && Number(b) < start) return null;
  if (start >= size) return 'unsatisfiable';
  const end = b === '' ? size - 1 : Math.min(Number(b), size - 1);
  return { start, end };
}

export function countDownload(ctx: SimContext, key: string | null): void {
  ctx.stats.downloadRequests++;
  if (key) bumpMap(ctx.stats.downloadsByKey, key);
}

/** The signature of an asset-API pre-signed storage URL (checked by the storage server). */
export function assetUrlSignature(ctx: SimContext, method: string, key: string, exp: string | number): string {
  return createHmac('sha256', ctx.secret).update(`${method}\n${key}\n${exp}`).digest('hex');
}

function presign(ctx: SimContext, method: string, key: string): string {
  const exp = Math.floor((ctx.clock() + ctx.settings.presignTtlMs) / 1000);
  const sig = assetUrlSignature(ctx, method, key, exp);
  return `${ctx.urls.storage}/${encodeKeyPath(key)}?exp=${exp}&sig=${sig}`;
}

function ifRangeMatches(req: Req, asset: Asset): boolean {
  const v = req.headers['if-range'];
  if (v === undefined) return true;
  const t = String(v).trim();
  if (t.startsWith('"') || t.startsWith('W/')) return t === asset.etag; // strong comparison: weak never matches
  return t === httpDate(asset.lastModifiedMs);
}

/** Send an asset's bytes (or a range of them), with the body faults applied. */
export async function serveContent(ctx: SimContext, req: Req, res: Res, asset: Asset, xml: boolean, extraHeaders: http.OutgoingHttpHeaders = {}): Promise<void> {
  const { faults, stats, rng } = ctx;
  const size = asset.size;
  let status = 200;
  let start = 0;
  let end = size - 1;
  const rangeHeader = req.headers.range;
  if (rangeHeader !== undefined && ifRangeMatches(req, asset)) {
    const r = parseRange(rangeHeader, size);
    if (r === 'unsatisfiable') {
      const h = { 'Content-Range': `bytes */${size}` };
      if (xml) sendXml(res, 416, 'InvalidRange', 'The requested range is not satisfiable', h);
      else sendJson(res, 416, { detail: 'Requested Range Not Satisfiable' }, h);
      return;
    }
    if (r) {
      status = 206;
      start = r.start;
      end = r.end;
    }
  }
  const len = Math.max(0, end - start + 1);
  const headers: http.OutgoingHttpHeaders = { 'Content-Type': 'application/octet-stream', 'Accept-Ranges': 'bytes' };
  if (!faults.omitEtag) headers.ETag = asset.etag;
  if (!faults.omitLastModified) headers['Last-Modified'] = httpDate(asset.lastModifiedMs);
  Object.assign(headers, extraHeaders);
  if (status === 206) headers['Content-Range'] = `bytes ${start}-${end}/${size}`;
  const isHead = req.method === 'HEAD';
  let cutoff = start + len; // absolute end (exclusive) of what is actually sent
  let mode: 'full' | 'reset' | 'truncate' = 'full';
  if (!isHead && len > 0) {
    const r = rng.next();
    if (r < faults.resetRate) mode = 'reset';
    else if (r < faults.resetRate + faults.truncateRate) mode = 'truncate';
    if (mode !== 'full') {
      cutoff = start + Math.floor(rng.next() * len);
      injected(ctx, mode);
    }
  }
  if (mode === 'truncate') {
    // close-delimited body: no Content-Length and no chunked encoding, ends with FIN
    res.useChunkedEncodingByDefault = false;
    res.shouldKeepAlive = false;
    headers.Connection = 'close';
  } else {
    headers['Content-Length'] = len;
  }
  res.writeHead(status, headers);
  if (isHead) {
    res.end();
    return;
  }
  const body = { start, end: start };
  const bodies = stats.bodiesByKey.get(asset.key);
  if (bodies) bodies.push(body);
  else stats.bodiesByKey.set(asset.key, [body]);
  let pos = start;
  let lastFlush: Promise<void> = Promise.resolve();
  while (pos < cutoff) {
    if (ctx.closed || res.destroyed) return;
    let n = Math.min(WRITE_SIZE, cutoff - pos);
    const bps = faults.bodyBytesPerSecond;
    if (bps > 0) n = Math.min(n, Math.max(1, Math.floor(bps / 20)));
    const buf = fillContent(asset.seed, pos, Buffer.allocUnsafe(n));
    pos += n;
    let ok = true;
    lastFlush = new Promise<void>((resolve) => {
      ok = res.write(buf, (err) => {
        if (!err) {
          stats.bytesServed += n;
          body.end += n;
        }
        resolve();
      });
    });
    if (bps > 0) await sleep(ctx, (n / bps) * 1000);
    // 'drain' may already have fired during the throttle sleep: ask the stream, not the old `ok`
    if (!ok && res.writableNeedDrain && !res.destroyed) await drained(res);
  }
  if (ctx.closed || res.destroyed) return;
  if (mode === 'reset') {
    // flush what was written, then RST so the client sees ECONNRESET mid-body
    await Promise.race([lastFlush, drained(res)]);
    const sock = res.socket;
    if (sock && !sock.destroyed) sock.resetAndDestroy();
    return;
  }
  res.end(() => {
    if (mode === 'full') bumpMap(stats.completedDownloadsByKey, asset.key);
  });
}

export async function handleApiDownload(ctx: SimContext, req: Req, res: Res, rawKey: string): Promise<void> {
  const { faults, stats } = ctx;
  const redirect = ctx.settings.redirect;
  const isGet = req.method === 'GET';
  const key = safeDecode(rawKey);
  if (!isGet) stats.headRequests++;
  else if (!redirect) countDownload(ctx, key);
  if (faults.latencyMs > 0) await sleep(ctx, faults.latencyMs);
  if (rateFault(ctx, res, false)) return;
  if (!authenticate(ctx, req, res, 'assets')) return;
  if (!key) return sendJson(res, 404, { detail: 'Not found' });
  if (redirect) {
    // presigners do not check existence: a missing key surfaces as an XML 404 at storage
    if (isGet) stats.redirects++;
    res.writeHead(302, { Location: presign(ctx, req.method ?? 'GET', key), 'Content-Length': 0 });
    res.end();
    return;
  }
  if (ctx.notFound.has(key)) {
    injected(ctx, 'notFound');
    return sendJson(res, 404, { detail: 'Not found' });
  }
  const asset = ctx.inventory.get(key);
  if (!asset) return sendJson(res, 404, { detail: 'Not found' });
  await serveContent(ctx, req, res, asset, false);
}
