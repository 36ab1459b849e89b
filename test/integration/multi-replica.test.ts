// Three `run` daemons share one PostgreSQL schema and one mirror directory over 2,000 small assets,
// with faults on (5xx, connection resets). The poller replica is SIGKILLed mid-run; another takes
// over polling. Every asset ends up mirrored byte-identical, each downloaded to completion once unless
// its lease expired (the killed replica's in-flight jobs).
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { AssetInventory, contentBytes, startSimulator, type AssetInput, type Simulator } from '../../src/simulator/index.js';
import { dropSchema, requirePostgres, sql, TEST_DATABASE_URL, uniqueSchema } from '../helpers/postgres.js';
import { startReplica, type Replica } from '../helpers/replicas.js';

const pgOk = await requirePostgres();
const ROOT = path.resolve(import.meta.dirname, '../..');
const MAIN = path.join(ROOT, 'dist/cli/main.js');
const SEED = Number(process.env.TEST_SEED ?? Math.floor(Math.random() * 1e9));
const COUNT = 2000;
const CONCURRENCY = 4;

describe.skipIf(!pgOk)('multi-replica on PostgreSQL', () => {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'cs-replicas-'));
  const schema = uniqueSchema('replicas');
  const replicas: Replica[] = [];
  let sim: Simulator | undefined;

  afterAll(async () => {
    for (const r of replicas) if (r.child.exitCode === null && r.child.signalCode === null) r.child.kill('SIGKILL');
    await Promise.all(replicas.map((r) => r.exited));
    await sim?.close();
    await dropSchema(schema);
    rmSync(tmp, { recursive: true, force: true });
  });

  it(`3 replicas, one SIGKILLed: each asset mirrored once, byte-identical (seed ${SEED})`, async () => {
    expect(existsSync(MAIN), 'build first: npx tsc -p .').toBe(true);
    const base = 1_700_000_000_000;
    const assets: AssetInput[] = Array.from({ length: COUNT }, (_, i) => ({
      key: `tiles/${String(i % 40).padStart(2, '0')}/asset-${String(i).padStart(5, '0')}.bin`,
      size: 200 + ((i * 7919) % 3000),
      lastModified: base + (i % 500) * 1000,
    }));
    sim = await startSimulator({
      inventory: new AssetInventory(assets),
      seed: SEED,
      defaultPageSize: 1000,
      maxPageSize: 1000,
      adminPort: false,
      faults: { errorRate: 0.03, resetRate: 0.03 },
    });
    const mirror = path.join(tmp, 'mirror');
    const cfg = path.join(tmp, 'config.yaml');
    writeFileSync(
      cfg,
      [
        'sync:',
        `  concurrency: ${CONCURRENCY}`,
        '  leaseDuration: 3s',
        '  retryBaseDelay: 200ms',
        '  retryMaxDelay: 2s',
        '  gracePeriod: 5s',
        'state:',
        '  pollerLease: 2s',
        '  poolSize: 4',
        'http:',
        '  enabled: false',
        'log:',
        '  level: info',
        '',
      ].join('\n'),
    );
    const start = (name: string): Replica => {
      const r = startReplica(name, { tmp, config: cfg, mirror, schema, sim: sim! });
      replicas.push(r);
      return r;
    };
    const reps = ['a', 'b', 'c'].map(start);
    const counts = async () => {
      const rows = await sql<{ state: string; n: string }>(`SELECT state, count(*) AS n FROM "${schema}".jobs GROUP BY state`).catch(() => []);
      return Object.fromEntries(rows.map((r) => [r.state, Number(r.n)])) as Record<string, number>;
    };
    const pollerOwner = async () => (await sql<{ owner: string; takeovers: number }>(`SELECT owner, takeovers FROM "${schema}".leases WHERE name = 'poller'`).catch(() => []))[0];
    const diag = async () => `seed ${SEED}; counts ${JSON.stringify(await counts())}; logs:\n${reps.map((r) => `--- ${r.name}\n${r.log.filter((l) => /"level":(40|50|60)/.test(l)).slice(-5).join('\n')}`).join('\n')}`;

    // Wait until a quarter is done, then kill the poller replica.
    await vi.waitFor(async () => expect((await counts()).done ?? 0, await diag()).toBeGreaterThanOrEqual(COUNT / 4), { timeout: 60_000, interval: 200 });
    const first = await pollerOwner();
    expect(first, 'a replica holds the poller lease').toBeDefined();
    const victim = reps.find((r) => first!.owner.endsWith(`:${r.child.pid}`));
    expect(victim, `poller ${first!.owner} is one of ours`).toBeDefined();
    // Every replica took part in downloading before the kill.
    const owners = await sql<{ n: string }>(`SELECT count(DISTINCT split_part(lease_owner, '/', 1)) AS n FROM "${schema}".jobs WHERE state = 'running'`);
    expect(Number(owners[0]!.n)).toBeGreaterThanOrEqual(2);
    victim!.child.kill('SIGKILL');
    await victim!.exited;

    // Another replica takes over polling (the lease row changes owner; it logs the takeover and polls).
    const survivors = reps.filter((r) => r !== victim);
    await vi.waitFor(
      async () => {
        const now = await pollerOwner();
        expect(now!.owner).not.toBe(first!.owner);
        expect(survivors.some((r) => now!.owner.endsWith(`:${r.child.pid}`))).toBe(true);
      },
      { timeout: 20_000, interval: 100 },
    );
    await vi.waitFor(() => expect(survivors.some((r) => r.log.some((l) => l.includes('took over polling')))).toBe(true), { timeout: 10_000 });

    // Everything gets done (the victim's leases expire and the survivors' claims or sweeps take them).
    await vi.waitFor(async () => expect((await counts()).done ?? 0, await diag()).toBe(COUNT), { timeout: 90_000, interval: 250 });
    const final = await counts();
    expect(final).toEqual({ done: COUNT });
    // The takeover poll happened: a survivor logged a poll after taking over.
    const takeoverReplica = survivors.find((r) => r.log.some((l) => l.includes('took over polling')))!;
    await vi.waitFor(
      () => expect(takeoverReplica.log.slice(takeoverReplica.log.findIndex((l) => l.includes('took over polling'))).some((l) => l.includes('"poll finished"'))).toBe(true),
      { timeout: 10_000 },
    );

    // Stop the survivors gracefully.
    for (const r of survivors) r.child.kill('SIGTERM');
    const codes = await Promise.all(survivors.map((r) => r.exited));
    expect(codes).toEqual([0, 0]);

    // Exactly once, unless a lease expired: the survivors' claims and sweeps log how many expired
    // leases they took or requeued (the victim's in-flight jobs); duplicated completed downloads
    // cannot exceed that.
    const completed = sim.stats.completedDownloadsByKey;
    const dupes = [...completed.entries()].filter(([, n]) => n > 1).map(([k]) => k);
    const expired = survivors
      .flatMap((r) => r.log.filter((l) => l.includes('lease expired')))
      .reduce((n, l) => n + ((JSON.parse(l) as { jobs?: number }).jobs ?? 0), 0);
    expect(expired, 'the victim held leases that expired and were requeued').toBeGreaterThan(0);
    // A replica holds at most 2 × concurrency leases: those in flight and its claim window's.
    expect(expired).toBeLessThanOrEqual(2 * CONCURRENCY);
    // Tighter: each duplicated key was claimed more than once (an expired lease or a killed holder),
    // never downloaded twice under one claim; the diagnosis names its row and every log line about it.
    const rows = dupes.length
      ? await sql<{ key: string; attempts: number; revision: number; error_class: string | null }>(`SELECT key, attempts, revision, error_class FROM "${schema}".jobs WHERE key = ANY($1::text[])`, [dupes])
      : [];
    const about = (k: string) => reps.flatMap((r) => r.log.filter((l) => l.includes(k)).map((l) => `${r.name}${r === victim ? ' (killed)' : ''}: ${l}`));
    const why = `seed ${SEED}; duplicated completed downloads (expired leases taken or swept by survivors: ${expired}):\n${rows
      .map((r) => `${r.key}: attempts ${r.attempts}, revision ${r.revision}, served ${completed.get(r.key)} times, requested ${sim!.stats.downloadsByKey.get(r.key)} times\n  ${about(r.key).join('\n  ')}`)
      .join('\n')}`;
    // Any replica's take-over of an expired lease may cause one: the victim's own claims and sweeps
    // before it died, and a late starter's start-up recovery, count as well as the survivors'.
    const requeued = reps
      .flatMap((r) => r.log.filter((l) => l.includes('lease expired') || l.includes('interrupted by a previous crash')))
      .reduce((n, l) => n + ((JSON.parse(l) as { jobs?: number }).jobs ?? 0), 0);
    expect(dupes.length, why).toBeLessThanOrEqual(requeued);
    for (const r of rows) expect(r.attempts, why).toBeGreaterThanOrEqual(2);
    for (const a of assets) expect(completed.get(a.key) ?? 0, a.key).toBeGreaterThanOrEqual(1);

    // The mirror is byte-identical to the simulator's inventory.
    for (const a of sim.inventory.values()) {
      const got = readFileSync(path.join(mirror, a.key));
      const want = contentBytes(a.seed, a.size);
      expect(createHash('sha256').update(got).digest('hex'), a.key).toBe(createHash('sha256').update(want).digest('hex'));
    }
    // Nothing is left in staging.
    const staging = path.join(mirror, '.constellr-sync', 'staging');
    const left = existsSync(staging) ? (await import('node:fs')).readdirSync(staging) : [];
    expect(left).toEqual([]);
  });
});

