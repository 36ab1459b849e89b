// Log lines as one line of text for a terminal: while the progress display is live, a pino JSON
// line becomes e.g. `retry 2/10 …/2024-05-01_mask.tif: connection reset; next try in 22s`. Only
// used on a TTY; JSON logs stay JSON everywhere else (and with --log-format json).
import { formatBytes, formatDuration } from '../config/duration.js';

/** Plain words for an error class (the class is stored with jobs; see src/errors.ts). */
const CLASS_WORDS: Record<string, string> = {
  network: 'network error',
  timeout: 'timed out',
  short_body: 'connection closed early',
  http_5xx: 'server error',
  rate_limited: 'rate limited',
  size_mismatch: 'size changed',
  range_mismatch: 'resume refused',
  not_found: 'not found',
  http_4xx: 'refused',
  auth: 'token expired',
  auth_rejected: 'credentials rejected',
  disk_full: 'disk full',
  state_full: 'state disk full',
  store_unavailable: 'state database unreachable',
  io: 'local I/O error',
  bad_listing: 'not a listing',
  unsafe_key: 'unsafe key',
  path_conflict: 'path conflict',
  case_conflict: 'case conflict',
};

/** Plain words for the error codes that say more than their class (see src/errors.ts). */
const CODE_WORDS: Record<string, string> = {
  SYNC_API_ECONNRESET: 'connection reset',
  SYNC_API_ECONNREFUSED: 'connection refused',
  SYNC_API_UND_ERR_SOCKET: 'connection lost',
  SYNC_API_EPIPE: 'connection lost',
  SYNC_API_UND_ERR_CONNECT_TIMEOUT: 'connect timed out',
  SYNC_API_UND_ERR_HEADERS_TIMEOUT: 'no response in time',
  SYNC_API_UND_ERR_BODY_TIMEOUT: 'transfer stalled',
};

/** Why downloads are paused, in the words of the live display and of its log lines (gate reasons). */
export const PAUSE_WORDS: Record<string, string> = {
  api_down: 'API unavailable',
  rate_limited: 'rate limited by the API (429)',
  disk_full: 'mirror disk full',
  state_full: 'state disk full',
  store_unavailable: 'state database unreachable',
  auth_failed: 'credentials rejected',
  paused: 'paused',
};

/**
 * Log lines the live display shows itself, counting down, so they are not printed above it: a
 * pause line printed there would stay behind, frozen at its first "retrying in 1.0s".
 */
export function shownByDisplay(line: string): boolean {
  return /"msg":"pausing all downloads"/.test(line);
}

/** Shorten in the middle, keeping the end (the file name) and the start (the prefix). */
export function shortenMiddle(s: string, width: number): string {
  if (s.length <= width) return s;
  if (width <= 1) return '…';
  const tail = Math.ceil((width - 1) * 0.6);
  const head = width - 1 - tail;
  return `${s.slice(0, head)}…${s.slice(s.length - tail)}`;
}

function reasonOf(o: Record<string, unknown>): string {
  const cls = typeof o.errorClass === 'string' ? o.errorClass : undefined;
  const status = typeof o.status === 'number' ? ` (HTTP ${o.status})` : '';
  if (typeof o.code === 'string' && CODE_WORDS[o.code]) return `${CODE_WORDS[o.code]}${status}`;
  if (cls) return `${CLASS_WORDS[cls] ?? cls}${status}`;
  if (typeof o.err === 'string') return o.err;
  const e = o.err as { message?: unknown } | undefined;
  return typeof e?.message === 'string' ? e.message : '';
}

/** One line of text for a pino JSON line (or the line itself when it is not JSON). */
export function formatLogLine(line: string, o: { width: number; maxAttempts: number }): string {
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line.replace(/\s+$/, '');
  }
  const msg = typeof rec.msg === 'string' ? rec.msg : '';
  const key = typeof rec.key === 'string' ? rec.key : null;
  const reason = reasonOf(rec);
  const room = (fixed: string) => Math.max(12, o.width - fixed.length - 4);
  let text: string;
  if (msg === 'download failed; will retry' && key) {
    const head = `retry ${String(rec.attempts ?? '?')}/${o.maxAttempts}`;
    const tail = `${reason}${typeof rec.retryInMs === 'number' ? `; next try in ${formatDuration(rec.retryInMs)}` : ''}`;
    text = `${head} ${shortenMiddle(key, room(head + tail))}: ${tail}`;
  } else if (msg === 'download attempt failed; retrying' && key) {
    const tail = `${reason}; retrying now`;
    text = `retry ${shortenMiddle(key, room(tail))}: ${tail}`;
  } else if (msg === 'pausing all downloads') {
    text = `paused: ${PAUSE_WORDS[String(rec.reason)] ?? String(rec.reason ?? '')}${typeof rec.pauseMs === 'number' ? `, retrying in ${formatDuration(rec.pauseMs)}` : ''}`;
  } else if (msg === 'mirrored' && key) {
    const r = typeof rec.resumedFrom === 'number' ? ` (resumed at ${formatBytes(rec.resumedFrom)})` : '';
    text = `done ${shortenMiddle(key, room(r))}${r}`;
  } else {
    const level = typeof rec.level === 'string' && rec.level !== 'info' ? `${rec.level}: ` : '';
    // Priority when the width is short: the key (shortened in the middle, to no less than 24), the
    // message, then the reason.
    const withReason = `${msg}${reason && !msg.includes(reason) ? `: ${reason}` : ''}`;
    const rest = `${level}${key ?? ''}${key ? ': ' : ''}${withReason}`.length <= o.width ? withReason : msg;
    const head = key ? `${level}${shortenMiddle(key, Math.max(24, o.width - level.length - 14))}: ` : level;
    const line = `${head}${rest}`.replace(/\s+/g, ' ');
    return line.length <= o.width ? line : `${line.slice(0, o.width - 1)}…`;
  }
  return shortenMiddle(text.replace(/\s+/g, ' '), o.width);
}
