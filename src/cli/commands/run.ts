// `constellr-sync run`: the daemon. First SIGTERM/SIGINT is graceful (stop polling and claiming,
// finish in-flight downloads within the grace period, release the rest, exit 0); a second signal
// aborts in-flight downloads at once, still consistent on disk.
import { parseArgs } from 'node:util';
import { Engine } from '../../daemon/engine.js';
import { openRuntime } from '../../daemon/runtime.js';
import { describeConfig } from '../../config/load.js';
import { CONFIG_FLAG_SPECS, armCrashPointsFromEnv, configFromFlags, loggerFor, out } from '../common.js';
import { EXIT } from '../exit-codes.js';

export const RUN_HELP = `Usage: constellr-sync run [options]

Run the mirror daemon: poll at start and then on the schedule, download continuously.
Stops gracefully on SIGTERM/SIGINT (a second signal forces the stop).

Options: the same configuration flags as sync (see constellr-sync sync --help).`;

export async function runCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { ...CONFIG_FLAG_SPECS, help: { type: 'boolean', short: 'h' } }, strict: true });
  if (values.help) {
    out(RUN_HELP);
    return EXIT.OK;
  }
  armCrashPointsFromEnv();
  const config = configFromFlags(values);
  const logger = loggerFor(config);
  const rt = await openRuntime(config, logger);
  logger.info({ config: describeConfig(config), pid: process.pid }, 'constellr-sync starting');
  const engine = new Engine(rt, { mode: 'continuous' });
  const handle = await engine.start();
  return await new Promise<number>((resolve) => {
    let signals = 0;
    const onSignal = (sig: NodeJS.Signals) => {
      signals++;
      if (signals === 1) {
        logger.info({ signal: sig }, 'received signal; stopping gracefully');
        void handle
          .stop()
          .then(() => rt.close())
          .then(() => {
            logger.info('stopped');
            resolve(EXIT.OK);
          });
      } else {
        logger.warn({ signal: sig }, 'second signal; aborting in-flight downloads now');
        handle.forceStop();
      }
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}
