// `constellr-sync status [--json] [--check]`: the first lines answer the operator's questions (is the
// mirror complete, when did the last file arrive, when was the last good poll, when is the next one,
// is a daemon running); then the details. `--check` is for cron jobs and monitoring (exit 0/1/2).
import { parseArgs } from 'node:util';
import { STATUS_OPTIONS, optionsHelp } from '../options.js';
import { formatBytes, formatDuration, parseDuration } from '../../config/duration.js';
import { openState } from '../../daemon/runtime.js';
import { buildStatusReport, relativeTime, type StatusReport } from '../../ops/status/report.js';
import { countLine } from '../../ops/status/completeness.js';
import { configFromFlags, out } from '../common.js';
import { EXIT, UsageError } from '../exit-codes.js';

export const STATUS_HELP = `Usage: constellr-sync status [--json] [--check [--stale-after DUR]] [--failures N] [config flags]

The first lines say whether the mirror is complete, when the last file arrived, when the last
successful poll happened and the next one is due, and whether a daemon runs on this state directory.
Times in --json are ISO 8601. The state's own source (assets or stac) is reported, whatever
--source says.

${optionsHelp('status')}`;

/** "the API server's clock is 2h00m behind this host's"; the Date header has whole seconds. */
export function describeSkew(ms: number): string {
  if (Math.abs(ms) < 2000) return "the API server's clock agrees with this host's (within the Date header's 1 s)";
  return `the API server's clock is ${formatDuration(Math.abs(ms))} ${ms > 0 ? 'ahead of' : 'behind'} this host's`;
}

export async function statusCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: STATUS_OPTIONS,
    strict: true,
  });
  if (values.help) {
    out(STATUS_HELP);
    return EXIT.OK;
  }
  const config = configFromFlags(values);
  let staleAfterMs: number | undefined;
  if (values['stale-after'] !== undefined) {
    try {
      staleAfterMs = parseDuration(values['stale-after']);
    } catch (e) {
      throw new UsageError(`--stale-after: ${(e as Error).message}`);
    }
  }
  // Either backend: SQLite in state.dir, or PostgreSQL (state.url), opened without migrating it.
  const store = await openState(config, { readonly: true });
  try {
    const report = await buildStatusReport(config, store, { now: Date.now(), failures: Number(values.failures ?? 20), staleAfterMs });
    if (values.json) out(JSON.stringify(report, null, 2));
    else if (values.check) out(checkLine(report));
    else for (const l of statusLines(report, config.sync.authRetryInterval)) out(l);
    return values.check ? report.check : EXIT.OK;
  } finally {
    await store?.close();
  }
}

function checkLine(r: StatusReport): string {
  const now = Date.parse(r.now!);
  const poll = r.lastSuccessfulPollAt ? `last successful poll ${relativeTime(Date.parse(r.lastSuccessfulPollAt), now)}` : 'no successful poll yet';
  // The same words and count as `status`, --json's completeness and the status page.
  const mirror = `mirror ${r.completeness.summary}: ${countLine(r.completeness)}`;
  if (r.check === 2) return `STALE: ${poll} (threshold ${Math.round(r.staleAfterMs / 1000)} s); ${mirror}`;
  if (r.check === 1)
    return `FAILED: ${mirror}${r.lastPoll?.failed ? `; the last poll failed: ${r.lastPoll.error}` : ''}${r.catalog?.failing ? `; the STAC catalog cannot be written: ${r.catalog.error}` : ''}; ${poll}`;
  return `OK: ${mirror}; ${poll}`;
}

