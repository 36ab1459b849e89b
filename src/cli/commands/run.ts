// `constellr-sync run`: the daemon. First SIGTERM/SIGINT is graceful (stop polling and claiming,
// finish in-flight downloads within the grace period, release the rest, exit 0); a second signal
// aborts in-flight downloads at once, still consistent on disk.
import { parseArgs } from 'node:util';
import { Engine } from '../../daemon/engine.js';
import { openRuntime } from '../../daemon/runtime.js';
import { Operations } from '../../daemon/operations.js';
import { SyncMetrics } from '../../ops/metrics.js';
import { describeConfig, describeCredentials } from '../../config/load.js';
import { armCrashPointsFromEnv, warnAboutConfig, configFromFlags, loggerFor, out, packageVersion } from '../common.js';
import { nextScheduledRun } from '../../ops/http-server.js';
import { EXIT, UsageError } from '../exit-codes.js';
import { applyReload } from '../../daemon/reload.js';
import { dryRunCommand } from './dry-run.js';
import { RUN_OPTIONS, optionsHelp } from '../options.js';
import { timerDelay } from '../../lib/timers.js';
import { onReloadSignal, watchShutdown } from '../signals.js';

export const RUN_HELP = `Usage: constellr-sync run [options]

Run the mirror daemon: poll at start and then on the schedule, download continuously.
Stops gracefully on SIGTERM/SIGINT (a second signal forces the stop).

${optionsHelp('run')}

SIGHUP reloads the configuration file: bandwidth, schedule, concurrency, order, filters, log level and
retry settings apply live; the log names each change, and settings that need a restart.`;

export async function runCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: RUN_OPTIONS,
    strict: true,
  });
  if (values.help) {
    out(RUN_HELP);
    return EXIT.OK;
  }
  armCrashPointsFromEnv();
  const config = configFromFlags(values);
  if ((values.json || values.full) && !values['dry-run']) throw new UsageError('--json and --full only apply to --dry-run');
  const logger = loggerFor(config, { stderr: values.json === true });
  warnAboutConfig(config, logger);
  // One cycle, planned only: nothing is downloaded, no state changes, no lock.
  if (values['dry-run']) return dryRunCommand(config, logger, { json: values.json === true, full: values.full === true });
  // A signal during start-up is remembered and acted on once the engine runs, instead of killing
  // the process with the default action.
  const shutdown = watchShutdown();
  const ops = new Operations(config, logger, new SyncMetrics());
  let rt;
  try {
    rt = await openRuntime(config, logger, ops.runtimeOptions());
  } catch (e) {
    shutdown.dispose();
    throw e;
  }
  const next = nextScheduledRun(config.sync.schedule, config.sync.timezone);
  logger.info(
    { version: packageVersion(), node: process.version, pid: process.pid, nextPoll: next === null ? null : new Date(next).toISOString(), config: { ...describeConfig(config), credentials: describeCredentials(config.credentials) } },
    'constellr-sync starting',
  );
  const engine = new Engine(rt, { mode: 'continuous', ...ops.engineOptions() });
  try {
    // The endpoint is up (ready = false) before the first poll; notifications left over are delivered.
    await ops.attach(rt, engine, { http: config.http.enabled, baseEnv: process.env });
  } catch (e) {
    shutdown.dispose();
    await ops.stop(0);
    await rt.close();
    throw e;
  }
  const handle = await engine.start();
  const running = rt;
  return await new Promise<number>((resolve) => {
    shutdown.handle({
      graceful: (sig) => {
        logger.info({ signal: sig, graceMs: config.sync.gracePeriod }, 'received signal; stopping gracefully');
        // Whatever hangs, in-flight downloads are aborted shortly after the grace period, so the
        // process stops within grace + 5 s (systemd's and Docker's kill timeouts allow for that).
        setTimeout(() => handle.forceStop(), timerDelay(config.sync.gracePeriod + 2000)).unref();
        // Notifications in flight get a short grace (they are sent again at the next start anyway).
        void Promise.all([handle.stop(), ops.stop(Math.min(config.sync.gracePeriod, 10_000))])
          .then(() => running.close())
          .then(
            () => {
              logger.info('stopped');
              resolve(EXIT.OK);
            },
            (e: unknown) => {
              logger.error({ err: e }, 'error while stopping');
              resolve(EXIT.FAILURES);
            },
          );
      },
      forceful: (sig) => {
        logger.warn({ signal: sig }, 'second signal; aborting in-flight downloads now');
        handle.forceStop();
        // Jobs are released in milliseconds; if something still blocks, exit anyway: the state on
        // disk is crash-safe by design (partials in staging, jobs requeued at the next start).
        setTimeout(() => {
          logger.warn('forced exit before a clean close');
          process.exit(EXIT.FAILURES);
        }, 3000).unref();
      },
    });
    // SIGHUP: re-read the configuration (file; env and flags as at start) and apply what can change live.
    let reloading = Promise.resolve();
    onReloadSignal(() => {
      reloading = reloading.then(async () => {
        if (shutdown.count > 0) return;
        try {
          const next = configFromFlags(values);
          await applyReload(engine, next);
        } catch (e) {
          logger.error({ err: (e as Error).message }, 'reload failed; the configuration in force is unchanged');
        }
      });
    });
  });
}
