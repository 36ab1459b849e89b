// The configuration schema: one strict zod schema for what may appear in the YAML file, the environment
// and flags. Unknown keys are errors; every message names the key. Secrets are NOT part of this schema:
// they come only from the environment or files (see load.ts).
import { z } from 'zod';
import { parseDuration, parseSize } from './duration.js';

const duration = (def: string) =>
  z
    .union([z.string(), z.number()])
    .default(def)
    .transform((v, ctx) => {
      try {
        return parseDuration(v);
      } catch (e) {
        ctx.addIssue({ code: 'custom', message: (e as Error).message });
        return z.NEVER;
      }
    });

const size = (def: string | number) =>
  z
    .union([z.string(), z.number()])
    .default(def)
    .transform((v, ctx) => {
      try {
        return parseSize(v);
      } catch (e) {
        ctx.addIssue({ code: 'custom', message: (e as Error).message });
        return z.NEVER;
      }
    });

const int = (def: number, min: number, max: number) =>
  z
    .union([z.number(), z.string().regex(/^-?\d+$/, 'must be an integer').transform(Number)])
    .default(def)
    .pipe(z.number().int('must be an integer').min(min).max(max));

const isoDate = z
  .union([z.string(), z.date()])
  .nullable()
  .default(null)
  .transform((v, ctx) => {
    if (v === null) return null;
    const ms = v instanceof Date ? v.getTime() : Date.parse(v);
    if (Number.isNaN(ms)) {
      ctx.addIssue({ code: 'custom', message: `not an ISO 8601 date: ${String(v)}` });
      return z.NEVER;
    }
    return ms;
  });

export const ORDERS = ['newest-first', 'oldest-first', 'smallest-first', 'key'] as const;
export type ClaimOrder = (typeof ORDERS)[number];

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export const configSchema = z.strictObject({
  api: z
    .strictObject({
      /** Base URL of the Constellr API. */
      url: z.url({ message: 'must be an http(s) URL' }).default('https://api.constellr.com'),
      /** Page size for GET /assets (the server caps it at 1000). */
      pageSize: int(1000, 1, 1000),
      /** Token request encoding: auto tries JSON, then form on 415/422. */
      tokenEncoding: z.enum(['auto', 'json', 'form']).default('auto'),
      maxRedirects: int(5, 0, 20),
      connectTimeout: duration('10s'),
      headersTimeout: duration('60s'),
      /** Longest silence allowed between two body chunks. */
      bodyIdleTimeout: duration('60s'),
      /** Each download's total deadline is 5 min + Size / minDownloadRate. */
      minDownloadRate: size('64KiB'),
    })
    .prefault({}),
  mirror: z
    .strictObject({
      dir: z.string().min(1).default('./constellr-mirror'),
      /** Free space kept on the mirror filesystem beyond the next download's size. */
      freeSpaceReserve: size('256MiB'),
    })
    .prefault({}),
  state: z
    .strictObject({
      dir: z.string().min(1).default('./constellr-state'),
    })
    .prefault({}),
  sync: z
    .strictObject({
      concurrency: int(4, 1, 256),
      /** node-cron expression for polls in `run`. */
      schedule: z.string().min(1).default('*/5 * * * *'),
      timezone: z.string().min(1).default('UTC'),
      /** Each poll lists from HWM − lookback (late-visible objects, strict filters, ties). */
      lookback: duration('1h'),
      /** Earliest LastModified to mirror; null means everything. */
      since: isoDate,
      order: z.enum(ORDERS).default('newest-first'),
      maxAttempts: int(10, 1, 1000),
      /** Fast in-run retries of one download before it goes back to the queue. */
      quickRetries: int(3, 0, 20),
      retryBaseDelay: duration('10s'),
      retryMaxDelay: duration('6h'),
      gracePeriod: duration('30s'),
      leaseDuration: duration('2m'),
    })
    .prefault({}),
  log: z
    .strictObject({
      level: z.enum(LOG_LEVELS).default('info'),
    })
    .prefault({}),
});

export type ConfigInput = z.input<typeof configSchema>;
export type ParsedConfig = z.output<typeof configSchema>;
