// Batched claims and completions (issue 13 §1, the store's side), against both backends: claimJobs
// leases up to n jobs in one transaction, each under its own token; completeBatch marks many jobs
// done with their outbox events in one transaction, each fenced by its own lease, and reports per
// row what happened (done, requeued because a newer version was listed, lost).
import { describe, expect, it } from 'vitest';
import type { RemoteAsset } from '../../src/api/wire.js';
import type { ClaimOptions } from '../../src/store/types.js';
import { storeBackends } from '../helpers/stores.js';

const BACKENDS = await storeBackends('batch');

const LM = 1_700_000_000_000;
const asset = (key: string, lm = LM): RemoteAsset => ({ key, lastModifiedMs: lm, size: 100, etag: null }) as RemoteAsset;
const opts = (owner: string): ClaimOptions => ({ owner, leaseMs: 60_000, now: Date.now(), order: 'key' });
const done = (key: string) => ({ localPath: key, bytes: 100, sha256: `sha-${key}`, now: Date.now() });

describe.each(BACKENDS)('batched claims and completions: $name', ({ make, skip }) => {
  it.skipIf(skip)('claimJobs leases up to n due jobs at once, each under its own token; no job is leased twice', async () => {
    const s = await make()([]);
    await s.upsertPage(['a', 'b', 'c', 'd', 'e'].map((k) => asset(k)), Date.now());
    const first = await s.claimJobs(3, opts('r1/w0'));
    expect(first.map((j) => j.key).sort()).toEqual(['a', 'b', 'c']);
    expect(first.every((j) => j.attempts === 1)).toBe(true);
    expect(new Set(first.map((j) => j.leaseToken)).size).toBe(3);
    const second = await s.claimJobs(3, opts('r2/w0'));
    expect(second.map((j) => j.key).sort()).toEqual(['d', 'e']);
    expect(await s.claimJobs(3, opts('r1/w1'))).toEqual([]);
    expect((await s.counts()).running).toBe(5);
    // a token fences its own job only
    const [a, b] = first.sort((x, y) => x.key.localeCompare(y.key));
    expect(await s.heartbeat(a!.id, b!.leaseToken, 60_000, Date.now())).toBe(false);
    expect(await s.heartbeat(a!.id, a!.leaseToken, 60_000, Date.now())).toBe(true);
  });

  it.skipIf(skip)('completeBatch commits the done rows and their events together and reports each lost or requeued row', async () => {
    const s = await make()(['webhook']);
    await s.upsertPage(['a', 'b', 'c', 'd'].map((k) => asset(k)), Date.now());
    const held = Object.fromEntries((await s.claimJobs(4, opts('r1/w0'))).map((j) => [j.key, j]));
    // b's lease is lost: given back, and taken by another worker
    expect(await s.release(held.b!.id, held.b!.leaseToken, Date.now())).toBe(true);
    const [b2] = await s.claimJobs(1, opts('r2/w0'));
    expect(b2!.key).toBe('b');
    // c: the listing saw a newer version while it downloaded
    expect(await s.upsertPage([asset('c', LM + 1000)], Date.now())).toMatchObject({ changed: 1 });

    const out = await s.completeBatch(['a', 'b', 'c', 'd'].map((k) => ({ id: held[k]!.id, token: held[k]!.leaseToken, ...done(k) })));
    expect(out).toEqual([
      { id: held.a!.id, outcome: 'done' },
      { id: held.b!.id, outcome: 'lost' },
      { id: held.c!.id, outcome: 'requeued' },
      { id: held.d!.id, outcome: 'done' },
    ]);
    expect(await s.getJob('a')).toMatchObject({ state: 'done', localPath: 'a', sha256: 'sha-a', bytesWritten: 100 });
    expect(await s.getJob('b')).toMatchObject({ state: 'running', localPath: null });
    expect(await s.getJob('c')).toMatchObject({ state: 'queued', attempts: 0, remoteModifiedMs: LM + 1000 });
    expect((await s.getJob('d'))?.state).toBe('done');
    // one event per done row (none for the lost or requeued ones)
    const events = await s.claimOutbox('webhook', 10, Date.now(), 60_000);
    expect(events.map((e) => `${e.event} ${e.key} ${e.sha256}`).sort()).toEqual(['created a sha-a', 'created d sha-d']);
    // the new holder of b still commits under its own lease; a second batch with a's old token is lost
    expect(await s.completeBatch([{ id: b2!.id, token: b2!.leaseToken, ...done('b') }])).toEqual([{ id: b2!.id, outcome: 'done' }]);
    expect(await s.completeBatch([{ id: held.a!.id, token: held.a!.leaseToken, ...done('a') }])).toEqual([{ id: held.a!.id, outcome: 'lost' }]);
    expect(await s.completeBatch([])).toEqual([]);
  });

  it.skipIf(skip)('completeBatch: a replaced file is an update, a folder marker has no event', async () => {
    const s = await make()(['hook']);
    await s.upsertPage([asset('x'), asset('dir/')], Date.now());
    const first = await s.claimJobs(2, opts('r1/w0'));
    expect((await s.completeBatch(first.map((j) => ({ id: j.id, token: j.leaseToken, ...done(j.key) })))).map((r) => r.outcome)).toEqual(['done', 'done']);
    await s.upsertPage([asset('x', LM + 5)], Date.now());
    const [x] = await s.claimJobs(1, opts('r1/w0'));
    expect(await s.completeBatch([{ id: x!.id, token: x!.leaseToken, ...done('x') }])).toEqual([{ id: x!.id, outcome: 'done' }]);
    const events = await s.claimOutbox('hook', 10, Date.now(), 60_000);
    expect(events.map((e) => `${e.event} ${e.key}`)).toEqual(['created x', 'updated x']);
  });
});

