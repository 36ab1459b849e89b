// What every command needs: flags → config (flag > env > file > default), the logger, and a way to
// print for humans. Only cli/ touches process.
import { FLAG_MAP, loadConfig, type Config, type LoadOptions } from '../config/load.js';
import { destination, type DestinationStream } from 'pino';
import { createLogger, type Logger } from '../lib/logger.js';
import { armCrashPoint, armStallPoint } from '../lib/crash-point.js';
import { redactUrl } from '../lib/url-safety.js';
import { slowBandwidthWarning } from '../config/timetable.js';
export { packageVersion } from '../lib/version.js';

export type Flags = Record<string, string | boolean | string[] | undefined>;


/** The API URL of the configuration this process loaded, for error messages (`cannot reach …`), password masked. */
export let loadedApiUrl: string | null = null;
/** Its state database URL (state.url; null with SQLite), password masked, for `the state database at … cannot be reached`. */
export let loadedDatabaseUrl: string | null = null;

export function configFromFlags(flags: Flags, extra: Partial<LoadOptions> = {}): Config {
  const pass: Record<string, string | undefined> = {};
  for (const f of Object.keys(FLAG_MAP)) {
    const v = flags[f];
    if (typeof v === 'string') pass[f] = v;
  }
  const config = loadConfig({ configFile: typeof flags.config === 'string' ? flags.config : undefined, flags: pass, env: process.env, ...extra });
  loadedApiUrl = redactUrl(config.api.url);
  loadedDatabaseUrl = config.state.url === null ? null : redactUrl(config.state.url);
  return config;
}

/** The process logger; `stderr` keeps stdout clean for machine-readable output (--json). */
export function loggerFor(
  config: Config,
  opts: {
    stderr?: boolean;
    secrets?: () => readonly string[];
    /** Where lines go instead (the progress display's interleaving stream). */
    destination?: { write(s: string): unknown };
    /** Level to use unless log.level was set explicitly (flag, env or file). */
    defaultLevel?: string;
  } = {},
): Logger {
  const pw = config.credentials.password;
  const httpToken = config.credentials.httpToken;
  const key = config.credentials.apiKey;
  const extra = opts.secrets ?? (() => []);
  // Every line names the source (assets or stac).
  return createLogger({
    level: opts.defaultLevel && config.sources['log.level'] === undefined ? opts.defaultLevel : config.log.level,
    secrets: () => [...(pw ? [pw.reveal()] : []), ...(httpToken ? [httpToken.reveal()] : []), ...(key ? [key.reveal()] : []), ...extra()],
    destination: (opts.destination as DestinationStream | undefined) ?? (opts.stderr ? destination({ dest: 2, sync: true }) : undefined),
  }).child({ source: config.source });
}

/** Settings that are valid but work against each other: said once at start (sync, run). */
export function warnAboutConfig(config: Config, logger: Logger): void {
  const slow = slowBandwidthWarning(config.sync.bandwidth, config.sync.concurrency, config.api.minDownloadRate);
  if (slow) logger.warn({ bandwidth: config.sync.bandwidth.source, concurrency: config.sync.concurrency, minDownloadRate: config.api.minDownloadRate }, slow);
}

export function armCrashPointsFromEnv(): void {
  armCrashPoint(process.env.CONSTELLR_SYNC_CRASH_AT);
  armStallPoint(process.env.CONSTELLR_SYNC_STALL_AT);
}

export function out(line = ''): void {
  process.stdout.write(`${line}\n`);
}

export function err(line: string): void {
  process.stderr.write(`${line}\n`);
}
