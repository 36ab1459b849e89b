// Walking the configuration schema: print an effective configuration back in the file's own units
// (`10s`, `256MiB`, `10%`), so `config check` output is a valid configuration file that loads to the
// same values, and suggest the nearest known key for a misspelt one. Driven only by the kinds the
// schema helpers declare (schema.ts fieldKinds): a new key needs no edit here.
import type { z } from 'zod';
import { redactUrl } from '../lib/url-safety.js';
import { parseDuration, parseSize } from './duration.js';
import { configSchema, fieldKinds, type FieldKind } from './schema.js';

type Node = z.core.$ZodType;

/** Wrappers whose inner schema describes the value (default, nullable, the input side of a pipe…). */
function inner(n: Node): Node | null {
  const def = n._zod.def as unknown as { type: string; innerType?: Node; in?: Node };
  if (def.type === 'pipe') return def.in ?? null;
  return def.innerType ?? null;
}

/** The kind declared on a schema or on any schema it wraps. */
export function kindOf(n: Node): FieldKind | undefined {
  for (let cur: Node | null = n; cur; cur = inner(cur)) {
    const meta = fieldKinds.get(cur as z.ZodType);
    if (meta) return meta.kind;
  }
  return undefined;
}

/** The object shape a schema wraps, or null for a leaf. */
export function shapeOf(n: Node): Record<string, Node> | null {
  for (let cur: Node | null = n; cur; cur = inner(cur)) {
    const def = cur._zod.def as unknown as { type: string; shape?: Record<string, Node> };
    if (def.type === 'object') return def.shape ?? null;
    if (fieldKinds.get(cur as z.ZodType)) return null;
  }
  return null;
}

/** The default a schema declares, as written in the schema (`'30d'`), or undefined. */
export function defaultInput(n: Node): unknown {
  for (let cur: Node | null = n; cur; cur = inner(cur)) {
    const def = cur._zod.def as unknown as { type: string; defaultValue?: unknown };
    if (def.type === 'default') return def.defaultValue;
  }
  return undefined;
}

/** The schema node of a dotted key (null when there is none). */
export function nodeAt(dotted: string, n: Node = configSchema): Node | null {
  let cur: Node | null = n;
  for (const p of dotted.split('.')) {
    cur = cur ? (shapeOf(cur)?.[p] ?? null) : null;
  }
  return cur;
}

/** Every leaf key of the schema as a dotted path, with its kind. */
export function schemaLeaves(n: Node = configSchema, prefix = ''): { path: string; kind: FieldKind | undefined }[] {
  const shape = shapeOf(n);
  if (!shape) return [{ path: prefix, kind: kindOf(n) }];
  return Object.entries(shape).flatMap(([k, v]) => schemaLeaves(v, prefix ? `${prefix}.${k}` : k));
}

const DURATION_UNITS: [string, number][] = [
  ['w', 604_800_000],
  ['d', 86_400_000],
  ['h', 3_600_000],
  ['m', 60_000],
  ['s', 1000],
  ['ms', 1],
];

/** Milliseconds as a duration the parser reads back exactly: 10000 → "10s", 90000 → "1m30s". */
export function durationSetting(ms: number): string {
  if (ms === 0) return '0s';
  let rest = Math.round(ms);
  let out = '';
  for (const [u, f] of DURATION_UNITS) {
    const n = Math.floor(rest / f);
    if (n > 0) {
      out += `${n}${u}`;
      rest -= n * f;
    }
  }
  return out;
}

/** Bytes as a size the parser reads back exactly, in the largest exact unit: 268435456 → "256MiB". */
export function sizeSetting(bytes: number): string | number {
  if (bytes === 0) return 0;
  const units: [string, number][] = [
    ['TiB', 1024 ** 4],
    ['GiB', 1024 ** 3],
    ['MiB', 1024 ** 2],
    ['KiB', 1024],
    ['TB', 1000 ** 4],
    ['GB', 1000 ** 3],
    ['MB', 1000 ** 2],
    ['kB', 1000],
  ];
  let best: string | number = bytes;
  let bestN = bytes;
  for (const [u, f] of units) {
    if (bytes % f === 0 && bytes / f < bestN) {
      best = `${bytes / f}${u}`;
      bestN = bytes / f;
    }
  }
  return best;
}

/**
 * Mask a URL's password and every credential-bearing query parameter (`?password=`, `?token=`,
 * signatures): the same redaction as status and the status page (lib/url-safety.ts).
 */
export function maskUrl(u: string): string {
  return redactUrl(u);
}

/** Durations and sizes as written (file, environment, flag or the schema's default), by dotted key. */
export type WrittenValues = Readonly<Record<string, string | number>>;

/**
 * The text a duration or size was written as (`30d`, `720h`, `1GB`), when it still reads as the value
 * in force (a reload may have replaced the value, not the text); else undefined.
 */
