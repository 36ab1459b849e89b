// One meaning of "complete", and one count, for every surface that says it: `status` (text, --json,
// --check), /api/status and the status page, and the constellr_sync_complete metric. Gone assets
// (404/410: the API no longer serves them) cannot be mirrored, so they do not keep the mirror from
// being complete, but they are never hidden either: "complete except 2 gone", "598 of 600 assets".
// Pure data in, data out: no imports, so the metrics module can use it without loading the rest.

/** Jobs by state, as StatusStore.counts() returns them. */
export interface JobCounts {
  queued: number;
  running: number;
  done: number;
  failed: number;
  gone: number;
}

/** What the last polls left behind (from the cursor). */
export interface PollFacts {
  /** The last poll that listed every page finished at (null: never). */
  pollFinishedAt: number | null;
  /** The newest poll failed (its error is newer than the last success). */
  pollFailed: boolean;
}

export type MirrorState = 'complete' | 'syncing' | 'failed' | 'poll_failed' | 'no_poll';

export interface Completeness {
  /** A complete poll, the last poll did not fail, nothing queued, running or failed (gone assets allowed). */
  complete: boolean;
  state: MirrorState;
  /** "complete", "complete except 2 gone", "incomplete: 3 failed, 2 gone", "incomplete: syncing, 40 to do"… */
  summary: string;
  /** Assets mirrored (done) of all listed (every state, gone included): the one count. */
  done: number;
  total: number;
  toDo: number;
  failed: number;
  gone: number;
}

/** A poll error newer than the last success means the last poll failed. */
export function lastPollFailed(c: { pollErrorAt: number | null; pollFinishedAt: number | null }): boolean {
  return c.pollErrorAt !== null && (c.pollFinishedAt === null || c.pollErrorAt >= c.pollFinishedAt);
}

export function completeness(jobs: JobCounts, poll: PollFacts): Completeness {
  const toDo = jobs.queued + jobs.running;
  const total = toDo + jobs.done + jobs.failed + jobs.gone;
  const extra = (parts: [number, string][]) =>
    parts
      .filter(([n]) => n > 0)
      .map(([n, w]) => `, ${n} ${w}`)
      .join('');
  let state: MirrorState;
  let summary: string;
  if (poll.pollFailed) {
    state = 'poll_failed';
    summary = `incomplete: the last poll failed${extra([[toDo, 'to do'], [jobs.failed, 'failed'], [jobs.gone, 'gone']])}`;
  } else if (poll.pollFinishedAt === null) {
    state = 'no_poll';
    summary = `incomplete: no complete poll yet${extra([[toDo, 'to do'], [jobs.failed, 'failed'], [jobs.gone, 'gone']])}`;
  } else if (toDo > 0) {
    state = 'syncing';
    summary = `incomplete: syncing, ${toDo} to do${extra([[jobs.failed, 'failed'], [jobs.gone, 'gone']])}`;
  } else if (jobs.failed > 0) {
    state = 'failed';
    summary = `incomplete: ${jobs.failed} failed${extra([[jobs.gone, 'gone']])}`;
  } else {
    state = 'complete';
    summary = jobs.gone > 0 ? `complete except ${jobs.gone} gone` : 'complete';
  }
  return { complete: state === 'complete', state, summary, done: jobs.done, total, toDo, failed: jobs.failed, gone: jobs.gone };
}

/** "599 of 600 assets mirrored". */
export function countLine(c: Pick<Completeness, 'done' | 'total'>): string {
  return `${c.done} of ${c.total} asset${c.total === 1 ? '' : 's'} mirrored`;
}
