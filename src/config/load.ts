// Loading: YAML file < environment < flags, validated by the strict schema, frozen.
// Secrets (username, password) come only from the environment, *_FILE variables, or systemd's
// $CREDENTIALS_DIRECTORY; they are wrapped in Secret so they can never be logged by accident.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { configSchema, type ParsedConfig } from './schema.js';
import { suggestKey, toFileValues, writtenValues, type WrittenValues } from './describe.js';
import { compileFilter, type AssetFilter } from './filters.js';
import { SyncError } from '../errors.js';
import { Secret } from '../lib/secret.js';

export interface Credentials {
  username: string | undefined;
  password: Secret | undefined;
  /** HMAC-SHA256 key for webhook signatures (CONSTELLR_SYNC_WEBHOOK_SECRET[_FILE], or the credential constellr-webhook-secret). */
  webhookSecret?: Secret | undefined;
  /** http.token: enables the status page's actions and protects the page (CONSTELLR_SYNC_HTTP_TOKEN[_FILE], or the credential constellr-http-token). */
  httpToken?: Secret | undefined;
  /** A workspace API key (CONSTELLR_API_KEY[_FILE], or the credential constellr-api-key): sent as X-Api-Key; /token is then never called. */
  apiKey?: Secret | undefined;
}

/**
 * The loaded configuration: values parsed once (durations and sizes in ms and bytes, sync.bandwidth
 * a Timetable, `filter` compiled from filters.* and sync.since), deeply frozen.
 */
export type Config = Readonly<ParsedConfig> & {
  /** filters.* and sync.since, compiled: the one asset filter every command uses. */
  readonly filter: AssetFilter;
  readonly credentials: Credentials;
  /** Where the configuration came from, for `config check` and error messages. */
  readonly sources: Readonly<Record<string, string>>;
  /** Durations and sizes as written (`30d`), so they print back in their own units. */
  readonly written: WrittenValues;
  readonly configFile: string | undefined;
};

/** Environment variables mapped to config paths (non-secret settings). */
export const ENV_MAP: Record<string, string> = {
  CONSTELLR_API_URL: 'api.url',
  CONSTELLR_SYNC_MIRROR_DIR: 'mirror.dir',
  CONSTELLR_SYNC_STATE_DIR: 'state.dir',
  CONSTELLR_SYNC_DATABASE_URL: 'state.url',
  CONSTELLR_SYNC_DATABASE_SCHEMA: 'state.schema',
  CONSTELLR_SYNC_CONCURRENCY: 'sync.concurrency',
  CONSTELLR_SYNC_SCHEDULE: 'sync.schedule',
  CONSTELLR_SYNC_LOOKBACK: 'sync.lookback',
  CONSTELLR_SYNC_SINCE: 'sync.since',
  CONSTELLR_SYNC_ORDER: 'sync.order',
  CONSTELLR_SYNC_PAGE_SIZE: 'api.pageSize',
  CONSTELLR_SYNC_LOG_LEVEL: 'log.level',
  CONSTELLR_SYNC_DELETE_POLICY: 'mirror.deletePolicy',
  CONSTELLR_SYNC_MAX_DELETE: 'mirror.maxDelete',
  CONSTELLR_SYNC_RECONCILE_SCHEDULE: 'sync.reconcileSchedule',
  CONSTELLR_SYNC_BANDWIDTH: 'sync.bandwidth',
  CONSTELLR_SYNC_HTTP_ENABLED: 'http.enabled',
  CONSTELLR_SYNC_HTTP_LISTEN: 'http.listen',
  CONSTELLR_SYNC_WEBHOOK_URL: 'notify.webhook.url',
  CONSTELLR_SYNC_SOURCE: 'source',
};

/** Command-line flags mapped to config paths. */
export const FLAG_MAP: Record<string, string> = {
  'api-url': 'api.url',
  'mirror-dir': 'mirror.dir',
  'state-dir': 'state.dir',
  concurrency: 'sync.concurrency',
  schedule: 'sync.schedule',
  lookback: 'sync.lookback',
  since: 'sync.since',
  order: 'sync.order',
  'page-size': 'api.pageSize',
  'log-level': 'log.level',
  'delete-policy': 'mirror.deletePolicy',
  'max-delete': 'mirror.maxDelete',
  bwlimit: 'sync.bandwidth',
  'http-enabled': 'http.enabled',
  'http-listen': 'http.listen',
  source: 'source',
};