function asWritten(kind: FieldKind | undefined, v: number, written: string | number | undefined): string | number | undefined {
  if (written === undefined) return undefined;
  try {
    const back = kind === 'duration' ? parseDuration(written) : parseSize(written);
    return back === v ? (typeof written === 'string' ? written.trim() : written) : undefined;
  } catch {
    return undefined;
  }
}

function leafValue(kind: FieldKind | undefined, v: unknown, mask: boolean, written?: string | number): unknown {
  if (v === null || v === undefined) return v ?? null;
  switch (kind) {
    case 'duration':
      return typeof v === 'number' ? (asWritten(kind, v, written) ?? durationSetting(v)) : v;
    case 'size':
      return typeof v === 'number' ? (asWritten(kind, v, written) ?? sizeSetting(v)) : v;
    case 'countOrPercent': {
      const o = v as { percent?: number; count?: number };
      return o.percent !== undefined ? `${o.percent}%` : o.count;
    }
    case 'date':
      return typeof v === 'number' ? new Date(v).toISOString() : v;
    case 'timetable':
      return typeof v === 'object' ? (v as { source: string }).source : v;
    case 'secret':
      return mask ? '***' : v;
    case 'url':
      return mask && typeof v === 'string' ? maskUrl(v) : v;
    default:
      return Array.isArray(v) ? [...(v as unknown[])] : v;
  }
}

/**
 * A parsed configuration (or a section of it) as the values a file would hold. `mask` hides
 * secrets and URL passwords (the result then no longer round-trips for those keys); `written` keeps
 * durations and sizes in the units they were written in (`30d` stays `30d`, not `4w2d`).
 */
export function toFileValues(value: unknown, opts: { mask: boolean; written?: WrittenValues }, n: Node = configSchema, key = ''): unknown {
  const shape = shapeOf(n);
  if (!shape) return leafValue(kindOf(n), value, opts.mask, opts.written?.[key]);
  const obj = (value ?? {}) as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [k, child] of Object.entries(shape)) {
    if (k in obj) out[k] = toFileValues(obj[k], opts, child, key ? `${key}.${k}` : k);
  }
  return out;
}

/**
 * Durations and sizes as written: the raw input where one was given (file, environment, flag,
 * demo defaults), else the schema's own default (`'7d'`).
 */
export function writtenValues(raw: Record<string, unknown>): Record<string, string | number> {
  const out: Record<string, string | number> = {};
  for (const leaf of schemaLeaves()) {
    if (leaf.kind !== 'duration' && leaf.kind !== 'size') continue;
    let v: unknown = raw;
    for (const p of leaf.path.split('.')) v = typeof v === 'object' && v !== null ? (v as Record<string, unknown>)[p] : undefined;
    if (v === undefined) v = defaultInput(nodeAt(leaf.path)!);
    if (typeof v === 'string' || typeof v === 'number') out[leaf.path] = v;
  }
  return out;
}

/** Levenshtein distance (small strings: configuration keys). */
export function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j]!;
      prev[j] = Math.min(prev[j]! + 1, prev[j - 1]! + 1, diag + (a[i - 1]!.toLowerCase() === b[j - 1]!.toLowerCase() ? 0 : 1));
      diag = up;
    }
  }
  return prev[b.length]!;
}

/**
 * The known key nearest to an unknown one: a sibling within a few edits, or the same name in another
 * section (`concurrency` at the top level → `sync.concurrency`). Undefined when nothing is close.
 */
export function suggestKey(section: string, key: string): string | undefined {
  let node: Node | null = configSchema;
  for (const p of section ? section.split('.') : []) node = shapeOf(node!)?.[p] ?? null;
  const siblings = node ? Object.keys(shapeOf(node) ?? {}) : [];
  const limit = Math.max(2, Math.floor(key.length / 3));
  let best: { name: string; d: number } | undefined;
  for (const s of siblings) {
    const d = editDistance(key, s);
    if (d <= limit && (!best || d < best.d)) best = { name: section ? `${section}.${s}` : s, d };
  }
  if (best) return best.name;
  // Misplaced: the same (or nearly the same) name under another section.
  for (const leaf of schemaLeaves()) {
    const last = leaf.path.split('.').pop()!;
    const d = editDistance(key, last);
    if (d <= Math.min(limit, 1) && (!best || d < best.d)) best = { name: leaf.path, d };
  }
  for (const top of Object.keys(shapeOf(configSchema) ?? {})) {
    for (const sub of Object.keys(shapeOf(shapeOf(configSchema)![top]!) ?? {})) {
      if (editDistance(key, sub) === 0 && !best) best = { name: `${top}.${sub}`, d: 0 };
    }
  }
  return best?.name;
}
