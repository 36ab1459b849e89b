// The configuration schema: one strict zod schema for what may appear in the YAML file, the environment
// and flags. Unknown keys are errors; every message names the key. Secrets are NOT part of this schema:
// they come only from the environment or files (see load.ts).
import cron from 'node-cron';
import { z } from 'zod';
import { parseDuration, parseSize } from './duration.js';
import { cronProblem } from './cron-fields.js';
import { globToRegExp } from './filters.js';
import { isValidTimeZone, parseTimetable } from './timetable.js';

/**
 * What kind of value a field holds, for printing it back in the file's own units (`config check`)
 * and for masking. Every helper below tags its schema here; zod keeps the tag through .refine(),
 * .nullable() and the like, so a new key built with these helpers round-trips with no other edit.
 */
export type FieldKind = 'duration' | 'size' | 'countOrPercent' | 'date' | 'secret' | 'url' | 'timetable';
export const fieldKinds = z.registry<{ kind: FieldKind }>();
const tag = <T extends z.ZodType>(schema: T, kind: FieldKind): T => {
  fieldKinds.add(schema as z.ZodType, { kind });
  return schema;
};

/** A value only ever printed masked (`***`); see describeConfig. */
export const secret = <T extends z.ZodType>(schema: T): T => tag(schema, 'secret');

/** An http(s) URL; printed with any userinfo password and query masked. */
export const httpUrl = () => tag(z.url({ protocol: /^https?$/, message: 'must be an http(s) URL' }), 'url');

/**
 * A node-cron expression, checked when the configuration is loaded (every command), optionally "off".
 * The message names the field, its value and its range (cron-fields.ts).
 */
const cronExpression = (def: string, allowOff = false) =>
  z
    .string()
    .default(def)
    .superRefine((v, ctx) => {
      if (allowOff && v === 'off') return;
      const problem = cronProblem(v);
      if (problem !== null) ctx.addIssue({ code: 'custom', message: `${JSON.stringify(v)} is not a valid cron expression: ${problem}${allowOff ? ' (or "off")' : ''}` });
      else if (!cron.validate(v)) ctx.addIssue({ code: 'custom', message: `${JSON.stringify(v)} is not a valid cron expression (e.g. "*/5 * * * *"${allowOff ? ', or "off"' : ''})` });
    });

/** A string (or number) in the file's units, parsed to a number by `parse`; its error names the value. */
const parsed = (def: string | number, parse: (v: string | number) => number, kind: FieldKind) =>
  tag(
    z
      .union([z.string(), z.number()], { error: kind === 'duration' ? 'must be a duration (e.g. 500ms, 30s, 5m, 1h, 1d)' : 'must be a size (e.g. 512KiB, 10MiB, 2GB)' })
      .default(def)
      .transform((v, ctx) => {
        try {
          return parse(v);
        } catch (e) {
          ctx.addIssue({ code: 'custom', message: (e as Error).message });
          return z.NEVER;
        }
      }),
    kind,
  );

export const duration = (def: string) => parsed(def, parseDuration, 'duration');

export const size = (def: string | number) => parsed(def, parseSize, 'size');

/** An integer in [min, max], from YAML or text (an environment variable, a flag). */
const int = (def: number, min: number, max: number) =>
  z
    .union([z.number(), z.string()], { error: `must be an integer from ${min} to ${max}` })
    .default(def)
    .transform((v, ctx) => {
      const n = typeof v === 'number' ? v : /^\s*-?\d+\s*$/.test(v) ? Number(v) : Number.NaN;
      if (!Number.isInteger(n) || n < min || n > max) {
        ctx.addIssue({ code: 'custom', message: `must be an integer from ${min} to ${max}, got ${JSON.stringify(v)}` });
        return z.NEVER;
      }
      return n;
    });

/** true or false, from YAML or text ("true"/"false" in an environment variable or a flag). */
const bool = (def: boolean) =>
  z.union([z.boolean(), z.enum(['true', 'false']).transform((v) => v === 'true')], { error: 'must be true or false' }).default(def);

const isoDate = tag(
  z
    .union([z.string(), z.date()], { error: 'must be an ISO 8601 date (e.g. 2024-01-01T00:00:00Z)' })
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
    }),
  'date',
);

const globPattern = z.string().superRefine((g, ctx) => {
  try {
    globToRegExp(g);
  } catch (e) {
    ctx.addIssue({ code: 'custom', message: (e as Error).message });
  }
});

