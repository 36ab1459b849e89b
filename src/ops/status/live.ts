// What only this process knows, for the status page: the progress of its own in-flight downloads
// (bytes, speed, ETA), throughput and files per minute over the last hour (a small ring buffer of
// fixed-width buckets) and its recent completions. Fed by worker events; memory is bounded whatever
// runs: one bucket array, one short list, one entry per in-flight download.
import type { ClaimedJob } from '../../store/types.js';
import type { WorkerEvents } from '../../sync/worker-events.js';

/** Speed is measured over this trailing window. */
const SPEED_WINDOW_MS = 5000;
const SAMPLE_EVERY_MS = 200;
/** Entries beyond this many are checked for idle ones (no byte for IDLE_ENTRY_MS). */
const MAX_ENTRIES = 256;
const IDLE_ENTRY_MS = 10 * 60_000;

export interface DownloadProgress {
  key: string;
  /** Listed size (bytes); null when the listing did not say. */
  size: number | null;
  /** Bytes received by this attempt. */
  bytes: number;
  /** Bytes per second over the last few seconds. */
  bytesPerSecond: number;
  /** Seconds until done at the current speed; null while it cannot be estimated. */
  etaSeconds: number | null;
  startedAt: string;
}

export interface HistoryPoint {
  /** Start of the bucket (ISO 8601). */
  t: string;
  bytes: number;
  files: number;
  bytesPerSecond: number;
  filesPerMinute: number;
}

export interface Completion {
  key: string;
  bytes: number;
  at: string;
  durationMs: number;
}

export interface LiveStatusOptions {
  clock?: () => number;
  /** Width of one history bucket (default 10 s). */
  bucketMs?: number;
  /** How far back the history reaches (default 1 h). */
  windowMs?: number;
  /** Completions kept (default 25). */
  recent?: number;
}

interface Entry {
  job: ClaimedJob;
  bytes: number;
  startedAt: number;
  samples: { at: number; bytes: number }[];
}

export class LiveStatus {
  readonly #clock: () => number;
  readonly #bucketMs: number;
  readonly #slots: { start: number; bytes: number; files: number }[];
  readonly #recentMax: number;
  readonly #since: number;
  #recent: Completion[] = [];
  /** By lease token: a retried or reclaimed job is a new entry. */
  readonly #entries = new Map<string, Entry>();

