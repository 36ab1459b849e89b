// Shared test harness: temp dirs, running the engine in-process or the built CLI as a child process,
// recording HTTP requests, and comparing a mirror with the simulator's inventory byte for byte.
//
//   const dirs = await tempDirs('core');              // { root, mirror, state, cleanup() }
//   const r = await syncInProcess({ sim, dirs });      // one `sync` cycle, in this process
//   expect(await verifyMirror(dirs.mirror, sim.inventory)).toEqual([]);
//   const cli = await runCli(['sync', ...], { env }); // spawns `node dist/cli/main.js` (build first)
//
// Nothing here sleeps for synchronization: waitUntil() polls a condition with a bounded timeout.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import diagnosticsChannel from 'node:diagnostics_channel';
import { createReadStream, promises as fsp } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../../src/config/load.js';
import { Engine, type EngineOptions, type SyncSummary } from '../../src/daemon/engine.js';
import { openRuntime } from '../../src/daemon/runtime.js';
import { createLogger, type Logger } from '../../src/lib/logger.js';
import { contentSha256, type Asset, type AssetInventory, type Simulator } from '../../src/simulator/index.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import type { Cursor, Job, JobState } from '../../src/store/types.js';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const CLI_MAIN = path.join(REPO_ROOT, 'dist', 'cli', 'main.js');

// ---- temp dirs ------------------------------------------------------------------------------------

export interface TempDirs {
  root: string;
  mirror: string;
  state: string;
  cleanup(): Promise<void>;
}

/** A fresh temp dir (under os.tmpdir()) with `mirror/` and `state/` paths inside (not yet created). */
export async function tempDirs(prefix = 'constellr-test'): Promise<TempDirs> {
  const root = await fsp.mkdtemp(path.join(os.tmpdir(), `${prefix}-`));
  return {
    root,
    mirror: path.join(root, 'mirror'),
    state: path.join(root, 'state'),
    cleanup: () => fsp.rm(root, { recursive: true, force: true }),
  };
}

// ---- in-process engine ----------------------------------------------------------------------------

export interface InProcessOptions {
  sim: Pick<Simulator, 'url' | 'username' | 'password'>;
  dirs: Pick<TempDirs, 'mirror' | 'state'>;
  concurrency?: number;
  pageSize?: number;
  /** A duration string, e.g. '1h' (the default). */
  lookback?: string;
  /** Password to use instead of the simulator's (wrong-credentials tests). */
  password?: string;
  /** Authenticate with this workspace API key (CONSTELLR_API_KEY) instead of username and password. */
  apiKey?: string;
  /** Other config values by dotted key, e.g. { 'sync.quickRetries': 0 } (file/env/flags still win). */
  config?: Record<string, unknown>;
  engine?: Omit<EngineOptions, 'mode'>;
  logger?: Logger;
}

export interface InProcessResult {
  summary: SyncSummary;
  counts: Record<JobState, number>;
  cursor: Cursor;
}

/** One `sync` cycle in this process, exactly as the CLI wires it (without signals and printing). */
export async function syncInProcess(o: InProcessOptions): Promise<InProcessResult> {
  const flags: Record<string, string> = {
    'api-url': o.sim.url,
    'mirror-dir': o.dirs.mirror,
    'state-dir': o.dirs.state,
    concurrency: String(o.concurrency ?? 4),
    'page-size': String(o.pageSize ?? 1000),
    lookback: o.lookback ?? '1h',
  };
  const config = loadConfig({
    env: o.apiKey ? { CONSTELLR_API_KEY: o.apiKey } : { CONSTELLR_USERNAME: o.sim.username, CONSTELLR_PASSWORD: o.password ?? o.sim.password },
    flags,
    defaults: o.config ?? {},
  });
  const rt = await openRuntime(config, o.logger ?? createLogger({ level: 'silent' }));
  try {
    const summary = await new Engine(rt, { mode: 'drain', ...o.engine }).syncOnce();
    return { summary, counts: await rt.store.counts(), cursor: await rt.store.getCursor() };
  } finally {
    await rt.close();
  }
}