export const ORDERS = ['newest-first', 'oldest-first', 'smallest-first', 'key'] as const;
export type ClaimOrder = (typeof ORDERS)[number];

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export const SOURCES = ['assets', 'stac'] as const;
export type SourceKind = (typeof SOURCES)[number];

/** A CQL2-JSON expression: an object with an `op` (validated further by the server). */
const cql2Json = z
  .union([z.record(z.string(), z.unknown()), z.string()], { error: 'must be a CQL2-JSON object (or its JSON text)' })
  .nullable()
  .default(null)
  .transform((v, ctx) => {
    if (v === null) return null;
    let o: unknown = v;
    if (typeof v === 'string') {
      try {
        o = JSON.parse(v);
      } catch {
        ctx.addIssue({ code: 'custom', message: 'must be a CQL2-JSON object (or its JSON text)' });
        return z.NEVER;
      }
    }
    if (typeof o !== 'object' || o === null || Array.isArray(o) || typeof (o as { op?: unknown }).op !== 'string') {
      ctx.addIssue({ code: 'custom', message: 'must be a CQL2-JSON object with an "op", e.g. {"op":"=","args":[{"property":"order:id"},"1234"]}' });
      return z.NEVER;
    }
    return o as Record<string, unknown>;
  });

export const configSchema = z.strictObject({
  /** Where the listing comes from: the asset API (GET /assets) or the STAC API (POST /stac/search). */
  source: z.enum(SOURCES).default('assets'),
  /** The STAC source's scope (source: stac). */
  stac: z
    .strictObject({
      /** Collection ids to search; null = every collection GET /stac/collections lists. */
      collections: z.array(z.string().min(1)).min(1).nullable().default(null),
      /** A CQL2-JSON filter sent with every search, e.g. one order:id. */
      filter: cql2Json,
      /** [west, south, east, north] (or 6 numbers with heights). */
      bbox: z
        .array(z.number())
        .refine((b) => b.length === 4 || b.length === 6, 'must have 4 or 6 numbers')
        .nullable()
        .default(null),
      /** An RFC 3339 instant or interval ("2026-01-01T00:00:00Z/.."). */
      datetime: z.string().min(1).nullable().default(null),
      /** Asset keys or roles to mirror of each item; empty = every asset. */
      assets: z.array(z.string().min(1)).default([]),
      /** Items per search page (limit). */
      pageSize: int(100, 1, 10000),
      /** Window on datetime when items carry no usable `updated` (late deliveries). */
      lookback: duration('30d').refine((ms) => ms >= 1000, 'must be at least 1s'),
      /** Keep the mirror a self-contained STAC catalog (catalog.json, collection.json, item JSON). */
      catalog: z.boolean().default(true),
      /** With catalog: keep <mirror>/items.parquet, the catalog's items as stac-geoparquet. */
      geoparquet: z.boolean().default(true),
    })
    .prefault({}),
  api: z
    .strictObject({
      /** Base URL of the Constellr API. */
      url: httpUrl().default('https://api.constellr.com'),
      /** Page size for GET /assets (the server caps it at 1000). */
      pageSize: int(1000, 1, 1000),
      /** Token request encoding: auto tries JSON, then form on 415/422. */
      tokenEncoding: z.enum(['auto', 'json', 'form']).default('auto'),
      maxRedirects: int(5, 0, 20),
      connectTimeout: duration('10s'),
      headersTimeout: duration('60s'),
      /** Longest silence allowed between two body chunks. */
      bodyIdleTimeout: duration('60s'),
      /**
       * The longest Retry-After honoured (429/503): longer ones are clamped (logged once), so a
       * server asking for hours or weeks cannot stall a sync. Also bounds job backoff's Retry-After.
       */
      maxRetryAfter: duration('60s').refine((ms) => ms >= 1000 && ms <= 86_400_000, 'must be between 1s and 1d'),
      /** Each download's total deadline is 5 min + Size / minDownloadRate. */
      minDownloadRate: size('64KiB'),
    })
    .prefault({}),
  mirror: z
    .strictObject({
      dir: z.string().min(1).default('./constellr-mirror'),
      /** Free space kept on the mirror filesystem beyond the next download's size. */
      freeSpaceReserve: size('256MiB'),
      /** auto probes the mirror at start-up; sensitive/insensitive override the probe. */
      caseSensitivity: z.enum(['auto', 'sensitive', 'insensitive']).default('auto'),
      /** Keys that differ only in case or Unicode normalization on an insensitive filesystem. */
      caseConflict: z.enum(['error', 'skip', 'suffix']).default('error'),
      /** Replaced versions kept per key under versionsDir (0 = none). */
      keepPreviousVersions: int(0, 0, 1000),
      /** Where replaced versions go; null = <mirror>/.constellr-sync/versions. */
      versionsDir: z.string().min(1).nullable().default(null),
      /** What a reconcile does with a key no longer listed: keep (mark only), trash, delete. */
      deletePolicy: z.enum(['keep', 'trash', 'delete']).default('keep'),
      /** Most keys one reconcile may mark deleted: a count (50) or a percentage of tracked keys (10%). */
      maxDelete: tag(
        z
          .union([z.string(), z.number()], { error: 'must be a count (e.g. 50) or a percentage (e.g. 10%)' })
          .default('10%')
          .transform((v, ctx) => {
            const m = /^\s*(\d+(?:\.\d+)?)\s*(%?)\s*$/.exec(String(v));
            if (!m || (m[2] === '' && !Number.isInteger(Number(m[1]))) || (m[2] === '%' && Number(m[1]) > 100)) {
              ctx.addIssue({ code: 'custom', message: `must be a count (e.g. 50) or a percentage (e.g. 10%), got ${JSON.stringify(v)}` });
              return z.NEVER;
            }
            return m[2] === '%' ? { percent: Number(m[1]) } : { count: Number(m[1]) };
          }),
        'countOrPercent',
      ),
    })
    .prefault({}),
  /** Which listed assets are mirrored; filtered-out keys are not queued. */
  filters: z
    .strictObject({
      include: z.array(globPattern).default([]),
      exclude: z.array(globPattern).default([]),
      minSize: size(0),
      maxSize: tag(
        z
          .union([z.string(), z.number()], { error: 'must be a size (e.g. 512KiB, 10MiB, 2GB)' })
          .nullable()
          .default(null)
          .transform((v, ctx) => {
            if (v === null) return null;
            try {
              return parseSize(v);
            } catch (e) {
              ctx.addIssue({ code: 'custom', message: (e as Error).message });
              return z.NEVER;
            }
          }),
        'size',
      ),
    })
    .prefault({}),
  state: z
    .strictObject({
      dir: z.string().min(1).default('./constellr-state'),
      /**
       * postgres://… selects the PostgreSQL backend shared by several replicas (state.dir then only
       * holds this replica's instance lock); null = SQLite in state.dir.
       */
      url: tag(z.string().regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// URL'), 'url')
        .nullable()
        .default(null),
      /** PostgreSQL schema holding this deployment's tables (one schema per mirror). */
      schema: z
        .string()
        .regex(/^[a-z_][a-z0-9_]{0,62}$/, 'must be a lower-case SQL identifier (letters, digits, _)')
        .default('constellr_sync'),
      /** PostgreSQL connections per replica. */
      poolSize: int(10, 2, 200),
      /** The poller lease: one replica polls; another takes over this long after it died. */
      pollerLease: duration('30s'),
      /**
       * SQLite `synchronous`: normal (default) makes commits durable at checkpoints instead of at
       * every commit. A power cut can then only roll back the newest transactions, which redo
       * idempotently (files are fsynced and renamed before their row says done). full syncs the WAL
       * on every commit.
       */
      synchronous: z.enum(['normal', 'full']).default('normal'),
    })
    .prefault({}),
  sync: z
    .strictObject({
      concurrency: int(4, 1, 256),
      /** node-cron expression for polls in `run`. */
      schedule: cronExpression('*/5 * * * *'),
      timezone: z.string().default('UTC').refine(isValidTimeZone, { message: 'not an IANA timezone this runtime knows (e.g. UTC, Europe/Berlin)' }),
      /** Each poll lists from HWM − lookback (late-visible objects, strict filters, ties). */
      // At least 1 s: with a strict server filter, a shorter lookback loses late objects of the HWM's own second.
      lookback: duration('1h').refine((ms) => ms >= 1000, 'must be at least 1s'),
      /** Earliest LastModified to mirror; null means everything. */
      since: isoDate,
      order: z.enum(ORDERS).default('newest-first'),
      /** node-cron expression for full reconciliation listings in `run` (deletions, missed keys); "off" disables. */
      reconcileSchedule: cronExpression('30 3 * * *', true),
      /** Global download rate cap, or a weekly timetable in sync.timezone (see src/config/timetable.ts); parsed (its text in `.source`). */
      bandwidth: tag(
        z
          .union([z.string(), z.number()], { error: 'must be a rate (e.g. 10MiB/s, unlimited) or a timetable' })
          .default('unlimited')
          .transform((v, ctx) => {
            try {
              return parseTimetable(v);
            } catch (e) {
              ctx.addIssue({ code: 'custom', message: (e as Error).message });
              return z.NEVER;
            }
          }),
        'timetable',
      ),
      maxAttempts: int(10, 1, 1000),
      /** Fast in-run retries of one download before it goes back to the queue. */
      quickRetries: int(3, 0, 20),
      /** Files of at least this size are fetched as sync.rangedStreams parallel ranges. */
      rangedThreshold: size('64MiB'),
      /**
       * Ranges fetched at once for one large file; 1 (the default) = always one stream. Off by default:
       * on the nginx bench it was slower than one stream per file, and a kill -9 loses the progress
       * since the last checkpoint, where a single stream loses nothing (bench/README.md).
       */
      rangedStreams: int(1, 1, 16),
      retryBaseDelay: duration('10s'),
      retryMaxDelay: duration('6h'),
      gracePeriod: duration('30s'),
      leaseDuration: duration('2m'),
      /** While the API rejects the credentials, how often they are tried again (a slow retry, never a storm). */
      authRetryInterval: duration('60s'),
      /** A listing (poll or reconcile) of more pages than this never ends: it stops with an error, the mark unmoved. */
      maxListingPages: int(1_000_000, 1, 1_000_000_000),
      /** First pause of the circuit breaker when every download fails (API down); doubles per trip up to 5 min. */
      breakerPause: duration('5s'),
      /** A one-shot `sync` gives up once the API has been down (breaker open, exit 3) or the state database out of reach (exit 6) this long; `run` waits. */
      outageDeadline: duration('10m').refine((ms) => ms >= 1000, 'must be at least 1s'),
    })
    .prefault({}),
  log: z
    .strictObject({
      level: z.enum(LOG_LEVELS).default('info'),
    })
    .prefault({}),
  /** The operations endpoint: /healthz, /readyz, /metrics (run only). */
  http: z
    .strictObject({
      enabled: bool(true),
      /** host:port; use 0.0.0.0:9464 in a container so the port can be published. */
      listen: z
        .string()
        .regex(/^(\[[0-9a-fA-F:.]+\]|[^:\s]+):\d{1,5}$/, 'must be host:port, e.g. 127.0.0.1:9464')
        .default('127.0.0.1:9464'),
      /** /readyz fails when the last successful poll is older than this many schedule intervals. */
      readyPollIntervals: int(3, 1, 1000),
      /** The status page (/ and /api/status) on the same listener; its token comes from CONSTELLR_SYNC_HTTP_TOKEN. */
      statusPage: bool(true),
    })
    .prefault({}),
  /** Notifications on each completed download and each deletion, through a database outbox. */
  notify: z
    .strictObject({
      onAsset: z
        .strictObject({
          /** argv of a program run without a shell for each event; null = no hook. */
          command: z.array(z.string().min(1)).min(1).nullable().default(null),
          concurrency: int(2, 1, 64),
          /** A hook still running after this is killed (and retried). */
          timeout: duration('60s'),
        })
        .prefault({}),
      webhook: z
        .strictObject({
          /** POST target for JSON events; null = no webhook. The HMAC key comes from CONSTELLR_SYNC_WEBHOOK_SECRET. */
          url: httpUrl().nullable().default(null),
          concurrency: int(4, 1, 64),
          timeout: duration('10s'),
        })
        .prefault({}),
      /** Delivery attempts per event and sink before it is marked failed. */
      maxAttempts: int(10, 1, 1000),
      retryBaseDelay: duration('5s'),
      retryMaxDelay: duration('1h'),
      /** Failed deliveries stay in the outbox (visible in status) this long, then are pruned. */
      failedRetention: duration('7d'),
    })
    .prefault({}),
});

export type ConfigInput = z.input<typeof configSchema>;
export type ParsedConfig = z.output<typeof configSchema>;
