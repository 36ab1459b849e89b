// Every command's options, defined once: each command hands its object to parseArgs (which ignores
// `arg` and `help`), its --help lists them from here, and the README's command table is checked
// against them (test/unit/cli-options.test.ts): a flag the parser accepts is documented, a flag the
// README names is accepted.
import { ENV_MAP, FLAG_MAP } from '../config/load.js';

export interface OptionDoc {
  readonly type: 'string' | 'boolean';
  readonly short?: string;
  readonly multiple?: boolean;
  /** The value's placeholder in help (FILE, N, DUR). */
  readonly arg?: string;
  readonly help: string;
}

export type Options = Readonly<Record<string, OptionDoc>>;

const HELP_FLAG = { help: { type: 'boolean', short: 'h', help: 'this help' } } as const;

const CONFIG_ARGS: Record<string, string> = {
  'api-url': 'URL',
  'mirror-dir': 'DIR',
  'state-dir': 'DIR',
  concurrency: 'N',
  schedule: 'CRON',
  lookback: 'DUR',
  since: 'ISO',
  order: 'ORDER',
  'page-size': 'N',
  'log-level': 'LEVEL',
  'delete-policy': 'P',
  'max-delete': 'N|P%',
  bwlimit: 'RATE',
  'http-enabled': 'true|false',
  'http-listen': 'HOST:PORT',
  source: 'assets|stac',
};

const envOf = (key: string) => Object.entries(ENV_MAP).find(([, k]) => k === key)?.[0];

/**
 * The configuration flags of every command that loads the configuration (flag > environment > file >
 * default): `-c/--config` and one flag per FLAG_MAP entry, each named after its key.
 */
export const CONFIG_OPTIONS: Options = {
  config: { type: 'string', short: 'c', arg: 'FILE', help: 'YAML configuration file (or CONSTELLR_SYNC_CONFIG)' },
  ...Object.fromEntries(
    Object.entries(FLAG_MAP).map(([flag, key]) => {
      const env = envOf(key);
      return [flag, { type: 'string', arg: CONFIG_ARGS[flag] ?? 'VALUE', help: `${key}${env ? ` (${env})` : ''}` } satisfies OptionDoc];
    }),
  ),
};

const json = (what: string) => ({ json: { type: 'boolean', help: what } }) as const;
const DRY_RUN = {
  'dry-run': { type: 'boolean', help: 'list and plan one cycle: what would be fetched, replaced, refused or deleted (counts, bytes), without downloading or changing any state' },
  full: { type: 'boolean', help: 'with --dry-run: list everything (not from the high-water mark), so deletions show' },
} as const;

export const RUN_OPTIONS = { ...CONFIG_OPTIONS, ...DRY_RUN, ...json('with --dry-run: print the plan as JSON'), ...HELP_FLAG } as const;

export const SYNC_OPTIONS = {
  ...CONFIG_OPTIONS,
  ...json('print a machine-readable summary on stdout (logs go to stderr)'),
  quiet: { type: 'boolean', short: 'q', help: 'no progress display and no summary (logs at error level unless --log-level)' },
  'log-format': { type: 'string', arg: 'F', help: 'text (default) or json: how log lines above the live display look (outside a terminal logs are JSON lines)' },
  'max-transfer': { type: 'string', arg: 'BYTES', help: 'stop claiming new downloads once this much was received (e.g. 50GiB); exit 5' },
  'max-duration': { type: 'string', arg: 'DUR', help: 'stop claiming new downloads after this long (e.g. 2h); in-flight ones finish; exit 5' },
  rescan: { type: 'boolean', help: 'list everything (from sync.since), not just what changed since the last poll' },
  ...DRY_RUN,
  ...HELP_FLAG,
} as const;

