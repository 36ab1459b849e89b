// Wires configuration into the running parts: locks first, then the mirror root check, the state
// store, the HTTP transport, the token manager and the API client. Everything is closed by close().
import { promises as fsp, constants as C } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Dispatcher } from 'undici';
import { ApiClient } from '../api/client.js';
import { TokenManager } from '../api/auth.js';
import { ApiKeyAuth, type Authenticator } from '../api/api-key.js';
import { AssetsSource } from '../api/assets-source.js';
import type { Source } from '../api/source.js';
import { StacSource } from '../api/stac/stac-source.js';
import { createDispatcher } from '../api/dispatcher.js';
import { SyncError, type FatalCode } from '../errors.js';
import { operatorFsError } from '../lib/operator-errors.js';
import type { Config } from '../config/load.js';
import { FOLD_ALL, foldName, isReservedSegment, RESERVED_DIR } from '../mirror/paths.js';
import { INSTANCE_ID } from '../download/staging.js';
import { acquireLock, acquireMirrorLock, type HeldLock } from '../lib/lock.js';
import type { Logger } from '../lib/logger.js';
import { deploymentId, describeStore, openStore } from '../store/open.js';
import { checkStateIdentity } from '../store/identity.js';
import type { OutboxSink, StateStore } from '../store/types.js';

export interface Runtime {
  /** The configuration the runtime was opened with; a running engine's is engine.config (reload). */
  readonly config: Config;
  readonly logger: Logger;
  readonly store: StateStore;
  /** The configured source (asset API or STAC): it lists and locates. */
  readonly api: Source;
  /** The HTTP client of the API (auth, JSON, downloads). */
  readonly client: ApiClient;
  /** Bearer tokens (legacy) or the API key. */
  readonly tokens: Authenticator;
  readonly dispatcher: Dispatcher;
  readonly clock: () => number;
  readonly root: string;
  readonly owner: string;
  close(): Promise<void>;
}

export interface RuntimeOptions {
  clock?: () => number;
  /** Take the state and mirror locks (every command that writes). */
  lock?: boolean;
  /** Called after every successful token request (the token-renewal metric). */
  onTokenRenewed?: () => void;
}

/** Notification sinks the configuration turns on; the store writes one outbox row per sink. */
export function outboxSinksOf(config: Config): OutboxSink[] {
  const sinks: OutboxSink[] = [];
  if (config.notify.onAsset.command) sinks.push('hook');
  if (config.notify.webhook.url) sinks.push('webhook');
  return sinks;
}

function fatal(message: string, code: FatalCode, cause?: unknown): SyncError {
  return new SyncError(message, { code, cause });
}

/**
 * A versions directory inside the mirror (outside its reserved folder) would hold files where keys
 * live: refused. Compared with the strictest name folding (any case, NFC), like every path identity.
 */
export function checkVersionsDir(root: string, versionsDir: string | null): void {
  if (versionsDir === null) return;
  const fold = (p: string) => foldName(path.resolve(p), FOLD_ALL);
  const rel = path.relative(fold(root), fold(versionsDir));
  const inside = rel === '' || (!rel.startsWith(`..${path.sep}`) && rel !== '..' && !path.isAbsolute(rel));
  if (inside && !isReservedSegment(rel.split(path.sep)[0] ?? ''))
    throw fatal(`mirror.versionsDir ${versionsDir} lies inside the mirror ${root}, where keys are mirrored; use a directory outside it, or null for ${RESERVED_DIR}/versions`, 'SYNC_CONFIG_INVALID');
}

/** The mirror root must be a real, writable directory (not a symlink). EACCES/EROFS are fatal. */
export async function prepareMirrorRoot(root: string): Promise<void> {
  await fsp.mkdir(root, { recursive: true }).catch((e: NodeJS.ErrnoException) => {
    throw operatorFsError('the mirror directory', root, e) ?? fatal(`cannot create the mirror directory ${root}: ${e.code ?? e.message}`, 'SYNC_MIRROR_ROOT', e);
  });
  const st = await fsp.lstat(root);
  if (st.isSymbolicLink()) throw fatal(`the mirror directory ${root} is a symlink; configure its real path (${await fsp.realpath(root)})`, 'SYNC_MIRROR_ROOT');
  if (!st.isDirectory()) throw fatal(`cannot use the mirror directory ${root}: a file is in the way (not a directory)`, 'SYNC_MIRROR_ROOT');
  try {
    await fsp.access(root, C.W_OK);
    const probe = path.join(root, RESERVED_DIR);
    await fsp.mkdir(probe, { recursive: true });
    // the instance id, not the pid: replicas in containers are all PID 1 and may start together
    const f = path.join(probe, `.probe-${INSTANCE_ID}`);
    await fsp.writeFile(f, '');
    await fsp.rm(f);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EROFS') throw fatal(`the mirror directory ${root} is on a read-only filesystem (EROFS)`, 'SYNC_MIRROR_ROOT', e);
    if (code === 'EACCES' || code === 'EPERM') throw fatal(`no permission to write in the mirror directory ${root} (${code}); check its owner and mode`, 'SYNC_MIRROR_ROOT', e);
    throw operatorFsError('the mirror directory', root, e) ?? e;
  }
}

