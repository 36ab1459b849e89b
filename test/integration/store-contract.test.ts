// One suite of StateStore semantics, run against both backends: SQLite (a real file in a temp dir)
// and PostgreSQL (a real server, one schema per test, dropped afterwards).
import Database from 'better-sqlite3';
import pg from 'pg';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { RemoteAsset } from '../../src/api/wire.js';
import { PostgresStore } from '../../src/store/postgres-store.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import type { ClaimOptions, StateStore } from '../../src/store/types.js';
import { dropSchema, requirePostgres, sql, TEST_DATABASE_URL, uniqueSchema } from '../helpers/postgres.js';

const pgOk = await requirePostgres();
const MAX = 3;

interface Backend {
  name: 'sqlite' | 'postgres';
  open(): Promise<StateStore>;
  /** Reopen the same state after it was marked as written by a newer version. */
  markNewerAndReopen(): Promise<unknown>;
  cleanup(): Promise<void>;
}

function sqliteBackend(): Backend {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cs-contract-'));
  return {
    name: 'sqlite',
    open: async () => SqliteStore.open(dir, { maxAttempts: MAX }),
    markNewerAndReopen: async () => {
      const db = new Database(path.join(dir, 'state.db'));
      db.pragma('user_version = 9999');
      db.close();
      return SqliteStore.open(dir, { maxAttempts: MAX });
    },
    cleanup: async () => rmSync(dir, { recursive: true, force: true }),
  };
}

function postgresBackend(): Backend {
  const schema = uniqueSchema('contract');
  return {
    name: 'postgres',
    open: async () => (await PostgresStore.open({ url: TEST_DATABASE_URL, schema, maxAttempts: MAX, poolSize: 4 }))!,
    markNewerAndReopen: async () => {
      await sql(`INSERT INTO "${schema}".schema_migrations (version, name) VALUES (9999, '9999_future.sql')`);
      return PostgresStore.open({ url: TEST_DATABASE_URL, schema, maxAttempts: MAX });
    },
    cleanup: () => dropSchema(schema),
  };
}

const BACKENDS: { name: string; make: () => Backend; skip: boolean }[] = [
  { name: 'sqlite', make: sqliteBackend, skip: false },
  { name: 'postgres', make: postgresBackend, skip: !pgOk },
];

const asset = (key: string, lm = 1_700_000_000_000, size: number | null = 100, etag: string | null = null): RemoteAsset =>
  ({ key, lastModifiedMs: lm, size, etag }) as RemoteAsset;

