// Staging claims belong to a process instance, not to host and pid (issue 11 §9): in containers every
// daemon is PID 1 and replicas may share a hostname, so a claim that looks like "our pid on our host"
// may be another replica's live download.
import { spawnSync } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { claimIsLive, claimPath, claimStaging, INSTANCE_ID, PID_SPACE, stagingPaths, type StagingPaths } from '../../src/download/staging.js';
import { sweepStaging } from '../../src/sync/sweeper.js';
import { createLogger } from '../../src/lib/logger.js';
import type { StateStore } from '../../src/store/types.js';

let root: string;
let p: StagingPaths;
beforeEach(async () => {
  root = await fsp.mkdtemp(path.join(tmpdir(), 'cs-claim-'));
  p = stagingPaths(root, 'a/b.tif', 1_700_000_000_000, 5 * 1024 * 1024);
  await fsp.mkdir(path.dirname(p.partial), { recursive: true });
});
afterEach(async () => {
  await fsp.rm(root, { recursive: true, force: true });
});

const writeClaim = (holder: Record<string, unknown>) =>
  fsp.writeFile(claimPath(p), JSON.stringify({ host: hostname(), token: 't-other', at: new Date().toISOString(), ...holder }));

// Another container: same hostname, same pid (both PID 1 in their namespaces), another pid namespace.
const otherContainer = () => ({ instance: 'another-replica', space: `${PID_SPACE ?? 'x'}:other-pid-namespace`, pid: process.pid });

describe('staging claims', () => {
  it("another replica's live claim with our hostname and our pid is respected", async () => {
    await writeClaim(otherContainer());
    await fsp.writeFile(p.partial, Buffer.alloc(1024, 1));
    expect(await claimIsLive(claimPath(p), { staleMs: 60_000, now: Date.now(), unreadable: 'stale' })).toBe(true);
    expect(await claimStaging(p, { token: 'mine', staleMs: 60_000 })).toBeNull();
    // The sweeper leaves its partial alone too (no record, so it would otherwise be removed).
    const store = { getJob: async () => null } as unknown as StateStore;
    expect(await sweepStaging(root, store, createLogger({ level: 'silent' }))).toBe(0);
    expect((await fsp.stat(p.partial)).size).toBe(1024);
    expect(JSON.parse(await fsp.readFile(claimPath(p), 'utf8'))).toMatchObject({ instance: 'another-replica' });
  });

  it('records the instance id and takes over only stale claims', async () => {
    const c = await claimStaging(p, { token: 'mine', staleMs: 60_000 });
    expect(c).not.toBeNull();
    expect(JSON.parse(await fsp.readFile(claimPath(p), 'utf8'))).toMatchObject({ instance: INSTANCE_ID, space: PID_SPACE, pid: process.pid, token: 'mine' });
    // A claim of this very instance: live to the sweeper (a worker of this process may have just
    // started it), stale to claimStaging (whose caller holds the name in activeStaging).
    expect(await claimIsLive(claimPath(p), { staleMs: 60_000, now: Date.now(), unreadable: 'stale' })).toBe(true);
    expect(await claimIsLive(claimPath(p), { staleMs: 60_000, now: Date.now(), unreadable: 'stale', own: 'stale' })).toBe(false);
    await fsp.writeFile(p.partial, 'x');
    const store = { getJob: async () => null } as unknown as StateStore;
    expect(await sweepStaging(root, store, createLogger({ level: 'silent' }))).toBe(0);
    await fsp.rm(p.partial);
    const leftover = await claimStaging(p, { token: 'again', staleMs: 60_000 });
    expect(leftover).not.toBeNull();
    await leftover!.release();
    await c!.release(); // the claim was taken over by 'again': not ours to remove any more
    await expect(fsp.stat(claimPath(p))).rejects.toThrow();

    // another instance, untouched for longer than staleMs: stale
    await writeClaim(otherContainer());
    const old = new Date(Date.now() - 120_000);
    await fsp.utimes(claimPath(p), old, old);
    expect(await claimIsLive(claimPath(p), { staleMs: 60_000, now: Date.now(), unreadable: 'stale' })).toBe(false);
    expect(await claimStaging(p, { token: 'mine2', staleMs: 60_000 })).not.toBeNull();
  });

  it.skipIf(PID_SPACE === null)('a dead pid in our own pid space is stale at once', async () => {
    const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
    await writeClaim({ instance: 'dead-one', space: PID_SPACE, pid: dead });
    expect(await claimIsLive(claimPath(p), { staleMs: 60_000, now: Date.now(), unreadable: 'stale' })).toBe(false);
    // the same dead pid seen from another pid space proves nothing: judged by age
    await writeClaim({ instance: 'dead-one', space: 'linux:elsewhere', pid: dead });
    expect(await claimIsLive(claimPath(p), { staleMs: 60_000, now: Date.now(), unreadable: 'stale' })).toBe(true);
  });

  it("a release never removes another instance's claim with the same token", async () => {
    const c = await claimStaging(p, { token: 'tok', staleMs: 60_000 });
    await fsp.rm(claimPath(p));
    await writeClaim({ ...otherContainer(), token: 'tok' });
    await c!.release();
    expect(JSON.parse(await fsp.readFile(claimPath(p), 'utf8'))).toMatchObject({ instance: 'another-replica' });
  });

  it("a stray file in staging is removed alone, never with another replica's partials that share its prefix", async () => {
    await writeClaim(otherContainer());
    await fsp.writeFile(p.partial, Buffer.alloc(10, 1));
    const stray = path.join(path.dirname(p.partial), p.name.slice(0, 1));
    await fsp.writeFile(stray, 'left here by someone');
    const store = { getJob: async () => null } as unknown as StateStore;
    expect(await sweepStaging(root, store, createLogger({ level: 'silent' }))).toBe(1);
    await expect(fsp.stat(stray)).rejects.toThrow();
    expect((await fsp.stat(p.partial)).size).toBe(10);
  });
});
