import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import {
  ERROR_CLASSES,
  ERRORS,
  EXIT,
  MISMATCH_CODES,
  SyncError,
  classifyError,
  errorFromStatus,
  exitCodeOf,
  isApiDown,
  isAuth,
  isAuthRejected,
  isRateLimited,
  isShared,
  isStateFull,
  isUnreachable,
  StoreFault,
  retryDecision,
  type ErrorCode,
} from '../../src/errors.js';
import { operatorFsError } from '../../src/lib/operator-errors.js';
import { LockedError } from '../../src/lib/lock.js';
import { connectFailureReason, storeUnreachableMessage } from '../../src/lib/unreachable.js';
import { exitCodeFor } from '../../src/cli/exit-codes.js';

const codes = Object.keys(ERRORS) as ErrorCode[];
const KINDS = ['retryable', 'auth', 'auth_rejected', 'gone', 'permanent', 'disk_full', 'state_full', 'aborted', 'fatal'];
const ERROR_EXITS: number[] = [EXIT.FAILURES, EXIT.USAGE, EXIT.UNREACHABLE, EXIT.LOCKED, EXIT.STORE_UNAVAILABLE];

describe('the error table', () => {
  it('gives every code a kind, a known class and an error exit code', () => {
    expect(codes.length).toBeGreaterThan(40);
    for (const code of codes) {
      const row = ERRORS[code];
      expect(code, code).toMatch(/^SYNC_[A-Z0-9_]+$/);
      expect(KINDS, code).toContain(row.kind);
      expect(Object.keys(ERROR_CLASSES), code).toContain(row.errorClass);
      expect(ERROR_EXITS, code).toContain(row.exit);
    }
  });

  it('builds each SyncError from its row, whatever the code', () => {
    for (const code of codes) {
      const e = new SyncError('m', { code });
      expect([e.kind, e.errorClass, e.exitCode], code).toEqual([ERRORS[code].kind, ERRORS[code].errorClass, ERRORS[code].exit]);
      expect(exitCodeOf(e)).toBe(ERRORS[code].exit);
      expect(exitCodeFor(e)).toBe(ERRORS[code].exit);
    }
  });

  it('keeps the exit codes consistent with the kinds and classes', () => {
    for (const code of codes) {
      const { kind, errorClass, exit } = ERRORS[code];
      // Configuration and environment problems stop with 2 (4 when another instance holds the lock).
      if (kind === 'fatal') expect([EXIT.USAGE, EXIT.LOCKED], code).toContain(exit);
      if (errorClass === 'config') expect(kind, code).toBe('fatal');
      // Refused credentials, and an API that is down or throttling, are "unreachable".
      if (kind === 'auth_rejected' || ERROR_CLASSES[errorClass].apiDown || errorClass === 'rate_limited') expect(exit, code).toBe(EXIT.UNREACHABLE);
      // The state database out of reach has its own code (6): the systemd unit restarts on it.
      else if (errorClass === 'store_unavailable') expect(exit, code).toBe(EXIT.STORE_UNAVAILABLE);
      else if (kind !== 'fatal') expect(exit, code).toBe(EXIT.FAILURES);
    }
  });

  it('gives each class one apiDown answer, true only for 5xx, timeouts and network failures', () => {
    const down = Object.entries(ERROR_CLASSES).filter(([, v]) => v.apiDown).map(([k]) => k).sort();
    expect(down).toEqual(['http_5xx', 'network', 'timeout']);
  });

  it('names a mismatch code for each transfer check', () => {
    for (const [cls, code] of Object.entries(MISMATCH_CODES)) expect(ERRORS[code].errorClass).toBe(cls);
  });
});

