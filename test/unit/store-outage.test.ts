// The store_unavailable probe is bounded: a statement on a pooled socket whose peer vanished can wait
// ~15 min for TCP to give up, and the gate probes its reasons one at a time, so an unbounded ping would
// keep every other pause (a full disk, rejected credentials) closed and the database's own pause too.
import { waitUntil } from '../helpers/harness.js';
import { capturingLogger } from '../helpers/log-lines.js';
import { describe, expect, it } from 'vitest';
import { StoreFault } from '../../src/errors.js';
import { Gate } from '../../src/sync/gate.js';
import { StoreOutage } from '../../src/sync/store-outage.js';

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
      await waitUntil(() => !gate.state().reasons.includes('disk_full'), 10_000, 10, 'disk_full to clear behind a hanging database probe');
      expect(gate.state().reasons).toEqual(['store_unavailable']);
      // Each probe gives up and the next one tries again; the summary says why.
      await waitUntil(() => pings >= 2, 10_000, 10, 'a second ping');
      await waitUntil(() => lines.some((l) => l.reason === 'store_unavailable' && String(l.err).includes('did not answer within 200 ms')), 10_000, 10, 'a summary naming the timeout');
      ping = async () => 1;
      await waitUntil(() => gate.state().open, 10_000, 10, 'the gate to reopen once the database answers');
      expect(outage.since).toBeNull();
      expect(lines.filter((l) => l.msg === 'condition cleared; downloads resume').map((l) => l.reason)).toEqual(['disk_full', 'store_unavailable']);
    } finally {
      outage.stop();
      gate.close();
    }
  }, 20_000);
});