  constructor(o: LiveStatusOptions = {}) {
    this.#clock = o.clock ?? Date.now;
    this.#bucketMs = o.bucketMs ?? 10_000;
    const n = Math.max(1, Math.ceil((o.windowMs ?? 3_600_000) / this.#bucketMs));
    this.#slots = Array.from({ length: n }, () => ({ start: -1, bytes: 0, files: 0 }));
    this.#recentMax = o.recent ?? 25;
    this.#since = this.#bucketStart(this.#clock());
  }

  get bucketSeconds(): number {
    return this.#bucketMs / 1000;
  }

  #bucketStart(t: number): number {
    return Math.floor(t / this.#bucketMs) * this.#bucketMs;
  }

  #slot(t: number): { start: number; bytes: number; files: number } {
    const start = this.#bucketStart(t);
    const s = this.#slots[Math.floor(start / this.#bucketMs) % this.#slots.length]!;
    if (s.start !== start) {
      s.start = start;
      s.bytes = 0;
      s.files = 0;
    }
    return s;
  }

  /** Worker events that feed the page (combine them with the others). */
  events(): WorkerEvents {
    return {
      onBytes: (n, job) => {
        const now = this.#clock();
        this.#slot(now).bytes += n;
        if (!job) return;
        let e = this.#entries.get(job.leaseToken);
        if (!e) {
          // a download that ended without an outcome event (a lost lease) is pruned by inFlight() when
          // the page is viewed; without viewers, stale entries go here so memory stays bounded
          if (this.#entries.size >= MAX_ENTRIES) this.#pruneIdle(now);
          e = { job, bytes: 0, startedAt: now, samples: [] };
          this.#entries.set(job.leaseToken, e);
        }
        e.bytes += n;
        // the first sample is taken after the first chunk: how long that one took is unknown
        const last = e.samples[e.samples.length - 1];
        if (!last || now - last.at >= SAMPLE_EVERY_MS) e.samples.push({ at: now, bytes: e.bytes });
        while (e.samples.length > 2 && now - e.samples[1]!.at > SPEED_WINDOW_MS) e.samples.shift();
      },
      onDone: (job, r) => {
        const now = this.#clock();
        this.#slot(now).files += 1;
        this.#recent.unshift({ key: job.key, bytes: r.bytes, at: new Date(now).toISOString(), durationMs: r.durationMs });
        if (this.#recent.length > this.#recentMax) this.#recent.length = this.#recentMax;
      },
      onOutcome: (job) => {
        this.#entries.delete(job.leaseToken);
      },
    };
  }

  #pruneIdle(now: number): void {
    for (const [token, e] of this.#entries) {
      const last = e.samples[e.samples.length - 1]?.at ?? e.startedAt;
      if (now - last > IDLE_ENTRY_MS) this.#entries.delete(token);
    }
  }

  /** Downloads tracked now (tests: memory stays bounded). */
  get tracked(): number {
    return this.#entries.size;
  }

  /**
   * Progress of the downloads in flight now. `inFlight` is the pool's own list (the truth about what
   * runs); a download that has not received a byte yet shows 0.
   */
  inFlight(inFlight: Iterable<ClaimedJob>): DownloadProgress[] {
    const now = this.#clock();
    const live = new Set<string>();
    const out: DownloadProgress[] = [];
    for (const job of inFlight) {
      live.add(job.leaseToken);
      let e = this.#entries.get(job.leaseToken);
      if (!e) {
        // first seen before its first byte: the speed is measured from here
        e = { job, bytes: 0, startedAt: now, samples: [{ at: now, bytes: 0 }] };
        this.#entries.set(job.leaseToken, e);
      }
      const bytes = e.bytes;
      let speed = 0;
      if (e.samples.length > 0) {
        const first = e.samples[0]!;
        const dt = now - first.at;
        speed = dt > 0 ? ((e.bytes - first.bytes) * 1000) / dt : 0;
      }
      // An asset listed without a size has no ETA: nothing says how much is left.
      const size = job.remoteSize;
      const left = size === null ? null : Math.max(0, size - bytes);
      out.push({
        key: job.key,
        size,
        bytes,
        bytesPerSecond: Math.round(speed),
        etaSeconds: left === null ? null : speed > 0 ? Math.ceil(left / speed) : left === 0 ? 0 : null,
        startedAt: new Date(e.startedAt).toISOString(),
      });
    }
    // entries whose outcome was never reported (a crash of the worker loop) do not linger
    for (const token of this.#entries.keys()) if (!live.has(token)) this.#entries.delete(token);
    return out.sort((a, b) => a.startedAt.localeCompare(b.startedAt) || a.key.localeCompare(b.key));
  }

  /** One point per bucket from this process's start (at most the window), oldest first. */
  history(): HistoryPoint[] {
    const now = this.#clock();
    const current = this.#bucketStart(now);
    const first = Math.max(this.#since, current - (this.#slots.length - 1) * this.#bucketMs);
    const out: HistoryPoint[] = [];
    for (let start = first; start <= current; start += this.#bucketMs) {
      const s = this.#slots[Math.floor(start / this.#bucketMs) % this.#slots.length]!;
      const bytes = s.start === start ? s.bytes : 0;
      const files = s.start === start ? s.files : 0;
      // the current bucket is still filling: rates over the part that has elapsed
      const span = start === current ? Math.max(1000, now - start) : this.#bucketMs;
      out.push({ t: new Date(start).toISOString(), bytes, files, bytesPerSecond: Math.round((bytes * 1000) / span), filesPerMinute: Math.round(((files * 60_000) / span) * 10) / 10 });
    }
    return out;
  }

  recent(): Completion[] {
    return [...this.#recent];
  }
}