describe.each(BACKENDS)('StateStore contract: $name', ({ make, skip }) => {
  let backend: Backend;
  let stores: StateStore[] = [];
  const open = async () => {
    const s = await backend.open();
    stores.push(s);
    return s;
  };
  const opts = (over: Partial<ClaimOptions> = {}): ClaimOptions => ({ owner: 'test/w0', leaseMs: 60_000, now: Date.now(), order: 'key', ...over });

  afterEach(async () => {
    for (const s of stores) await s.close();
    stores = [];
    await backend?.cleanup();
  });

  it.skipIf(skip)('upsert: new, unchanged is a no-op, changed is queued again with attempts reset', async () => {
    backend = make();
    const s = await open();
    const b = asset('b', 1_700_000_000_000, 100, 'e1');
    expect(await s.upsertPage([asset('a'), b], Date.now())).toEqual({ inserted: 2, changed: 0, unchanged: 0 });
    expect(await s.upsertPage([asset('a'), b], Date.now())).toEqual({ inserted: 0, changed: 0, unchanged: 2 });
    const [j] = await s.claimJobs(1, opts());
    expect(j!.key).toBe('a');
    expect(await s.complete(j!.id, j!.leaseToken, { localPath: 'a', bytes: 100, sha256: 'x', now: Date.now() })).toBe('done');
    expect(await s.upsertPage([asset('a', 1_700_000_001_000)], Date.now())).toEqual({ inserted: 0, changed: 1, unchanged: 0 });
    const a = await s.getJob('a');
    expect(a).toMatchObject({ state: 'queued', attempts: 0, remoteModifiedMs: 1_700_000_001_000, revision: 1 });
    // an ETag change alone is a change too (when both are known)
    expect(await s.upsertPage([asset('b', 1_700_000_000_000, 100, 'e2')], Date.now())).toMatchObject({ changed: 1 });
  });

  it.skipIf(skip)('claimWindow: one claim reserves each path nobody holds; heartbeatMany and releaseMany fence by lease', async () => {
    backend = make();
    const s = await open();
    await s.upsertPage([asset('a'), asset('b'), asset('c'), asset('d')], Date.now());
    // 'a' is done under the path that 'c' will fold onto; 'd' reserves nothing with the claim.
    const [a] = await s.claimJobs(1, opts());
    expect(await s.reservePath(a!.id, a!.leaseToken, { mirrorPath: 'A', pathFold: 'a' })).toEqual({ ok: true, owner: null });
    await s.complete(a!.id, a!.leaseToken, { localPath: 'A', bytes: 100, sha256: 'x', now: Date.now() });
    const paths = (j: { key: string }) => (j.key === 'd' ? null : { mirrorPath: j.key.toUpperCase(), pathFold: j.key === 'c' ? 'a' : j.key });
    const jobs = await s.claimWindow(10, { ...opts(), start: 1 }, paths);
    expect(jobs.map((j) => [j.key, j.reservedPath])).toEqual([
      ['b', 'B'],
      ['c', undefined],
      ['d', undefined],
    ]);
    // The held path is still there to be found as before; the reserved one is this lease's.
    expect(await s.reservePath(jobs[1]!.id, jobs[1]!.leaseToken, { mirrorPath: 'C', pathFold: 'a' })).toEqual({ ok: true, owner: { key: 'a', mirrorPath: 'A' } });
    const [b, c, d] = jobs;
    expect(await s.heartbeatMany([b!, c!, d!].map((j) => ({ id: j.id, token: j.leaseToken })).concat([{ id: d!.id, token: 'stale' }]), 60_000, Date.now())).toEqual([b!.id, c!.id, d!.id]);
    expect(await s.releaseMany([{ id: c!.id, token: c!.leaseToken }, { id: d!.id, token: 'stale' }], Date.now())).toBe(1);
    expect(await s.getJob('c')).toMatchObject({ state: 'queued', attempts: 0 });
    expect(await s.getJob('d')).toMatchObject({ state: 'running', attempts: 1 });
    expect(await s.heartbeatMany([{ id: c!.id, token: c!.leaseToken }], 60_000, Date.now())).toEqual([]);
  });

  it.skipIf(skip)('claimWindow: two jobs of one window on the same folded path: the first in claim order reserves it, the other finds it held', async () => {
    backend = make();
    const s = await open();
    await s.upsertPage([asset('p'), asset('q'), asset('r')], Date.now());
    // 'p' and 'r' fold onto 'x'; 'q' onto its own. PostgreSQL reserves the window in one statement.
    const fold = (k: string) => (k === 'q' ? 'q' : 'x');
    const jobs = await s.claimWindow(10, { ...opts(), start: 3 }, (j) => ({ mirrorPath: j.key.toUpperCase(), pathFold: fold(j.key) }));
    expect(jobs.map((j) => [j.key, j.reservedPath])).toEqual([
      ['p', 'P'],
      ['q', 'Q'],
      ['r', undefined],
    ]);
    expect(await s.reservePath(jobs[2]!.id, jobs[2]!.leaseToken, { mirrorPath: 'R', pathFold: 'x' })).toEqual({ ok: true, owner: { key: 'p', mirrorPath: 'P' } });
    // every job started at once (start: 3): a death charges each attempt
    expect(await s.markStartedMany(jobs.map((j) => ({ id: j.id, token: j.leaseToken })), Date.now())).toEqual(jobs.map((j) => j.id));
  });

  it.skipIf(skip)('claimWindow: a requeue after a death charges the attempt of a started job only (at its cap: failed, interrupted)', async () => {
    backend = make();
    const s = await open();
    await s.upsertPage([asset('e'), asset('f'), asset('g')], Date.now());
    for (let i = 1, t = Date.now(); i <= MAX; i++, t += 2000) {
      // 'e' starts at once, 'f' and 'g' wait in the window; the process dies (the leases expire).
      const jobs = await s.claimWindow(3, { ...opts({ leaseMs: 1, now: t }), start: 1 }, () => null);
      const claimed = Date.now();
      expect(jobs.map((j) => j.key)).toEqual(['e', 'f', 'g']);
      // the backend's clock (PostgreSQL's is the host's) is past the 1 ms leases
      await vi.waitFor(() => expect(Date.now()).toBeGreaterThan(claimed + 5), { timeout: 5000, interval: 5 });
      expect(await s.sweepExpiredLeases(t + 1000)).toBe(3);
      expect(await s.getJob('f')).toMatchObject({ state: 'queued', attempts: 0 });
    }
    expect(await s.getJob('e')).toMatchObject({ state: 'failed', attempts: MAX, errorClass: 'interrupted' });
    expect(await s.getJob('g')).toMatchObject({ state: 'queued', attempts: 0 });
  });

  it.skipIf(skip)('markStartedMany: marks the jobs whose lease is held, in one call; a death then charges only those', async () => {
    backend = make();
    const s = await open();
    await s.upsertPage([asset('h'), asset('i'), asset('k')], Date.now());
    const t = Date.now();
    const [h, i, k] = await s.claimWindow(3, { ...opts({ leaseMs: 1, now: t }), start: 0 }, () => null);
    expect(await s.markStartedMany([h!, i!].map((j) => ({ id: j.id, token: j.leaseToken })).concat([{ id: k!.id, token: 'stale' }]), t)).toEqual([h!.id, i!.id]);
    // the backend's clock (PostgreSQL's is the host's) is past the 1 ms leases
    await vi.waitFor(() => expect(Date.now()).toBeGreaterThan(t + 5), { timeout: 5000, interval: 5 });
    expect(await s.sweepExpiredLeases(t + 1000)).toBe(3);
    expect(await s.getJob('h')).toMatchObject({ state: 'queued', attempts: 1 });
    expect(await s.getJob('i')).toMatchObject({ state: 'queued', attempts: 1 });
    expect(await s.getJob('k')).toMatchObject({ state: 'queued', attempts: 0 });
  });

  it.skipIf(skip)('claimWindow takes running jobs whose lease expired, in order, as the sweep would requeue them, under new tokens; the old tokens are refused', async () => {
    backend = make();
    const s = await open();
    await s.upsertPage([asset('a'), asset('b'), asset('c'), asset('d')], Date.now());
    // 'a' failed once already (its error stays with it) ...
    const [a0] = await s.claimJobs(1, opts());
    expect(await s.retryLater(a0!.id, a0!.leaseToken, { retryAfterMs: 0, now: Date.now(), consumeAttempt: true, error: { errorClass: 'http_5xx', status: 503, message: 'boom' } })).toBe('queued');
    // ... then a dead holder's window: 'a' started, 'b' waiting unstarted; 'c' is a live holder's.
    const [a1, b1] = await s.claimWindow(2, { ...opts(), start: 1 }, () => null);
    const [c1] = await s.claimJobs(1, opts());
    expect([a1, b1, c1].map((j) => [j!.key, j!.attempts])).toEqual([['a', 2], ['b', 1], ['c', 1]]);
    for (const j of [a1!, b1!]) expect(await s.heartbeat(j.id, j.leaseToken, 1, Date.now())).toBe(true);
    const cut = Date.now();
    // the backend's clock (PostgreSQL's is the host's) is past both leases
    await vi.waitFor(() => expect(Date.now()).toBeGreaterThan(cut + 5), { timeout: 5000, interval: 5 });
    const got = await s.claimWindow(4, { ...opts({ owner: 'test/w1' }), start: 4 }, () => null);
    // In the claim order with the queued 'd'; the sweep's accounting: a started job keeps its
    // attempt (and this claim charges one), an unstarted one gets it back.
    expect(got.map((j) => [j.key, j.attempts, j.leaseExpired ?? false])).toEqual([
      ['a', 3, true],
      ['b', 1, true],
      ['d', 1, false],
    ]);
    const [a2, b2] = got;
    expect([a2!.leaseToken, b2!.leaseToken]).not.toContain(a1!.leaseToken);
    expect([a2!.leaseToken, b2!.leaseToken]).not.toContain(b1!.leaseToken);
    expect(await s.getJob('a')).toMatchObject({ state: 'running', attempts: 3, errorClass: 'http_5xx', errorMessage: 'boom' });
    expect(await s.getJob('c')).toMatchObject({ state: 'running', attempts: 1 });
    // The old holder's writes are refused; the new holder's go through.
    const now = Date.now();
    expect(await s.heartbeat(a1!.id, a1!.leaseToken, 60_000, now)).toBe(false);
    expect(await s.heartbeatMany([{ id: b1!.id, token: b1!.leaseToken }], 60_000, now)).toEqual([]);
    expect(await s.markStartedMany([{ id: b1!.id, token: b1!.leaseToken }], now)).toEqual([]);
    expect(await s.complete(a1!.id, a1!.leaseToken, { localPath: 'a', bytes: 100, sha256: 'old', now })).toBe('lost');
    expect(await s.retryLater(a1!.id, a1!.leaseToken, { retryAfterMs: 0, now, consumeAttempt: true, error: { errorClass: 'network', message: 'x' } })).toBe('lost');
    expect(await s.fail(b1!.id, b1!.leaseToken, { errorClass: 'http_4xx', message: 'x' }, now)).toBe(false);
    expect(await s.release(b1!.id, b1!.leaseToken, now)).toBe(false);
    expect(await s.getJob('b')).toMatchObject({ state: 'running', attempts: 1 });
    expect(await s.heartbeat(c1!.id, c1!.leaseToken, 60_000, now)).toBe(true);
    expect(await s.complete(a2!.id, a2!.leaseToken, { localPath: 'a', bytes: 100, sha256: 'new', now })).toBe('done');
    expect(await s.getJob('a')).toMatchObject({ state: 'done', sha256: 'new' });
    expect(await s.sweepExpiredLeases(Date.now())).toBe(0);
  });

  it.skipIf(skip)('a claim leaves an expired started job at its attempt cap to the sweep, which fails it as interrupted', async () => {
    backend = make();
    const s = await open();
    await s.upsertPage([asset('a'), asset('b')], Date.now());
    for (let i = 1; i < MAX; i++) {
      const [a] = await s.claimJobs(1, opts());
      expect(await s.retryLater(a!.id, a!.leaseToken, { retryAfterMs: 0, now: Date.now(), consumeAttempt: true, error: { errorClass: 'http_5xx', message: 'x' } })).toBe('queued');
    }
    const [a] = await s.claimJobs(1, opts({ leaseMs: 1 }));
    expect(a).toMatchObject({ key: 'a', attempts: MAX });
    await vi.waitFor(() => expect(Date.now()).toBeGreaterThan(Number(a!.leaseUntil) + 5), { timeout: 5000, interval: 5 });
    expect((await s.claimJobs(2, opts())).map((j) => j.key)).toEqual(['b']);
    expect(await s.sweepExpiredLeases(Date.now())).toBe(1);
    expect(await s.getJob('a')).toMatchObject({ state: 'failed', attempts: MAX, errorClass: 'interrupted' });
  });

  it.skipIf(skip)('claim counts the attempt, leases the row to one worker, and respects run_at', async () => {
    backend = make();
    const s = await open();
    await s.upsertPage([asset('a')], Date.now());
    const [j] = await s.claimJobs(5, opts());
    expect(j).toMatchObject({ key: 'a', attempts: 1 });
    expect(j!.leaseToken).toMatch(/\S{8,}/);
    expect(await s.claimJobs(5, opts())).toEqual([]);
    expect((await s.getJob('a'))!.state).toBe('running');
    // retried later: not claimable before run_at
    expect(await s.retryLater(j!.id, j!.leaseToken, { retryAfterMs: 60_000, now: Date.now(), consumeAttempt: true, error: { errorClass: 'http_5xx', status: 503, message: 'x' } })).toBe('queued');
    expect(await s.claimJobs(5, opts())).toEqual([]);
    const next = await s.nextRunAt();
    expect(next).not.toBeNull();
    expect(next! - Date.now()).toBeGreaterThan(50_000);
  });

  it.skipIf(skip)('concurrent claims never hand one row to two workers', async () => {
    backend = make();
    const s = await open();
    await s.upsertPage(Array.from({ length: 40 }, (_, i) => asset(`k${String(i).padStart(2, '0')}`)), Date.now());
    const got = (await Promise.all(Array.from({ length: 20 }, (_, i) => s.claimJobs(2, opts({ owner: `w${i}` }))))).flat();
    expect(got).toHaveLength(40);
    expect(new Set(got.map((j) => j.id)).size).toBe(40);
  });

  it.skipIf(skip)('fencing: a stale lease token cannot heartbeat, complete, fail or release', async () => {
    backend = make();
    const s = await open();
    await s.upsertPage([asset('a')], Date.now());
    const [old] = await s.claimJobs(1, opts({ leaseMs: 1 }));
    await vi.waitFor(async () => expect(await s.sweepExpiredLeases(Date.now() + 5)).toBe(1), { timeout: 5000, interval: 10 });
    const [fresh] = await s.claimJobs(1, opts({ owner: 'other', now: Date.now() + 50 }));
    expect(fresh).toMatchObject({ key: 'a', attempts: 2 });
    const now = Date.now();
    expect(await s.heartbeat(old!.id, old!.leaseToken, 60_000, now)).toBe(false);
    expect(await s.complete(old!.id, old!.leaseToken, { localPath: 'a', bytes: 1, sha256: 'x', now })).toBe('lost');
    expect(await s.fail(old!.id, old!.leaseToken, { errorClass: 'http_4xx', message: 'x' }, now)).toBe(false);
    expect(await s.release(old!.id, old!.leaseToken, now)).toBe(false);
    expect(await s.retryLater(old!.id, old!.leaseToken, { retryAfterMs: 0, now, consumeAttempt: true, error: { errorClass: 'network', message: 'x' } })).toBe('lost');
    expect(await s.heartbeat(fresh!.id, fresh!.leaseToken, 60_000, now)).toBe(true);
    expect(await s.complete(fresh!.id, fresh!.leaseToken, { localPath: 'a', bytes: 100, sha256: 'x', now })).toBe('done');
  });

  it.skipIf(skip)('complete during a newer listing queues the job again', async () => {
    backend = make();
    const s = await open();
    await s.upsertPage([asset('a')], Date.now());
    const [j] = await s.claimJobs(1, opts());
    expect(await s.upsertPage([asset('a', 1_700_000_009_000)], Date.now())).toMatchObject({ changed: 1 });
    expect((await s.getJob('a'))!.state).toBe('running');
    expect(await s.complete(j!.id, j!.leaseToken, { localPath: 'a', bytes: 100, sha256: 'x', now: Date.now() })).toBe('requeued');
    expect(await s.getJob('a')).toMatchObject({ state: 'queued', attempts: 0 });
  });

  it.skipIf(skip)('commitPlaced: places and commits only under the lease; a late rename is queued again (issue 11 §6)', async () => {
    backend = make();
    const s = await open();
    await s.upsertPage([asset('a'), asset('b')], Date.now());
    const [a] = await s.claimJobs(1, opts());
    const placed: string[] = [];
    const done = { localPath: 'a', bytes: 100, sha256: 'x', now: Date.now(), leaseMs: 60_000 };
    expect(await s.commitPlaced(a!.id, a!.leaseToken, async () => void placed.push('a'), done)).toEqual({ placed: true, outcome: 'done' });
    expect(placed).toEqual(['a']);
    expect(await s.getJob('a')).toMatchObject({ state: 'done', sha256: 'x' });
    // A lost lease: nothing is placed.
    const [b] = await s.claimJobs(1, opts({ leaseMs: 1 }));
    // PostgreSQL expires the lease on the database's clock: wait until a sweep takes it back
    await vi.waitFor(async () => expect((await s.getJob('b'))?.state === 'queued' || (await s.sweepExpiredLeases(Date.now() + 10)) === 1).toBe(true), { timeout: 5000, interval: 5 });
    expect(await s.commitPlaced(b!.id, b!.leaseToken, async () => void placed.push('b'), { ...done, localPath: 'b' })).toEqual({ placed: false, outcome: 'lost' });
    expect(placed).toEqual(['a']);
    // requeueStale: a done key is fetched again at once, with its attempts reset ...
    const revision = (await s.getJob('a'))!.revision;
    expect(await s.requeueStale(a!.id, Date.now())).toBe(true);
    expect(await s.getJob('a')).toMatchObject({ state: 'queued', attempts: 0, errorClass: 'stale_file', revision: revision + 1 });
    // ... and a running holder's commit turns into a requeue (its rename may predate the stale one).
    const [again] = await s.claimJobs(1, opts());
    expect(again!.key).toBe('a');
    await s.requeueStale(again!.id, Date.now());
    expect((await s.getJob('a'))!.state).toBe('running');
    expect(await s.complete(again!.id, again!.leaseToken, done)).toBe('requeued');
    expect(await s.getJob('a')).toMatchObject({ state: 'queued', attempts: 0 });
  });

  it.skipIf(skip)('release gives the attempt back; retryLater fails the job at the attempt cap', async () => {
    backend = make();
    const s = await open();
    await s.upsertPage([asset('a')], Date.now());
    const [j] = await s.claimJobs(1, opts());
    expect(await s.release(j!.id, j!.leaseToken, Date.now())).toBe(true);
    expect(await s.getJob('a')).toMatchObject({ state: 'queued', attempts: 0 });
    const outcomes: string[] = [];
    for (let i = 0; i < MAX; i++) {
      const [c] = await s.claimJobs(1, opts());
      expect(c!.attempts).toBe(i + 1);
      outcomes.push(await s.retryLater(c!.id, c!.leaseToken, { retryAfterMs: 0, now: Date.now(), consumeAttempt: true, error: { errorClass: 'http_5xx', status: 500, message: 'boom' } }));
    }
    expect(outcomes).toEqual(['queued', 'queued', 'failed']);
    expect(await s.getJob('a')).toMatchObject({ state: 'failed', attempts: MAX, errorClass: 'http_5xx' });
    expect((await s.recentFailures(10)).map((f) => f.key)).toEqual(['a']);
    // a retry that does not consume an attempt gives it back
    await s.upsertPage([asset('b')], Date.now());
    const [b] = await s.claimJobs(1, opts());
    await s.retryLater(b!.id, b!.leaseToken, { retryAfterMs: 0, now: Date.now(), consumeAttempt: false, error: { errorClass: 'disk_full', message: 'x' } });
    expect(await s.getJob('b')).toMatchObject({ state: 'queued', attempts: 0 });
  });

  it.skipIf(skip)('orphans and expired leases go back to the queue, and fail at the cap', async () => {
    backend = make();
    const s = await open();
    await s.upsertPage([asset('live'), asset('dead')], Date.now());
    // "dead" expires at once, its lease cut once "live" is claimed (a claim takes an expired lease too)
    const [dead] = await s.claimJobs(1, opts({ order: 'key', leaseMs: 600_000 }));
    await s.claimJobs(1, opts({ order: 'key', leaseMs: 600_000 })); // "live"
    expect(await s.heartbeat(dead!.id, dead!.leaseToken, 1, Date.now())).toBe(true);
    // wait until the short lease is in the past on the store's clock
    await vi.waitFor(async () => expect(await s.sweepExpiredLeases(Date.now() + 5)).toBe(1), { timeout: 5000, interval: 10 });
    expect((await s.getJob('dead'))!.state).toBe('queued');
    expect((await s.getJob('live'))!.state).toBe('running');
    const n = await s.requeueOrphans(Date.now());
    if (s.backend === 'sqlite') {
      // one process owns a SQLite state: whatever is running at start-up is an orphan
      expect(n).toBe(1);
      expect((await s.getJob('live'))!.state).toBe('queued');
    } else {
      // a running row may belong to a live replica: only expired leases are orphans
      expect(n).toBe(0);
      expect((await s.getJob('live'))!.state).toBe('running');
    }
    // interrupted at the cap: failed as interrupted
    for (let i = 0; i < MAX; i++) {
      const [c] = await s.claimJobs(1, opts({ order: 'key', leaseMs: 1, now: Date.now() + 50 }));
      if (!c) break;
      if (c.key !== 'dead') continue;
      await vi.waitFor(async () => expect(await s.sweepExpiredLeases(Date.now() + 5)).toBeGreaterThanOrEqual(1), { timeout: 5000, interval: 10 });
    }
    expect(await s.getJob('dead')).toMatchObject({ state: 'failed', errorClass: 'interrupted' });
  });

  it.skipIf(skip)('counts by state; gone and failed are final', async () => {
    backend = make();
    const s = await open();
    await s.upsertPage([asset('a'), asset('b'), asset('c'), asset('d')], Date.now());
    const js = await s.claimJobs(3, opts());
    await s.complete(js[0]!.id, js[0]!.leaseToken, { localPath: 'a', bytes: 1, sha256: 'x', now: Date.now() });
    await s.fail(js[1]!.id, js[1]!.leaseToken, { errorClass: 'http_4xx', status: 403, message: 'no' }, Date.now());
    await s.markGone(js[2]!.id, js[2]!.leaseToken, { errorClass: 'not_found', status: 404, message: 'gone' }, Date.now());
    expect(await s.counts()).toEqual({ queued: 1, running: 0, done: 1, failed: 1, gone: 1 });
    // a gone key listed again comes back
    await s.upsertPage([asset('c')], Date.now());
    expect((await s.getJob('c'))!.state).toBe('queued');
  });

  it.skipIf(skip)('problemJobs lists failed, gone and retrying jobs (next retry in the caller\'s time); bytesByState sums sizes', async () => {
    backend = make();
    const s = await open();
    const now = Date.now();
    await s.upsertPage([asset('ok', undefined, 1000), asset('bad', undefined, 200), asset('gone', undefined, 30), asset('flaky', undefined, 4), asset('wait', undefined, 5)], now);
    const js = await s.claimJobs(5, opts({ order: 'key' }));
    const by = Object.fromEntries(js.map((j) => [j.key, j]));
    await s.complete(by.ok!.id, by.ok!.leaseToken, { localPath: 'ok', bytes: 1000, sha256: 'x', now });
    await s.fail(by.bad!.id, by.bad!.leaseToken, { errorClass: 'http_4xx', status: 403, message: 'forbidden' }, now);
    await s.markGone(by.gone!.id, by.gone!.leaseToken, { errorClass: 'not_found', status: 404, message: 'gone' }, now);
    const retryAfterMs = 60_000;
    expect(await s.retryLater(by.flaky!.id, by.flaky!.leaseToken, { retryAfterMs, now, consumeAttempt: true, error: { errorClass: 'network', message: 'reset' } })).toBe('queued');
    await s.release(by.wait!.id, by.wait!.leaseToken, now);
    const p = await s.problemJobs(10);
    expect(p.map((j) => `${j.state} ${j.key}`).sort()).toEqual(['failed bad', 'gone gone', 'queued flaky']);
    const flaky = p.find((j) => j.key === 'flaky')!;
    expect(flaky).toMatchObject({ errorClass: 'network', attempts: 1 });
    expect(Math.abs(flaky.runAt - (Date.now() + retryAfterMs))).toBeLessThan(5_000);
    expect((await s.problemJobs(1)).length).toBe(1);
    expect(await s.bytesByState()).toEqual({ queued: 9, running: 0, done: 1000, failed: 200, gone: 30 });
  });

  it.skipIf(skip)('a size the listing omitted (null) is never summed: counted as unknown until the bytes written say (issue 22 item 12)', async () => {
    backend = make();
    const s = await open();
    const now = Date.now();
    await s.upsertPage([asset('u1', undefined, null), asset('u2', undefined, null), asset('u3', undefined, null), asset('k', undefined, 50)], now);
    // Unknown reads back as null from every row shape (issue 26 §3), never as the column's -1.
    expect((await s.getJob('u1'))?.remoteSize).toBeNull();
    expect((await s.jobBriefs(['queued'])).map((b) => b.remoteSize)).toEqual([null, null, null, 50]);
    expect(await s.bytesByState()).toEqual({ queued: 50, running: 0, done: 0, failed: 0, gone: 0 });
    expect((await s.mirrorTotals()).unknown).toEqual({ queued: 3, running: 0, done: 0, failed: 0, gone: 0 });
    const js = await s.claimJobs(4, opts({ order: 'key' }));
    const by = Object.fromEntries(js.map((j) => [j.key, j]));
    expect(by.u1!.remoteSize).toBeNull();
    expect(by.k!.remoteSize).toBe(50);
    await s.complete(by.u1!.id, by.u1!.leaseToken, { localPath: 'u1', bytes: 700, sha256: 'x', now });
    await s.fail(by.u2!.id, by.u2!.leaseToken, { errorClass: 'http_4xx', status: 403, message: 'forbidden' }, now);
    const t = await s.mirrorTotals();
    expect(t.bytes).toEqual({ queued: 0, running: 50, done: 700, failed: 0, gone: 0 });
    expect(t.unknown).toEqual({ queued: 0, running: 1, done: 0, failed: 1, gone: 0 });
    expect(await s.bytesByState()).toEqual(t.bytes);
  });

  it.skipIf(skip)('getJobs reads the jobs of many keys in one query, by key; keys without a job are absent', async () => {
    backend = make();
    const s = await open();
    await s.upsertPage([asset('a'), asset('b', undefined, null), asset('c')], Date.now());
    const m = await s.getJobs(['c', 'a', 'b', 'nope']);
    expect([...m.keys()].sort()).toEqual(['a', 'b', 'c']);
    expect(m.get('a')).toEqual(await s.getJob('a'));
    expect(m.get('b')?.remoteSize).toBeNull();
    expect((await s.getJobs([])).size).toBe(0);
  });

  it.skipIf(skip)('cursor: the high-water mark only moves forward; poll errors are recorded and cleared', async () => {
    backend = make();
    const s = await open();
    expect((await s.getCursor()).hwmMs).toBeNull();
    await s.startPoll(Date.now());
    await s.finishPoll(2000, Date.now());
    await s.finishPoll(1000, Date.now());
    await s.finishPoll(null, Date.now());
    expect((await s.getCursor()).hwmMs).toBe(2000);
    await s.failPoll('listing broke', 'bad_listing', Date.now());
    expect(await s.getCursor()).toMatchObject({ hwmMs: 2000, pollError: 'listing broke', pollErrorClass: 'bad_listing' });
    await s.finishPoll(3000, Date.now());
    const c = await s.getCursor();
    expect(c).toMatchObject({ hwmMs: 3000, pollError: null });
    expect(c.pollFinishedAt).not.toBeNull();
    expect(c.pollStartedAt).not.toBeNull();
  });

  it.skipIf(skip)('cursor: the mark never ends above the cap (server clock), and the clock skew is kept', async () => {
    backend = make();
    const s = await open();
    expect(await s.getCursor()).toMatchObject({ clockSkewMs: null, clockSkewAt: null });
    await s.finishPoll(9000, Date.now(), { capMs: 5000, clockSkewMs: -7200_000 });
    expect(await s.getCursor()).toMatchObject({ hwmMs: 5000, clockSkewMs: -7200_000 });
    expect((await s.getCursor()).clockSkewAt).not.toBeNull();
    // a mark left in the future is pulled back to the cap; no new skew keeps the last one
    await s.finishPoll(null, Date.now(), { capMs: 4000 });
    expect(await s.getCursor()).toMatchObject({ hwmMs: 4000, clockSkewMs: -7200_000 });
  });

  it.skipIf(skip)('poller lease: one holder at a time, renewable, released or expired leases are taken over', async () => {
    backend = make();
    const s = await open();
    expect(await s.tryAcquirePollerLease('A', 60_000)).toBe(true);
    expect(await s.tryAcquirePollerLease('A', 60_000)).toBe(true);
    if (s.backend === 'sqlite') {
      // one process per SQLite state: always the poller
      expect(await s.tryAcquirePollerLease('B', 60_000)).toBe(true);
      return;
    }
    expect(await s.tryAcquirePollerLease('B', 60_000)).toBe(false);
    await s.releasePollerLease('A');
    expect(await s.tryAcquirePollerLease('B', 1)).toBe(true);
    await vi.waitFor(async () => expect(await s.tryAcquirePollerLease('C', 60_000)).toBe(true), { timeout: 5000, interval: 10 });
    expect(await s.tryAcquirePollerLease('B', 60_000)).toBe(false);
  });

  it.skipIf(skip)('migrations: reopening is a no-op; a state migrated by a newer version is refused', async () => {
    backend = make();
    const s = await open();
    await s.upsertPage([asset('a')], Date.now());
    await s.close();
    stores = [];
    const again = await open();
    expect((await again.getJob('a'))!.key).toBe('a');
    await again.close();
    stores = [];
    await expect(backend.markNewerAndReopen()).rejects.toMatchObject({ code: 'SYNC_STORE_TOO_NEW' });
  });

  it.skipIf(skip)('catalog status: an error with its path, kept since the first failure, cleared by a success; the written extent round-trips', async () => {
    backend = make();
    const c = (await open()).catalog;
    expect(await c.getStatus()).toEqual({ error: null, path: null, code: null, failingSince: null, updatedAt: null });
    await c.setStatus({ error: 'ENOSPC', path: 'c/collection.json', code: 'disk_full' }, 1000);
    await c.setStatus({ error: 'EIO', path: 'c/i/i.json', code: 'io' }, 2000);
    expect(await c.getStatus()).toEqual({ error: 'EIO', path: 'c/i/i.json', code: 'io', failingSince: 1000, updatedAt: 2000 });
    await c.setStatus(null, 3000);
    expect(await c.getStatus()).toEqual({ error: null, path: null, code: null, failingSince: null, updatedAt: 3000 });
    await c.putItems([{ collection: 'c', id: 'i', raw: '{}', assets: [], apiUrl: 'https://api/i' }], 1000);
    await c.setWritten('c', 'i', 'ab', 'c/i/i.json', '{"bbox":[1,2,3,4],"start":null,"end":null}');
    expect(await c.getItem('c', 'i')).toMatchObject({ written: 'ab', jsonPath: 'c/i/i.json', writtenExtent: '{"bbox":[1,2,3,4],"start":null,"end":null}' });
  });

  it.skipIf(skip)('catalog items and collections: upsert (the last of a key wins), paging, written items, scrub unless replaced, delete', async () => {
    backend = make();
    const c = (await open()).catalog;
    const item = (col: string, id: string, raw: string) => ({ collection: col, id, raw, assets: [{ asset: 'a', key: `${col}/${id}`, version: 1000 }], apiUrl: `https://api/${id}` });
    await c.putItems([], 1);
    await c.putItems([item('b', 'x', '{"v":1}'), item('a', 'é/ü', '{"v":"ß"}'), item('b', 'x', '{"v":2}'), item('a', 'z', 'null')], 1000);
    expect((await c.listItems(null, 10)).map((i) => [i.collection, i.id, i.raw])).toEqual([
      ['a', 'z', 'null'],
      ['a', 'é/ü', '{"v":"ß"}'],
      ['b', 'x', '{"v":2}'],
    ]);
    expect((await c.listItems({ collection: 'a', id: 'z' }, 1)).map((i) => i.id)).toEqual(['é/ü']);
    expect(await c.getItem('a', 'é/ü')).toEqual({ ...item('a', 'é/ü', '{"v":"ß"}'), written: null, jsonPath: null, writtenExtent: null });
    expect(await c.getItem('a', 'none')).toBeNull();
    // in one query, in the order asked: a pair of a collection and an id of two other items is none
    expect((await c.getItems([{ collection: 'b', id: 'x' }, { collection: 'a', id: 'none' }, { collection: 'b', id: 'z' }, { collection: 'a', id: 'é/ü' }])).map((i) => i && [i.collection, i.id, i.raw])).toEqual([['b', 'x', '{"v":2}'], null, null, ['a', 'é/ü', '{"v":"ß"}']]);
    expect(await c.getItems([])).toEqual([]);
    expect(await c.collections()).toEqual(['a', 'b']);
    await c.setWritten('a', 'z', 'd1', 'a/z/z.json');
    expect((await c.writtenItems('a')).map((i) => [i.id, i.written, i.jsonPath, i.writtenExtent])).toEqual([['z', 'd1', 'a/z/z.json', null]]);
    expect(await c.unscrubbedItems(10)).toEqual([]);
    // scrub: replaced where the raw is still what the rewrite was computed from, kept where a listing replaced it
    await c.scrubItems([]);
    await c.scrubItems([
      { collection: 'b', id: 'x', was: '{"v":2}', raw: '{"v":3}', apiUrl: 'https://api/x2' },
      { collection: 'a', id: 'z', was: 'older', raw: '"new"', apiUrl: 'https://api/z2' },
    ]);
    expect(await c.getItem('b', 'x')).toMatchObject({ raw: '{"v":3}', apiUrl: 'https://api/x2' });
    expect(await c.getItem('a', 'z')).toMatchObject({ raw: 'null', apiUrl: 'https://api/z' });
    await c.deleteItem('b', 'x');
    expect(await c.collections()).toEqual(['a']);
    expect(await c.getCollection('a')).toBeNull();
    await c.putCollection('a', '{"id":"a"}', 1000);
    await c.putCollection('a', '{"id":"a","v":2}', 2000);
    expect(await c.getCollection('a')).toBe('{"id":"a","v":2}');
  });
});

