// A hung worker (SIGSTOP) loses its lease: another replica takes the expired lease over (its claim,
// or its lease sweep), downloads the newer version and commits it. When the hung one wakes up (SIGCONT), its fenced writes change
// nothing: no rename over the newer file, no commit. Runs on PostgreSQL, where replicas share state.
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
const KEY = 'orders/ord-1/LSTprecision_T32UQD.tif';
const SIZE = 6 * 1024 * 1024;

describe.skipIf(!pgOk)('hung worker on PostgreSQL', () => {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'cs-hung-'));
  const schema = uniqueSchema('hung');
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

  it('its lease expires, another replica commits the newer version, and the late writes change nothing', async () => {
    expect(existsSync(MAIN), 'build first: npx tsc -p .').toBe(true);
    const t0 = Math.floor(Date.now() / 1000) * 1000 - 3_600_000;
    sim = await startSimulator({ assets: [{ key: KEY, size: SIZE, lastModified: t0 }], adminPort: false, faults: { bodyBytesPerSecond: 512 * 1024 } });
    const mirror = path.join(tmp, 'mirror');
    const cfg = path.join(tmp, 'config.yaml');
    writeFileSync(
      cfg,
      ['sync:', '  concurrency: 2', '  leaseDuration: 3s', '  gracePeriod: 2s', 'state:', '  pollerLease: 2s', '  poolSize: 4', 'http:', '  enabled: false', 'log:', '  level: info', ''].join('\n'),
    );
    const start = (name: string): Replica => {
      const r = startReplica(name, { tmp, config: cfg, mirror, schema, sim: sim! });
      replicas.push(r);
      return r;
    };
    const job = async () =>
      (await sql<{ state: string; lease_owner: string | null; sha256: string | null; attempts: number }>(`SELECT state, lease_owner, sha256, attempts FROM "${schema}".jobs WHERE key = $1`, [KEY]).catch(() => []))[0];

    // A starts the slow download of version 1, then hangs.
    const a = start('a');
    await vi.waitFor(async () => expect((await job())?.lease_owner ?? '').toContain(`:${a.child.pid}/`), { timeout: 20_000, interval: 100 });
    await vi.waitFor(() => expect(sim!.stats.bytesServed).toBeGreaterThan(256 * 1024), { timeout: 10_000, interval: 50 });
    a.child.kill('SIGSTOP');

    // Version 2 appears; B takes over polling once A's poller lease lapses, takes A's job over once
    // its lease expired, and downloads version 2 at full speed.
    sim.inventory.put({ key: KEY, size: SIZE, lastModified: t0 + 60_000 });
    sim.setFaults({ bodyBytesPerSecond: 0 });
    const v2 = sim.inventory.get(KEY)!;
    const v2sha = await contentSha256(v2.seed, v2.size);
    const b = start('b');
    await vi.waitFor(
      async () => {
        const j = await job();
        expect(j?.state).toBe('done');
        expect(j?.sha256).toBe(v2sha);
      },
      { timeout: 40_000, interval: 200 },
    );
    // Taken by B's start-up recovery, its claim or its periodic sweep, all only for expired leases.
    expect(b.log.some((l) => l.includes('lease expired') || l.includes('interrupted by a previous crash'))).toBe(true);
    const final = path.join(mirror, ...KEY.split('/'));
    expect(await sha256File(final)).toBe(v2sha);

    // A wakes up: its heartbeat or its pre-rename check finds the lease gone; nothing it does lands.
    a.child.kill('SIGCONT');
    await vi.waitFor(() => expect(a.log.some((l) => l.includes('lease lost'))).toBe(true), { timeout: 20_000, interval: 100 });
    const j = await job();
    expect(j?.state).toBe('done');
    expect(j?.sha256).toBe(v2sha);
    expect(await sha256File(final)).toBe(v2sha);

    for (const r of [a, b]) r.child.kill('SIGTERM');
    expect(await a.exited).toBe(0);
    expect(await b.exited).toBe(0);
    expect(await sha256File(final)).toBe(v2sha);
  });
});
