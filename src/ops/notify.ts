// Notifications: a command hook and/or a webhook for each completed download (created, updated) and
// each local deletion. Events are written to the outbox table first, in the same transaction that
// marks the job done (the store's complete), and delivered from there by this notifier, so every event
// is delivered at least once across crashes and restarts. Delivery never blocks the mirror: it runs in
// its own loops with bounded concurrency, each hook run and each webhook request has a time limit, and
// failures are logged, counted and retried with backoff until notify.maxAttempts.
//
// Deletions (issue 4): call `recordDeletion(store, {...}, now)` once the local file is gone. It writes
// one row per configured sink and nothing when no sink is configured; the running notifier delivers it
// within notify's idle interval.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHmac } from 'node:crypto';
import path from 'node:path';
import { request, type Dispatcher } from 'undici';
import { parseRetryAfter } from '../lib/retry-after.js';
import { backoffDelay, type BackoffPolicy } from '../lib/backoff.js';
import type { Logger } from '../lib/logger.js';
import type { SyncMetrics } from './metrics.js';
import type { OutboxItem, OutboxSink, OutboxStore } from '../store/types.js';
import { Wakeup, timeoutSignal, timerDelay } from '../lib/timers.js';

/**
 * Environment variable names that never reach a hook (credentials of this process and of the tools it
 * talks to): anything naming a password, secret, token, credential or key (`*_KEY`, `API_KEY`,
 * `CONSTELLR_API_KEY`), database URLs (they carry passwords), the PostgreSQL password file, the API
 * user name; each also as its `*_FILE` twin, which names where the secret lives.
 */
export const SECRET_ENV = /PASSWORD|PASSWD|SECRET|TOKEN|CREDENTIAL|PRIVATE|(^|_)(API_?)?KEY(_FILE)?$|APIKEY|DATABASE_URL|^PGPASS|^CONSTELLR_USERNAME(_FILE)?$/i;
/** Bytes of a failing hook's stderr kept for the log line. */
const STDERR_TAIL = 2048;
/** How often a running notifier prunes the outbox. */
const PRUNE_EVERY_MS = 3_600_000;
/** After a timeout, SIGTERM first; SIGKILL when the hook ignores it this long. */
const KILL_GRACE_MS = 5000;

export interface HookSettings {
  /** argv; command[0] is resolved on PATH, no shell is involved. */
  command: readonly string[];
  concurrency: number;
  timeoutMs: number;
}

export interface WebhookSettings {
  url: string;
  concurrency: number;
  timeoutMs: number;
  /** HMAC-SHA256 key; when set, every request carries X-Constellr-Signature-256: sha256=<hex>. */
  secret?: { reveal(): string } | undefined;
  dispatcher?: Dispatcher;
}

export interface NotifierOptions {
  store: OutboxStore;
  logger: Logger;
  /** Absolute mirror root: CONSTELLR_PATH is the absolute path of the file. */
  root: string;
  clock?: () => number;
  metrics?: SyncMetrics;
  hook?: HookSettings | null;
  webhook?: WebhookSettings | null;
  retry: BackoffPolicy & { maxAttempts: number };
  /** The environment hooks inherit, minus credentials (the CLI passes process.env). */
  baseEnv?: NodeJS.ProcessEnv;
  /** How often idle loops look for due rows (a wake() is immediate). */
  idleMs?: number;
  /** Failed deliveries are kept this long, then pruned (notify.failedRetention). */
  failedRetentionMs?: number;
  random?: () => number;
}

/** Outcome of one delivery attempt. */
type Attempt = { ok: true } | { ok: false; reason: string; message: string; retryAfterMs?: number };

/** The JSON body of a webhook request (also documented in README "Notifications"). */
export interface WebhookPayload {
  event: OutboxItem['event'];
  key: string;
  path: string | null;
  size: number | null;
  lastModified: string | null;
  sha256: string | null;
  /** Stable across retries of this event to this sink: receivers deduplicate on it. */
  deliveryId: number;
  attempt: number;
  occurredAt: string;
}

export function webhookPayload(it: OutboxItem): WebhookPayload {
  return {
    event: it.event,
    key: it.key,
    path: it.path,
    size: it.size,
    lastModified: it.lastModifiedMs === null ? null : new Date(it.lastModifiedMs).toISOString(),
    sha256: it.sha256,
    deliveryId: it.id,
    attempt: it.attempts,
    occurredAt: new Date(it.createdAt).toISOString(),
  };
}