/**
 * The state store alone, without locks or the mirror check: for commands that read the state, or
 * write rows a running daemon picks up (status, retry, verify, export, dry runs). `readonly` does not
 * migrate, and gives null when there is no state yet.
 */
export function openState(config: Config, opts?: { readonly?: false }): Promise<StateStore>;
export function openState(config: Config, opts: { readonly?: boolean }): Promise<StateStore | null>;
export async function openState(config: Config, opts: { readonly?: boolean } = {}): Promise<StateStore | null> {
  return openStore(config, { readonly: opts.readonly });
}

/** The HTTP side alone (transport, credentials, client, source): for commands that need no state or mirror. */
export function openApi(
  config: Config,
  logger: Logger,
  clock: () => number = Date.now,
  onTokenRenewed?: () => void,
): { api: Source; client: ApiClient; tokens: Authenticator; dispatcher: Dispatcher } {
  const { username, password, apiKey } = config.credentials;
  if (!apiKey && (!username || !password))
    throw fatal(
      'no API credentials: set CONSTELLR_API_KEY (or CONSTELLR_API_KEY_FILE), or the legacy CONSTELLR_USERNAME and CONSTELLR_PASSWORD (or CONSTELLR_PASSWORD_FILE)',
      'SYNC_CONFIG_CREDENTIALS',
    );
  const dispatcher = createDispatcher({
    connectTimeoutMs: config.api.connectTimeout,
    headersTimeoutMs: config.api.headersTimeout,
    bodyIdleTimeoutMs: config.api.bodyIdleTimeout,
    maxRedirects: config.api.maxRedirects,
    // every worker may hold sync.rangedStreams ranges of one large file at once
    connections: config.sync.concurrency * config.sync.rangedStreams + 2,
  });
  // With an API key every request carries X-Api-Key and /token is never called.
  const tokens: Authenticator = apiKey
    ? new ApiKeyAuth({ key: apiKey, baseUrl: config.api.url, probePath: config.source === 'stac' ? 'stac' : 'assets?limit=1', dispatcher, headersTimeoutMs: config.api.headersTimeout })
    : new TokenManager({
        baseUrl: config.api.url,
        username: username!,
        password: password!,
        dispatcher,
        encoding: config.api.tokenEncoding,
        clock,
        logger,
        headersTimeoutMs: config.api.headersTimeout,
        onRenewed: onTokenRenewed,
      });
  const client = new ApiClient({
    baseUrl: config.api.url,
    dispatcher,
    tokens,
    clock,
    maxRedirects: config.api.maxRedirects,
    headersTimeoutMs: config.api.headersTimeout,
    bodyIdleTimeoutMs: config.api.bodyIdleTimeout,
    maxRetryAfterMs: config.api.maxRetryAfter,
    logger,
  });
  const api: Source =
    config.source === 'stac'
      ? new StacSource(
          client,
          {
            collections: config.stac.collections,
            filter: config.stac.filter,
            bbox: config.stac.bbox,
            datetime: config.stac.datetime,
            assets: config.stac.assets,
            pageSize: config.stac.pageSize,
            lookbackMs: config.stac.lookback,
          },
          logger,
        )
      : new AssetsSource(client);
  return { api, client, tokens, dispatcher };
}

export async function openRuntime(config: Config, logger: Logger, opts: RuntimeOptions = {}): Promise<Runtime> {
  const clock = opts.clock ?? Date.now;
  const locks: HeldLock[] = [];
  const root = config.mirror.dir;
  let store: StateStore | undefined;
  let dispatcher: Dispatcher | undefined;
  try {
    if (opts.lock !== false) {
      // The state lock first, before anything else touches state.
      locks.push(acquireLock(config.state.dir, 'instance', 'the state directory', { mirror: root }));
    }
    checkVersionsDir(root, config.mirror.versionsDir);
    await prepareMirrorRoot(root);
    // Replicas of one PostgreSQL deployment share the mirror; any other daemon is refused.
    if (opts.lock !== false)
      locks.push(acquireMirrorLock(path.join(root, RESERVED_DIR), deploymentId(config), 'the mirror directory', { state: describeStore(config), deployment: describeStore(config) }));
    store = (await openStore(config, {
      clock,
      outboxSinks: outboxSinksOf(config),
      onError: (message, err) => logger.warn({ err }, message),
    }))!;
    // A state made for another catalog (source, API host, account) is refused, not mixed in.
    await checkStateIdentity(config, store, config.state.url ? `the state database ${describeStore(config)}` : `the state directory ${config.state.dir}`);
    const conn = openApi(config, logger, clock, opts.onTokenRenewed);
    dispatcher = conn.dispatcher;
    const { tokens, api, client } = conn;
    const d = dispatcher;
    const s = store;
    return {
      config,
      logger,
      store: s,
      api,
      client,
      tokens,
      dispatcher: d,
      clock,
      root,
      // host#instance:pid: containers on one hostname are all PID 1; the random instance id tells them apart
      // (two replicas with one owner name would both "hold" the poller lease).
      owner: `${os.hostname()}#${INSTANCE_ID.slice(0, 8)}:${process.pid}`,
      async close() {
        await s.close();
        await d.close().catch(() => undefined);
        for (const l of locks.reverse()) l.release();
      },
    };
  } catch (e) {
    await store?.close();
    await dispatcher?.close().catch(() => undefined);
    for (const l of locks.reverse()) l.release();
    throw e;
  }
}
