#!/usr/bin/env node
// The constellr-sync command line. The only place that reads argv, prints for humans and chooses
// exit codes.
// First: on an unsupported Node it prints one line and exits before the modules below are evaluated.
import './node-check.js';
import { SyncError, isBrokenPipe } from '../errors.js';
import { operatorOsError } from '../lib/operator-errors.js';
import { storeUnreachableMessage, unreachableMessage } from '../lib/unreachable.js';
import { EXIT, UsageError, exitCodeFor, storeFaultError } from './exit-codes.js';
import { err, loadedApiUrl, loadedDatabaseUrl, out, packageVersion } from './common.js';
import { scrubSecrets } from '../lib/logger.js';
import { COMMAND_OPTIONS } from './options.js';
import { limitHeapGrowth } from './v8-tuning.js';

limitHeapGrowth();

const HELP = `constellr-sync: keep a local directory an exact, verified mirror of a Constellr account.

Usage: constellr-sync <command> [options]

Commands:
${Object.entries(COMMAND_OPTIONS)
  .map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`)
  .join('\n')}

Run "constellr-sync <command> --help" for a command's options.
Credentials (environment or files only): CONSTELLR_API_KEY (or CONSTELLR_API_KEY_FILE), a workspace
API key; or, for legacy accounts, CONSTELLR_USERNAME and CONSTELLR_PASSWORD (or CONSTELLR_PASSWORD_FILE).`;

type Command = (argv: string[]) => Promise<number>;

// Each command is loaded when it runs, so `sync` does not load the simulator or the pg driver.
const COMMANDS: Record<string, () => Promise<Command>> = {
  run: async () => (await import('./commands/run.js')).runCommand,
  sync: async () => (await import('./commands/sync.js')).syncCommand,
  status: async () => (await import('./commands/status.js')).statusCommand,
  migrate: async () => (await import('./commands/migrate.js')).migrateCommand,
  simulate: async () => (await import('./commands/simulate.js')).simulateCommand,
  demo: async () => (await import('./commands/demo.js')).demoCommand,
  reconcile: async () => (await import('./commands/reconcile.js')).reconcileCommand,
  verify: async () => (await import('./commands/verify.js')).verifyCommand,
  export: async () => (await import('./commands/export.js')).exportCommand,
  ls: async () => (await import('./commands/ls.js')).lsCommand,
  config: async () => (await import('./commands/config.js')).configCommand,
  retry: async () => (await import('./commands/retry.js')).retryCommand,
};

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === 'help' || cmd === '--help' || cmd === '-h') {
    out(cmd === 'help' && rest[0] === 'run' ? (await import('./commands/run.js')).RUN_HELP : HELP);
    return cmd ? EXIT.OK : EXIT.USAGE;
  }
  if (cmd === '--version' || cmd === 'version') {
    out(packageVersion());
    return EXIT.OK;
  }
  const load = COMMANDS[cmd];
  if (!load) {
    err(`unknown command "${cmd}"\n\n${HELP}`);
    return EXIT.USAGE;
  }
  try {
    return await (await load())(rest);
  } catch (caught) {
    // The reader of our output went away (`export | head -3`): nothing to say, and nowhere to say it.
    if (isBrokenPipe(caught)) return EXIT.BROKEN_PIPE;
    // An expected OS error (a busy port, a read-only or missing directory) is one line, exit 2. The state
    // database lost on the way (start-up recovery, the final counts of `sync`) is classified as anywhere else.
    const e = operatorOsError(caught) ?? storeFaultError(caught) ?? caught;
    if (e instanceof UsageError || (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      err(`constellr-sync ${cmd}: ${(e as Error).message}`);
      return EXIT.USAGE;
    }
    if (e instanceof SyncError) {
      // An unreachable API or database says which URL and where to fix it, not which request happened to fail.
      const line = storeUnreachableMessage(e, loadedDatabaseUrl) ?? ((loadedApiUrl !== null && unreachableMessage(e, loadedApiUrl)) || e.message);
      err(scrubSecrets(`constellr-sync ${cmd}: ${line}`));
      return exitCodeFor(e);
    }
    err(`constellr-sync ${cmd}: unexpected error: ${(e as Error).stack ?? String(e)}`);
    return EXIT.FAILURES;
  }
}

// A closed stdout or stderr (`status | head -1`) ends the command quietly, as SIGPIPE ends other
// tools: an 'error' event with no listener would print a stack trace instead.
for (const stream of [process.stdout, process.stderr])
  stream.on('error', (e: NodeJS.ErrnoException) => {
    if (isBrokenPipe(e)) process.exit(EXIT.BROKEN_PIPE);
    throw e;
  });

// A promise that rejects with nobody listening is a bug, never a silent one: log it with context and
// exit non-zero (Node's own default would print a bare stack, or with other flags carry on).
process.on('unhandledRejection', (reason: unknown) => {
  const detail = reason instanceof Error ? (reason.stack ?? reason.message) : String(reason);
  const cls = reason instanceof SyncError ? ` [${reason.errorClass}/${reason.code}]` : '';
  err(scrubSecrets(`constellr-sync ${process.argv[2] ?? ''}: internal error: unhandled promise rejection${cls} (a bug; please report it): ${detail}`));
  process.exit(EXIT.FAILURES);
});

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // Give pino's sync destination nothing to flush and let handles close; force exit if something lingers.
    setTimeout(() => process.exit(code), 2000).unref();
  },
  (e: unknown) => {
    err(String(e));
    process.exit(EXIT.FAILURES);
  },
);