/** `sha256=<hex>` of HMAC-SHA256(secret, body): what X-Constellr-Signature-256 carries. */
export function signBody(secret: string, body: string | Buffer): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** The environment of one hook run: the inherited one without credentials, plus the event. */
export function hookEnv(it: OutboxItem, root: string, base: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(base)) if (v !== undefined && !SECRET_ENV.test(k)) env[k] = v;
  env.CONSTELLR_EVENT = it.event;
  env.CONSTELLR_KEY = it.key;
  env.CONSTELLR_PATH = it.path === null ? '' : path.join(root, it.path);
  env.CONSTELLR_SIZE = it.size === null ? '' : String(it.size);
  env.CONSTELLR_LAST_MODIFIED = it.lastModifiedMs === null ? '' : new Date(it.lastModifiedMs).toISOString();
  env.CONSTELLR_SHA256 = it.sha256 ?? '';
  return env;
}

/** Record a 'deleted' notification for a key whose local file was removed (see the header comment). */
export function recordDeletion(
  store: OutboxStore,
  d: { key: string; path: string | null; size?: number | null; lastModifiedMs?: number | null; sha256?: string | null },
  now: number,
): Promise<number> {
  return store.recordEvent({ event: 'deleted', key: d.key, path: d.path, size: d.size ?? null, lastModifiedMs: d.lastModifiedMs ?? null, sha256: d.sha256 ?? null }, now);
}

interface SinkLoop {
  sink: OutboxSink;
  concurrency: number;
  leaseMs: number;
  deliver: (it: OutboxItem, signal: AbortSignal) => Promise<Attempt>;
  inFlight: Map<number, Promise<void>>;
}

export class Notifier {
  readonly #o: NotifierOptions;
  readonly #clock: () => number;
  readonly #log: Logger;
  readonly #loops: SinkLoop[] = [];
  readonly #stop = new AbortController();
  /** Aborted after the grace period: running hooks are killed, webhook requests cancelled. */
  readonly #abort = new AbortController();
  readonly #wakeup = new Wakeup();
  #running: Promise<void>[] = [];
  #pruneTimer: NodeJS.Timeout | null = null;
  readonly children = new Set<ChildProcess>();

  constructor(o: NotifierOptions) {
    this.#o = o;
    this.#clock = o.clock ?? Date.now;
    this.#log = o.logger.child({ component: 'notify' });
    if (o.hook) {
      const h = o.hook;
      this.#loops.push({ sink: 'hook', concurrency: h.concurrency, leaseMs: h.timeoutMs + KILL_GRACE_MS + 60_000, deliver: (it, s) => this.#runHook(h, it, s), inFlight: new Map() });
    }
    if (o.webhook) {
      const w = o.webhook;
      this.#loops.push({ sink: 'webhook', concurrency: w.concurrency, leaseMs: w.timeoutMs + 60_000, deliver: (it, s) => this.#post(w, it, s), inFlight: new Map() });
    }
  }

  get enabled(): boolean {
    return this.#loops.length > 0;
  }

  /** Deliveries in flight over all sinks. */
  get inFlight(): number {
    return this.#loops.reduce((n, l) => n + l.inFlight.size, 0);
  }

  /**
   * Bound the outbox: failed rows older than notify.failedRetention go, and so do the rows of a sink
   * that is no longer configured (nothing would ever deliver them). Never throws.
   */
  async prune(): Promise<void> {
    try {
      const sinks = this.#loops.map((l) => l.sink);
      const r = await this.#o.store.pruneOutbox({ failedRetentionMs: this.#o.failedRetentionMs ?? 7 * 86_400_000, sinks, now: this.#clock() });
      for (const [sink, rows] of Object.entries(r.unconfigured)) {
        this.#log.warn({ sink, rows }, 'dropped notifications of a sink that is no longer configured');
      }
      if (r.failed > 0) this.#log.info({ rows: r.failed, retentionMs: this.#o.failedRetentionMs }, 'pruned failed notifications older than notify.failedRetention');
    } catch (e) {
      this.#log.warn({ err: e }, 'could not prune the notification outbox; trying again later');
    }
  }

  /** Start delivering (and pruning hourly). Deliveries left in flight by a dead process are due again at once. */
  async start(): Promise<void> {
    await this.prune();
    if (!this.enabled) return;
    this.#pruneTimer = setInterval(() => void this.prune(), PRUNE_EVERY_MS);
    this.#pruneTimer.unref();
    const n = await this.#o.store.releaseOutboxLeases(this.#clock());
    if (n > 0) this.#log.info({ deliveries: n }, 'redelivering notifications interrupted by a previous stop');
    for (const l of this.#loops) this.#running.push(this.#loop(l));
  }

  /** New rows may be due (a job was just marked done, a deletion recorded). */
  wake(): void {
    this.#wakeup.wake();
  }

  #sleep(ms: number): Promise<void> {
    return this.#wakeup.sleep(ms, this.#stop.signal);
  }

