// The SQLite state store on real files: upsert semantics, claim/lease fencing, attempt counting,
// start-up recovery, and migrations refusing a newer database.
import Database from 'better-sqlite3';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SyncError } from '../../src/errors.js';
import type { RemoteAsset } from '../../src/api/wire.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import { sqliteDialect, toSqlite } from '../../src/store/sql/dialect.js';
import { upsertListingSql } from '../../src/store/sql/upsert-listing.js';
import { STATE_FILE, MIGRATIONS_DIR, loadMigrations, openSqlite } from '../../src/store/sqlite.js';
import { tempDirs, type TempDirs } from '../helpers/harness.js';

const T = Date.UTC(2025, 0, 1);
let dirs: TempDirs;
let store: SqliteStore;
const MAX = 3;

beforeEach(async () => {
  dirs = await tempDirs('store');
  store = SqliteStore.open(dirs.state, { maxAttempts: MAX });
});
afterEach(async () => {
  await store.close();
  await dirs.cleanup();
});

const asset = (key: string, lm = T, size = 100, etag: string | null = '"e1"'): RemoteAsset => ({ key, lastModifiedMs: lm, size, etag });
const claimOpts = (now: number, owner = 'w1') => ({ owner, leaseMs: 60_000, now, order: 'key' as const });

async function claimOne(now = T + 1000, owner = 'w1') {
  const [j] = await store.claimJobs(1, claimOpts(now, owner));
  if (!j) throw new Error('nothing to claim');
  return j;
}

describe('upsertPage', () => {
  it('inserts, then an unchanged (LastModified, Size, ETag) is a no-op', async () => {
    expect(await store.upsertPage([asset('a'), asset('b')], T)).toEqual({ inserted: 2, changed: 0, unchanged: 0 });
    const before = await store.getJob('a');
    expect(await store.upsertPage([asset('a'), asset('b')], T + 5000)).toEqual({ inserted: 0, changed: 0, unchanged: 2 });
    const after = await store.getJob('a');
    expect(after).toEqual(before); // not even updated_at moved
  });

  it('an unchanged done job stays done (nothing re-downloaded)', async () => {
    await store.upsertPage([asset('a')], T);
    const j = await claimOne();
    expect(await store.complete(j.id, j.leaseToken, { localPath: 'a', bytes: 100, sha256: 'x', now: T + 2000 })).toBe('done');
    await store.upsertPage([asset('a')], T + 3000);
    expect((await store.getJob('a'))?.state).toBe('done');
    expect(await store.claimJobs(1, claimOpts(T + 4000))).toEqual([]);
  });

  it('a changed version is queued again with attempts reset and the error cleared', async () => {
    await store.upsertPage([asset('a')], T);
    const j = await claimOne();
    expect(await store.retryLater(j.id, j.leaseToken, { retryAfterMs: 997_999, now: T + 2000, consumeAttempt: true, error: { errorClass: 'http_5xx', status: 503, message: 'HTTP 503' } })).toBe('queued');
    const j2 = await claimOne(T + 1_000_000);
    await store.fail(j2.id, j2.leaseToken, { errorClass: 'http_4xx', status: 403, message: 'HTTP 403' }, T + 1_000_001);
    expect((await store.getJob('a'))?.attempts).toBe(2);
    expect((await store.getJob('a'))?.state).toBe('failed');

    for (const changed of [asset('a', T + 1000), asset('a', T + 1000, 101), asset('a', T + 1000, 101, '"e2"')]) {
      const r = await store.upsertPage([changed], T + 2_000_000);
      expect(r).toEqual({ inserted: 0, changed: 1, unchanged: 0 });
      const job = await store.getJob('a');
      expect(job).toMatchObject({ state: 'queued', attempts: 0, errorClass: null, errorMessage: null, remoteModifiedMs: changed.lastModifiedMs, remoteSize: changed.size, runAt: T + 2_000_000 });
    }
  });

  it('a page larger than one statement: every key counted once, a key listed twice is upserted twice in page order', async () => {
    // 2,500 keys go in as several statements (sqlite-store.ts STATEMENT_ROWS); the same results as
    // one statement per key gave: a key repeated in a page sees its first row.
    const known = Array.from({ length: 1200 }, (_, i) => asset(`k${String(i).padStart(5, '0')}`));
    await store.upsertPage(known, T);
    const page = Array.from({ length: 2500 }, (_, i) => asset(`k${String(i).padStart(5, '0')}`, i % 100 === 0 ? T + 1000 : T));
    // 'k01500' (new) again, changed, past a statement's end; 'k00001' (known, unchanged) again, unchanged
    page.push(asset('k01500', T + 5000), asset('k00001'));
    const r = await store.upsertPage(page, T + 10);
    expect(r).toEqual({ inserted: 1300, changed: 12 + 1, unchanged: 1200 - 12 + 1 });
    expect(await store.getJob('k01500')).toMatchObject({ remoteModifiedMs: T + 5000, revision: 1, state: 'queued' });
    expect(await store.getJob('k00100')).toMatchObject({ remoteModifiedMs: T + 1000, revision: 1 });
    expect(await store.getJob('k00001')).toMatchObject({ remoteModifiedMs: T, revision: 0 });
    expect((await store.counts()).queued).toBe(2500);
  });

  it('a new locator of an unchanged version replaces the old one; a key listed twice keeps its last', async () => {
    const loc = (k: string, v: string) => JSON.stringify({ h: `https://x.example/${k}?v=${v}`, x: 1 });
    const locOf = (k: string) => (store.db.prepare('SELECT locator FROM jobs WHERE key = ?').get(k) as { locator: string | null }).locator;
    await store.upsertPage([{ ...asset('a'), locator: loc('a', '1') }, { ...asset('b'), locator: loc('b', '1') }, asset('c')], T);
    const r = await store.upsertPage([{ ...asset('a'), locator: loc('a', '2') }, asset('b'), { ...asset('c'), locator: loc('c', '2') }, { ...asset('a'), locator: loc('a', '3') }], T + 10);
    expect(r).toEqual({ inserted: 0, changed: 0, unchanged: 4 });
    expect([locOf('a'), locOf('b'), locOf('c')]).toEqual([loc('a', '3'), loc('b', '1'), loc('c', '2')]);
  });

  it('the page statements look jobs up by key, whatever the number of queued jobs', () => {
    const q = upsertListingSql(sqliteDialect);
    const plan = (sql: string) => (store.db.prepare(`EXPLAIN QUERY PLAN ${toSqlite(sql)}`).all({ rows: '[]', now: T }) as { detail: string }[]).map((r) => r.detail);
    // one key lookup per listed row, never a walk of the queued jobs per row
    expect(plan(q.relocatePage)).toEqual(['SCAN r VIRTUAL TABLE INDEX 1:', 'SEARCH jobs USING INDEX sqlite_autoindex_jobs_1 (key=?)']);
    expect(plan(q.insertPage)).toEqual(['SCAN r VIRTUAL TABLE INDEX 1:']);
  });

  it('is one transaction per page', async () => {
    const bad = [asset('x'), { key: 'y', lastModifiedMs: T, size: Number.NaN, etag: null } as RemoteAsset];
    await expect(store.upsertPage(bad, T)).rejects.toThrow();
    expect(await store.getJob('x')).toBeNull();
  });
});

