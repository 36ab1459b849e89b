// pino JSON lines on stdout. Secrets never reach a line: redaction covers header and field names in
// both letter cases (pino paths are case-sensitive), and message strings are scrubbed of bearer
// tokens and JWTs because redaction never looks inside messages.
import { scrubParams } from './url-safety.js';
import { pino, stdSerializers, destination, stdTimeFunctions, type Logger, type DestinationStream } from 'pino';

export type { Logger };

const SECRET_FIELDS = ['password', 'Password', 'PASSWORD', 'token', 'Token', 'access_token', 'accessToken', 'authorization', 'Authorization', 'AUTHORIZATION', 'apiKey', 'api_key', 'x-api-key', 'X-Api-Key', 'X-API-Key'];

export const REDACT_PATHS = [
  ...SECRET_FIELDS,
  ...SECRET_FIELDS.map((f) => `*.${f}`),
  ...SECRET_FIELDS.map((f) => `*.*.${f}`),
  'headers.authorization',
  'headers.Authorization',
  'req.headers.authorization',
  'req.headers.Authorization',
  'request.headers.authorization',
  'request.headers.Authorization',
  'headers["x-api-key"]',
  'req.headers["x-api-key"]',
];

const TOKEN_PATTERNS: [RegExp, string][] = [
  [/Bearer\s+[A-Za-z0-9._~+/=-]+/gi, 'Bearer ***'],
  [/eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*/g, '***'],
  [/(X-Api-Key["']?\s*[:=]\s*["']?)([^\s"',}]+)/gi, '$1***'],
  // user:password@ in any URL (database URLs in driver errors)
  [/\b([a-z][a-z0-9+.-]*:\/\/[^:/@\s]*:)[^@\s/]+@/gi, '$1***@'],
];

/** Remove anything that looks like a credential from free text. */
export function scrubSecrets(text: string, extra: readonly string[] = []): string {
  let out = text;
  for (const [re, rep] of TOKEN_PATTERNS) out = out.replace(re, rep);
  // password=, access_token=, the signature and credential of a pre-signed URL, API keys in a
  // query: the parameter list the catalog and the state use (lib/url-safety.ts).
  out = scrubParams(out);
  for (const s of extra) if (s.length >= 4) out = out.split(s).join('***');
  return out;
}

export interface LoggerOptions {
  level?: string;
  destination?: DestinationStream;
  /** Literal secret values to scrub from messages as a last line of defence. */
  secrets?: () => readonly string[];
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const secrets = opts.secrets ?? (() => []);
  return pino(
    {
      level: opts.level ?? 'info',
      base: { name: 'constellr-sync' },
      timestamp: stdTimeFunctions.isoTime,
      redact: { paths: REDACT_PATHS, censor: '***' },
      formatters: { level: (label) => ({ level: label }) },
      serializers: {
        err: (e: unknown) => {
          // A string (often an error message carrying part of a server's body) is scrubbed like a
          // message; pino's serializer would pass it through untouched.
          if (typeof e === 'string') return scrubSecrets(e, secrets());
          if (e === null || typeof e !== 'object') return e;
          const raw = stdSerializers.err(e as Error) as unknown as Record<string, unknown>;
          // Not an Error: the object itself comes back; scrub a copy, never the caller's object.
          const s = raw === e ? { ...raw } : raw;
          if (typeof s.message === 'string') s.message = scrubSecrets(s.message, secrets());
          if (typeof s.stack === 'string') s.stack = scrubSecrets(s.stack, secrets());
          return s;
        },
      },
      hooks: {
        logMethod(args, method) {
          const scrubbed = args.map((a) => (typeof a === 'string' ? scrubSecrets(a, secrets()) : a));
          return method.apply(this, scrubbed as Parameters<typeof method>);
        },
      },
    },
    opts.destination ?? destination({ dest: 1, sync: true }),
  );
}
