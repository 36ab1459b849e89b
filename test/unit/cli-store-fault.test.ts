// A StoreFault that reaches a command's top level (the database lost during start-up recovery, or under
// a command's last reads) is one line naming the database, exit 6, as the database out of reach is
// anywhere else; an SQL error there is a bug and keeps its stack (null: main prints `unexpected error`).
import { describe, expect, it } from 'vitest';
import pg from 'pg';
import { StoreFault } from '../../src/errors.js';
import { exitCodeFor, storeFaultError } from '../../src/cli/exit-codes.js';
import { storeUnreachableMessage } from '../../src/lib/unreachable.js';

const pgError = (code: string) => Object.assign(new pg.DatabaseError('whatever the server says', 1, 'error'), { code, severity: 'FATAL' });

describe('a StoreFault at the top level', () => {
  it('is the database out of reach: one line naming the database (redacted), exit 6', () => {
    const dropped = storeFaultError(new StoreFault('PostgreSQL', new Error('Connection terminated unexpectedly')));
    expect([dropped?.code, dropped === null ? null : exitCodeFor(dropped)]).toEqual(['SYNC_STORE_UNAVAILABLE', 6]);
    expect(storeUnreachableMessage(dropped!, 'postgres://sync:***@db:5432/mirror')).toBe(
      'the state database at postgres://sync:***@db:5432/mirror cannot be reached (Connection terminated unexpectedly): check that the server is up and state.url / CONSTELLR_SYNC_DATABASE_URL',
    );
    const reset = storeFaultError(new StoreFault('PostgreSQL', Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' })));
    expect(storeUnreachableMessage(reset!, null)).toBe('the state database cannot be reached (connection reset): check that the server is up and state.url / CONSTELLR_SYNC_DATABASE_URL');
    const shutdown = storeFaultError(new StoreFault('PostgreSQL', pgError('57P01')));
    expect(storeUnreachableMessage(shutdown!, 'postgres://db/x')).toBe('the state database at postgres://db/x cannot be reached (SQLSTATE 57P01: whatever the server says): check that the server is up and state.url / CONSTELLR_SYNC_DATABASE_URL');
  });

  it('leaves a bug a bug: an SQL error, or anything not the store\'s, is not turned into a line', () => {
    expect(storeFaultError(new StoreFault('PostgreSQL', pgError('23505')))).toBeNull();
    expect(storeFaultError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }))).toBeNull();
    // The driver's own errors that are not a lost connection: a missing password, an SSL mismatch, a pool used after end.
    for (const m of ['SASL: SCRAM-SERVER-FIRST-MESSAGE: client password must be a string', 'The server does not support SSL connections', 'Cannot use a pool after calling end on the pool'])
      expect(storeFaultError(new StoreFault('PostgreSQL', new Error(m))), m).toBeNull();
    // Its disk full is explained too (exit 1, the state_full message), not a stack trace.
    expect(storeFaultError(new StoreFault('PostgreSQL', pgError('53100')))?.code).toBe('SYNC_STORE_DISK_FULL');
  });
});
