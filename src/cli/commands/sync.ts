// `constellr-sync sync`: one cycle (poll, download everything due, exit) with documented exit codes.
import { parseArgs } from 'node:util';
import { formatBytes, formatDuration } from '../../config/duration.js';
import { Engine, isUnreachable, type SyncSummary } from '../../daemon/engine.js';
import { openRuntime } from '../../daemon/runtime.js';
import type { Job, JobState } from '../../store/types.js';
import { CONFIG_FLAG_SPECS, armCrashPointsFromEnv, configFromFlags, loggerFor, out, err } from '../common.js';
import { EXIT } from '../exit-codes.js';

export const SYNC_HELP = `Usage: constellr-sync sync [options]

Poll the API once, download everything that is due, and exit.

Options:
  -c, --config FILE     YAML configuration (or CONSTELLR_SYNC_CONFIG)
      --mirror-dir DIR  --state-dir DIR  --concurrency N  --lookback DUR  --since ISO
      --order ORDER     --page-size N  --api-url URL  --log-level LEVEL
      --json            print a machine-readable summary on stdout (logs go to stderr)

Exit codes: 0 every listed asset is mirrored; 1 some assets failed (listed);
2 usage/configuration error; 3 API unreachable or credentials rejected; 4 locked by another instance.`;

export async function syncCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { ...CONFIG_FLAG_SPECS, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } }, strict: true });
  if (values.help) {
    out(SYNC_HELP);
    return EXIT.OK;
  }
  armCrashPointsFromEnv();
  const config = configFromFlags(values);
  const logger = loggerFor(config);
  const rt = await openRuntime(config, logger);
  const engine = new Engine(rt, { mode: 'drain' });
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    signals++;
    if (signals === 1) {
      logger.warn({ signal: sig }, 'stopping: finishing in-flight downloads within the grace period');
      void engine.pool.stop(config.sync.gracePeriod);
    } else {
      logger.warn({ signal: sig }, 'second signal: aborting in-flight downloads now');
      engine.pool.abortInFlight();
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const summary = await engine.syncOnce();
    const counts = await rt.store.counts();
    const failures = await rt.store.recentFailures(100);
    const code = exitCodeOf(summary, counts, signals > 0);
    if (values.json) out(JSON.stringify(summaryJson(summary, counts, failures, code)));
    else printSummary(summary, counts, failures);
    return code;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await rt.close();
  }
}

export function exitCodeOf(s: SyncSummary, counts: Record<JobState, number>, interrupted: boolean): number {
  if (s.pollError && isUnreachable(s.pollError)) return EXIT.UNREACHABLE;
  if (interrupted) return counts.queued + counts.running + counts.failed > 0 ? EXIT.FAILURES : EXIT.OK;
  if (s.pollError) return EXIT.FAILURES;
  return counts.failed + counts.queued + counts.running > 0 ? EXIT.FAILURES : EXIT.OK;
}

function summaryJson(s: SyncSummary, counts: Record<JobState, number>, failures: Job[], exitCode: number) {
  return {
    exitCode,
    durationMs: s.durationMs,
    poll: s.poll,
    pollError: s.pollError ? { class: s.pollError.errorClass, message: s.pollError.message } : null,
    downloaded: s.stats.done,
    bytes: s.stats.bytes,
    failedThisRun: s.stats.failed,
    goneThisRun: s.stats.gone,
    jobs: counts,
    failures: failures.map((f) => ({ key: f.key, class: f.errorClass, status: f.errorStatus, message: f.errorMessage, attempts: f.attempts })),
  };
}

function printSummary(s: SyncSummary, counts: Record<JobState, number>, failures: Job[]): void {
  const e = (l: string) => err(l);
  if (s.pollError) e(`poll failed: ${s.pollError.message}`);
  e(
    `sync finished in ${formatDuration(s.durationMs)}: ${s.stats.done} downloaded (${formatBytes(s.stats.bytes)}), ` +
      `${counts.done} mirrored, ${counts.queued} queued, ${counts.failed} failed, ${counts.gone} gone`,
  );
  if (failures.length > 0) {
    e('failed assets:');
    for (const f of failures) e(`  ${JSON.stringify(f.key)}  [${f.errorClass ?? '?'}${f.errorStatus ? ` ${f.errorStatus}` : ''}] ${f.errorMessage ?? ''}`);
  }
  if (counts.queued > 0) e(`${counts.queued} assets are still queued (waiting for a retry); run sync again or use run`);
}
