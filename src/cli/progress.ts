// The live progress display of `sync` in a terminal: files done and total, bytes, rate, ETA and the
// files being downloaded, redrawn in place a few times a second. Only used when stdout is a TTY (the
// caller decides); nothing here is written anywhere else, and without a TTY no escape code is ever
// printed. Log lines written while the display is live go through logStream(): the display is
// cleared, the line printed, the display redrawn, so the two never garble each other.
import { formatBytes, formatDuration } from '../config/duration.js';
import type { ListedSize } from '../lib/size.js';
import type { ClaimedJob } from '../store/types.js';
import type { WorkerEvents } from '../sync/worker.js';
import { formatLogLine, shortenMiddle, shownByDisplay } from './log-text.js';

const ESC = '\x1b[';
const MAX_FILES_SHOWN = 4;
/** Window of the rate estimate. */
const RATE_WINDOW_MS = 5000;

export interface ProgressSource {
  /** Downloads in flight now. */
  inFlight(): Iterable<ClaimedJob>;
  /** Jobs still to do (queued + running) and their listed bytes. */
  backlog(): Promise<{ jobs: number; bytes: number }>;
  /** Why downloads are paused now (circuit breaker, 429, disk full…) and for how long; null = running. */
  paused?(): { reason: string; untilMs: number | null } | null;
}

export interface ProgressOptions {
  /** The terminal (process.stdout when it is a TTY). */
  out: { write(s: string): unknown; columns?: number };
  clock?: () => number;
  /** Redraw interval. */
  intervalMs?: number;
  /** Log lines above the display as one line of text (default); false keeps them JSON (--log-format json). */
  textLogs?: { maxAttempts: number } | false;
}

export interface ProgressSnapshot {
  done: number;
  failed: number;
  gone: number;
  total: number;
  bytes: number;
  /** Bytes of finished files plus in-flight progress, and of everything this sync handles. */
  bytesDone: number;
  bytesTotal: number;
  rate: number;
  paused: { reason: string; untilMs: number | null } | null;
  etaMs: number | null;
  current: { key: string; size: ListedSize }[];
}

export class ProgressDisplay {
  readonly #o: ProgressOptions;
  readonly #clock: () => number;
  #src: ProgressSource | null = null;
  #timer: NodeJS.Timeout | null = null;
  #lines = 0;
  #live = false;
  #done = 0;
  #failed = 0;
  /** Listed but answered 404/410: finished, not failed. */
  #gone = 0;
  #received = 0;
  /** Sizes of the files done, and the bytes their last attempts received (the rest of #received is in flight). */
  #doneBytes = 0;
  #doneReceived = 0;
  /** The backlog and the counts it was read with: total = finished then + still to do then. */
  #backlog = { jobs: 0, bytes: 0, finished: 0, finishedBytes: 0 };
  #samples: { at: number; bytes: number }[] = [];
  #refreshing = false;

  constructor(o: ProgressOptions) {
    this.#o = o;
    this.#clock = o.clock ?? Date.now;
  }

  /** Worker events that feed the display. */
  events(): WorkerEvents {
    return {
      onBytes: (n) => {
        this.#received += n;
      },
      onDone: (_job, r) => {
        this.#doneBytes += r.bytes;
        this.#doneReceived += r.received;
      },
      onOutcome: (_job, outcome) => {
        if (outcome === 'done') this.#done++;
        else if (outcome === 'failed') this.#failed++;
        else if (outcome === 'gone') this.#gone++;
      },
    };
  }

