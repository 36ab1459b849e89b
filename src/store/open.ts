// The store factory: `state.url: postgres://…` (or CONSTELLR_SYNC_DATABASE_URL) selects PostgreSQL in
// `state.schema`; otherwise SQLite in state.dir. Also the deployment id that the mirror lock records:
// replicas of one deployment share a mirror, a foreign daemon does not.
import { createHash } from 'node:crypto';
import { existsSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { StoreFault, SyncError, classifyError } from '../errors.js';
import { operatorFsError } from '../lib/operator-errors.js';
import type { Config } from '../config/load.js';
import { redactDatabaseUrl } from './database-url.js';
import { STATE_FILE } from './migrations.js';
import type { OutboxSink, StateStore } from './types.js';

export type StateConfig = Pick<Config, 'state' | 'sync'>;

export interface StoreOpenOptions {
  clock?: () => number;
  /** Do not create or migrate (status). A store that does not exist yet opens as null. */
  readonly?: boolean;
  onError?: (message: string, err: unknown) => void;
  /** Notification sinks configured (the outbox gets one row per sink and event). */
  outboxSinks?: readonly OutboxSink[];
}

export type StoreTarget = { backend: 'sqlite'; dir: string } | { backend: 'postgres'; url: string; schema: string };

export function storeTarget(config: StateConfig): StoreTarget {
  if (config.state.url) return { backend: 'postgres', url: config.state.url, schema: config.state.schema };
  return { backend: 'sqlite', dir: config.state.dir };
}

/** Where the state lives, for humans (never a password). */
export function describeStore(config: StateConfig): string {
  const t = storeTarget(config);
  return t.backend === 'sqlite' ? path.join(t.dir, STATE_FILE) : `${redactDatabaseUrl(t.url)} (schema ${t.schema})`;
}

/**
 * The identity of a deployment: every replica with the same database (host, port, database) and
 * schema gets the same id; a SQLite daemon's id is its state directory. Credentials are not part of it.
 */
export function deploymentId(config: StateConfig): string {
  const t = storeTarget(config);
  let ident: string;
  if (t.backend === 'postgres') {
    const u = new URL(t.url);
    const host = (u.hostname || process.env.PGHOST || 'localhost').toLowerCase();
    const port = u.port || process.env.PGPORT || '5432';
    const db = decodeURIComponent(u.pathname.replace(/^\//, '')) || process.env.PGDATABASE || '';
    ident = `postgres\n${host}\n${port}\n${db}\n${t.schema}`;
  } else {
    let dir = path.resolve(t.dir);
    try {
      dir = realpathSync(dir);
    } catch {
      /* not created yet */
    }
    ident = `sqlite\n${dir}`;
  }
  return createHash('sha256').update(ident).digest('hex').slice(0, 24);
}

/**
 * A server that did not answer while the store was opened (refused, reset, dropped, shutting down,
 * too many connections): store_unavailable (exit 6, systemd restarts), not a configuration error
 * (exit 2). Credentials refused or a missing database stay SYNC_STORE_OPEN.
 */
function unreachableAtOpen(e: unknown, t: { url: string; schema: string }): SyncError | null {
  if (!(e instanceof SyncError) || (e.code !== 'SYNC_STORE_OPEN' && e.code !== 'SYNC_STORE_MIGRATE') || e.cause === undefined) return null;
  const c = classifyError(new StoreFault('PostgreSQL', e.cause), 'open');
  if (c.code !== 'SYNC_STORE_UNAVAILABLE') return null;
  return new SyncError(`cannot reach the PostgreSQL state at ${redactDatabaseUrl(t.url)} (schema ${t.schema}): ${(e.cause as Error).message}`, { code: 'SYNC_STORE_UNAVAILABLE', cause: c.cause });
}

/** Open the configured store, migrating it unless readonly. Null only when readonly and absent. */
export async function openStore(config: StateConfig, opts: StoreOpenOptions = {}): Promise<StateStore | null> {
  const t = storeTarget(config);
  if (t.backend === 'postgres') {
    // Each backend is loaded only when used: SQLite deployments never load the pg driver, and
    // PostgreSQL deployments never load the native better-sqlite3 addon.
    const { PostgresStore } = await import('./postgres-store.js');
    return PostgresStore.open({
      url: t.url,
      schema: t.schema,
      maxAttempts: config.sync.maxAttempts,
      poolSize: config.state.poolSize,
      clock: opts.clock,
      onError: opts.onError,
      readonly: opts.readonly,
      outboxSinks: opts.outboxSinks,
    }).catch((e: unknown) => {
      throw unreachableAtOpen(e, t) ?? e;
    });
  }
  if (opts.readonly && !existsSync(path.join(t.dir, STATE_FILE))) return null;
  const { SqliteStore } = await import('./sqlite-store.js');
  try {
    return SqliteStore.open(t.dir, {
      maxAttempts: config.sync.maxAttempts,
      outboxSinks: opts.outboxSinks,
      synchronous: config.state.synchronous === 'full' ? 'FULL' : 'NORMAL',
    });
  } catch (e) {
    // Not a directory, no permission, a file SQLite cannot open: the operator's to fix (exit 2).
    throw operatorFsError('the state directory', t.dir, e) ?? e;
  }
}
