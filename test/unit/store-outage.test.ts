// The store_unavailable probe is bounded: a statement on a pooled socket whose peer vanished can wait
// ~15 min for TCP to give up, and the gate probes its reasons one at a time, so an unbounded ping would
// keep every other pause (a full disk, rejected credentials) closed and the database's own pause too.
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { StoreFault } from '../../src/errors.js';
import { createLogger } from '../../src/lib/logger.js';
import { Gate } from '../../src/sync/gate.js';
import { StoreOutage } from '../../src/sync/store-outage.js';

function capturingLogger(): { logger: ReturnType<typeof createLogger>; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n')) if (l.trim()) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { logger: createLogger({ level: 'debug', destination }), lines };
}

/** Resolves once `cond` holds; fails after `ms` with `what`. */
async function until(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('the state database probe', () => {
  it('gives up on a ping that hangs after pingTimeoutMs: the other pauses are probed, and the database reopens once it answers', async () => {
    const { logger, lines } = capturingLogger();
    let ping: () => Promise<unknown> = () => new Promise(() => undefined); // a socket that never answers
    let pings = 0;
    let diskFree = false;
    const gate = new Gate({
      logger,
      clock: Date.now,
      probeIntervalMs: 50,
      probes: { store_unavailable: () => outage.probe(), disk_full: async () => diskFree },
    });
    const outage: StoreOutage = new StoreOutage({
      gate,
      logger,
      clock: Date.now,
      workersWaiting: () => 3,
      ping: () => {
        pings++;
        return ping();
      },
      pingTimeoutMs: 200,
      summaryEveryMs: 100,
    });
    try {
      // The database first (probed first), then a full disk that clears at once.
      expect(outage.handle(new StoreFault('PostgreSQL', Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' })), 'claim')).toBe(true);
      gate.closeUntilCleared('disk_full');
      diskFree = true;
      await until(() => !gate.state().reasons.includes('disk_full'), 'disk_full to clear behind a hanging database probe');
      expect(gate.state().reasons).toEqual(['store_unavailable']);
      // Each probe gives up and the next one tries again; the summary says why.
      await until(() => pings >= 2, 'a second ping');
      await until(() => lines.some((l) => l.reason === 'store_unavailable' && String(l.err).includes('did not answer within 200 ms')), 'a summary naming the timeout');
      ping = async () => 1;
      await until(() => gate.state().open, 'the gate to reopen once the database answers');
      expect(outage.since).toBeNull();
      expect(lines.filter((l) => l.msg === 'condition cleared; downloads resume').map((l) => l.reason)).toEqual(['disk_full', 'store_unavailable']);
    } finally {
      outage.stop();
      gate.close();
    }
  }, 20_000);
});
