// `constellr-sync sync`: one cycle (poll, download everything due, exit) with documented exit codes.
import { parseArgs } from 'node:util';
import { formatBytes, formatDuration, parseDuration, parseSize } from '../../config/duration.js';
import { Engine, type SyncSummary } from '../../daemon/engine.js';
import { openRuntime } from '../../daemon/runtime.js';
import { Operations } from '../../daemon/operations.js';
import { combineEvents } from '../../sync/worker-events.js';
import { ProgressDisplay } from '../progress.js';
import { PAUSE_WORDS } from '../log-text.js';
import type { Job, JobState } from '../../store/types.js';
import { isStoreUnavailable, isUnreachable } from '../../errors.js';
import { unreachableMessage } from '../../lib/unreachable.js';
import { redactUrl } from '../../lib/url-safety.js';
import type { GateState } from '../../sync/gate.js';
import type { WorkerEvents } from '../../sync/worker.js';
import { armCrashPointsFromEnv, warnAboutConfig, configFromFlags, loggerFor, out, err } from '../common.js';
import { EXIT, UsageError } from '../exit-codes.js';
import { dryRunCommand } from './dry-run.js';
import { SYNC_OPTIONS, optionsHelp } from '../options.js';
import { watchShutdown } from '../signals.js';

export const SYNC_HELP = `Usage: constellr-sync sync [options]

Poll the API once, download everything that is due, and exit.

In a terminal, sync shows a live display (files, bytes and percent, rate, ETA, a paused state and
why, current files), warnings above it as one line of text.

${optionsHelp('sync')}

Exit codes: 0 every listed asset is mirrored; 1 some assets failed (listed);
2 usage/configuration error; 3 API unreachable, down past sync.outageDeadline, or credentials rejected;
4 locked by another instance; 5 stopped at --max-transfer/--max-duration (nothing failed; the rest
stays queued); 6 the state database (state.url) cannot be reached; 130 interrupted (Ctrl-C; 143 for
SIGTERM): run sync again to resume.`;

export async function syncCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: SYNC_OPTIONS, strict: true });
  if (values.help) {
    out(SYNC_HELP);
    return EXIT.OK;
  }
  armCrashPointsFromEnv();
  const config = configFromFlags(values);
  const quiet = values.quiet === true;
  // The live display only on a terminal, and never with --json or --quiet (scripts).
  const logFormat = values['log-format'] ?? 'text';
  if (logFormat !== 'text' && logFormat !== 'json') throw new UsageError(`--log-format must be text or json, got ${JSON.stringify(logFormat)}`);
  const progress =
    process.stdout.isTTY === true && !values.json && !quiet && !values['dry-run']
      ? new ProgressDisplay({ out: process.stdout, textLogs: logFormat === 'text' ? { maxAttempts: config.sync.maxAttempts } : false })
      : null;
  const logger = loggerFor(config, {
    stderr: values.json === true,
    // While the display is live, log lines go to stderr above it, and only warnings and errors.
    destination: progress?.logStream(process.stderr),
    defaultLevel: progress ? 'warn' : quiet ? 'error' : undefined,
  });
  warnAboutConfig(config, logger);
  if (values['dry-run']) return dryRunCommand(config, logger, { json: values.json === true, full: values.full === true });
  if (values.full) throw new UsageError('--full only applies to --dry-run');
  const caps = transferCaps(values['max-transfer'], values['max-duration']);
  // No metrics: a one-shot sync serves no /metrics, and prom-client costs ~12 MiB resident.
  const ops = new Operations(config, logger, null);
  const rt = await openRuntime(config, logger, ops.runtimeOptions());
  const started = rt.clock();
  let received = 0;
  let capHit: 'max-transfer' | 'max-duration' | null = null;
  const tally = new RunTally();
  const engine = new Engine(rt, {
    mode: 'drain',
    rescan: values.rescan === true,
    ...ops.engineOptions(combineEvents(caps.maxBytes === null ? {} : { onBytes: (n) => void (received += n) }, progress?.events(), tally.events())),
    shouldStopClaiming:
      caps.maxBytes === null && caps.maxMs === null
        ? undefined
        : () => {
            if (capHit) return true;
            if (caps.maxBytes !== null && received >= caps.maxBytes) capHit = 'max-transfer';
            else if (caps.maxMs !== null && rt.clock() - started >= caps.maxMs) capHit = 'max-duration';
            if (capHit) logger.warn({ cap: capHit, receivedBytes: received, elapsedMs: rt.clock() - started }, 'transfer cap reached: no new downloads are claimed; in-flight ones finish');
            return capHit !== null;
          },
  });
  const shutdown = watchShutdown({
    graceful: (sig) => {
      logger.warn({ signal: sig }, 'stopping: finishing in-flight downloads within the grace period');
      void engine.pool.stop(config.sync.gracePeriod);
    },
    forceful: (sig) => {
      logger.warn({ signal: sig }, 'second signal: aborting in-flight downloads now');
      engine.pool.abortInFlight();
    },
  });
  try {
    // Notifications (hook, webhook) left over from earlier runs are delivered too.
    await ops.attach(rt, engine, { http: false, baseEnv: process.env });
    progress?.start({ inFlight: () => engine.pool.inFlight.values(), backlog: () => rt.store.backlog(), paused: () => pauseOf(engine.gate.state(), rt.clock()) });
    const stopWatching = tally.watchGate(() => engine.gate.state().open);
    const summary = await engine.syncOnce(shutdown.signal).finally(stopWatching);
    // The database stayed out of reach: nothing more can be read from it (counts, failures, notifications).
    if (summary.outage?.what === 'store') return storeGaveUp(summary, progress, { json: values.json === true, databaseUrl: config.state.url === null ? '' : redactUrl(config.state.url) });
    if (ops.notifier && !(await ops.notifier.drain(Math.max(config.sync.gracePeriod, 5000))))
      logger.warn('some notifications are still being delivered; the rest are sent at the next sync or run');
    progress?.stop();
    const counts = await rt.store.counts();
    const failures = await rt.store.recentFailures(100);
    let code = exitCodeOf(summary, counts, shutdown.first);
    // Stopped at a cap: its own code, unless something worse (failures, unreachable) happened.
    if (capHit && code === EXIT.FAILURES && counts.failed === 0 && !summary.pollError) code = EXIT.CAPPED;
    const left = counts.queued + counts.running;
    if (values.json)
      out(JSON.stringify({ ...summaryJson(summary, counts, failures, code, tally, started), cap: capHit, receivedBytes: caps.maxBytes === null ? undefined : received }));
    else if (!quiet) {
      printSummary(summary, counts, failures, tally, redactUrl(config.api.url), shutdown.first !== null);
      if (capHit) err(`stopped at --${capHit}; ${counts.queued} assets remain queued for the next sync`);
    }
    // Said even with --quiet and --json (on stderr): the operator pressed Ctrl-C and wants to know.
    if (shutdown.first) err(`interrupted: ${left} queued; run sync again to resume`);
    return code;
  } finally {
    shutdown.dispose();
    progress?.stop();
    await ops.stop(5000);
    await rt.close();
  }
}