/** Open the state store read/write for assertions; close it after use. */
export function openStore(stateDir: string): SqliteStore {
  return SqliteStore.open(stateDir, { maxAttempts: 10 });
}

/** Read one job (null when the key was never listed). */
export async function jobOf(stateDir: string, key: string): Promise<Job | null> {
  const s = openStore(stateDir);
  try {
    return await s.getJob(key);
  } finally {
    await s.close();
  }
}

// ---- mirror verification --------------------------------------------------------------------------

export async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/**
 * Compare the mirror with the inventory: every asset (or those in `only`) must exist at
 * `<mirror>/<key>` with the listed size, sha256 equal to contentSha256(seed, size), and
 * mtime == LastModified. Returns human-readable problems; [] means the mirror is exact.
 */
export async function verifyMirror(mirrorDir: string, inventory: Iterable<Asset>, only?: (a: Asset) => boolean): Promise<string[]> {
  const problems: string[] = [];
  for (const a of inventory) {
    if (only && !only(a)) continue;
    const file = path.join(mirrorDir, ...a.key.split('/'));
    const st = await fsp.lstat(file).catch(() => null);
    if (!st) {
      problems.push(`${JSON.stringify(a.key)}: missing`);
      continue;
    }
    if (!st.isFile()) {
      problems.push(`${JSON.stringify(a.key)}: not a regular file`);
      continue;
    }
    if (st.size !== a.size) problems.push(`${JSON.stringify(a.key)}: size ${st.size} != ${a.size}`);
    else if ((await sha256File(file)) !== (await contentSha256(a.seed, a.size))) problems.push(`${JSON.stringify(a.key)}: sha256 differs`);
    if (st.mtimeMs !== a.lastModifiedMs) problems.push(`${JSON.stringify(a.key)}: mtime ${new Date(st.mtimeMs).toISOString()} != ${new Date(a.lastModifiedMs).toISOString()}`);
  }
  return problems;
}

/** Every regular file in the mirror outside `.constellr-sync/`, as '/'-joined relative paths → size. */
export async function mirrorFiles(mirrorDir: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  const walk = async (dir: string, rel: string): Promise<void> => {
    const entries = await fsp.readdir(dir, { withFileTypes: true }).catch(() => []);
    for (const e of entries) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (!rel && e.name === '.constellr-sync') continue;
      const abs = path.join(dir, e.name);
      if (e.isDirectory()) await walk(abs, r);
      else if (e.isFile()) {
        const st = await fsp.stat(abs).catch(() => null);
        if (st) out.set(r, st.size);
      }
    }
  };
  await walk(mirrorDir, '');
  return out;
}

// ---- waiting --------------------------------------------------------------------------------------

/** `value` when it is neither null nor undefined; otherwise throws, naming `what` (a narrowing that fails the test, unlike `!`). */
export function present<T>(value: T, what: string): NonNullable<T> {
  if (value === null || value === undefined) throw new Error(`expected ${what}, got ${value}`);
  return value;
}

/** Poll `cond` every `intervalMs` until it returns truthy (never null or undefined, then); throws after `timeoutMs`. */
export async function waitUntil<T>(cond: () => T | Promise<T>, timeoutMs = 10_000, intervalMs = 20, what = 'condition'): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await cond();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

// ---- request recording (in-process) -------------------------------------------------------------

export interface RecordedRequest {
  /** Date.now() when undici created the request (i.e. when it was sent). */
  at: number;
  method: string;
  origin: string;
  /** Path with query, as sent (percent-encoded). */
  path: string;
  /** Request headers as sent, names lower-cased. */
  headers: Record<string, string>;
  status?: number;
  responseHeaders?: Record<string, string>;
  /** Date.now() when the response headers arrived. */
  respondedAt?: number;
}

