// A prefetched listing page that fails while the previous page's upsert is still in flight must be
// an ordinary poll error, never an unhandled rejection that kills the process. PostgreSQL makes the
// window wide: a trigger in the test schema makes each upsert of jobs sleep (pg_sleep), and page 2
// answers HTTP 400 at once. The real CLI runs in a child process.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI_MAIN } from '../helpers/harness.js';
import { startFakeApi, isoS, type FakeApi } from '../helpers/fake-api.js';
import { TEST_DATABASE_URL, dropSchema, requirePostgres, sql, uniqueSchema } from '../helpers/postgres.js';

const pgOk = await requirePostgres();

function cli(args: string[], env: Record<string, string>, cwd: string): Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string }> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, [CLI_MAIN, ...args], { cwd, env: { PATH: process.env.PATH ?? '', HOME: cwd, ...env } });
    let out = '';
    c.stdout.on('data', (d: Buffer) => (out += d.toString()));
    c.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => c.kill('SIGKILL'), 60_000);
    c.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, out });
    });
  });
}

describe.skipIf(!pgOk)('a failing prefetched page during a slow PostgreSQL upsert', () => {
  let api: FakeApi;
  const schema = uniqueSchema('prefetch');
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'cs-prefetch-'));
  beforeAll(async () => {
    const t = Date.now() - 3600_000;
    api = await startFakeApi((q) => {
      if (!q.get('continuation_token'))
        return {
          page: {
            Contents: [0, 1, 2].map((i) => ({ Key: `a/${i}.tif`, LastModified: isoS(t + i * 1000), Size: 10 })),
            IsTruncated: true,
            NextContinuationToken: 'page-2',
          },
        };
      return { status: 400, body: '{"detail":"page two is broken"}' };
    });
  });
  afterAll(async () => {
    await api.close();
    await dropSchema(schema);
    rmSync(tmp, { recursive: true, force: true });
  });

  it('the poll fails with the page error, recorded in the state; no unhandled rejection', async () => {
    const env = {
      CONSTELLR_SYNC_DATABASE_URL: TEST_DATABASE_URL,
      CONSTELLR_SYNC_DATABASE_SCHEMA: schema,
      CONSTELLR_SYNC_STATE_DIR: path.join(tmp, 'state'),
      CONSTELLR_SYNC_MIRROR_DIR: path.join(tmp, 'mirror'),
      CONSTELLR_API_URL: api.url,
      CONSTELLR_USERNAME: 'demo',
      CONSTELLR_PASSWORD: 'pw',
      CONSTELLR_SYNC_LOG_LEVEL: 'info',
    };
    const m = await cli(['migrate'], env, tmp);
    expect(m.code, m.out).toBe(0);
    // Every statement that inserts into jobs first sleeps: page 2 fails long before page 1 is committed.
    await sql(`CREATE FUNCTION "${schema}".slow_upsert() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(1.5); RETURN NULL; END $$`);
    await sql(`CREATE TRIGGER slow_upsert BEFORE INSERT ON "${schema}".jobs FOR EACH STATEMENT EXECUTE FUNCTION "${schema}".slow_upsert()`);
    const r = await cli(['sync'], env, tmp);
    expect(r.out).not.toMatch(/unhandled/i);
    expect(r.out).toMatch(/page two is broken/);
    expect(r.out).toMatch(/poll failed/);
    expect(r.signal).toBeNull();
    expect(r.code).not.toBe(0);
    // The process lived to record the failure: page 1 committed, the mark did not move.
    const [cursor] = await sql<{ hwm_ms: string | null; poll_error: string | null }>(`SELECT hwm_ms, poll_error FROM "${schema}".cursor`);
    expect(cursor!.poll_error).toMatch(/HTTP 400/);
    expect(cursor!.hwm_ms).toBeNull();
    const [jobs] = await sql<{ n: string }>(`SELECT count(*) AS n FROM "${schema}".jobs`);
    expect(Number(jobs!.n)).toBe(3);
  });
});

describe('the process-level unhandledRejection handler', () => {
  it('logs the rejection with context (secrets scrubbed) and exits non-zero', async () => {
    const tmp = mkdtempSync(path.join(os.tmpdir(), 'cs-unhandled-'));
    try {
      // A preloaded module plays the bug: once the CLI runs, a promise rejects with nobody listening.
      // It waits until the CLI has loaded (a rejection listener exists), or 5 s on a CLI without one.
      const script = `const t0 = Date.now(); const t = setInterval(() => { if (process.listenerCount('unhandledRejection') > 0 || Date.now() - t0 > 5000) { clearInterval(t); Promise.reject(new Error('boom-from-a-bug Bearer ' + ['abc', 'def', 'ghi'].join('.'))); } }, 10);`;
      const bug = `data:text/javascript,${encodeURIComponent(script)}`;
      const r = await new Promise<{ code: number | null; out: string }>((resolve) => {
        const c = spawn(process.execPath, ['--import', bug, CLI_MAIN, 'simulate', '--port', '0', '--admin-port', '0'], { cwd: tmp, env: { PATH: process.env.PATH ?? '', HOME: tmp } });
        let out = '';
        c.stdout.on('data', (d: Buffer) => (out += d.toString()));
        c.stderr.on('data', (d: Buffer) => (out += d.toString()));
        const timer = setTimeout(() => c.kill('SIGKILL'), 30_000);
        c.on('close', (code) => {
          clearTimeout(timer);
          resolve({ code, out });
        });
      });
      expect(r.code, r.out).toBe(1);
      expect(r.out).toMatch(/constellr-sync simulate: internal error: unhandled promise rejection/);
      expect(r.out).toMatch(/boom-from-a-bug/);
      expect(r.out).not.toMatch(/abc\.def\.ghi/);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});
