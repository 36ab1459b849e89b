// Signals for long-running commands, in one place: the first SIGINT/SIGTERM asks for a graceful stop
// (the command's `graceful` handler, and an AbortSignal that aborts), the second forces it (the
// command's `forceful` handler; by default exit at once with 128 + the signal's number). SIGHUP is
// the daemon's reload request.
import { EXIT } from './exit-codes.js';

const SHUTDOWN_SIGNALS = ['SIGINT', 'SIGTERM'] as const;

/** 128 + the signal's number, as shells report a process ended by it: 130 (SIGINT), 143 (SIGTERM). */
export function interruptedExitCode(signal: NodeJS.Signals): number {
  return signal === 'SIGTERM' ? 143 : EXIT.INTERRUPTED;
}

export interface ShutdownHandlers {
  /** The first signal: stop taking new work, finish or release what is in flight. */
  graceful(signal: NodeJS.Signals): void;
  /** The second signal. Default: exit now with interruptedExitCode(signal). */
  forceful?(signal: NodeJS.Signals): void;
}

export interface Shutdown {
  /** The first shutdown signal acted on, or null. */
  readonly first: NodeJS.Signals | null;
  /** Shutdown signals acted on so far. */
  readonly count: number;
  /** Aborted at the first signal. */
  readonly signal: AbortSignal;
  /**
   * Act on signals from now on. A signal that came before (start-up) is acted on at once: until
   * then it is only remembered, instead of killing the process with the default action.
   */
  handle(handlers: ShutdownHandlers): void;
  /** Stop listening (the process's default actions apply again). */
  dispose(): void;
}

/** Where signals come from and how the process ends: `process` itself, or a fake in tests. */
export interface SignalSource {
  on(signal: NodeJS.Signals, listener: (signal: NodeJS.Signals) => void): unknown;
  off(signal: NodeJS.Signals, listener: (signal: NodeJS.Signals) => void): unknown;
  exit(code: number): void;
}

/** Listen for SIGINT and SIGTERM; pass the handlers now or later with handle(). */
export function watchShutdown(handlers?: ShutdownHandlers, source: SignalSource = process): Shutdown {
  const abort = new AbortController();
  let current: ShutdownHandlers | null = null;
  let pending: NodeJS.Signals | null = null;
  let first: NodeJS.Signals | null = null;
  let count = 0;
  const act = (sig: NodeJS.Signals, h: ShutdownHandlers) => {
    count++;
    first ??= sig;
    if (count === 1) {
      abort.abort();
      h.graceful(sig);
    } else if (h.forceful) {
      h.forceful(sig);
    } else {
      source.exit(interruptedExitCode(sig));
    }
  };
  const onSignal = (sig: NodeJS.Signals) => {
    if (current) act(sig, current);
    else pending ??= sig;
  };
  for (const s of SHUTDOWN_SIGNALS) source.on(s, onSignal);
  const shutdown: Shutdown = {
    get first() {
      return first;
    },
    get count() {
      return count;
    },
    signal: abort.signal,
    handle(h) {
      current = h;
      const early = pending;
      pending = null;
      if (early) act(early, h);
    },
    dispose() {
      for (const s of SHUTDOWN_SIGNALS) source.off(s, onSignal);
    },
  };
  if (handlers) shutdown.handle(handlers);
  return shutdown;
}

/** SIGHUP: the running daemon re-reads its configuration. Returns a function that stops listening. */
export function onReloadSignal(fn: () => void): () => void {
  const listener = () => fn();
  process.on('SIGHUP', listener);
  return () => process.off('SIGHUP', listener);
}