function headerPairs(raw: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (Array.isArray(raw)) {
    for (let i = 0; i + 1 < raw.length; i += 2) out[String(raw[i]).toLowerCase()] = String(raw[i + 1]);
  } else if (typeof raw === 'string') {
    for (const line of raw.split('\r\n')) {
      const i = line.indexOf(':');
      if (i > 0) out[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
    }
  }
  return out;
}

/**
 * Record every HTTP request undici sends from this process (engine in-process), with timestamps taken
 * by the test, via undici's diagnostics channels. Call stop() when done.
 */
export function recordRequests(): { requests: RecordedRequest[]; stop(): void } {
  const requests: RecordedRequest[] = [];
  const byReq = new WeakMap<object, RecordedRequest>();
  const onCreate = (m: unknown) => {
    const { request } = m as { request: { origin: string; method: string; path: string; headers: unknown } };
    const rec: RecordedRequest = { at: Date.now(), method: request.method, origin: String(request.origin), path: request.path, headers: headerPairs(request.headers) };
    byReq.set(request, rec);
    requests.push(rec);
  };
  const onHeaders = (m: unknown) => {
    const { request, response } = m as { request: object; response: { statusCode: number; headers: Buffer[] } };
    const rec = byReq.get(request);
    if (!rec) return;
    rec.status = response.statusCode;
    rec.respondedAt = Date.now();
    rec.responseHeaders = headerPairs(response.headers.map((b) => b.toString('latin1')));
  };
  diagnosticsChannel.subscribe('undici:request:create', onCreate);
  diagnosticsChannel.subscribe('undici:request:headers', onHeaders);
  return {
    requests,
    stop() {
      diagnosticsChannel.unsubscribe('undici:request:create', onCreate);
      diagnosticsChannel.unsubscribe('undici:request:headers', onHeaders);
    },
  };
}

// ---- recording reverse proxy (for child processes) ------------------------------------------------

export interface RecordingProxy {
  url: string;
  requests: { at: number; method: string; path: string; status?: number }[];
  /** Every access_token the upstream's POST /token handed out through this proxy. */
  tokens: string[];
  close(): Promise<void>;
}

/** A plain HTTP reverse proxy to `target` that records requests and captures issued tokens. */
export async function startRecordingProxy(target: string): Promise<RecordingProxy> {
  const up = new URL(target);
  const requests: RecordingProxy['requests'] = [];
  const tokens: string[] = [];
  const sockets = new Set<net.Socket>();
  const server = http.createServer((req, res) => {
    const rec: RecordingProxy['requests'][number] = { at: Date.now(), method: req.method ?? 'GET', path: req.url ?? '/' };
    requests.push(rec);
    const preq = http.request(
      { host: up.hostname, port: up.port, method: req.method, path: req.url, headers: { ...req.headers, host: up.host } },
      (pres) => {
        rec.status = pres.statusCode;
        res.writeHead(pres.statusCode ?? 502, pres.headers);
        if (rec.path.startsWith('/token') && pres.statusCode === 200) {
          const parts: Buffer[] = [];
          pres.on('data', (c: Buffer) => parts.push(c));
          pres.on('end', () => {
            const body = Buffer.concat(parts);
            try {
              const t = (JSON.parse(body.toString('utf8')) as { access_token?: string }).access_token;
              if (t) tokens.push(t);
            } catch {
              /* not JSON: nothing to capture */
            }
            res.end(body);
          });
        } else pres.pipe(res);
      },
    );
    preq.on('error', () => res.destroy());
    req.pipe(preq);
  });
  server.on('connection', (s: net.Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    tokens,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/** A TCP port on 127.0.0.1 that nothing listens on (bound, then closed). */
export async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

// ---- CLI child process ----------------------------------------------------------------------------

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Run `node dist/cli/main.js ...args` (build first: `npx tsc -p .`). The environment is NOT inherited
 * except PATH/HOME, so CONSTELLR_* variables of the developer never leak in. Killed after timeoutMs.
 */
export function runCli(args: string[], opts: { env?: Record<string, string>; cwd?: string; timeoutMs?: number } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI_MAIN, ...args], {
      cwd: opts.cwd ?? REPO_ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? os.tmpdir(), ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** Seed for randomised tests: TEST_SEED from the environment, else a fresh one. Print it on failure. */
export function testSeed(): number {
  const env = process.env.TEST_SEED;
  return env ? Number(env) : Math.floor(Math.random() * 2 ** 31);
}

export type { AssetInventory };
