// A weekly bandwidth timetable, rclone-style but with weekdays and ranges:
//   "10MiB/s"                                     one rate all week
//   "Mon-Fri 08:00-18:00 10MiB/s; otherwise unlimited"
//   "Mon-Fri 08:00-18:00 2MiB/s; Sat,Sun 512KiB/s; 22:00-06:00 unlimited; otherwise 5MiB/s"
// Rules are tried in order and the first that matches the local time (in the configured timezone)
// wins; "otherwise RATE" (or a bare "RATE") is the fallback, and without one the rest is unlimited.
// Time ranges may wrap midnight; "24:00" ends a day. Pure: time is passed in, never read.
import { parseSize } from './duration.js';

export const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'] as const;

/** Bytes per second; null means unlimited. */
export type Rate = number | null;

export interface TimetableRule {
  /** Weekdays (0 = Sunday) the rule applies to. */
  days: ReadonlySet<number>;
  /** Minutes since local midnight, [from, to); from > to wraps midnight. */
  from: number;
  to: number;
  rate: Rate;
}

export interface Timetable {
  /** The text it was parsed from (for logs and reload diffs). */
  source: string;
  rules: readonly TimetableRule[];
  fallback: Rate;
}

/** The smallest rate accepted (bytes per second). */
export const MIN_RATE = 1024;

const ALL_DAYS = new Set([0, 1, 2, 3, 4, 5, 6]);

function parseRate(text: string): Rate {
  const t = text.trim().toLowerCase();
  if (t === 'unlimited' || t === 'off' || t === 'none') return null;
  const n = parseSize(t.replace(/\/s$/, '').replace(/ps$/, ''));
  // 0 means unlimited, like rclone's --bwlimit 0
  if (n === 0 && /^0+(\.0+)?[a-z]*(\/s|ps)?$/.test(t)) return null;
  // Below 1 KiB/s no download of any size finishes in time (0.5B/s would round to 0 = unlimited).
  if (n < MIN_RATE) throw new Error(`rate "${text.trim()}" is below the smallest limit, 1KiB/s (0 or unlimited: no limit)`);
  return n;
}

function dayIndex(name: string, whole: string): number {
  const i = DAYS.findIndex((d) => d.toLowerCase() === name.slice(0, 3).toLowerCase());
  if (i < 0 || name.length < 3) throw new Error(`bandwidth timetable "${whole}": unknown weekday "${name}" (use Mon, Tue, … Sun)`);
  return i;
}

function parseDays(spec: string, whole: string): Set<number> {
  const s = spec.toLowerCase();
  if (s === 'daily' || s === 'everyday' || s === 'mon-sun') return new Set(ALL_DAYS);
  if (s === 'weekdays') return new Set([1, 2, 3, 4, 5]);
  if (s === 'weekends' || s === 'weekend') return new Set([0, 6]);
  const days = new Set<number>();
  for (const part of spec.split(',')) {
    const [a, b] = part.split('-');
    const from = dayIndex(a!.trim(), whole);
    const to = b === undefined ? from : dayIndex(b.trim(), whole);
    // Fri-Mon wraps the week
    for (let d = from; ; d = (d + 1) % 7) {
      days.add(d);
      if (d === to) break;
    }
  }
  return days;
}

function parseClock(hhmm: string, whole: string): number {
  const m = /^(\d{1,2}):(\d{2})$/.exec(hhmm);
  const h = Number(m?.[1]);
  const min = Number(m?.[2]);
  if (!m || h > 24 || min > 59 || (h === 24 && min !== 0)) throw new Error(`bandwidth timetable "${whole}": invalid time "${hhmm}" (use HH:MM)`);
  return h * 60 + min;
}