export interface LoadOptions {
  configFile?: string | undefined;
  env?: NodeJS.ProcessEnv;
  flags?: Record<string, string | undefined>;
  /** Values that replace the built-in defaults (used by `demo`); file, env and flags still win. */
  defaults?: Record<string, unknown>;
  cwd?: string;
}

function setPath(obj: Record<string, unknown>, dotted: string, value: unknown): void {
  const parts = dotted.split('.');
  let cur = obj;
  for (const p of parts.slice(0, -1)) {
    const next = cur[p];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) cur[p] = {};
    cur = cur[p] as Record<string, unknown>;
  }
  cur[parts[parts.length - 1]!] = value;
}

function configError(message: string, cause?: unknown): SyncError {
  return new SyncError(message, { code: 'SYNC_CONFIG_INVALID', cause });
}

function readSecretFile(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8').replace(/\r?\n$/, '');
  } catch (e) {
    throw configError(`cannot read ${what} from ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, e);
  }
}

/** Resolve credentials: VAR, then VAR_FILE, then $CREDENTIALS_DIRECTORY/<name>. */
export function loadCredentials(env: NodeJS.ProcessEnv): Credentials {
  const pick = (name: string, credName: string): string | undefined => {
    const direct = env[name];
    if (direct !== undefined && direct !== '') return direct;
    const file = env[`${name}_FILE`];
    if (file) return readSecretFile(file, name);
    const credDir = env.CREDENTIALS_DIRECTORY;
    if (credDir) {
      try {
        return readFileSync(path.join(credDir, credName), 'utf8').replace(/\r?\n$/, '');
      } catch {
        return undefined;
      }
    }
    return undefined;
  };
  const username = pick('CONSTELLR_USERNAME', 'constellr-username');
  const password = pick('CONSTELLR_PASSWORD', 'constellr-password');
  const webhookSecret = pick('CONSTELLR_SYNC_WEBHOOK_SECRET', 'constellr-webhook-secret');
  const httpToken = pick('CONSTELLR_SYNC_HTTP_TOKEN', 'constellr-http-token');
  const apiKey = pick('CONSTELLR_API_KEY', 'constellr-api-key')?.trim();
  return {
    httpToken: httpToken === undefined || httpToken === '' ? undefined : new Secret(httpToken),
    apiKey: apiKey === undefined || apiKey === '' ? undefined : new Secret(apiKey),
    username,
    password: password === undefined ? undefined : new Secret(password),
    webhookSecret: webhookSecret === undefined || webhookSecret === '' ? undefined : new Secret(webhookSecret),
  };
}

/** A value as an operator wrote it, for `got …` in a message. */
function shown(v: unknown): string {
  if (Array.isArray(v)) return 'a list';
  if (v !== null && typeof v === 'object') return 'a mapping';
  const text = JSON.stringify(v) ?? String(v);
  return text.length > 60 ? `${text.slice(0, 57)}…` : text;
}

const TYPE_WORDS: Record<string, string> = { string: 'text', number: 'a number', int: 'an integer', boolean: 'true or false', array: 'a list', object: 'a mapping', record: 'a mapping', date: 'a date' };

/**
 * zod's own messages ("Invalid input", "Too small: expected number to be >=1") in plain words that
 * say what was expected and what was given. Messages the schema sets itself are kept.
 */
function plainIssue(iss: { code?: string; input?: unknown; expected?: string; origin?: string; minimum?: unknown; maximum?: unknown; values?: readonly unknown[]; inclusive?: boolean }): string | undefined {
  const got = iss.input === undefined ? '' : `, got ${shown(iss.input)}`;
  switch (iss.code) {
    case 'invalid_type':
      return `must be ${TYPE_WORDS[iss.expected ?? ''] ?? iss.expected}${got}`;
    case 'invalid_value':
      return `must be one of ${(iss.values ?? []).map((v) => JSON.stringify(v)).join(', ')}${got}`;
    case 'too_small':
      if (iss.origin === 'string' && Number(iss.minimum) === 1) return 'must not be empty';
      if (iss.origin === 'array') return `must have at least ${String(iss.minimum)} entr${Number(iss.minimum) === 1 ? 'y' : 'ies'}`;
      return `must be at least ${String(iss.minimum)}${got}`;
    case 'too_big':
      if (iss.origin === 'array') return `must have at most ${String(iss.maximum)} entries`;
      return `must be at most ${String(iss.maximum)}${got}`;
    case 'invalid_union':
      return `is not a valid value${got}`;
    default:
      return undefined;
  }
}

function formatIssues(issues: readonly { path: PropertyKey[]; message: string; code: string; keys?: string[] }[], sources: Record<string, string>): string {
  return issues
    .map((i) => {
      const base = i.path.map(String).join('.');
      if (i.code === 'unrecognized_keys' && i.keys) {
        return i.keys
          .map((k) => {
            const hint = suggestKey(base, k);
            return `${base ? base + '.' : ''}${k}: unknown key${hint ? ` (did you mean "${hint}"?)` : ''}`;
          })
          .join('\n');
      }
      const src = sources[base] ? ` (from ${sources[base]})` : '';
      return `${base || '(root)'}${src}: ${i.message}`;
    })
    .join('\n');
}

export function loadConfig(opts: LoadOptions = {}): Config {
  const env = opts.env ?? process.env;
  const cwd = opts.cwd ?? process.cwd();
  const raw: Record<string, unknown> = {};
  const sources: Record<string, string> = {};

  for (const [p, v] of Object.entries(opts.defaults ?? {})) {
    setPath(raw, p, v);
    sources[p] = 'built-in default';
  }

  const configFile = opts.configFile ?? (env.CONSTELLR_SYNC_CONFIG || undefined);
  if (configFile) {
    let text: string;
    try {
      text = readFileSync(path.resolve(cwd, configFile), 'utf8');
    } catch (e) {
      throw configError(`cannot read config file ${configFile}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, e);
    }
    let doc: unknown;
    try {
      doc = loadYaml().parse(text) ?? {};
    } catch (e) {
      throw configError(`config file ${configFile} is not valid YAML: ${(e as Error).message}`, e);
    }
    if (typeof doc !== 'object' || doc === null || Array.isArray(doc))
      throw configError(`config file ${configFile} must contain a mapping at the top level`);
    for (const [section, value] of Object.entries(doc as Record<string, unknown>)) {
      if (typeof value === 'object' && value !== null && !Array.isArray(value) && typeof raw[section] === 'object') {
        raw[section] = { ...(raw[section] as object), ...(value as object) };
      } else {
        raw[section] = value;
      }
      for (const leaf of leafKeys(value, section)) sources[leaf] = configFile;
    }
    const secretKey = findSecretKey(doc);
    if (secretKey)
      throw configError(
        `config file ${configFile}: ${secretKey}: secrets are not accepted in the file; use CONSTELLR_API_KEY (or CONSTELLR_API_KEY_FILE), or CONSTELLR_USERNAME and CONSTELLR_PASSWORD (or CONSTELLR_PASSWORD_FILE)`,
      );
  }

  for (const [name, p] of Object.entries(ENV_MAP)) {
    const v = env[name];
    if (v !== undefined && v !== '') {
      setPath(raw, p, v);
      sources[p] = name;
    }
  }
  for (const [flag, p] of Object.entries(FLAG_MAP)) {
    const v = opts.flags?.[flag];
    if (v !== undefined) {
      setPath(raw, p, v);
      sources[p] = `--${flag}`;
    }
  }

  const parsed = configSchema.safeParse(raw, { error: plainIssue as never, reportInput: true });
  if (!parsed.success) {
    const lines = formatIssues(parsed.error.issues as never, sources).split('\n');
    // One mistake, one line; several, one line each.
    throw configError(lines.length === 1 ? `invalid configuration: ${lines[0]}` : `invalid configuration (${lines.length} errors):\n  ${lines.join('\n  ')}`);
  }
  const cfg = parsed.data;
  cfg.mirror.dir = path.resolve(cwd, cfg.mirror.dir);
  cfg.state.dir = path.resolve(cwd, cfg.state.dir);
  const credentials = loadCredentials(env);
  const filter = compileFilter({ ...cfg.filters, sinceMs: cfg.sync.since });
  return deepFreeze({ ...cfg, filter, credentials, sources, written: writtenValues(raw), configFile });
}