export const STATUS_OPTIONS = {
  ...CONFIG_OPTIONS,
  ...json('the report as JSON (times ISO 8601)'),
  check: { type: 'boolean', help: 'one line; exit 0 fresh and nothing failed, 1 something failed, 2 the last successful poll is older than --stale-after (or none)' },
  'stale-after': { type: 'string', arg: 'DUR', help: 'staleness threshold for --check (default: http.readyPollIntervals schedule intervals, as /readyz)' },
  failures: { type: 'string', arg: 'N', help: 'how many of the most recent failed assets to list (default 20)' },
  ...HELP_FLAG,
} as const;

export const MIGRATE_OPTIONS = { ...CONFIG_OPTIONS, ...json('print the result as JSON'), ...HELP_FLAG } as const;
export const RECONCILE_OPTIONS = { ...CONFIG_OPTIONS, ...json('print the result as JSON on stdout (logs go to stderr)'), ...HELP_FLAG } as const;

export const VERIFY_OPTIONS = {
  ...CONFIG_OPTIONS,
  deep: { type: 'boolean', help: "also re-hash every file against the sha256 recorded while downloading (and each catalog asset's file:checksum)" },
  repair: { type: 'boolean', help: 'queue again whatever is missing or different (attempts reset); the STAC catalog is rewritten from the state' },
  ...json('one JSON summary on stdout'),
  ...HELP_FLAG,
} as const;

export const EXPORT_OPTIONS = {
  ...CONFIG_OPTIONS,
  format: {
    type: 'string',
    arg: 'jsonl|csv|stac-ndjson|stac-geoparquet',
    help: 'JSON lines (default), CSV with a header row, one STAC item per line, or one GeoParquet file of the items (stac-*: source stac; stac-geoparquet needs --output)',
  },
  output: { type: 'string', short: 'o', arg: 'FILE', help: 'write to FILE, replaced atomically when complete (default: stdout)' },
  ...HELP_FLAG,
} as const;

export const LS_OPTIONS = {
  ...CONFIG_OPTIONS,
  ...json('JSON lines: {"key","size","lastModified","etag"}'),
  include: { type: 'string', multiple: true, arg: 'GLOB', help: "keep keys matching (repeatable), e.g. 'orders/1234/**' or '**/*.tif'" },
  exclude: { type: 'string', multiple: true, arg: 'GLOB', help: 'drop keys matching (repeatable)' },
  'min-size': { type: 'string', arg: 'SIZE', help: 'keep assets of at least SIZE' },
  'max-size': { type: 'string', arg: 'SIZE', help: 'keep assets of at most SIZE' },
  all: { type: 'boolean', help: 'ignore every filter' },
  ...HELP_FLAG,
} as const;

export const CONFIG_CHECK_OPTIONS = { ...CONFIG_OPTIONS, ...json('print the effective configuration, its sources, errors and warnings as JSON'), ...HELP_FLAG } as const;

export const RETRY_OPTIONS = {
  ...CONFIG_OPTIONS,
  failed: { type: 'boolean', help: 'every failed job' },
  key: { type: 'string', multiple: true, arg: 'KEY', help: 'this key (repeatable); keys that are not failed are reported and left alone' },
  class: { type: 'string', arg: 'CLASS', help: 'failed jobs whose last error has this class (e.g. disk_full, path_conflict, http_4xx)' },
  ...json('print the result as JSON'),
  ...HELP_FLAG,
} as const;

export const DEMO_OPTIONS = {
  source: { type: 'string', arg: 'assets|stac', help: 'stac: an API-key account mirrored through the STAC API' },
  'mirror-dir': { type: 'string', arg: 'DIR', help: 'default ./constellr-mirror (--source stac: ./constellr-stac-mirror)' },
  'state-dir': { type: 'string', arg: 'DIR', help: 'default ./constellr-state (--source stac: ./constellr-stac-state)' },
  assets: { type: 'string', arg: 'N', help: 'sample assets (default 60; --source stac: items, 3 assets each, default 20)' },
  verbose: { type: 'boolean', short: 'v', help: 'log at info level' },
  ...HELP_FLAG,
} as const;

