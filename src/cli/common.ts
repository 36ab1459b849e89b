// What every command needs: flags → config (flag > env > file > default), the logger, and a way to
// print for humans. Only cli/ touches process.
import { loadConfig, type Config, type LoadOptions } from '../config/load.js';
import { FLAG_MAP } from '../config/load.js';
import { createLogger, type Logger } from '../ops/logger.js';
import { armCrashPoint } from '../ops/crash-point.js';

export type Flags = Record<string, string | boolean | string[] | undefined>;

/** parseArgs option specs for the config flags every daemon command accepts. */
export const CONFIG_FLAG_SPECS = {
  config: { type: 'string', short: 'c' },
  ...Object.fromEntries(Object.keys(FLAG_MAP).map((f) => [f, { type: 'string' }])),
} as const;

export function configFromFlags(flags: Flags, extra: Partial<LoadOptions> = {}): Config {
  const pass: Record<string, string | undefined> = {};
  for (const f of Object.keys(FLAG_MAP)) {
    const v = flags[f];
    if (typeof v === 'string') pass[f] = v;
  }
  return loadConfig({ configFile: typeof flags.config === 'string' ? flags.config : undefined, flags: pass, env: process.env, ...extra });
}

export function loggerFor(config: Config, secrets: () => readonly string[] = () => []): Logger {
  const pw = config.credentials.password;
  return createLogger({ level: config.log.level, secrets: () => [...(pw ? [pw.reveal()] : []), ...secrets()] });
}

export function armCrashPointsFromEnv(): void {
  armCrashPoint(process.env.CONSTELLR_SYNC_CRASH_AT);
}

export function out(line = ''): void {
  process.stdout.write(`${line}\n`);
}

export function err(line: string): void {
  process.stderr.write(`${line}\n`);
}