/** The yaml package (~8 MiB resident), loaded only when a config file is read. */
function loadYaml(): typeof import('yaml') {
  return createRequire(import.meta.url)('yaml') as typeof import('yaml');
}

/** Dotted paths of the leaves of a parsed YAML value (lists and scalars are leaves). */
function leafKeys(v: unknown, prefix: string): string[] {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || Object.keys(v).length === 0) return [prefix];
  return Object.entries(v).flatMap(([k, x]) => leafKeys(x, `${prefix}.${k}`));
}

function findSecretKey(doc: unknown, prefix = ''): string | undefined {
  if (typeof doc !== 'object' || doc === null) return undefined;
  for (const [k, v] of Object.entries(doc)) {
    const p = prefix ? `${prefix}.${k}` : k;
    // Exact names only: `tokenEncoding` is a setting, `token` would be a secret.
    if (/^(password|passwd|secret|token|access_?token|username|user|credentials|api_?key)$/i.test(k)) return p;
    const inner = findSecretKey(v, p);
    if (inner) return inner;
  }
  return undefined;
}

function deepFreeze<T>(o: T): T {
  if (typeof o === 'object' && o !== null && !(o instanceof Secret)) {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}

/**
 * The effective configuration with secrets masked, in the file's own units (`10s`, `256MiB`, `10%`;
 * durations and sizes as written): `config check` prints it as YAML that loads back to the same
 * values (masked secrets aside).
 */
export function describeConfig(cfg: Config): Record<string, unknown> {
  const { credentials, sources: _s, written, configFile: _f, filter: _x, ...rest } = cfg;
  const plain = toFileValues(rest, { mask: true, written }) as Record<string, unknown>;
  return {
    ...plain,
    credentials: {
      username: credentials.username ?? null,
      password: credentials.password ? '***' : null,
      webhookSecret: credentials.webhookSecret ? '***' : null,
      httpToken: credentials.httpToken ? '***' : null,
      apiKey: credentials.apiKey ? '***' : null,
    },
  };
}

/**
 * Which credentials are set and which one authenticates, in words that survive log redaction:
 * `apiKey set (in use), username unset, password unset, webhookSecret unset, httpToken unset`.
 * For the start-up log and `config check` (a masked `***` would not say whether a value is there).
 */
export function describeCredentials(c: Credentials): string {
  // An API key wins: with it /token is never called (api/auth.ts).
  const inUse = c.apiKey ? 'apiKey' : c.username && c.password ? 'password' : null;
  const states: [string, boolean][] = [
    ['apiKey', c.apiKey !== undefined],
    ['username', c.username !== undefined && c.username !== ''],
    ['password', c.password !== undefined],
    ['webhookSecret', c.webhookSecret !== undefined],
    ['httpToken', c.httpToken !== undefined],
  ];
  const words = states.map(([k, set]) => `${k} ${set ? 'set' : 'unset'}${inUse === k || (inUse === 'password' && k === 'username') ? ' (in use)' : ''}`);
  return `${words.join(', ')}${inUse === null ? '; no API credentials (set CONSTELLR_API_KEY, or CONSTELLR_USERNAME and CONSTELLR_PASSWORD)' : ''}`;
}

/**
 * The effective configuration as a configuration file would hold it (unmasked; no credentials), in
 * one canonical form whatever the units were written in: two of these are equal exactly when the
 * configurations are.
 */
export function configAsFile(cfg: Config): Record<string, unknown> {
  const { credentials: _c, sources: _s, written: _w, configFile: _f, filter: _x, ...rest } = cfg;
  return toFileValues(rest, { mask: false }) as Record<string, unknown>;
}

function flatten(o: unknown, prefix = '', out: Record<string, string> = {}): Record<string, string> {
  if (typeof o === 'object' && o !== null && !Array.isArray(o) && Object.keys(o).length > 0) {
    for (const [k, v] of Object.entries(o)) flatten(v, prefix ? `${prefix}.${k}` : k, out);
  } else {
    out[prefix] = JSON.stringify(o ?? null);
  }
  return out;
}

/**
 * The keys given somewhere (file, environment, flag) whose value differs from the built-in default,
 * with where each came from, sorted. A key written at its default value is not listed, so the
 * output of `config check`, fed back in as a file, lists the same keys.
 */
export function notAtDefault(cfg: Config, cwd: string): Record<string, string> {
  const now = flatten(configAsFile(cfg));
  const defaults = flatten(configAsFile(loadConfig({ env: {}, cwd })));
  const out: Record<string, string> = {};
  for (const key of Object.keys(cfg.sources).sort((a, b) => a.localeCompare(b))) {
    // a key given as a whole map compares every leaf under it, on either side
    const under = (k: string) => k === key || k.startsWith(`${key}.`);
    const leaves = new Set([...Object.keys(now).filter(under), ...Object.keys(defaults).filter(under)]);
    if (leaves.size === 0 || [...leaves].some((k) => now[k] !== defaults[k])) out[key] = cfg.sources[key]!;
  }
  return out;
}
