// The operations endpoint (node:http): GET /healthz (liveness), GET /readyz (readiness, with a JSON
// reason) and GET /metrics (Prometheus text format). Read-only, no authentication: it binds to
// 127.0.0.1 by default; publish it deliberately (0.0.0.0 in a container).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import cron from 'node-cron';
import type { Logger } from '../lib/logger.js';
import type { SyncMetrics } from './metrics.js';

/** What readiness is computed from (the engine provides it; tests can fake it). */
export interface ReadinessSource {
  /** The last successful poll of this process (epoch ms), null before the first one. */
  lastSuccessfulPollAt(): number | null;
  /** The last poll of this process, successful or not. */
  lastPoll(): { ok: boolean; at: number; errorClass?: string } | null;
  /** True while the API rejects the credentials. */
  authFailed(): boolean;
  /** Reasons the download gate is closed (informational). */
  gateReasons?(): readonly string[];
  /** When the next scheduled poll is due (epoch ms): a failed poll is retried then. */
  nextPollAt?(): number | null;
}

export interface ReadinessOptions {
  /** Ready only if the last successful poll is at most this many schedule intervals old. */
  intervals: number;
  /** The schedule interval (ms); see scheduleIntervalMs. */
  intervalMs: number;
  clock?: () => number;
}

export interface Readiness {
  ready: boolean;
  reason: string;
  lastSuccessfulPoll: string | null;
  lastPoll: { ok: boolean; at: string; errorClass?: string } | null;
  maxPollAgeSeconds: number;
  authFailed: boolean;
  paused: readonly string[];
  /** The next scheduled poll (ISO 8601), when known. */
  nextPoll: string | null;
}

export function readiness(src: ReadinessSource, o: ReadinessOptions): Readiness {
  const now = (o.clock ?? Date.now)();
  const maxAge = o.intervals * o.intervalMs;
  const okAt = src.lastSuccessfulPollAt();
  const last = src.lastPoll();
  const base = {
    lastSuccessfulPoll: okAt === null ? null : new Date(okAt).toISOString(),
    lastPoll: last ? { ok: last.ok, at: new Date(last.at).toISOString(), ...(last.errorClass ? { errorClass: last.errorClass } : {}) } : null,
    maxPollAgeSeconds: Math.round(maxAge / 1000),
    authFailed: src.authFailed(),
    paused: src.gateReasons?.() ?? [],
    nextPoll: iso(src.nextPollAt?.() ?? null),
  };
  // A failed poll is not the end: say when the daemon tries again.
  const retrying = last && !last.ok && base.nextPoll ? `; retrying at the next poll (${base.nextPoll})` : '';
  if (base.authFailed) return { ready: false, reason: 'the API rejects the credentials (auth_failed)', ...base };
  if (okAt === null) {
    return { ready: false, reason: last ? `no successful poll yet; the last one failed (${last.errorClass ?? 'error'})${retrying}` : 'starting: the first poll has not finished', ...base };
  }
  const age = now - okAt;
  if (age > maxAge) {
    return { ready: false, reason: `the last successful poll was ${Math.round(age / 1000)} s ago (more than ${o.intervals} schedule intervals)${retrying}`, ...base };
  }
  return { ready: true, reason: 'ok', ...base };
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** When a cron schedule next fires after now (epoch ms). */
export function nextScheduledRun(expression: string, timezone: string): number | null {
  const task = cron.createTask(expression, () => undefined, { timezone, name: `constellr-sync-next-${Math.random().toString(36).slice(2)}` });
  try {
    return task.getNextRuns(1)[0]?.getTime() ?? null;
  } catch {
    return null;
  } finally {
    void task.destroy();
  }
}

/**
 * The longest gap between two consecutive runs of a cron schedule over its next `samples` runs: for
 * a regular schedule that is its interval, for an irregular one the worst case.
 */
export function scheduleIntervalMs(expression: string, timezone: string, samples = 12): number {
  const task = cron.createTask(expression, () => undefined, { timezone, name: `constellr-sync-interval-${Math.random().toString(36).slice(2)}` });
  try {
    const runs = task.getNextRuns(samples + 1).map((d) => d.getTime());
    let max = 0;
    for (let i = 1; i < runs.length; i++) max = Math.max(max, runs[i]! - runs[i - 1]!);
    return max > 0 ? max : 5 * 60_000;
  } finally {
    void task.destroy();
  }
}

/** Parse host:port ([::1]:9464 for IPv6). */
export function parseListen(listen: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(listen);
  if (!m) throw new Error(`not host:port: ${listen}`);
  const port = Number(m[3]);
  if (port > 65535) throw new Error(`port out of range: ${listen}`);
  return { host: (m[1] ?? m[2])!, port };
}

export interface OpsServerOptions {
  listen: string;
  metrics: SyncMetrics;
  readiness: () => Readiness;
  logger: Logger;
  /** More routes (the status page); returns false for paths it does not serve. */
  routes?: (req: http.IncomingMessage, res: http.ServerResponse) => boolean;
}

export interface OpsServer {
  /** http://host:port of the bound socket (the real port when 0 was asked). */
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

function send(res: http.ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
  res.end(body);
}

/** Start the endpoint; rejects when the address cannot be bound (EADDRINUSE, EACCES). */
export async function startOpsServer(o: OpsServerOptions): Promise<OpsServer> {
  const { host, port } = parseListen(o.listen);
  const log = o.logger.child({ component: 'http' });
  const server = http.createServer((req, res) => {
    const url = (req.url ?? '/').split('?')[0];
    const own = url === '/healthz' || url === '/readyz' || url === '/metrics';
    if (!own && o.routes) {
      try {
        if (o.routes(req, res)) return;
      } catch (e) {
        log.error({ err: e }, 'request failed');
        return send(res, 500, 'text/plain; charset=utf-8', 'internal error\n');
      }
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      return send(res, 405, 'text/plain; charset=utf-8', 'method not allowed\n');
    }
    if (url === '/healthz') return send(res, 200, 'application/json', '{"status":"ok"}\n');
    if (url === '/readyz') {
      let r: Readiness;
      try {
        r = o.readiness();
      } catch (e) {
        return send(res, 503, 'application/json', `${JSON.stringify({ ready: false, reason: `readiness check failed: ${(e as Error).message}` })}\n`);
      }
      return send(res, r.ready ? 200 : 503, 'application/json', `${JSON.stringify(r)}\n`);
    }
    if (url === '/metrics') {
      o.metrics.render().then(
        (text) => send(res, 200, o.metrics.contentType(), text),
        (e: unknown) => {
          log.error({ err: e }, 'metrics collection failed');
          send(res, 500, 'text/plain; charset=utf-8', 'metrics collection failed\n');
        },
      );
      return;
    }
    send(res, 404, 'text/plain; charset=utf-8', 'not found: try /healthz, /readyz or /metrics\n');
  });
  server.keepAliveTimeout = 5000;
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (e) => log.error({ err: e }, 'ops endpoint error'));
  const addr = server.address() as AddressInfo;
  const shownHost = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  const url = `http://${shownHost}:${addr.port}`;
  log.info({ url }, o.routes ? 'ops endpoint listening (status page at /, /api/status, /healthz, /readyz, /metrics)' : 'ops endpoint listening (/healthz, /readyz, /metrics)');
  return {
    url,
    port: addr.port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