describe('claim and fencing', () => {
  it('counts the attempt at claim and hands out a lease', async () => {
    await store.upsertPage([asset('a')], T);
    const j = await claimOne(T + 10);
    expect(j.attempts).toBe(1);
    expect(j.leaseUntil).toBe(T + 10 + 60_000);
    expect((await store.getJob('a'))?.state).toBe('running');
    expect((await store.getJob('a'))?.attempts).toBe(1);
    expect(await store.claimJobs(1, claimOpts(T + 20, 'w2'))).toEqual([]); // one holder at a time
  });

  it('never claims a job before its run_at', async () => {
    await store.upsertPage([asset('a')], T);
    const j = await claimOne(T + 10);
    await store.retryLater(j.id, j.leaseToken, { retryAfterMs: 49_980, now: T + 20, consumeAttempt: true, error: { errorClass: 'network', message: 'reset' } });
    expect(await store.claimJobs(1, claimOpts(T + 49_999))).toEqual([]);
    expect(await store.nextRunAt()).toBe(T + 50_000);
    expect((await store.claimJobs(1, claimOpts(T + 50_000)))[0]?.attempts).toBe(2);
  });

  it('a stale lease token updates nothing', async () => {
    await store.upsertPage([asset('a')], T);
    const old = await claimOne(T + 10, 'w1');
    // the lease is lost (e.g. swept after expiry) and someone else claims the job
    expect(await store.sweepExpiredLeases(T + 10 + 60_001)).toBe(1);
    const cur = await claimOne(T + 70_000, 'w2');
    expect(cur.leaseToken).not.toBe(old.leaseToken);
    const e = { errorClass: 'http_4xx', message: 'x' };
    expect(await store.heartbeat(old.id, old.leaseToken, 929_998, T + 70_001)).toBe(false);
    expect(await store.complete(old.id, old.leaseToken, { localPath: 'a', bytes: 1, sha256: 's', now: T + 70_002 })).toBe('lost');
    expect(await store.retryLater(old.id, old.leaseToken, { retryAfterMs: 0, now: T + 70_003, consumeAttempt: true, error: e })).toBe('lost');
    expect(await store.fail(old.id, old.leaseToken, e, T + 70_004)).toBe(false);
    expect(await store.markGone(old.id, old.leaseToken, e, T + 70_005)).toBe(false);
    expect(await store.release(old.id, old.leaseToken, T + 70_006)).toBe(false);
    const job = await store.getJob('a');
    expect(job).toMatchObject({ state: 'running', attempts: 2, errorClass: null, localPath: null });
    // the current holder still can
    expect(await store.complete(cur.id, cur.leaseToken, { localPath: 'a', bytes: 100, sha256: 's', now: T + 70_010 })).toBe('done');
    expect(await store.complete(cur.id, cur.leaseToken, { localPath: 'a', bytes: 100, sha256: 's', now: T + 70_011 })).toBe('lost'); // only once
  });

  it('a revision bump while running: complete says requeued and the new version is queued', async () => {
    await store.upsertPage([asset('a')], T);
    const j = await claimOne();
    expect(await store.upsertPage([asset('a', T + 5000, 200, '"e2"')], T + 1500)).toEqual({ inserted: 0, changed: 1, unchanged: 0 });
    expect((await store.getJob('a'))?.state).toBe('running'); // the holder keeps its lease
    expect(await store.heartbeat(j.id, j.leaseToken, 88_400, T + 1600)).toBe(true);
    expect(await store.complete(j.id, j.leaseToken, { localPath: 'a', bytes: 100, sha256: 's', now: T + 2000 })).toBe('requeued');
    const job = await store.getJob('a');
    expect(job).toMatchObject({ state: 'queued', attempts: 0, remoteModifiedMs: T + 5000, remoteSize: 200 });
    const again = await claimOne(T + 2001);
    expect(again).toMatchObject({ remoteModifiedMs: T + 5000, remoteSize: 200, attempts: 1 });
  });

  it('a revision bump while running also requeues on a failure, without burning the new version', async () => {
    await store.upsertPage([asset('a')], T);
    const j = await claimOne();
    await store.upsertPage([asset('a', T + 5000)], T + 1500);
    expect(await store.retryLater(j.id, j.leaseToken, { retryAfterMs: 997_999, now: T + 2000, consumeAttempt: true, error: { errorClass: 'http_5xx', message: 'x' } })).toBe('queued');
    expect(await store.getJob('a')).toMatchObject({ state: 'queued', attempts: 0, runAt: T + 2000 });
  });

  it('fails after maxAttempts retryable failures; release gives the attempt back', async () => {
    await store.upsertPage([asset('a')], T);
    let now = T + 10;
    const err = { errorClass: 'network', message: 'reset' };
    const j0 = await claimOne(now);
    expect(await store.release(j0.id, j0.leaseToken, now)).toBe(true);
    expect((await store.getJob('a'))?.attempts).toBe(0);
    const outcomes: string[] = [];
    for (let i = 0; i < MAX; i++) {
      const j = await claimOne(now);
      expect(j.attempts).toBe(i + 1);
      outcomes.push(await store.retryLater(j.id, j.leaseToken, { retryAfterMs: 0, now, consumeAttempt: true, error: err }));
      now += 1;
    }
    expect(outcomes).toEqual(['queued', 'queued', 'failed']);
    expect(await store.getJob('a')).toMatchObject({ state: 'failed', attempts: MAX, errorClass: 'network' });
    expect(await store.counts()).toEqual({ queued: 0, running: 0, done: 0, failed: 1, gone: 0 });
    expect((await store.recentFailures(5)).map((f) => f.key)).toEqual(['a']);
  });

  it('a retry that does not consume an attempt gives it back', async () => {
    await store.upsertPage([asset('a')], T);
    const j = await claimOne();
    await store.retryLater(j.id, j.leaseToken, { retryAfterMs: 0, now: T + 1, consumeAttempt: false, error: { errorClass: 'disk_full', message: 'full' } });
    expect(await store.getJob('a')).toMatchObject({ state: 'queued', attempts: 0 });
  });
});

