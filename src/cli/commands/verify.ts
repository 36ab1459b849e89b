// `constellr-sync verify [--repair] [--deep]`: check every done file against the state; the exit code
// says whether the mirror was clean.
import { parseArgs } from 'node:util';
import { VERIFY_OPTIONS, optionsHelp } from '../options.js';
import { verifyMirror } from '../../mirror/verify.js';
import { verifyStacCatalog } from './verify-catalog.js';
import { openState } from '../../daemon/runtime.js';
import { describeStore } from '../../store/open.js';
import { configFromFlags, out, err } from '../common.js';
import { EXIT } from '../exit-codes.js';

export const VERIFY_HELP = `Usage: constellr-sync verify [--repair] [--deep] [--json] [config flags]

Check every mirrored (done) file: it exists, is a regular file reached without a symlink, and has the
recorded size and mtime (= LastModified). Folder markers must be directories. With source: stac and
stac.catalog, also the STAC catalog: every link and asset href resolves, sizes match file:size.
With --repair the next sync or the running daemon downloads what was queued again.

${optionsHelp('verify')}

Exit codes: 0 the mirror is clean; 1 problems were found (with --repair: they were queued);
2 usage/configuration error.`;

export async function verifyCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: VERIFY_OPTIONS,
    strict: true,
  });
  if (values.help) {
    out(VERIFY_HELP);
    return EXIT.OK;
  }
  const config = configFromFlags(values);
  const store = await openState(config, { readonly: values.repair !== true });
  if (!store) {
    err(`no state yet in ${describeStore(config)} (run sync first)`);
    return EXIT.USAGE;
  }
  try {
    const r = await verifyMirror({
      store,
      root: config.mirror.dir,
      deep: values.deep === true,
      repair: values.repair === true,
      onIssue: values.json ? undefined : (i) => err(`${i.problem.padEnd(15)} ${JSON.stringify(i.key)}  ${i.detail}`),
    });
    // The STAC catalog (source: stac, stac.catalog): every link and asset href resolves, sizes match.
    const cat = config.source === 'stac' && config.stac.catalog ? await verifyStacCatalog(store, config.mirror.dir, { deep: values.deep === true, repair: values.repair === true, json: values.json === true, geoparquet: config.stac.geoparquet }) : null;
    if (values.json)
      out(JSON.stringify({ clean: r.clean && (cat?.clean ?? true), checked: r.checked, problems: r.issues.length, requeued: r.requeued, issues: r.issues, ...(cat ? { catalog: cat, catalogue: cat } : {}) }));
    else
      err(
        r.clean
          ? `verify: ${r.checked} files checked${values.deep ? ' (sha256 included)' : ''}; the mirror is clean`
          : `verify: ${r.checked} files checked, ${r.issues.length} problems${values.repair ? `; ${r.requeued} queued again` : ' (run with --repair to fetch them again)'}`,
      );
    if (cat && !values.json)
      err(
        cat.clean
          ? `verify: STAC catalog: ${cat.collections} collections, ${cat.items} items, ${cat.assets} assets; every link resolves`
          : `verify: STAC catalog: ${cat.problems} problems${values.repair ? `; rewritten from the state, ${cat.remaining} left` : ' (run with --repair to rewrite it)'}`,
      );
    return r.clean && (cat?.clean ?? true) ? EXIT.OK : EXIT.FAILURES;
  } finally {
    await store.close();
  }
}