/** Parse a rate or a timetable. Throws an Error whose message quotes the input. */
export function parseTimetable(input: string | number): Timetable {
  const source = String(input).trim();
  if (typeof input === 'number') return { source, rules: [], fallback: parseRate(String(input)) };
  let fallback: Rate | undefined;
  const rules: TimetableRule[] = [];
  const entries = source
    .split(';')
    .map((e) => e.trim())
    .filter((e) => e.length > 0);
  if (entries.length === 0) throw new Error('bandwidth: empty value (use e.g. 10MiB/s, unlimited, or a timetable)');
  for (const entry of entries) {
    const words = entry.split(/\s+/);
    const rateWord = words.pop()!;
    let rate: Rate;
    try {
      rate = parseRate(rateWord);
    } catch (e) {
      if (!(e as Error).message.includes('smallest limit')) throw new Error(`bandwidth timetable "${source}": invalid rate "${rateWord}" (use e.g. 10MiB/s, 512KiB/s, unlimited)`);
      throw new Error(`${(e as Error).message}${source === rateWord ? '' : ` in the timetable "${source}"`}`);
    }
    if (words.length === 0 || (words.length === 1 && words[0]!.toLowerCase() === 'otherwise')) {
      if (fallback !== undefined) throw new Error(`bandwidth timetable "${source}": more than one "otherwise" rate`);
      fallback = rate;
      continue;
    }
    let days: Set<number> = new Set(ALL_DAYS);
    let from = 0;
    let to = 24 * 60;
    for (const w of words) {
      const range = /^(\d{1,2}:\d{2})-(\d{1,2}:\d{2})$/.exec(w);
      if (range) {
        from = parseClock(range[1]!, source);
        to = parseClock(range[2]!, source);
        if (from === to) throw new Error(`bandwidth timetable "${source}": empty time range "${w}"`);
      } else {
        days = parseDays(w, source);
      }
    }
    rules.push({ days, from, to, rate });
  }
  return { source, rules, fallback: fallback ?? null };
}

/** The local weekday and minute of day of `ms` in `timeZone`. */
export function localTime(ms: number, timeZone: string): { day: number; minute: number } {
  const parts = formatter(timeZone).formatToParts(new Date(ms));
  const get = (t: string) => parts.find((p) => p.type === t)?.value ?? '';
  const day = DAYS.indexOf(get('weekday') as (typeof DAYS)[number]);
  const hour = Number(get('hour')) % 24;
  return { day, minute: hour * 60 + Number(get('minute')) };
}

const formatters = new Map<string, Intl.DateTimeFormat>();
function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone, weekday: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
    formatters.set(timeZone, f);
  }
  return f;
}

/** Is `timeZone` an IANA name this runtime knows? */
export function isValidTimeZone(timeZone: string): boolean {
  try {
    formatter(timeZone);
    return true;
  } catch {
    return false;
  }
}

function ruleMatches(r: TimetableRule, day: number, minute: number): boolean {
  if (r.from < r.to) return r.days.has(day) && minute >= r.from && minute < r.to;
  // Wraps midnight: the part after midnight belongs to the previous day's rule.
  if (minute >= r.from) return r.days.has(day);
  if (minute < r.to) return r.days.has((day + 6) % 7);
  return false;
}

/** The rate in force at `ms` (epoch milliseconds) in `timeZone`. */
export function rateAt(t: Timetable, ms: number, timeZone: string): Rate {
  if (t.rules.length === 0) return t.fallback;
  const { day, minute } = localTime(ms, timeZone);
  for (const r of t.rules) if (ruleMatches(r, day, minute)) return r.rate;
  return t.fallback;
}

/** A rate for humans: "unlimited" or "2.0 MiB/s". */
export function describeRate(rate: Rate): string {
  if (rate === null) return 'unlimited';
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let v = rate;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}/s`;
}

/**
 * A limit so low that downloads miss their deadline (5 min + size / api.minDownloadRate) when
 * `concurrency` downloads share it: the words of a warning (config check, sync and run at start), or
 * null. Not an error: small files finish within the 5 minutes at any rate.
 */
export function slowBandwidthWarning(t: Timetable, concurrency: number, minDownloadRate: number): string | null {
  const rates = [...t.rules.map((r) => r.rate), t.fallback].filter((r): r is number => r !== null);
  if (rates.length === 0) return null;
  const lowest = Math.min(...rates);
  if (lowest / concurrency >= minDownloadRate) return null;
  const kib = (n: number) => `${Math.round((n / 1024) * 10) / 10}KiB/s`;
  return (
    `sync.bandwidth ${kib(lowest)} shared by sync.concurrency ${concurrency} downloads is ${kib(lowest / concurrency)} each, below api.minDownloadRate ${kib(minDownloadRate)}: ` +
    'large downloads will miss their deadline (5 min + size / api.minDownloadRate); raise the limit, lower sync.concurrency or lower api.minDownloadRate'
  );
}
