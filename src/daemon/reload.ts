// SIGHUP reload of a running daemon: compare the newly loaded configuration with the one in force,
// decide what can change live, and report the rest as needing a restart. The effective configuration
// is the old one with only the applied keys replaced, so nothing that reads engine.config later can
// pick up half of a change that was not applied (a new mirror.dir, say); engine.reload() hands it to
// each part of the engine.
import { configAsFile, describeConfig, type Config } from '../config/load.js';
import type { Engine } from './engine.js';
import { isValidSchedule } from './poll-scheduler.js';

export interface ConfigChange {
  key: string;
  from: unknown;
  to: unknown;
}

export interface ReloadReport {
  /** Changes in force now (or at the next poll / next job, as `when` says). */
  applied: (ConfigChange & { when: 'now' | 'next poll' | 'next download' })[];
  /** Changes that only a restart can apply; the old value stays in force. */
  restartNeeded: ConfigChange[];
}

/** Keys a running daemon applies, and when. Prefixes end in '.'. Everything else needs a restart. */
const LIVE: Record<string, 'now' | 'next poll' | 'next download'> = {
  'sync.bandwidth': 'now',
  'sync.timezone': 'now',
  'sync.schedule': 'now',
  'sync.concurrency': 'now',
  'sync.order': 'now',
  'sync.gracePeriod': 'now',
  'log.level': 'now',
  'api.pageSize': 'next poll',
  'sync.lookback': 'next poll',
  'sync.since': 'next poll',
  'sync.maxListingPages': 'next poll',
  'filters.': 'next poll',
  'sync.quickRetries': 'next download',
  'sync.retryBaseDelay': 'next download',
  'sync.retryMaxDelay': 'next download',
  'sync.rangedThreshold': 'next download',
  'sync.rangedStreams': 'next download',
  'sync.leaseDuration': 'now', // new claims, heartbeats of downloads in flight, the lease sweep
  'api.minDownloadRate': 'next download',
  'mirror.freeSpaceReserve': 'next download',
};

function liveWhen(key: string): 'now' | 'next poll' | 'next download' | undefined {
  if (key in LIVE) return LIVE[key];
  for (const [k, v] of Object.entries(LIVE)) if (k.endsWith('.') && key.startsWith(k)) return v;
  return undefined;
}

function flatten(o: unknown, prefix = '', out: Record<string, string> = {}): Record<string, string> {
  if (typeof o === 'object' && o !== null && !Array.isArray(o)) {
    for (const [k, v] of Object.entries(o)) flatten(v, prefix ? `${prefix}.${k}` : k, out);
  } else {
    out[prefix] = JSON.stringify(o ?? null);
  }
  return out;
}

/** Which leaf keys differ between two configurations (secrets compared by value, shown masked). */
export function diffConfig(a: Config, b: Config): ConfigChange[] {
  // Compared in one canonical form (30d and 720h are the same value), shown as written and masked.
  const ca = flatten(configAsFile(a));
  const cb = flatten(configAsFile(b));
  const fa = flatten(describeConfig(a));
  const fb = flatten(describeConfig(b));
  const changes: ConfigChange[] = [];
  for (const key of new Set([...Object.keys(ca), ...Object.keys(cb)])) {
    if (ca[key] !== cb[key]) changes.push({ key, from: JSON.parse(fa[key] ?? 'null'), to: JSON.parse(fb[key] ?? 'null') });
  }
  if (a.credentials.username !== b.credentials.username) changes.push({ key: 'credentials.username', from: '***', to: '***' });
  if (a.credentials.password?.reveal() !== b.credentials.password?.reveal()) changes.push({ key: 'credentials.password', from: '***', to: '***' });
  if (a.credentials.apiKey?.reveal() !== b.credentials.apiKey?.reveal()) changes.push({ key: 'credentials.apiKey', from: '***', to: '***' });
  return changes.sort((x, y) => x.key.localeCompare(y.key));
}

/** `base` with the values of `keys` taken from `next` (leaf paths; sections copied, then frozen). */
function overlay(base: Config, next: Config, keys: readonly string[]): Config {
  const out: Record<string, unknown> = { ...base };
  for (const key of keys) {
    const parts = key.split('.');
    let dst = out;
    let src: unknown = next;
    for (const p of parts.slice(0, -1)) {
      dst[p] = { ...(dst[p] as object) };
      dst = dst[p] as Record<string, unknown>;
      src = (src as Record<string, unknown>)[p];
    }
    const last = parts[parts.length - 1]!;
    dst[last] = (src as Record<string, unknown>)[last];
  }
  // The compiled filter follows filters.* and sync.since.
  if (keys.some((k) => k.startsWith('filters.') || k === 'sync.since')) out.filter = next.filter;
  for (const v of Object.values(out)) if (typeof v === 'object' && v !== null) Object.freeze(v);
  return Object.freeze(out) as Config;
}

/**
 * Apply `next` to a running engine and log each change (and each setting that needs a restart).
 * Throws nothing for a key it cannot apply: that key is reported, and the old value stays in force.
 * An invalid new value (e.g. a bad cron expression) is reported as not applied and the old one kept.
 * The engine receives the effective configuration through its one entry, engine.reload().
 */
export async function applyReload(engine: Engine, next: Config): Promise<ReloadReport> {
  const prev = engine.config;
  const log = engine.rt.logger;
  const report: ReloadReport = { applied: [], restartNeeded: [] };
  const appliedKeys: string[] = [];
  const changes = diffConfig(prev, next);
  const has = (k: string) => changes.some((c) => c.key === k);
  const failed = new Set<string>();

  if ((has('sync.schedule') || has('sync.timezone')) && !isValidSchedule(next.sync.schedule)) {
    log.error({ err: `invalid cron expression "${next.sync.schedule}"` }, 'reload: the new schedule is invalid; keeping the old one');
    failed.add('sync.schedule').add('sync.timezone');
  }
  for (const c of changes) {
    const when = liveWhen(c.key);
    if (when && !failed.has(c.key)) {
      report.applied.push({ ...c, when });
      appliedKeys.push(c.key);
    } else if (!failed.has(c.key)) {
      report.restartNeeded.push(c);
    }
  }
  if (changes.length === 0) log.info('reload: configuration unchanged');
  for (const c of report.applied) log.info({ key: c.key, from: c.from, to: c.to, when: c.when }, 'reload: applied');
  for (const c of report.restartNeeded) log.warn({ key: c.key, from: c.from, to: c.to }, 'reload: needs a restart; the old value stays in force');
  // Last, so the lines above are written at the level in force when the signal came (the engine
  // applies log.level after everything else).
  await engine.reload(overlay(prev, next, appliedKeys));
  return report;
}
