// `constellr-sync config check`: validate a configuration (file + environment + flags, as `run` would
// load it) and print the effective one with secrets masked and where each non-default value came from.
import { accessSync, constants as C } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import YAML from 'yaml';
import { describeConfig, describeCredentials, notAtDefault, type Config } from '../../config/load.js';
import { scheduleIntervalMs } from '../../ops/http-server.js';
import { slowBandwidthWarning } from '../../config/timetable.js';
import { configFromFlags, err, out } from '../common.js';
import { CONFIG_CHECK_OPTIONS, optionsHelp } from '../options.js';
import { EXIT, UsageError } from '../exit-codes.js';

export const CONFIG_HELP = `Usage: constellr-sync config check [options]

Validate the configuration exactly as "run" loads it (flag > environment > file > default) and print
the effective configuration with secrets masked, as YAML in the file's own units (10s, 256MiB, 10%):
saved as a file, it loads to the same configuration. Exit 0 when valid, 2 when not (every error
names its key; an unknown key names the nearest known one).

${optionsHelp('config')}`;

/** Problems the schema cannot see: the hook's program, the schedule, credentials. */
export function configProblems(config: Config, env: NodeJS.ProcessEnv): { errors: string[]; warnings: string[] } {
  const errors: string[] = [];
  const warnings: string[] = [];
  const cmd = config.notify.onAsset.command;
  if (cmd) {
    const program = cmd[0]!;
    const candidates = program.includes('/') ? [program] : (env.PATH ?? '').split(path.delimiter).filter(Boolean).map((d) => path.join(d, program));
    const found = candidates.some((c) => {
      try {
        accessSync(c, C.X_OK);
        return true;
      } catch {
        return false;
      }
    });
    if (!found) errors.push(`notify.onAsset.command: ${program} is ${program.includes('/') ? 'not an executable file' : 'not found on PATH'}`);
  }
  try {
    scheduleIntervalMs(config.sync.schedule, config.sync.timezone, 2);
  } catch (e) {
    errors.push(`sync.schedule: ${(e as Error).message}`);
  }
  if (!config.credentials.apiKey && (!config.credentials.username || !config.credentials.password))
    warnings.push(
      'credentials: neither CONSTELLR_API_KEY (or CONSTELLR_API_KEY_FILE) nor both CONSTELLR_USERNAME and CONSTELLR_PASSWORD (or CONSTELLR_PASSWORD_FILE, or $CREDENTIALS_DIRECTORY) are set; run and sync will refuse to start',
    );
  const slow = slowBandwidthWarning(config.sync.bandwidth, config.sync.concurrency, config.api.minDownloadRate);
  if (slow) warnings.push(slow);
  if (config.credentials.webhookSecret && !config.notify.webhook.url) warnings.push('a webhook secret is set but notify.webhook.url is not: nothing is signed');
  if (config.notify.webhook.url && !config.credentials.webhookSecret)
    warnings.push('notify.webhook.url is set without CONSTELLR_SYNC_WEBHOOK_SECRET: requests are not signed');
  if (config.http.enabled && !/^(127\.|\[::1\]|localhost:)/.test(config.http.listen))
    warnings.push(`http.listen ${config.http.listen} is reachable from other hosts; the endpoint has no authentication`);
  return { errors, warnings };
}

export async function configCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (!sub || sub === '--help' || sub === '-h' || sub === 'help') {
    out(CONFIG_HELP);
    return sub ? EXIT.OK : EXIT.USAGE;
  }
  if (sub !== 'check') throw new UsageError(`unknown subcommand "config ${sub}" (try: config check)`);
  const { values } = parseArgs({ args: rest, options: CONFIG_CHECK_OPTIONS, strict: true });
  if (values.help) {
    out(CONFIG_HELP);
    return EXIT.OK;
  }
  // Invalid values throw a SyncError (exit 2) whose message names every bad key.
  const config = configFromFlags(values);
  const { errors, warnings } = configProblems(config, process.env);
  const effective = describeConfig(config);
  const sources = Object.fromEntries(Object.entries(config.sources).sort(([a], [b]) => a.localeCompare(b)));
  const changed = notAtDefault(config, process.cwd());
  if (values.json) {
    out(JSON.stringify({ valid: errors.length === 0, configFile: config.configFile ?? null, config: effective, sources, notAtDefault: changed, errors, warnings }, null, 2));
  } else {
    // Valid YAML in the file's own units: saved as a file, it loads to the same configuration.
    const { credentials: _credentials, ...fileValues } = effective as { credentials: Record<string, string | null> } & Record<string, unknown>;
    out(`# effective configuration${config.configFile ? ` (file: ${config.configFile})` : ' (no file)'}; secrets masked`);
    out(YAML.stringify(fileValues).trimEnd());
    out(`# credentials (environment only): ${describeCredentials(config.credentials)}`);
    if (Object.keys(changed).length > 0) {
      out('\n# values not at their default, and where they came from:');
      for (const [k, v] of Object.entries(changed)) out(`#   ${k}: ${v}`);
    }
  }
  for (const w of warnings) err(`warning: ${w}`);
  for (const e of errors) err(`error: ${e}`);
  if (!values.json) err(errors.length === 0 ? 'configuration is valid' : `configuration is invalid (${errors.length} error${errors.length > 1 ? 's' : ''})`);
  return errors.length === 0 ? EXIT.OK : EXIT.USAGE;
}
