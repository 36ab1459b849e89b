// `constellr-sync status [--json]`: HWM, last poll, job counts by state, recent failures.
import { parseArgs } from 'node:util';
import { describeStore, openStore } from '../../store/open.js';
import { CONFIG_FLAG_SPECS, configFromFlags, out } from '../common.js';
import { EXIT } from '../exit-codes.js';

function parseSourceInfo(text: string | null): { source: string; strategy: string; reason: string } | null {
  if (!text) return null;
  try {
    const o = JSON.parse(text) as { source?: unknown; strategy?: unknown; reason?: unknown };
    return typeof o.source === 'string' && typeof o.strategy === 'string' ? { source: o.source, strategy: o.strategy, reason: String(o.reason ?? '') } : null;
  } catch {
    return null;
  }
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export async function statusCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { ...CONFIG_FLAG_SPECS, json: { type: 'boolean' }, failures: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    strict: true,
  });
  if (values.help) {
    out('Usage: constellr-sync status [--json] [--failures N] [config flags]');
    return EXIT.OK;
  }
  const config = configFromFlags(values);
  // Either backend: SQLite in state.dir, or PostgreSQL (state.url), opened without migrating it.
  const store = await openStore(config, { readonly: true });
  if (!store) {
    if (values.json) out(JSON.stringify({ initialized: false, source: config.source, jobs: { queued: 0, running: 0, done: 0, failed: 0, gone: 0 }, remoteDeleted: 0 }));
    else out(`no state yet in ${describeStore(config)} (run sync or run first)`);
    return EXIT.OK;
  }
  try {
    const cursor = await store.getCursor();
    const jobs = await store.counts();
    // deleted_remote is a mark on top of the five states (keys a full listing no longer returned).
    const remoteDeleted = await store.remoteDeletedCount();
    const lastReconcile = await store.lastReconcile();
    const failures = await store.recentFailures(Number(values.failures ?? 20));
    const recorded = parseSourceInfo(cursor.sourceInfo ?? null);
    const report = {
      initialized: true,
      backend: store.backend,
      store: describeStore(config),
      stateDir: config.state.dir,
      mirrorDir: config.mirror.dir,
      // The configured source; strategy and reason as recorded by the last successful poll.
      source: config.source,
      strategy: recorded?.strategy ?? null,
      strategyReason: recorded?.reason ?? null,
      lastPolledSource: recorded?.source ?? null,
      highWaterMark: iso(cursor.hwmMs),
      lastPoll: {
        startedAt: iso(cursor.pollStartedAt),
        finishedAt: iso(cursor.pollFinishedAt),
        error: cursor.pollError,
        errorClass: cursor.pollErrorClass,
        errorAt: iso(cursor.pollErrorAt),
      },
      authFailed: cursor.pollErrorClass === 'auth_rejected',
      jobs,
      remoteDeleted,
      lastReconcile: lastReconcile && {
        startedAt: iso(lastReconcile.startedAt),
        finishedAt: iso(lastReconcile.finishedAt),
        policy: lastReconcile.policy,
        listed: lastReconcile.listed,
        queued: lastReconcile.queued,
        missing: lastReconcile.missing,
        applied: lastReconcile.applied,
        guarded: lastReconcile.guarded,
        error: lastReconcile.error,
      },
      failures: failures.map((f) => ({
        key: f.key,
        class: f.errorClass,
        status: f.errorStatus,
        message: f.errorMessage,
        attempts: f.attempts,
        at: iso(f.finishedAt),
      })),
    };
    if (values.json) {
      out(JSON.stringify(report, null, 2));
      return EXIT.OK;
    }
    out(`state:          ${describeStore(config)}`);
    out(`mirror:         ${config.mirror.dir}`);
    out(`source:         ${config.source}${recorded ? `; incremental strategy ${recorded.strategy}: ${recorded.reason}` : ' (no poll yet)'}`);
    if (recorded && recorded.source !== config.source) out(`                the last poll used source ${recorded.source}; keys of the two sources differ`);
    out(`high-water mark ${report.highWaterMark ?? '(none yet)'}`);
    out(`last poll:      started ${report.lastPoll.startedAt ?? '-'}, last complete ${report.lastPoll.finishedAt ?? '-'}`);
    if (cursor.pollError) out(`poll error:     [${cursor.pollErrorClass}] ${cursor.pollError} (${report.lastPoll.errorAt})`);
    if (report.authFailed) out('AUTH FAILED:    the API rejects the credentials; the daemon is paused and retries slowly');
    out(`jobs:           ${Object.entries(jobs).map(([k, v]) => `${k} ${v}`).join(', ')}`);
    out(`deleted_remote: ${remoteDeleted} (keys no longer listed; see mirror.deletePolicy)`);
    if (lastReconcile)
      out(
        `last reconcile: ${iso(lastReconcile.startedAt)}: ${lastReconcile.error ? `failed: ${lastReconcile.error}` : `${lastReconcile.listed} listed, ${lastReconcile.missing} missing, ${lastReconcile.applied} applied${lastReconcile.guarded ? ' (stopped by maxDelete: nothing changed)' : ''}`}`,
      );
    if (report.failures.length > 0) {
      out('recent failures:');
      for (const f of report.failures) out(`  ${JSON.stringify(f.key)} [${f.class}${f.status ? ` ${f.status}` : ''}] ${f.message} (attempts ${f.attempts})`);
    }
    return EXIT.OK;
  } finally {
    await store.close();
  }
}