describe('recovery', () => {
  it('requeueOrphans puts running jobs back, and fails those that used up their attempts', async () => {
    await store.upsertPage([asset('b')], T);
    // b has already crashed the process MAX − 1 times
    for (let i = 0; i < MAX - 1; i++) {
      expect(await store.claimJobs(3, claimOpts(T + 10 + i * 2))).toHaveLength(1);
      expect(await store.requeueOrphans(T + 11 + i * 2)).toBe(1);
    }
    await store.upsertPage([asset('a'), asset('c')], T);
    expect((await store.getJob('b'))?.attempts).toBe(MAX - 1);
    const claimed = await store.claimJobs(3, claimOpts(T + 30));
    expect(claimed).toHaveLength(3);
    const done = claimed.find((j) => j.key === 'c')!;
    await store.complete(done.id, done.leaseToken, { localPath: 'c', bytes: 100, sha256: 's', now: T + 40 });
    // the process dies here; at start-up:
    const n = await store.requeueOrphans(T + 50);
    expect(n).toBe(2);
    const a = await store.getJob('a');
    const b = await store.getJob('b');
    expect(a).toMatchObject({ state: 'queued', attempts: 1 });
    expect(b).toMatchObject({ state: 'failed', attempts: MAX, errorClass: 'interrupted' });
    expect(b?.errorMessage).toMatch(/interrupted/);
    expect((await store.getJob('c'))?.state).toBe('done');
    // the orphan's lease is void
    const stale = claimed.find((j) => j.key === 'a')!;
    expect(await store.complete(stale.id, stale.leaseToken, { localPath: 'a', bytes: 1, sha256: 's', now: T + 60 })).toBe('lost');
  });

  it('sweepExpiredLeases only touches expired leases', async () => {
    await store.upsertPage([asset('a'), asset('b')], T);
    const [a] = await store.claimJobs(1, { owner: 'w', leaseMs: 1000, now: T, order: 'key' });
    const [b] = await store.claimJobs(1, { owner: 'w', leaseMs: 10_000, now: T, order: 'key' });
    expect(await store.sweepExpiredLeases(T + 5000)).toBe(1);
    expect((await store.getJob(a!.key))?.state).toBe('queued');
    expect((await store.getJob(b!.key))?.state).toBe('running');
  });
});