describe('the predicates', () => {
  const of = (code: ErrorCode) => new SyncError('x', { code });

  it('isUnreachable: down, throttled or refused; not a failed asset, not a config error', () => {
    for (const c of ['SYNC_API_HTTP_5XX', 'SYNC_API_RATE_LIMITED', 'SYNC_API_ECONNREFUSED', 'SYNC_API_TIMEOUT', 'SYNC_AUTH_REJECTED', 'SYNC_API_KEY_REJECTED', 'SYNC_AUTH_ENDPOINT_NOT_FOUND'] as const)
      expect(isUnreachable(of(c)), c).toBe(true);
    for (const c of ['SYNC_API_HTTP_4XX', 'SYNC_API_GONE', 'SYNC_API_UNAUTHORIZED', 'SYNC_TRANSFER_SHORT_BODY', 'SYNC_CONFIG_INVALID', 'SYNC_LOCKED', 'SYNC_INTERNAL'] as const)
      expect(isUnreachable(of(c)), c).toBe(false);
  });

  it('isApiDown excludes 429 (paused for Retry-After instead) and refused credentials', () => {
    expect(isApiDown(of('SYNC_API_HTTP_5XX'))).toBe(true);
    expect(isApiDown(of('SYNC_API_UND_ERR_HEADERS_TIMEOUT'))).toBe(true);
    expect(isApiDown(of('SYNC_API_RATE_LIMITED'))).toBe(false);
    expect(isApiDown(of('SYNC_AUTH_REJECTED'))).toBe(false);
    expect(isApiDown(of('SYNC_API_UND_ERR_RES_CONTENT_LENGTH_MISMATCH'))).toBe(false);
  });

  it('isAuth, isAuthRejected and isRateLimited', () => {
    expect(isAuth(of('SYNC_API_UNAUTHORIZED'))).toBe(true);
    expect(isAuth(of('SYNC_AUTH_REJECTED'))).toBe(false);
    expect(isAuthRejected(of('SYNC_AUTH_REDIRECT'))).toBe(true);
    expect(isAuthRejected(of('SYNC_API_UNAUTHORIZED'))).toBe(false);
    expect(isRateLimited(of('SYNC_API_RATE_LIMITED'))).toBe(true);
    expect(isRateLimited(of('SYNC_API_HTTP_5XX'))).toBe(false);
  });
});