/** `sync` gave up on the state database after sync.outageDeadline: one line (or the JSON summary it can give), exit 6. */
function storeGaveUp(s: SyncSummary, progress: ProgressDisplay | null, o: { json: boolean; databaseUrl: string }): number {
  progress?.stop();
  const deadline = s.outage?.deadlineMs ?? 0;
  const line = `gave up: the state database ${o.databaseUrl} has been unreachable for more than ${formatDuration(deadline)} (sync.outageDeadline); ${s.stats.done} downloaded (${formatBytes(s.stats.bytes)}), the rest stays queued: run sync again once it is back`;
  if (o.json)
    out(JSON.stringify({ exitCode: EXIT.STORE_UNAVAILABLE, durationMs: s.durationMs, outage: { what: 'store', since: iso(s.outage?.sinceMs), deadlineMs: deadline }, downloaded: s.stats.done, bytes: s.stats.bytes, jobs: null, failures: null }));
  err(line);
  return EXIT.STORE_UNAVAILABLE;
}

/** --max-transfer / --max-duration, validated (usage error, exit 2, when malformed). */
export function transferCaps(maxTransfer: string | undefined, maxDuration: string | undefined): { maxBytes: number | null; maxMs: number | null } {
  const parse = <T>(flag: string, v: string | undefined, fn: (s: string) => T): T | null => {
    if (v === undefined) return null;
    try {
      return fn(v);
    } catch (e) {
      throw new UsageError(`--${flag}: ${(e as Error).message}`);
    }
  };
  const maxBytes = parse('max-transfer', maxTransfer, parseSize);
  const maxMs = parse('max-duration', maxDuration, parseDuration);
  if (maxBytes === 0) throw new UsageError('--max-transfer must be greater than 0');
  return { maxBytes, maxMs };
}

export function exitCodeOf(s: SyncSummary, counts: Record<JobState, number>, interrupted: NodeJS.Signals | boolean | null): number {
  // Interrupted (Ctrl-C): 128 + the signal's number, as shells report it; the rest stays queued.
  if (interrupted) return interrupted === 'SIGTERM' ? 143 : EXIT.INTERRUPTED;
  if (s.outage?.what === 'store') return EXIT.STORE_UNAVAILABLE;
  if ((s.pollError && isUnreachable(s.pollError)) || s.authFailed || s.outage) return EXIT.UNREACHABLE;
  if (s.pollError) return isStoreUnavailable(s.pollError) ? EXIT.STORE_UNAVAILABLE : EXIT.FAILURES;
  return counts.failed + counts.queued + counts.running > 0 ? EXIT.FAILURES : EXIT.OK;
}