describe('cursor', () => {
  it('the HWM moves only forward, and only on finishPoll', async () => {
    expect((await store.getCursor()).hwmMs).toBeNull();
    await store.startPoll(T);
    await store.finishPoll(T + 5000, T + 1);
    expect((await store.getCursor()).hwmMs).toBe(T + 5000);
    await store.finishPoll(T + 1000, T + 2);
    expect((await store.getCursor()).hwmMs).toBe(T + 5000);
    await store.finishPoll(null, T + 3);
    expect((await store.getCursor()).hwmMs).toBe(T + 5000);
    await store.failPoll('GET /assets: malformed', 'bad_listing', T + 4);
    expect(await store.getCursor()).toMatchObject({ hwmMs: T + 5000, pollError: 'GET /assets: malformed', pollErrorClass: 'bad_listing', pollErrorAt: T + 4 });
    await store.finishPoll(T + 6000, T + 5);
    expect(await store.getCursor()).toMatchObject({ hwmMs: T + 6000, pollError: null, pollFinishedAt: T + 5 });
  });
});

describe('opening and migrations', () => {
  it('WAL, synchronous set explicitly (NORMAL by default, FULL on request) and a busy timeout on every connection; all migrations applied', async () => {
    const full = openSqlite(dirs.state, { synchronous: 'FULL' });
    expect(full.pragma('synchronous', { simple: true })).toBe(2); // FULL
    full.close();
    const db = openSqlite(dirs.state);
    try {
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
      // Set on every connection, not inherited from better-sqlite3's compile-time default.
      expect(db.pragma('synchronous', { simple: true })).toBe(1); // NORMAL
      expect(db.pragma('busy_timeout', { simple: true })).toBe(10_000);
      const latest = loadMigrations(path.join(MIGRATIONS_DIR, 'sqlite')).at(-1)!.version;
      expect(db.pragma('user_version', { simple: true })).toBe(latest);
    } finally {
      db.close();
    }
  });

  it('refuses a database written by a newer version, with a clear message, and leaves it alone', async () => {
    await store.close();
    const file = path.join(dirs.state, STATE_FILE);
    const raw = new Database(file);
    const latest = raw.pragma('user_version', { simple: true }) as number;
    raw.pragma(`user_version = ${latest + 7}`);
    raw.close();
    let err: unknown;
    try {
      SqliteStore.open(dirs.state, { maxAttempts: MAX });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SyncError);
    expect((err as SyncError).code).toBe('SYNC_STORE_TOO_NEW');
    expect((err as SyncError).kind).toBe('fatal');
    expect((err as SyncError).message).toMatch(new RegExp(`schema version ${latest + 7}.*newer constellr-sync`));
    const check = new Database(file, { readonly: true });
    expect(check.pragma('user_version', { simple: true })).toBe(latest + 7);
    check.close();
    store = SqliteStore.open(path.join(dirs.root, 'other'), { maxAttempts: MAX }); // for afterEach
  });

  it('reopening keeps the data and applies nothing twice', async () => {
    await store.upsertPage([asset('a')], T);
    await store.close();
    store = SqliteStore.open(dirs.state, { maxAttempts: MAX });
    expect((await store.getJob('a'))?.state).toBe('queued');
  });
});
