// cli/signals.ts: the first SIGINT/SIGTERM is graceful (abort + handler), the second forceful
// (handler, or exit 128 + signal number); a signal during start-up waits for the handlers.
import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { watchShutdown, type SignalSource } from '../../src/cli/signals.js';

/** A process stand-in: signals are emitted by the test, exit codes recorded. */
function fakeProcess(): SignalSource & { emit(sig: NodeJS.Signals): void; exits: number[]; listeners(): number } {
  const ee = new EventEmitter();
  const exits: number[] = [];
  return {
    on: (s, l) => ee.on(s, l),
    off: (s, l) => ee.off(s, l),
    exit: (code) => void exits.push(code),
    emit: (sig) => void ee.emit(sig, sig),
    exits,
    listeners: () => ee.listenerCount('SIGINT') + ee.listenerCount('SIGTERM'),
  };
}

describe('watchShutdown', () => {
  it('first signal: abort and the graceful handler; second: the forceful handler', () => {
    const p = fakeProcess();
    const seen: string[] = [];
    const s = watchShutdown({ graceful: (sig) => seen.push(`graceful ${sig}`), forceful: (sig) => seen.push(`forceful ${sig}`) }, p);
    expect(s.signal.aborted).toBe(false);
    p.emit('SIGTERM');
    expect(s.signal.aborted).toBe(true);
    expect(s.first).toBe('SIGTERM');
    p.emit('SIGINT');
    expect(seen).toEqual(['graceful SIGTERM', 'forceful SIGINT']);
    expect(s.count).toBe(2);
    expect(s.first).toBe('SIGTERM');
    expect(p.exits).toEqual([]);
    s.dispose();
    expect(p.listeners()).toBe(0);
  });

  it('without a forceful handler the second signal exits with 128 + its number', () => {
    for (const [sig, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
      const p = fakeProcess();
      let graceful = 0;
      const s = watchShutdown({ graceful: () => void graceful++ }, p);
      p.emit(sig);
      expect(p.exits).toEqual([]);
      p.emit(sig);
      expect(graceful).toBe(1);
      expect(p.exits).toEqual([code]);
      s.dispose();
    }
  });

  it('a signal before the handlers is remembered and acted on when they are set', () => {
    const p = fakeProcess();
    const seen: string[] = [];
    const s = watchShutdown(undefined, p);
    p.emit('SIGINT');
    p.emit('SIGTERM');
    expect(s.count).toBe(0);
    expect(s.signal.aborted).toBe(false);
    s.handle({ graceful: (sig) => seen.push(`graceful ${sig}`), forceful: (sig) => seen.push(`forceful ${sig}`) });
    // Only the first early signal is replayed, as a graceful stop.
    expect(seen).toEqual(['graceful SIGINT']);
    expect(s.signal.aborted).toBe(true);
    p.emit('SIGINT');
    expect(seen).toEqual(['graceful SIGINT', 'forceful SIGINT']);
    s.dispose();
  });
});