describe('classification into the table', () => {
  it('maps statuses to codes, with the status kept apart', () => {
    const cases: [number, ErrorCode][] = [
      [401, 'SYNC_API_UNAUTHORIZED'],
      [408, 'SYNC_API_TIMEOUT'],
      [429, 'SYNC_API_RATE_LIMITED'],
      [404, 'SYNC_API_GONE'],
      [410, 'SYNC_API_GONE'],
      [400, 'SYNC_API_HTTP_4XX'],
      [418, 'SYNC_API_HTTP_4XX'],
      [500, 'SYNC_API_HTTP_5XX'],
      [503, 'SYNC_API_HTTP_5XX'],
    ];
    for (const [status, code] of cases) {
      const e = errorFromStatus(status, 'GET /x', { retryAfterMs: 1000 });
      expect([e.code, e.status], String(status)).toEqual([code, status]);
    }
    expect(errorFromStatus(503, 'GET /x', { retryAfterMs: 1000 }).retryAfterMs).toBe(1000);
    expect(errorFromStatus(429, 'GET /x', { retryAfterMs: 2000 }).retryAfterMs).toBe(2000);
  });

  it('maps thrown errors by their code, never by their message', () => {
    const errno = (code: string, message = 'whatever text') => Object.assign(new Error(message), { code });
    expect(classifyError(errno('ECONNREFUSED')).code).toBe('SYNC_API_ECONNREFUSED');
    expect(classifyError(errno('UND_ERR_BODY_TIMEOUT')).errorClass).toBe('timeout');
    expect(classifyError(errno('ENOSPC')).code).toBe('SYNC_MIRROR_DISK_FULL');
    expect(classifyError(errno('EIO')).code).toBe('SYNC_IO');
    expect(classifyError(errno('EIO')).message).toContain('EIO');
    expect(classifyError(errno('UND_ERR_ABORTED')).kind).toBe('aborted');
    expect(classifyError(new Error('ECONNREFUSED connection refused')).code).toBe('SYNC_INTERNAL');
    expect(connectFailureReason(classifyError(errno('ENOTFOUND')))).toBe('host not found');
  });

  it('classifies a full state disk once: SQLITE_FULL, or ENOSPC/EDQUOT under the state directory; a pause', () => {
    const err = (code: string, p?: string) => Object.assign(new Error('database or disk is full'), { code, ...(p ? { path: p } : {}) });
    for (const e of [classifyError(err('SQLITE_FULL'), 'claim'), classifyError(err('ENOSPC', '/var/state/x.lock'), 'lock', '/var/state'), classifyError(err('EDQUOT', '/var/state'), 'x', '/var/state/')]) {
      expect([e.code, e.kind, e.errorClass, isStateFull(e), e.retryable, retryDecision(e)]).toEqual(['SYNC_STATE_DISK_FULL', 'state_full', 'state_full', true, false, 'pause']);
      expect(e.message).toContain('no space left on the state filesystem');
    }
    // ENOSPC elsewhere (the mirror) stays the mirror's disk_full
    expect(classifyError(err('ENOSPC', '/mirror/a.partial'), 'download', '/var/state').code).toBe('SYNC_MIRROR_DISK_FULL');
    expect(classifyError(err('ENOSPC', '/var/state-other/a'), 'x', '/var/state').code).toBe('SYNC_MIRROR_DISK_FULL');
    expect(isStateFull(classifyError(err('ENOSPC')))).toBe(false);
  });

  // pg's own error type, as the PostgreSQL store throws it: the SQLSTATE in `code`, the server's text in the message.
  const pgError = (code: string, message = 'whatever the server says') => Object.assign(new pg.DatabaseError(message, 0, 'error'), { code, severity: 'ERROR' });

  it('classifies a full PostgreSQL server (SQLSTATE 53100) as a full state disk: a pause', () => {
    const e = classifyError(pgError('53100', 'could not extend file "base/16384/16397": No space left on device'), 'claim');
    expect([e.code, e.kind, e.errorClass, isStateFull(e), e.retryable, retryDecision(e), e.exitCode]).toEqual(['SYNC_STORE_DISK_FULL', 'state_full', 'state_full', true, false, 'pause', EXIT.FAILURES]);
    expect(e.message).toBe('claim: no space left on the PostgreSQL server (SQLSTATE 53100: could not extend file "base/16384/16397": No space left on device)');
  });

  it.each([
    ['08006', 'SYNC_STORE_UNAVAILABLE'], // connection_failure
    ['08001', 'SYNC_STORE_UNAVAILABLE'], // sqlclient_unable_to_establish_sqlconnection
    ['08003', 'SYNC_STORE_UNAVAILABLE'], // connection_does_not_exist
    ['08000', 'SYNC_STORE_UNAVAILABLE'], // connection_exception
    ['53000', 'SYNC_STORE_UNAVAILABLE'], // insufficient_resources
    ['53200', 'SYNC_STORE_UNAVAILABLE'], // out_of_memory
    ['53300', 'SYNC_STORE_UNAVAILABLE'], // too_many_connections
    ['57P01', 'SYNC_STORE_UNAVAILABLE'], // admin_shutdown
    ['57P02', 'SYNC_STORE_UNAVAILABLE'], // crash_shutdown
    ['57P03', 'SYNC_STORE_UNAVAILABLE'], // cannot_connect_now
    ['40001', 'SYNC_STORE_CONFLICT'], // serialization_failure
    ['40P01', 'SYNC_STORE_CONFLICT'], // deadlock_detected
  ])('classifies PostgreSQL SQLSTATE %s as %s: retried with backoff, not the API', (sqlstate, code) => {
    const e = classifyError(pgError(sqlstate), 'poll');
    expect([e.code, e.kind, e.retryable, retryDecision(e), isApiDown(e), isUnreachable(e), isStateFull(e), e.exitCode]).toEqual([code, 'retryable', true, 'retry', false, false, false, code === 'SYNC_STORE_UNAVAILABLE' ? EXIT.STORE_UNAVAILABLE : EXIT.FAILURES]);
    expect(e.message).toBe(`poll: PostgreSQL SQLSTATE ${sqlstate}: whatever the server says`);
  });

  it('leaves other PostgreSQL errors internal, and other codes of five characters alone', () => {
    expect(classifyError(pgError('23505')).code).toBe('SYNC_INTERNAL'); // unique_violation: a bug, not the server's state
    expect(classifyError(pgError('53400')).code).toBe('SYNC_INTERNAL'); // configuration_limit_exceeded: does not pass with time
    expect(classifyError(pgError('42P01')).code).toBe('SYNC_INTERNAL');
    // errno codes of five letters are not SQLSTATEs
    expect(classifyError(Object.assign(new Error('x'), { code: 'EPERM' })).code).toBe('SYNC_IO');
  });

  // The PostgreSQL store tags what its driver throws (postgres-store.ts); below SQL that is a socket error or a dropped connection.
  const sock = (code: string | undefined, message: string) => (code === undefined ? new Error(message) : Object.assign(new Error(message), { code, errno: -111, syscall: 'connect' }));
  it.each([
    ['ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:5432'],
    ['ECONNRESET', 'read ECONNRESET'],
    ['ETIMEDOUT', 'connect ETIMEDOUT 10.0.0.5:5432'],
    ['EPIPE', 'write EPIPE'],
    ['ENOTFOUND', 'getaddrinfo ENOTFOUND db.internal'],
    [undefined, 'Connection terminated unexpectedly'],
    [undefined, 'timeout exceeded when trying to connect'],
  ])('classifies the PostgreSQL store\'s %s (%s) as store_unavailable: retried, shared, never the API or exit 3', (code, message) => {
    const e = classifyError(new StoreFault('PostgreSQL', sock(code, message)), 'poll');
    expect([e.code, e.kind, e.errorClass, retryDecision(e), isApiDown(e), isUnreachable(e), isShared(e), e.exitCode]).toEqual(['SYNC_STORE_UNAVAILABLE', 'retryable', 'store_unavailable', 'retry', false, false, true, EXIT.STORE_UNAVAILABLE]);
    // Ending a command: one line naming the database (redacted by the caller) and why, exit 6.
    const why = code === 'ECONNREFUSED' ? 'connection refused' : code === 'ECONNRESET' ? 'connection reset' : code === 'ETIMEDOUT' ? 'connection timed out' : code === 'ENOTFOUND' ? 'host not found' : message;
    expect(storeUnreachableMessage(e, 'postgres://sync:***@db:5432/mirror')).toBe(`the state database at postgres://sync:***@db:5432/mirror cannot be reached (${why}): check that the server is up and state.url / CONSTELLR_SYNC_DATABASE_URL`);
    expect(exitCodeFor(e)).toBe(6);
    expect(e.message).toBe(`poll: the state database cannot be reached (PostgreSQL: ${message}${code ? `, ${code}` : ''})`);
    // The same error untagged is the API's network (the tag decides, not the code).
    if (code === 'ECONNREFUSED') expect([classifyError(sock(code, message)).errorClass, isUnreachable(classifyError(sock(code, message)))]).toEqual(['network', true]);
  });

  it.each([
    ['ENOENT', 'connect ENOENT /var/run/postgresql/.s.PGSQL.5432'], // a Unix socket whose server is not running
    ['EHOSTUNREACH', 'connect EHOSTUNREACH 10.0.0.5:5432'],
    ['EAI_AGAIN', 'getaddrinfo EAI_AGAIN db.internal'],
    [undefined, 'Connection terminated due to connection timeout'],
    [undefined, 'timeout expired'],
    [undefined, 'Client has encountered a connection error and is not queryable'],
  ])('also takes the PostgreSQL store\'s %s (%s) for store_unavailable', (code, message) => {
    expect(classifyError(new StoreFault('PostgreSQL', sock(code, message)), 'poll').code).toBe('SYNC_STORE_UNAVAILABLE');
  });

  // Only a socket's errno or pg's words for a lost connection say the server did not answer: anything
  // else without a SQLSTATE is a setting or a bug, and stays internal (exit 2 at open, a stack elsewhere).
  it.each([
    ['a missing password', new Error('SASL: SCRAM-SERVER-FIRST-MESSAGE: client password must be a string')],
    ['an SSL mismatch', new Error('The server does not support SSL connections')],
    ['a value pg cannot serialize', new TypeError('Cannot convert a BigInt value to a number')],
    ['a pool used after end', new Error('Cannot use a pool after calling end on the pool')],
    ['a client ended by us', new Error('Client was closed and is not queryable')],
    ['a certificate refused', Object.assign(new Error('self-signed certificate'), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' })],
    ['a file error', Object.assign(new Error("ENOENT: no such file or directory, open '/etc/ssl/db.crt'"), { code: 'ENOENT', syscall: 'open' })],
    ['an abort', Object.assign(new Error('This operation was aborted'), { name: 'AbortError', code: 'ABORT_ERR' })],
  ])('leaves %s in the PostgreSQL store internal: not store_unavailable, not the API', (_what, cause) => {
    const e = classifyError(new StoreFault('PostgreSQL', cause), 'claim');
    expect([e.code, e.errorClass, isShared(e), isApiDown(e), isUnreachable(e), e.exitCode]).toEqual(['SYNC_INTERNAL', 'internal', false, false, false, EXIT.FAILURES]);
    expect(e.message).toBe(`claim: PostgreSQL: ${cause.message}`);
    expect(e.cause).toBeInstanceOf(StoreFault);
  });

  it('classifies a tagged server answer by its SQLSTATE, as untagged', () => {
    const tagged = (c: string) => classifyError(new StoreFault('PostgreSQL', pgError(c)), 'claim');
    expect([tagged('53100').code, tagged('57P01').code, tagged('40P01').code, tagged('23505').code]).toEqual(['SYNC_STORE_DISK_FULL', 'SYNC_STORE_UNAVAILABLE', 'SYNC_STORE_CONFLICT', 'SYNC_INTERNAL']);
    expect(tagged('53100').message).toBe('claim: no space left on the PostgreSQL server (SQLSTATE 53100: whatever the server says)');
  });

  it('never takes a better-sqlite3 error for the API: its codes are SQLITE_*', async () => {
    const { default: Database } = await import('better-sqlite3');
    const db = new Database(':memory:');
    let thrown: unknown;
    try {
      db.exec('SELECT * FROM no_such_table');
    } catch (e) {
      thrown = e;
    }
    db.close();
    const e = classifyError(thrown, 'claim');
    expect([(thrown as { code?: unknown }).code, e.code, isApiDown(e), isUnreachable(e)]).toEqual(['SQLITE_ERROR', 'SYNC_INTERNAL', false, false]);
    expect(classifyError(Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' })).code).toBe('SYNC_STATE_DISK_FULL');
  });

  it('takes the SQLite lock held by another connection (SQLITE_BUSY and its extended codes) for store_conflict: retried, no attempt', async () => {
    const { default: Database } = await import('better-sqlite3');
    const dir = await mkdtemp(path.join(os.tmpdir(), 'busy-'));
    const holder = new Database(path.join(dir, 's.db'));
    const other = new Database(path.join(dir, 's.db'), { timeout: 0 });
    let thrown: unknown;
    try {
      holder.exec('CREATE TABLE t (x); BEGIN EXCLUSIVE');
      other.exec('INSERT INTO t VALUES (1)');
    } catch (e) {
      thrown = e;
    } finally {
      holder.close();
      other.close();
      await rm(dir, { recursive: true, force: true });
    }
    const e = classifyError(thrown, 'claim');
    expect([(thrown as { code?: unknown }).code, e.code, e.errorClass, e.retryable, isShared(e), isApiDown(e)]).toEqual(['SQLITE_BUSY', 'SYNC_STORE_CONFLICT', 'store_conflict', true, true, false]);
    expect(e.message).toBe('claim: the SQLite state is locked by another connection (SQLITE_BUSY: database is locked)');
    const of = (code: string) => classifyError(Object.assign(new Error('x'), { code }), 'claim').code;
    expect(['SQLITE_BUSY_SNAPSHOT', 'SQLITE_BUSY_RECOVERY', 'SQLITE_BUSYX', 'SQLITE_CONSTRAINT'].map(of)).toEqual(['SYNC_STORE_CONFLICT', 'SYNC_STORE_CONFLICT', 'SYNC_INTERNAL', 'SYNC_INTERNAL']);
  });

  it('leaves SQLITE_LOCKED internal: without shared cache it is this connection\'s own conflict (a DDL under an active statement), a bug', async () => {
    const { default: Database } = await import('better-sqlite3');
    const db = new Database(':memory:');
    let thrown: unknown;
    db.unsafeMode(true); // what better-sqlite3 otherwise refuses itself: a statement while one iterates
    try {
      db.exec('CREATE TABLE t (x); CREATE INDEX i ON t (x); INSERT INTO t VALUES (1), (2)');
      for (const _row of db.prepare('SELECT x FROM t').iterate()) db.exec('DROP INDEX i');
    } catch (e) {
      thrown = e;
    } finally {
      db.close();
    }
    const e = classifyError(thrown, 'claim');
    expect([(thrown as { code?: unknown }).code, e.code, e.errorClass, isShared(e)]).toEqual(['SQLITE_LOCKED', 'SYNC_INTERNAL', 'internal', false]);
    const of = (code: string) => classifyError(Object.assign(new Error('x'), { code }), 'claim').code;
    expect(['SQLITE_LOCKED', 'SQLITE_LOCKED_SHAREDCACHE', 'SQLITE_LOCKED_VTAB'].map(of)).toEqual(['SYNC_INTERNAL', 'SYNC_INTERNAL', 'SYNC_INTERNAL']);
  });

  it('charges no attempt for a shared condition: a 429 and the state database, not a 5xx or a checksum', () => {
    const shared = Object.entries(ERROR_CLASSES).filter(([, c]) => (c as { shared?: true }).shared).map(([k]) => k);
    expect(shared.sort()).toEqual(['rate_limited', 'store_conflict', 'store_unavailable']);
    expect(isShared(errorFromStatus(503, 'x'))).toBe(false);
  });

  it('gives a locked lock exit 4 and an operator filesystem problem exit 2', () => {
    expect(exitCodeFor(new LockedError('locked', 1))).toBe(EXIT.LOCKED);
    const fsErr = operatorFsError('the mirror', '/m', Object.assign(new Error('x'), { code: 'EACCES' }));
    expect(fsErr && exitCodeFor(fsErr)).toBe(EXIT.USAGE);
    // a full state filesystem (SQLITE_FULL, "database or disk is full") is the operator's too: one line, exit 2
    const full = operatorFsError('the state directory', '/s', Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' }));
    expect(full?.message).toBe('cannot use the state directory /s: no space left on the device (SQLITE_FULL): free some space there and start again');
    expect(full && exitCodeFor(full)).toBe(EXIT.USAGE);
    expect(exitCodeFor(new Error('not ours'))).toBe(EXIT.FAILURES);
  });
});
