// A worker that lost its lease never leaves old bytes in place (issue 11 §6). Replica A finishes
// version 1 and passes its lease check, then freezes (SIGSTOP at the stall point between the check and
// the rename). Version 2 appears; replica B takes over polling and would sweep A's expired lease,
// download version 2 and commit it, after which A's late rename would put version 1 back over it.
// The lease check holds the job's row lock until A's commit, so B cannot get in between; and whatever
// happens, the mirror converges on version 2. Runs on PostgreSQL, where replicas share state.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { contentSha256, startSimulator, type Simulator } from '../../src/simulator/index.js';
import { sha256File } from '../helpers/harness.js';
import { dropSchema, requirePostgres, sql, uniqueSchema } from '../helpers/postgres.js';
import { startReplica, type Replica } from '../helpers/replicas.js';

const pgOk = await requirePostgres();
const ROOT = path.resolve(import.meta.dirname, '../..');
const MAIN = path.join(ROOT, 'dist/cli/main.js');
const KEY = 'orders/ord-7/scene.tif';
const SIZE = 300 * 1024;

describe.skipIf(!pgOk)('stale rename after a lost lease, on PostgreSQL', () => {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'cs-stale-'));
  const schema = uniqueSchema('stale');
  const replicas: Replica[] = [];
  let sim: Simulator | undefined;

  afterAll(async () => {
    for (const r of replicas) {
      if (r.child.exitCode === null && r.child.signalCode === null) {
        r.child.kill('SIGCONT');
        r.child.kill('SIGKILL');
      }
    }
    await Promise.all(replicas.map((r) => r.exited));
    await sim?.close();
    await dropSchema(schema);
    rmSync(tmp, { recursive: true, force: true });
  });

  it('a replica frozen between its lease check and its rename never leaves the older version in place', async () => {
    expect(existsSync(MAIN), 'build first: npx tsc -p .').toBe(true);
    const t0 = Math.floor(Date.now() / 1000) * 1000 - 3_600_000;
    sim = await startSimulator({ assets: [{ key: KEY, size: SIZE, lastModified: t0 }], adminPort: false });
    const v1sha = await contentSha256(sim.inventory.get(KEY)!.seed, SIZE);
    const mirror = path.join(tmp, 'mirror');
    const cfg = path.join(tmp, 'config.yaml');
    writeFileSync(
      cfg,
      ['sync:', '  concurrency: 2', '  leaseDuration: 2s', '  gracePeriod: 2s', 'state:', '  pollerLease: 2s', '  poolSize: 4', 'http:', '  enabled: false', 'log:', '  level: info', ''].join('\n'),
    );
    const start = (name: string, env?: Record<string, string>): Replica => {
      const r = startReplica(name, { tmp, config: cfg, mirror, schema, sim: sim!, env });
      replicas.push(r);
      return r;
    };
    const job = async () =>
      (await sql<{ state: string; sha256: string | null }>(`SELECT state, sha256 FROM "${schema}".jobs WHERE key = $1`, [KEY]).catch(() => []))[0];
    /** True while another session holds the job's row lock (A's lease check inside its commit). */
    const rowLocked = async () =>
      sql(`SELECT 1 FROM "${schema}".jobs WHERE key = $1 FOR UPDATE NOWAIT`, [KEY]).then(
        () => false,
        (e: { code?: string }) => e.code === '55P03',
      );
    const final = path.join(mirror, ...KEY.split('/'));

    // A downloads version 1 and freezes right after its lease check.
    const a = start('a', { CONSTELLR_SYNC_STALL_AT: 'before_rename:stop' });
    await vi.waitFor(() => expect(a.log.some((l) => l.includes('stall point before_rename: SIGSTOP'))).toBe(true), { timeout: 30_000, interval: 100 });

    // Version 2 appears. B starts, takes over polling once A's poller lease lapsed, and tries to take
    // the job over. Without the row lock it sweeps A's expired lease, downloads version 2 and commits
    // it; with the lock it waits for A (its poll's upsert of that row blocks).
    sim.inventory.put({ key: KEY, size: SIZE, lastModified: t0 + 60_000 });
    const v2sha = await contentSha256(sim.inventory.get(KEY)!.seed, SIZE);
    expect(v2sha).not.toBe(v1sha);
    const b = start('b');
    await vi.waitFor(
      async () => {
        const j = await job();
        const overtaken = j?.state === 'done' && j.sha256 === v2sha;
        const held = (await rowLocked()) && b.log.some((l) => l.includes('"poll started"'));
        expect(overtaken || held, `B neither committed version 2 nor waits for A's lock; B: ${b.log.slice(-3).join('\n')}`).toBe(true);
      },
      { timeout: 40_000, interval: 200 },
    );

    // A wakes up and finishes what it was doing.
    a.child.kill('SIGCONT');
    await vi.waitFor(() => expect(a.log.some((l) => l.includes('stall point before_rename: resumed'))).toBe(true), { timeout: 10_000, interval: 100 });

    // The mirror converges on version 2: the database says so, and so does the file.
    await vi.waitFor(
      async () => {
        const j = await job();
        expect(j?.state).toBe('done');
        expect(j?.sha256).toBe(v2sha);
        expect(await sha256File(final), 'the file in the mirror is the committed version').toBe(v2sha);
      },
      { timeout: 30_000, interval: 200 },
    );

    for (const r of [a, b]) r.child.kill('SIGTERM');
    expect(await a.exited).toBe(0);
    expect(await b.exited).toBe(0);
    const j = await job();
    expect(j).toMatchObject({ state: 'done', sha256: v2sha });
    expect(await sha256File(final)).toBe(v2sha);
  });
});