export const SIMULATE_OPTIONS = {
  source: { type: 'string', arg: 'assets|stac', help: 'which API to model (default assets); stac serves the STAC API under /stac with pre-signed asset URLs on a storage origin' },
  port: { type: 'string', arg: 'N', help: 'API port (default 8080; 0 picks a free one)' },
  'admin-port': { type: 'string', arg: 'N', help: 'admin port (default 8081): GET /stats, PUT/DELETE /assets, PUT /faults' },
  assets: { type: 'string', arg: 'N', help: 'size of the generated sample inventory of the asset API (default 120)' },
  items: { type: 'string', arg: 'N', help: 'STAC sample items, 3 assets each (default 60; --source stac)' },
  'max-size': { type: 'string', arg: 'BYTES', help: 'largest generated asset (default 4194304; 1048576 with --source stac)' },
  seed: { type: 'string', arg: 'N', help: 'inventory and fault seed (default 42)' },
  'url-ttl': { type: 'string', arg: 'SECONDS', help: 'lifetime of pre-signed STAC asset URLs (default 900; --source stac)' },
  'api-key-file': { type: 'string', arg: 'PATH', help: 'accept the workspace API key in PATH (X-Api-Key); never on the command line' },
  redirect: { type: 'boolean', help: 'serve downloads through a redirect to a separate "storage" origin' },
  username: { type: 'string', arg: 'U', help: 'accepted username (default demo)' },
  password: { type: 'string', arg: 'P', help: 'accepted password (default demo-password)' },
  'token-ttl': { type: 'string', arg: 'SECONDS', help: 'token lifetime (default 86400)' },
  'error-rate': { type: 'string', arg: 'F', help: 'fraction of requests answered 5xx (default 0)' },
  'rate-429': { type: 'string', arg: 'F', help: 'fraction answered 429 (default 0)' },
  'retry-after': { type: 'string', arg: 'SECONDS', help: 'the Retry-After of those 429s (default 1)' },
  'reset-rate': { type: 'string', arg: 'F', help: 'fraction of downloads reset mid-body (default 0)' },
  'truncate-rate': { type: 'string', arg: 'F', help: 'fraction of downloads cut short, close-delimited (default 0)' },
  'bytes-per-second': { type: 'string', arg: 'BYTES', help: 'throttle every download body to this rate (default 0: unthrottled)' },
  latency: { type: 'string', arg: 'MS', help: 'delay before each response (default 0)' },
  'not-found': { type: 'string', multiple: true, arg: 'KEY', help: 'answer 404 for this key (repeatable)' },
  ...HELP_FLAG,
} as const;

/** Every command, its options and one line for the top-level help. */
export const COMMAND_OPTIONS: Readonly<Record<string, { options: Options; summary: string; takesConfig: boolean }>> = {
  run: { options: RUN_OPTIONS, takesConfig: true, summary: 'the daemon: poll on a schedule, download continuously' },
  sync: { options: SYNC_OPTIONS, takesConfig: true, summary: 'one cycle: poll, download everything due, exit (exit code tells the result)' },
  status: { options: STATUS_OPTIONS, takesConfig: true, summary: 'is the mirror complete, last file, last poll, next poll, daemon running' },
  migrate: { options: MIGRATE_OPTIONS, takesConfig: true, summary: 'apply pending state migrations (SQLite or PostgreSQL) and print the schema version' },
  simulate: { options: SIMULATE_OPTIONS, takesConfig: false, summary: 'serve the built-in API simulator (faults, throttling, STAC)' },
  demo: { options: DEMO_OPTIONS, takesConfig: false, summary: 'mirror a simulated account end to end (no account needed)' },
  reconcile: { options: RECONCILE_OPTIONS, takesConfig: true, summary: 'full listing now: queue what polls missed, apply the delete policy (within maxDelete)' },
  verify: { options: VERIFY_OPTIONS, takesConfig: true, summary: 'check every mirrored file (size, mtime; --deep sha256); --repair queues bad ones again' },
  export: { options: EXPORT_OPTIONS, takesConfig: true, summary: 'write the manifest of every key (--format jsonl|csv|stac-ndjson|stac-geoparquet)' },
  ls: { options: LS_OPTIONS, takesConfig: true, summary: 'list the remote assets, with filters' },
  config: { options: CONFIG_CHECK_OPTIONS, takesConfig: true, summary: '"config check": validate the configuration, print the effective one (secrets masked)' },
  retry: { options: RETRY_OPTIONS, takesConfig: true, summary: 'queue failed downloads again with attempts reset (--failed | --key K | --class C)' },
};

