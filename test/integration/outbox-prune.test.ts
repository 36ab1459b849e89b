// The outbox is bounded (issue 11, "also fix"): failed deliveries are kept for notify.failedRetention,
// then pruned; the rows of a sink that is no longer configured are dropped with a log line.
import { describe, expect, it, vi } from 'vitest';
import { createLogger } from '../../src/lib/logger.js';
import { Notifier } from '../../src/ops/notify.js';
import { storeBackends } from '../helpers/stores.js';

const BACKENDS = await storeBackends('prune');

const event = (key: string) => ({ event: 'created' as const, key, path: key, size: 1, lastModifiedMs: 0, sha256: null });

describe.each(BACKENDS)('outbox pruning: $name', ({ make, skip }) => {
  it.skipIf(skip)('failed rows go after the retention; pending rows stay; rows of an unconfigured sink are dropped and logged', async () => {
    const open = make();
    const s = await open(['hook', 'webhook']);
    await s.recordEvent(event('a'), Date.now());
    await s.recordEvent(event('b'), Date.now());
    // 'a' fails for good on the webhook
    const [w] = await s.claimOutbox('webhook', 1, Date.now(), 60_000);
    expect(w!.key).toBe('a');
    expect(await s.nackOutbox(w!.id, { retryAfterMs: 0, error: 'HTTP 500', maxAttempts: 1, now: Date.now() })).toBe('failed');
    expect(await s.outboxCounts()).toEqual({ hook: { pending: 2, failed: 0 }, webhook: { pending: 1, failed: 1 } });

    // within the retention: nothing goes
    expect(await s.pruneOutbox({ failedRetentionMs: 3_600_000, sinks: ['hook', 'webhook'], now: Date.now() })).toEqual({ failed: 0, unconfigured: {} });
    // past it: the failed row goes, the pending ones stay
    await vi.waitFor(async () => expect((await s.pruneOutbox({ failedRetentionMs: 1, sinks: ['hook', 'webhook'], now: Date.now() })).failed).toBe(1), { timeout: 5000, interval: 20 });
    expect(await s.outboxCounts()).toEqual({ hook: { pending: 2, failed: 0 }, webhook: { pending: 1, failed: 0 } });

    // The hook is removed from the configuration: a notifier with only the webhook drops its rows at start.
    const lines: string[] = [];
    const logger = createLogger({ level: 'info', destination: { write: (l: string) => void lines.push(l) } as never });
    const n = new Notifier({
      store: s,
      logger,
      root: '/m',
      webhook: { url: 'http://127.0.0.1:9/', concurrency: 1, timeoutMs: 1000 },
      retry: { maxAttempts: 3, baseMs: 60_000, maxMs: 60_000 },
      failedRetentionMs: 3_600_000,
      idleMs: 60_000,
    });
    await n.start();
    await n.stop(0);
    const dropped = lines.map((l) => JSON.parse(l) as { msg: string; sink?: string; rows?: number }).find((l) => l.msg === 'dropped notifications of a sink that is no longer configured');
    expect(dropped).toMatchObject({ sink: 'hook', rows: 2 });
    const c = await s.outboxCounts();
    expect(c.hook).toEqual({ pending: 0, failed: 0 });
    expect(c.webhook.pending + c.webhook.failed).toBe(1);
  });
});