describe.skipIf(!pgOk)('PostgreSQL specifics', () => {
  it('LISTEN/NOTIFY wakes a subscriber in another store when work is queued', async () => {
    const schema = uniqueSchema('notify');
    const a = (await PostgresStore.open({ url: TEST_DATABASE_URL, schema, maxAttempts: 3 }))!;
    const b = (await PostgresStore.open({ url: TEST_DATABASE_URL, schema, maxAttempts: 3 }))!;
    try {
      let wakes = 0;
      b.onJobsAvailable(() => wakes++);
      await vi.waitFor(() => expect(wakes).toBeGreaterThanOrEqual(1), { timeout: 20_000 }); // initial wake once listening
      const before = wakes;
      await a.upsertPage([asset('x')]);
      await vi.waitFor(() => expect(wakes).toBeGreaterThan(before), { timeout: 20_000 });
    } finally {
      await a.close();
      await b.close();
      await dropSchema(schema);
    }
  });

  it('a claim taking an expired lease over and the old holder reserving its path never wait for each other in a circle', async () => {
    const schema = uniqueSchema('takeover');
    const s = (await PostgresStore.open({ url: TEST_DATABASE_URL, schema, maxAttempts: 3, poolSize: 4 }))!;
    const x = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await x.connect();
    try {
      await s.upsertPage([asset('a')]);
      // The old holder is alive, but its lease expired.
      const [j] = await s.claimJobs(1, { owner: 'old/w0', leaseMs: 60_000, now: Date.now(), order: 'key' });
      expect(await s.heartbeat(j!.id, j!.leaseToken, 1, Date.now())).toBe(true);
      const cut = Date.now();
      await vi.waitFor(() => expect(Date.now()).toBeGreaterThan(cut + 5), { timeout: 5000, interval: 5 });
      // Another reservation holds the path 'a' for now; the old holder's reservation of it waits.
      const key = `constellr-sync/path/${schema}/a`;
      await x.query('BEGIN');
      await x.query('SELECT pg_advisory_xact_lock(hashtext($1))', [key]);
      const waiters = async () =>
        Number((await sql<{ n: string }>(`SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND objid::bigint = (hashtext($1)::bigint & 4294967295)`, [key]))[0]!.n);
      const reserving = s.reservePath(j!.id, j!.leaseToken, { mirrorPath: 'a', pathFold: 'a' });
      await vi.waitFor(async () => expect(await waiters()).toBe(1), { timeout: 20_000, interval: 10 });
      // A claim now either passes over the held row or takes it and waits for the path too.
      let settled = false;
      const claiming = s.claimWindow(2, { owner: 'new/w0', leaseMs: 60_000, now: Date.now(), order: 'key', start: 1 }, (job) => ({ mirrorPath: job.key, pathFold: job.key }));
      void claiming.finally(() => (settled = true)).catch(() => undefined);
      await vi.waitFor(async () => expect(settled || (await waiters()) === 2).toBe(true), { timeout: 20_000, interval: 10 });
      await x.query('COMMIT');
      // No deadlock error on either side: the old holder, holding its row, reserved the path.
      const [r, c] = await Promise.allSettled([reserving, claiming]);
      expect(r).toEqual({ status: 'fulfilled', value: { ok: true, owner: null } });
      expect(c).toEqual({ status: 'fulfilled', value: [] });
    } finally {
      await x.end();
      await s.close();
      await dropSchema(schema);
    }
  });

  it('replicas starting together migrate once (advisory lock)', async () => {
    const schema = uniqueSchema('mig');
    try {
      const stores = await Promise.all(Array.from({ length: 4 }, () => PostgresStore.open({ url: TEST_DATABASE_URL, schema, maxAttempts: 3, poolSize: 2 })));
      const rows = await sql<{ version: number }>(`SELECT version FROM "${schema}".schema_migrations ORDER BY version`);
      expect(rows.map((r) => r.version)).toEqual([...new Set(rows.map((r) => r.version))]);
      expect(rows.length).toBeGreaterThanOrEqual(1);
      for (const s of stores) await s!.close();
    } finally {
      await dropSchema(schema);
    }
  });
});
