// Which catalog a state belongs to: its source (assets or stac), the API's host and, for a legacy
// account, the username. Recorded in the cursor's source_info with the incremental strategy; a
// state made for one catalog is refused for another (exit 2) instead of mixing two catalogs in
// one mirror. An API key's account cannot be told from the key (keys rotate), so it is not compared;
// nor is the port, which a local simulator picks anew at each start.
import type { Config } from '../config/load.js';
import { SyncError } from '../errors.js';
import type { StateStore } from './types.js';

export interface StateIdentity {
  source: string;
  /** The API's host name (no port, no path). */
  apiHost?: string;
  /** The legacy account's username; absent with an API key. */
  username?: string;
}

export function stateIdentity(config: Config): StateIdentity {
  let apiHost: string | undefined;
  try {
    apiHost = new URL(config.api.url).hostname;
  } catch {
    apiHost = undefined;
  }
  const username = config.credentials.apiKey ? undefined : config.credentials.username;
  return { source: config.source, ...(apiHost ? { apiHost } : {}), ...(username ? { username } : {}) };
}

/** The identity in a recorded source_info (older states record only the source, or nothing). */
export function recordedIdentity(sourceInfo: string | null | undefined): StateIdentity | null {
  if (!sourceInfo) return null;
  try {
    const o = JSON.parse(sourceInfo) as Record<string, unknown>;
    if (typeof o.source !== 'string') return null;
    return {
      source: o.source,
      ...(typeof o.apiHost === 'string' ? { apiHost: o.apiHost } : {}),
      ...(typeof o.username === 'string' ? { username: o.username } : {}),
    };
  } catch {
    return null;
  }
}

const describe = (i: StateIdentity) => `source ${i.source}${i.apiHost ? ` at ${i.apiHost}` : ''}${i.username ? `, user ${i.username}` : ''}`;

/** Why this configuration must not use a state recorded for `recorded`, or null when it may. */
export function identityMismatch(now: StateIdentity, recorded: StateIdentity | null): string | null {
  if (!recorded) return null;
  const differs =
    recorded.source !== now.source ||
    (recorded.apiHost !== undefined && now.apiHost !== undefined && recorded.apiHost !== now.apiHost) ||
    (recorded.username !== undefined && now.username !== undefined && recorded.username !== now.username);
  return differs ? `it was made for ${describe(recorded)}, and this configuration is for ${describe(now)}` : null;
}

/**
 * Refuse (exit 2) a state made for another catalog; record this one's identity in a state that
 * has none yet. `where` names the state (`the state directory /x`).
 */
export async function checkStateIdentity(config: Config, store: StateStore, where: string): Promise<void> {
  const now = stateIdentity(config);
  const cursor = await store.getCursor();
  const recorded = recordedIdentity(cursor.sourceInfo);
  const why = identityMismatch(now, recorded);
  if (why)
    throw new SyncError(
      `cannot use ${where}: ${why}. One state and one mirror hold one catalog: give this one its own --state-dir and --mirror-dir` +
        `${recorded && recorded.source !== now.source ? ` (or use --source ${recorded.source} with this state)` : ''}`,
      { code: 'SYNC_STATE_MISMATCH' },
    );
  if (!recorded) await store.setSourceInfo(JSON.stringify(now));
}