describe.each(BACKENDS)('commitPlacedBatch: $name', ({ make, skip }) => {
  it.skipIf(skip)('places only the rows still held, completes only the rows placed, in one call', async () => {
    const s = await make()(['hook']);
    await s.upsertPage(['a', 'b', 'c'].map((k) => asset(k)), Date.now());
    const held = Object.fromEntries((await s.claimJobs(3, opts('r1/w0'))).map((j) => [j.key, j]));
    // c's lease is lost before the batch commits
    expect(await s.release(held.c!.id, held.c!.leaseToken, Date.now())).toBe(true);
    let offered: readonly number[] = [];
    const out = await s.commitPlacedBatch(
      ['a', 'b', 'c'].map((k) => ({ id: held[k]!.id, token: held[k]!.leaseToken, ...done(k) })),
      async (ids) => {
        offered = ids;
        // nothing is done while the files are being placed
        expect((await s.counts()).done).toBe(0);
        return new Set([held.a!.id]); // b's rename failed
      },
      60_000,
    );
    expect([...offered].sort()).toEqual([held.a!.id, held.b!.id].sort());
    expect(out).toEqual([
      { placed: true, outcome: 'done' },
      { placed: false, outcome: 'lost' },
      { placed: false, outcome: 'lost' },
    ]);
    expect(await s.getJob('a')).toMatchObject({ state: 'done', sha256: 'sha-a' });
    expect((await s.getJob('b'))?.state).toBe('running');
    expect((await s.getJob('c'))?.state).toBe('queued');
    expect((await s.claimOutbox('hook', 10, Date.now(), 60_000)).map((e) => e.key)).toEqual(['a']);
  });

  it.skipIf(skip)('a failed place commits nothing', async () => {
    const s = await make()([]);
    await s.upsertPage([asset('a')], Date.now());
    const [a] = await s.claimJobs(1, opts('r1/w0'));
    const boom = new Error('folder fsync failed');
    await expect(s.commitPlacedBatch([{ id: a!.id, token: a!.leaseToken, ...done('a') }], async () => Promise.reject(boom), 60_000)).rejects.toBe(boom);
    expect((await s.getJob('a'))?.state).toBe('running');
  });
});
