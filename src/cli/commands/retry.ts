// `constellr-sync retry [--key K ...] [--class CLASS] [--failed]`: queue failed jobs again with their
// attempts reset, once the operator has fixed the cause (a full disk, a path conflict, a permission).
// Safe while `run` is active: it only writes rows, and the daemon's workers claim from the database
// (an idle pool looks again within its idle poll, 2 s).
import { parseArgs } from 'node:util';
import { RETRY_OPTIONS, optionsHelp } from '../options.js';
import { openState } from '../../daemon/runtime.js';
import { describeStore } from '../../store/open.js';
import { configFromFlags, out } from '../common.js';
import { EXIT, UsageError } from '../exit-codes.js';

export const RETRY_HELP = `Usage: constellr-sync retry (--failed | --key KEY ... | --class CLASS) [--json] [config flags]

Queue failed downloads again, with their attempts reset, and say how many. --key and --class
together select failed jobs matching both. A running daemon picks them up without a restart.

${optionsHelp('retry')}`;

export async function retryCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: RETRY_OPTIONS,
    strict: true,
  });
  if (values.help) {
    out(RETRY_HELP);
    return EXIT.OK;
  }
  const keys = values.key;
  const errorClass = values.class;
  if (!values.failed && keys === undefined && errorClass === undefined) throw new UsageError('say which jobs: --failed, --key KEY or --class CLASS');
  if (values.failed && (keys !== undefined || errorClass !== undefined)) throw new UsageError('--failed selects every failed job; do not combine it with --key or --class');
  const config = configFromFlags(values);
  const store = await openState(config, { readonly: true });
  if (!store) {
    if (values.json) out(JSON.stringify({ requeued: 0, notFailed: keys ?? [] }));
    else out(`no state yet (${describeStore(config)}): nothing to retry`);
    return EXIT.OK;
  }
  try {
    // Keys that exist but are not failed are worth telling apart from typos.
    const notFailed: { key: string; state: string | null }[] = [];
    for (const k of keys ?? []) {
      const job = await store.getJob(k);
      if (!job || job.state !== 'failed') notFailed.push({ key: k, state: job?.state ?? null });
    }
    const n = await store.requeueFailed({ keys, errorClass }, Date.now());
    if (values.json) {
      out(JSON.stringify({ requeued: n, notFailed }));
    } else {
      out(`${n} failed job${n === 1 ? '' : 's'} queued again with attempts reset`);
      for (const k of notFailed) out(`  ${JSON.stringify(k.key)}: ${k.state === null ? 'unknown key' : `not failed (state ${k.state})`}; left alone`);
    }
    return EXIT.OK;
  } finally {
    await store.close();
  }
}