describe('mirror lock between deployments', () => {
  it('admits replicas of one deployment, refuses a foreign daemon, and frees on release', async () => {
    const { acquireMirrorLock, LockedError } = await import('../../src/lib/lock.js');
    const dir = mkdtempSync(path.join(os.tmpdir(), 'cs-mlock-'));
    try {
      const a1 = acquireMirrorLock(dir, 'aaaaaaaaaaaa', 'the mirror directory', { deployment: 'A' });
      const a2 = acquireMirrorLock(dir, 'aaaaaaaaaaaa', 'the mirror directory', { deployment: 'A' });
      expect(() => acquireMirrorLock(dir, 'bbbbbbbbbbbb', 'the mirror directory')).toThrow(LockedError);
      a1.release();
      expect(() => acquireMirrorLock(dir, 'bbbbbbbbbbbb', 'the mirror directory')).toThrow(/another constellr-sync deployment \(A\)/);
      a2.release();
      const b = acquireMirrorLock(dir, 'bbbbbbbbbbbb', 'the mirror directory');
      expect(() => acquireMirrorLock(dir, 'aaaaaaaaaaaa', 'the mirror directory')).toThrow(LockedError);
      b.release();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe.skipIf(!pgOk)('migrate and status commands on PostgreSQL', () => {
  it('migrate applies the migrations once; status reads the schema', async () => {
    const schema = uniqueSchema('cli');
    const tmp = mkdtempSync(path.join(os.tmpdir(), 'cs-cli-'));
    const runCli = (args: string[]) =>
      new Promise<{ code: number | null; out: string }>((resolve) => {
        const c = spawn(process.execPath, [MAIN, ...args], {
          cwd: tmp,
          env: { ...process.env, CONSTELLR_SYNC_DATABASE_URL: TEST_DATABASE_URL, CONSTELLR_SYNC_DATABASE_SCHEMA: schema, CONSTELLR_SYNC_STATE_DIR: tmp },
        });
        let out = '';
        c.stdout.on('data', (d: Buffer) => (out += d.toString()));
        c.stderr.on('data', (d: Buffer) => (out += d.toString()));
        c.on('exit', (code) => resolve({ code, out }));
      });
    try {
      const before = await runCli(['status', '--json']);
      expect(before.code, before.out).toBe(0);
      expect(JSON.parse(before.out)).toMatchObject({ initialized: false });
      const m1 = await runCli(['migrate', '--json']);
      expect(m1.code, m1.out).toBe(0);
      const r1 = JSON.parse(m1.out) as { from: number; to: number; applied: string[] };
      expect(r1.from).toBe(0);
      expect(r1.applied.length).toBeGreaterThan(0);
      const m2 = JSON.parse((await runCli(['migrate', '--json'])).out) as { applied: string[]; to: number };
      expect(m2).toMatchObject({ applied: [], to: r1.to });
      const st = await runCli(['status', '--json']);
      expect(st.code, st.out).toBe(0);
      expect(JSON.parse(st.out)).toMatchObject({ initialized: true, backend: 'postgres', jobs: { queued: 0, done: 0 } });
      await sql(`INSERT INTO "${schema}".schema_migrations (version, name) VALUES (9999, '9999_future.sql')`);
      const refused = await runCli(['migrate']);
      expect(refused.code).not.toBe(0);
      expect(refused.out).toMatch(/newer constellr-sync/);
    } finally {
      await dropSchema(schema);
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});