function flagText(name: string, o: OptionDoc): string {
  return `${o.short ? `-${o.short}, ` : '    '}--${name}${o.arg ? ` ${o.arg}` : ''}`;
}

/** Words of `text` in lines of at most `width` characters. */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  return [...lines, line];
}

/** Help lines for options, aligned and wrapped at 100 columns: `  -c, --config FILE     YAML configuration…`. */
function optionLines(options: Options, indent = 28, total = 100): string[] {
  return Object.entries(options).map(([name, o]) => {
    const head = `  ${flagText(name, o)}`;
    const body = wrap(o.help, total - indent).join(`\n${' '.repeat(indent)}`);
    return head.length >= indent ? `${head}\n${' '.repeat(indent)}${body}` : `${head.padEnd(indent)}${body}`;
  });
}

/** The "Options:" part of a command's --help: its own options, then the configuration flags. */
export function optionsHelp(command: string): string {
  const c = COMMAND_OPTIONS[command]!;
  const own = Object.fromEntries(Object.entries(c.options).filter(([name]) => !(c.takesConfig && name in CONFIG_OPTIONS)));
  const parts = [`Options:\n${optionLines(own).join('\n')}`];
  if (c.takesConfig) parts.push(`Configuration (flag > environment > file > default; see config.example.yaml):\n${optionLines(CONFIG_OPTIONS).join('\n')}`);
  return parts.join('\n\n');
}

/** The README's options cell for a command: `--json`, `--check`, … and "config flags". */
export function readmeOptions(command: string): string {
  const c = COMMAND_OPTIONS[command]!;
  const own = Object.entries(c.options)
    .filter(([name]) => name !== 'help' && !(c.takesConfig && name in CONFIG_OPTIONS))
    .map(([name, o]) => `\`--${name}${o.arg ? ` ${o.arg.replace(/\|/g, '\\|')}` : ''}\``);
  return [...own, ...(c.takesConfig ? ['config flags'] : [])].join(' ');
}

/** The README's table of configuration flags. */
export function readmeConfigFlags(): string {
  const rows = Object.entries(CONFIG_OPTIONS).map(([name, o]) => `| \`${o.short ? `-${o.short}, ` : ''}--${name}${o.arg ? ` ${o.arg.replace(/\|/g, '\\|')}` : ''}\` | ${o.help} |`);
  return ['| flag | sets |', '|---|---|', ...rows].join('\n');
}

const ROW = /^\| `([a-z]+)[^`]*` \| (.*) \| ((?:[^|\\]|\\.)*) \|$/;

/**
 * The README with the options column of its command table and its table of configuration flags
 * generated from the definitions above (`npm run docs:commands` writes it; a test checks that it is
 * current). The descriptions stay as written.
 */
export function withReadmeOptions(readme: string): string {
  const lines = readme.split('\n');
  const out = lines.map((l) => {
    const m = ROW.exec(l);
    if (!m || !COMMAND_OPTIONS[m[1]!]) return l;
    const name = m[1] === 'config' ? 'config check' : m[1]!;
    return `| \`${name}\` | ${m[2]} | ${readmeOptions(m[1]!)} |`;
  });
  const text = out.join('\n');
  const start = '<!-- config flags: generated from src/cli/options.ts (npm run docs:commands) -->';
  const end = '<!-- /config flags -->';
  const a = text.indexOf(start);
  const b = text.indexOf(end);
  if (a < 0 || b < a) return text;
  return `${text.slice(0, a + start.length)}\n${readmeConfigFlags()}\n${text.slice(b)}`;
}
