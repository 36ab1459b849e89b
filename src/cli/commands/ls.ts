// `constellr-sync ls [--json]`: list the remote assets (a full listing), with the configured filters
// or the ones given here. Reads the API only: no state, no mirror, no lock.
import { parseArgs } from 'node:util';
import { LS_OPTIONS, optionsHelp } from '../options.js';
import { parseSize, formatBytes } from '../../config/duration.js';
import { openApi } from '../../daemon/runtime.js';
import { compileFilter } from '../../config/filters.js';
import { listPages, oneShotUnreachable } from '../../sync/listing.js';
import { configFromFlags, loggerFor, out, err } from '../common.js';
import { EXIT } from '../exit-codes.js';

export const LS_HELP = `Usage: constellr-sync ls [options]

List the remote assets: size, LastModified and key, one per line (or JSON lines with --json).
Filters are those of the configuration (filters.*, sync.since) unless given here (--include,
--exclude, --min-size, --max-size, --since; --all ignores every filter). A summary (count, bytes)
goes to stderr.

${optionsHelp('ls')}`;

export async function lsCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: LS_OPTIONS,
    strict: true,
  });
  if (values.help) {
    out(LS_HELP);
    return EXIT.OK;
  }
  const config = configFromFlags(values);
  const logger = loggerFor(config, { stderr: true, defaultLevel: 'warn' });
  const f = config.filters;
  const overridden = [values.include, values.exclude, values['min-size'], values['max-size']].some((v) => v !== undefined);
  const filter = values.all
    ? null
    : !overridden
      ? config.filter
      : compileFilter({
          include: values.include ?? f.include,
          exclude: values.exclude ?? f.exclude,
          minSize: values['min-size'] !== undefined ? parseSize(values['min-size']) : f.minSize,
          maxSize: values['max-size'] !== undefined ? parseSize(values['max-size']) : f.maxSize,
          sinceMs: config.sync.since,
        });
  const { api, dispatcher } = openApi(config, logger);
  let count = 0;
  let bytes = 0;
  let sizeUnknown = 0;
  try {
    for await (const page of listPages({ api, after: null, pageSize: config.api.pageSize, retries: config.sync.quickRetries + 2, logger, what: 'ls', unreachable: oneShotUnreachable(config.api.connectTimeout), maxPages: config.sync.maxListingPages })) {
      for (const a of page.items) {
        if (filter && !filter(a)) continue;
        count++;
        // A STAC asset without file:size has no listed size: shown as "?" / null.
        const size = a.size;
        if (size === null) sizeUnknown++;
        else bytes += size;
        const lm = new Date(a.lastModifiedMs).toISOString();
        if (values.json) out(JSON.stringify({ key: a.key, size, lastModified: lm, etag: a.etag }));
        else out(`${String(size ?? '?').padStart(12)}  ${lm}  ${a.key}`);
      }
    }
  } finally {
    await dispatcher.close().catch(() => undefined);
  }
  err(`${count} assets, ${formatBytes(bytes)}${sizeUnknown > 0 ? ` (size unknown for ${sizeUnknown})` : ''}`);
  return EXIT.OK;
}