/** What one sync went through besides downloads: retries, pauses, resumed transfers (summary and --json). */
export class RunTally {
  retries = 0;
  pauses = 0;
  resumed: { key: string; fromBytes: number }[] = [];

  events(): WorkerEvents {
    return {
      onRetry: () => void this.retries++,
      onOutcome: (_job, outcome) => {
        if (outcome === 'retry') this.retries++;
      },
      onDone: (job, r) => {
        if (r.resumedFrom) this.resumed.push({ key: job.key, fromBytes: r.resumedFrom });
      },
    };
  }

  /** Count each time the claim gate closes (breaker, 429, disk full, credentials). */
  watchGate(isOpen: () => boolean, everyMs = 200): () => void {
    let open = true;
    const t = setInterval(() => {
      const now = isOpen();
      if (open && !now) this.pauses++;
      open = now;
    }, everyMs);
    t.unref();
    return () => clearInterval(t);
  }
}

/** The gate's state as the progress line shows it: why downloads are paused, and until when. */
export function pauseOf(g: GateState, now: number): { reason: string; untilMs: number | null } | null {
  if (g.open) return null;
  return { reason: g.reasons.map((r) => PAUSE_WORDS[r] ?? r).join(', '), untilMs: g.until === null ? null : Math.max(0, g.until - now) };
}

const iso = (ms: number | null | undefined) => (ms === null || ms === undefined ? null : new Date(ms).toISOString());

function summaryJson(s: SyncSummary, counts: Record<JobState, number>, failures: Job[], exitCode: number, tally: RunTally, startedMs: number) {
  const p = s.poll;
  return {
    exitCode,
    // Times are ISO 8601 (as in `status --json`); durations stay in milliseconds.
    startedAt: iso(startedMs),
    finishedAt: iso(startedMs + s.durationMs),
    durationMs: s.durationMs,
    poll: p && {
      pages: p.pages,
      listed: p.listed,
      inserted: p.inserted,
      changed: p.changed,
      newestRemoteChangeBefore: iso(p.hwmBefore),
      newestRemoteChange: iso(p.hwmAfter),
      listedAfter: iso(p.listedAfter),
      durationMs: p.durationMs,
    },
    pollError: s.pollError ? { class: s.pollError.errorClass, code: s.pollError.code, message: s.pollError.message } : null,
    outage: s.outage ? { what: s.outage.what, since: iso(s.outage.sinceMs), deadlineMs: s.outage.deadlineMs } : null,
    downloaded: s.stats.done,
    bytes: s.stats.bytes,
    failedThisRun: s.stats.failed,
    goneThisRun: s.stats.gone,
    retries: tally.retries,
    pauses: tally.pauses,
    resumed: tally.resumed,
    jobs: counts,
    failures: failures.map((f) => ({ key: f.key, class: f.errorClass, status: f.errorStatus, message: f.errorMessage, attempts: f.attempts, at: iso(f.finishedAt) })),
  };
}

function printSummary(s: SyncSummary, counts: Record<JobState, number>, failures: Job[], tally: RunTally, apiUrl: string, interrupted: boolean): void {
  const e = (l: string) => err(l);
  if (s.pollError) e(unreachableMessage(s.pollError, apiUrl) ?? `poll failed: ${s.pollError.message}`);
  if (s.outage) e(`gave up: the API has been down for more than ${formatDuration(s.outage.deadlineMs)} (sync.outageDeadline)`);
  const extras = [
    ...(tally.retries > 0 ? [`${tally.retries} ${tally.retries === 1 ? 'retry' : 'retries'}`] : []),
    ...(tally.pauses > 0 ? [`${tally.pauses} ${tally.pauses === 1 ? 'pause' : 'pauses'}`] : []),
    ...(tally.resumed.length > 0 ? [`${tally.resumed.length} resumed`] : []),
  ];
  e(
    `sync finished in ${formatDuration(s.durationMs)}: ${s.stats.done} downloaded (${formatBytes(s.stats.bytes)}), ` +
      `${counts.done} mirrored, ${counts.queued} queued, ${counts.failed} failed, ${counts.gone} gone${extras.length > 0 ? `; ${extras.join(', ')}` : ''}`,
  );
  for (const r of tally.resumed.slice(0, 10)) e(`  resumed ${JSON.stringify(r.key)} at ${formatBytes(r.fromBytes)}`);
  if (failures.length > 0) {
    e('failed assets:');
    for (const f of failures) e(`  ${JSON.stringify(f.key)}  [${f.errorClass ?? '?'}${f.errorStatus ? ` ${f.errorStatus}` : ''}] ${f.errorMessage ?? ''}`);
  }
  if (interrupted) return; // the caller says `interrupted: N queued; run sync again to resume`
  if (counts.queued > 0 && !s.pollError && !s.outage && !s.authFailed) e(`${counts.queued} assets are still queued (waiting for a retry); run sync again or use run`);
  else if (counts.queued > 0) e(`${counts.queued} assets are still queued; run sync again once the API is reachable`);
}