  async #loop(l: SinkLoop): Promise<void> {
    const idle = this.#o.idleMs ?? 1000;
    while (!this.#stop.signal.aborted) {
      try {
        const free = l.concurrency - l.inFlight.size;
        if (free > 0) {
          const now = this.#clock();
          const items = await this.#o.store.claimOutbox(l.sink, free, now, l.leaseMs);
          for (const it of items) {
            const p = this.#deliver(l, it).finally(() => {
              l.inFlight.delete(it.id);
              this.wake();
            });
            l.inFlight.set(it.id, p);
          }
          if (items.length === free) continue;
        }
        const next = await this.#o.store.nextOutboxAt(l.sink);
        const now = this.#clock();
        await this.#sleep(next === null ? idle : Math.min(idle, Math.max(5, next - now)));
      } catch (e) {
        // The loop never dies: log, back off, go on.
        this.#log.error({ err: e, sink: l.sink }, 'notification loop error; backing off');
        await this.#sleep(1000);
      }
    }
  }

  async #deliver(l: SinkLoop, it: OutboxItem): Promise<void> {
    let r: Attempt;
    try {
      r = await l.deliver(it, this.#abort.signal);
    } catch (e) {
      r = { ok: false, reason: 'error', message: (e as Error).message };
    }
    const log = this.#log.child({ sink: l.sink, key: it.key, event: it.event, deliveryId: it.id, attempt: it.attempts });
    try {
      if (r.ok) {
        await this.#o.store.ackOutbox(it.id);
        this.#o.metrics?.notifications.inc({ sink: l.sink, result: 'delivered' });
        log.debug('notification delivered');
        return;
      }
      if (this.#abort.signal.aborted) {
        // Shutdown: the row stays pending and is delivered again at the next start.
        log.info('notification interrupted by shutdown; it is delivered again at the next start');
        return;
      }
      const { retry } = this.#o;
      const now = this.#clock();
      const retryAfterMs = backoffDelay(retry, it.attempts, r.retryAfterMs, this.#o.random);
      const state = await this.#o.store.nackOutbox(it.id, { retryAfterMs, error: `${r.reason}: ${r.message}`, maxAttempts: retry.maxAttempts, now });
      this.#o.metrics?.notifications.inc({ sink: l.sink, result: state === 'failed' ? 'failed' : 'retry' });
      if (state === 'failed') log.error({ reason: r.reason, err: r.message }, 'notification failed after the last attempt; kept in the outbox as failed');
      else log.warn({ reason: r.reason, err: r.message, retryInMs: retryAfterMs }, 'notification failed; will retry');
    } catch (e) {
      log.error({ err: e }, 'could not record a notification outcome; it is delivered again later');
    }
  }

  #runHook(h: HookSettings, it: OutboxItem, signal: AbortSignal): Promise<Attempt> {
    const fail = (reason: 'exit' | 'timeout' | 'spawn', message: string): Attempt => {
      this.#o.metrics?.hookFailures.inc({ reason });
      return { ok: false, reason, message };
    };
    return new Promise<Attempt>((resolve) => {
      let child: ChildProcess;
      try {
        child = spawn(h.command[0]!, h.command.slice(1), {
          env: hookEnv(it, this.#o.root, this.#o.baseEnv),
          stdio: ['ignore', 'ignore', 'pipe'],
          shell: false,
          windowsHide: true,
        });
      } catch (e) {
        resolve(fail('spawn', (e as Error).message));
        return;
      }
      this.children.add(child);
      let tail = '';
      child.stderr?.setEncoding('utf8');
      child.stderr?.on('data', (d: string) => {
        tail = (tail + d).slice(-STDERR_TAIL);
      });
      let timedOut = false;
      let killTimer: NodeJS.Timeout | undefined;
      const kill = () => {
        child.kill('SIGTERM');
        killTimer = setTimeout(() => child.kill('SIGKILL'), KILL_GRACE_MS);
        killTimer.unref();
      };
      const timer = setTimeout(() => {
        timedOut = true;
        kill();
      }, timerDelay(h.timeoutMs));
      const onAbort = () => kill();
      signal.addEventListener('abort', onAbort, { once: true });
      let settled = false;
      const finish = (a: Attempt) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        clearTimeout(killTimer);
        signal.removeEventListener('abort', onAbort);
        this.children.delete(child);
        resolve(a);
      };
      child.on('error', (e: NodeJS.ErrnoException) => finish(fail('spawn', `${h.command[0]}: ${e.code ?? e.message}`)));
      child.on('close', (code, sig) => {
        if (timedOut) return finish(fail('timeout', `the hook ran longer than ${h.timeoutMs} ms and was killed`));
        if (code === 0) return finish({ ok: true });
        const why = sig ? `killed by ${sig}` : `exit status ${code}`;
        finish(fail('exit', `${why}${tail.trim() ? `: ${tail.trim()}` : ''}`));
      });
    });
  }

  async #post(w: WebhookSettings, it: OutboxItem, signal: AbortSignal): Promise<Attempt> {
    const body = JSON.stringify(webhookPayload(it));
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'user-agent': 'constellr-sync',
      'x-constellr-event': it.event,
      'x-constellr-delivery': String(it.id),
    };
    const secret = w.secret?.reveal();
    if (secret) headers['x-constellr-signature-256'] = signBody(secret, body);
    try {
      const res = await request(w.url, {
        method: 'POST',
        body,
        headers,
        dispatcher: w.dispatcher,
        signal: AbortSignal.any([signal, timeoutSignal(w.timeoutMs)]),
        headersTimeout: w.timeoutMs,
        bodyTimeout: w.timeoutMs,
      });
      await res.body.dump().catch(() => undefined);
      if (res.statusCode >= 200 && res.statusCode < 300) return { ok: true };
      return {
        ok: false,
        reason: `http_${res.statusCode}`,
        message: `the webhook answered HTTP ${res.statusCode}`,
        retryAfterMs: res.statusCode === 429 || res.statusCode === 503 ? parseRetryAfter(res.headers['retry-after'], this.#clock()) : undefined,
      };
    } catch (e) {
      const err = e as Error & { code?: string };
      return { ok: false, reason: err.name === 'TimeoutError' ? 'timeout' : (err.code ?? 'network'), message: err.message };
    }
  }

  /**
   * Deliver what is due now or within a second (for `sync`, before it exits): resolves true when
   * nothing due is left, false when the time ran out. Rows waiting for a longer backoff stay for the
   * next run.
   */
  async drain(timeoutMs: number): Promise<boolean> {
    if (!this.enabled) return true;
    const deadline = this.#clock() + timeoutMs;
    for (;;) {
      const now = this.#clock();
      let due = this.inFlight > 0;
      for (const l of this.#loops) {
        if (due) break;
        const next = await this.#o.store.nextOutboxAt(l.sink);
        // Retries due within a second are waited for too: a short backoff is not "nothing left".
        if (next !== null && next <= now + Math.min(1000, Math.max(0, deadline - now))) due = true;
      }
      if (!due) return true;
      if (now >= deadline) return false;
      this.wake();
      await new Promise((r) => setTimeout(r, Math.min(100, Math.max(5, deadline - now))));
    }
  }

  /** Stop: no new deliveries; running ones get graceMs, then hooks are killed and requests cancelled. */
  async stop(graceMs: number): Promise<void> {
    if (!this.#stop.signal.aborted) this.#stop.abort();
    if (this.#pruneTimer) clearInterval(this.#pruneTimer);
    this.wake();
    await Promise.all(this.#running);
    const pending = this.#loops.flatMap((l) => [...l.inFlight.values()]);
    if (pending.length === 0) return;
    let timer: NodeJS.Timeout | undefined;
    const over = new Promise<'timeout'>((r) => {
      timer = setTimeout(() => r('timeout'), timerDelay(graceMs));
    });
    const first = await Promise.race([Promise.all(pending).then(() => 'done' as const), over]);
    clearTimeout(timer);
    if (first === 'timeout') {
      this.#log.warn({ inFlight: pending.length }, 'stopping notifications: cancelling deliveries still running (they are sent again at the next start)');
      this.#abort.abort();
      await Promise.all(pending);
    }
  }
}

/** Build the notifier from the configuration (disabled when neither a hook nor a webhook is set). */
export function createNotifier(
  config: {
    notify: {
      onAsset: { command: readonly string[] | null; concurrency: number; timeout: number };
      webhook: { url: string | null; concurrency: number; timeout: number };
      maxAttempts: number;
      retryBaseDelay: number;
      retryMaxDelay: number;
      failedRetention: number;
    };
    credentials: { webhookSecret?: { reveal(): string } | undefined };
  },
  deps: { store: OutboxStore; logger: Logger; root: string; clock?: () => number; metrics?: SyncMetrics; baseEnv?: NodeJS.ProcessEnv; idleMs?: number },
): Notifier {
  const n = config.notify;
  return new Notifier({
    ...deps,
    hook: n.onAsset.command ? { command: n.onAsset.command, concurrency: n.onAsset.concurrency, timeoutMs: n.onAsset.timeout } : null,
    webhook: n.webhook.url ? { url: n.webhook.url, concurrency: n.webhook.concurrency, timeoutMs: n.webhook.timeout, secret: config.credentials.webhookSecret } : null,
    retry: { maxAttempts: n.maxAttempts, baseMs: n.retryBaseDelay, maxMs: n.retryMaxDelay },
    failedRetentionMs: n.failedRetention,
  });
}