/** The text report: answers first, details after. */
export function statusLines(r: StatusReport, authRetryMs: number): string[] {
  const now = Date.parse(r.now!);
  const ago = (t: string | null) => (t ? `${relativeTime(Date.parse(t), now)} (${t})` : 'never');
  const lines: string[] = [];
  const daemon = r.daemon.running ? `running (pid ${r.daemon.pid}${r.daemon.since ? `, since ${ago(r.daemon.since)}` : ''})` : 'not running';
  if (!r.initialized) {
    lines.push(`no state yet in ${r.store} (run sync or run first)`);
    lines.push(`daemon:               ${daemon}`);
    return lines;
  }
  const a = r.assets;
  const c = r.completeness;
  lines.push(`mirror:               ${c.summary}: ${countLine(c)}, ${formatBytes(a.bytesDone)} of ${formatBytes(a.bytesListed)} listed${a.sizeUnknown > 0 ? ` (size unknown for ${a.sizeUnknown} asset${a.sizeUnknown === 1 ? '' : 's'})` : ''}; ${c.toDo} to do, ${c.failed} failed, ${c.gone} gone`);
  lines.push(`last file arrived:    ${ago(r.lastFileAt)}`);
  lines.push(`last successful poll: ${ago(r.lastSuccessfulPollAt)}${r.stale ? '  (STALE)' : ''}`);
  lines.push(`next poll:            ${r.nextPollAt ? `${relativeTime(Date.parse(r.nextPollAt), now)} (${r.nextPollAt})` : 'when sync or run is started (no daemon running)'}`);
  lines.push(`daemon:               ${daemon}`);
  if (r.lastPoll?.failed) {
    lines.push(`last poll FAILED:     ${ago(r.lastPoll.errorAt)}: [${r.lastPoll.errorClass}] ${r.lastPoll.error}`);
    if (r.daemon.running && !r.authFailed) lines.push(`                      the daemon retries at the next poll${r.nextPollAt ? ` (${relativeTime(Date.parse(r.nextPollAt), now)})` : ''}`);
  }
  if (r.authFailed) {
    // Only a running daemon is "paused": after a one-shot sync nothing is waiting.
    if (r.daemon.running) lines.push(`AUTH FAILED:          the API rejects the credentials; the daemon is paused and retries every ${Math.round(authRetryMs / 1000)} s`);
    else lines.push('AUTH FAILED:          the last sync stopped: the API rejected the credentials; fix them and run sync again');
  }
  if (r.catalog?.failing) {
    lines.push(`CATALOG FAILED:       since ${ago(r.catalog.since)}: [${r.catalog.errorClass}] ${r.catalog.error}`);
    lines.push('                      downloads go on; the STAC catalog is written again once this clears');
  }
  lines.push('');
  lines.push(`state:                ${r.store}`);
  lines.push(`mirror directory:     ${r.mirrorDir}`);
  lines.push(`source:               ${r.source}${r.strategy ? `; incremental strategy ${r.strategy}: ${r.strategyReason}` : ' (no poll yet)'}`);
  if (r.lastPolledSource && r.lastPolledSource !== r.source) lines.push(`                      the last poll used source ${r.lastPolledSource}; keys of the two sources differ`);
  lines.push(`newest remote change: ${r.newestRemoteChange ?? '(none yet)'}`);
  if (r.clockSkew) lines.push(`clock skew:           ${describeSkew(r.clockSkew.seconds * 1000)} (at ${r.clockSkew.measuredAt ?? '-'})`);
  lines.push(`jobs:                 ${Object.entries(r.jobs).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  lines.push(`deleted remotely:     ${r.remoteDeleted} (keys no longer listed; see mirror.deletePolicy)`);
  const rc = r.lastReconcile;
  if (rc)
    lines.push(
      `last reconcile:       ${ago(rc.startedAt)}: ${rc.error ? `failed: ${rc.error}` : `${rc.listed} listed, ${rc.missing} missing, ${rc.applied} applied${rc.guarded ? ' (stopped by maxDelete: nothing changed)' : ''}`}`,
    );
  if (r.failures.length > 0) {
    lines.push('recent failures:');
    for (const f of r.failures) lines.push(`  ${JSON.stringify(f.key)} [${f.class}${f.status ? ` ${f.status}` : ''}] ${f.message} (attempts ${f.attempts})`);
  }
  return lines;
}