  start(src: ProgressSource): void {
    this.#src = src;
    this.#live = true;
    this.#o.out.write(`${ESC}?25l`); // hide the cursor while redrawing
    void this.#refresh();
    this.#timer = setInterval(() => {
      void this.#refresh();
      this.#render();
    }, this.#o.intervalMs ?? 250);
    this.#timer.unref();
  }

  /** Stop redrawing and erase the display (the caller prints the final summary). */
  stop(): void {
    if (!this.#live) return;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    this.#clear();
    this.#o.out.write(`${ESC}?25h`);
    this.#live = false;
  }

  /** A pino destination that prints each line above the live display (to `stream`, e.g. stderr). */
  logStream(stream: { write(s: string): unknown }): { write(s: string): boolean } {
    return {
      write: (s: string) => {
        if (!this.#live) {
          stream.write(s);
          return true;
        }
        this.#clear();
        const text = this.#o.textLogs === false ? null : this.#o.textLogs;
        // On the terminal a log line is one line of text, cut to the width: never JSON wrapped over rows.
        if (text) {
          for (const l of s.split('\n').filter(Boolean))
            if (!shownByDisplay(l)) stream.write(`${formatLogLine(l, { width: this.#width(), maxAttempts: text.maxAttempts })}\n`);
        } else stream.write(s);
        this.#render();
        return true;
      },
    };
  }

  async #refresh(): Promise<void> {
    if (!this.#src || this.#refreshing) return;
    this.#refreshing = true;
    try {
      const finished = this.#done + this.#failed + this.#gone;
      const finishedBytes = this.#doneBytes;
      const b = await this.#src.backlog();
      this.#backlog = { ...b, finished, finishedBytes };
    } catch {
      // the database may be closing; keep the last numbers
    } finally {
      this.#refreshing = false;
    }
  }

  snapshot(): ProgressSnapshot {
    const now = this.#clock();
    this.#samples.push({ at: now, bytes: this.#received });
    while (this.#samples.length > 2 && now - this.#samples[0]!.at > RATE_WINDOW_MS) this.#samples.shift();
    const first = this.#samples[0]!;
    const dt = now - first.at;
    const rate = dt > 0 ? ((this.#received - first.bytes) * 1000) / dt : 0;
    const current = [...(this.#src?.inFlight() ?? [])].map((j) => ({ key: j.key, size: j.remoteSize }));
    const etaMs = rate > 0 && this.#backlog.bytes > 0 ? (this.#backlog.bytes / rate) * 1000 : null;
    const bytesTotal = Math.max(this.#doneBytes, this.#backlog.finishedBytes + this.#backlog.bytes);
    const bytesDone = Math.min(bytesTotal, this.#doneBytes + Math.max(0, this.#received - this.#doneReceived));
    return {
      done: this.#done,
      failed: this.#failed,
      gone: this.#gone,
      total: Math.max(this.#done + this.#failed + this.#gone, this.#backlog.finished + this.#backlog.jobs),
      bytes: this.#received,
      bytesDone,
      bytesTotal,
      rate,
      etaMs,
      current,
      paused: this.#src?.paused?.() ?? null,
    };
  }

  /** The lines of one frame (no escape codes), cut to the terminal width. */
  frame(s: ProgressSnapshot = this.snapshot()): string[] {
    const width = this.#width();
    const cut = (l: string) => (l.length > width ? `${l.slice(0, width - 1)}…` : l);
    const pct = s.bytesTotal > 0 ? Math.floor((s.bytesDone * 100) / s.bytesTotal) : s.total > 0 ? Math.floor(((s.done + s.failed + s.gone) * 100) / s.total) : 100;
    const head = [
      `${s.done + s.failed + s.gone}/${s.total} files`,
      `${formatBytes(s.bytesDone)}/${formatBytes(s.bytesTotal)} (${pct}%)`,
      `${formatBytes(Math.round(s.rate))}/s`,
      `ETA ${s.paused || s.etaMs === null ? '-' : formatDuration(Math.round(s.etaMs))}`,
      ...(s.failed > 0 ? [`${s.failed} failed`] : []),
      ...(s.gone > 0 ? [`${s.gone} gone`] : []),
    ].join('  ');
    const lines = [cut(head)];
    if (s.paused)
      lines.push(cut(`paused: ${s.paused.reason}${s.paused.untilMs === null ? ', waiting until it clears' : `, retrying in ${formatDuration(s.paused.untilMs)}`}${s.paused.reason.includes('429') && (s.paused.untilMs ?? 0) > 10_000 ? ' (Retry-After, at most api.maxRetryAfter)' : ''}`));
    // Long keys are shortened in the middle: the file name at the end is what tells them apart.
    for (const c of s.current.slice(0, MAX_FILES_SHOWN)) {
      const size = c.size !== null ? ` (${formatBytes(c.size)})` : ' (size unknown)';
      lines.push(`  ↓ ${shortenMiddle(c.key, Math.max(8, width - 4 - size.length))}${size}`);
    }
    if (s.current.length > MAX_FILES_SHOWN) lines.push(`  … and ${s.current.length - MAX_FILES_SHOWN} more`);
    return lines;
  }

  #width(): number {
    return Math.max(20, (this.#o.out.columns || 80) - 1);
  }

  #render(): void {
    if (!this.#live) return;
    const lines = this.frame();
    this.#clear();
    this.#o.out.write(lines.join('\n'));
    this.#lines = lines.length;
  }

  /**
   * Erase the display line by line, bottom up, leaving the cursor at the start of its first line.
   * Not "erase to the end of the screen" (ESC [J): at the top-left corner tmux takes that for a
   * clear screen and pushes the screen into the scrollback (scroll-on-clear), one stale copy of
   * the display per redraw.
   */
  #clear(): void {
    if (this.#lines === 0) return;
    this.#o.out.write(`\r${`${ESC}2K${ESC}1A`.repeat(this.#lines - 1)}${ESC}2K`);
    this.#lines = 0;
  }
}
