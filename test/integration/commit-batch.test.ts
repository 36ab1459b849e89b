// The group-commit batcher (issue 13 §1) against a real SQLite state and a real mirror folder:
// files handed in together commit as one batch, each caller learns its own outcome only after the
// batch is durable, one file's failure fails only that file, and a lost lease places nothing.
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createLogger } from '../../src/lib/logger.js';
import { resolveKey } from '../../src/mirror/paths.js';
import { removeEmptyFolders } from '../../src/mirror/layout.js';
import { stagingDir, stagingPaths } from '../../src/download/staging.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import type { ClaimedJob } from '../../src/store/types.js';
import { present } from '../helpers/harness.js';
import { CommitBatcher, type CommitRequest } from '../../src/download/group-commit.js';
import { placeFile } from '../../src/download/place.js';
import { pendingNewFolders } from '../../src/download/new-folders.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

const LM = 1_700_000_000_000;

async function setup(keys: string[]) {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'cs-gc-'));
  cleanups.push(() => fsp.rm(dir, { recursive: true, force: true }));
  const root = path.join(dir, 'mirror');
  await fsp.mkdir(stagingDir(root), { recursive: true });
  const store = SqliteStore.open(path.join(dir, 'state'), { maxAttempts: 3 });
  cleanups.push(() => store.close());
  await store.upsertPage(keys.map((key) => ({ key, lastModifiedMs: LM, size: key.length, etag: null })), Date.now());
  const jobs = await store.claimJobs(keys.length, { owner: 't/w0', leaseMs: 60_000, now: Date.now(), order: 'key' });
  const request = async (job: ClaimedJob): Promise<CommitRequest> => {
    const staging = stagingPaths(root, job.key, LM, job.remoteSize);
    await fsp.writeFile(staging.partial, job.key);
    const target = resolveKey(root, job.key, job.remoteSize);
    return { id: job.id, token: job.leaseToken, staging, target, place: { layout: undefined, previousPath: null }, row: { localPath: target.relPath, bytes: present(job.remoteSize, `the listed size of ${job.key}`), sha256: `sha-${job.key}`, now: Date.now() } };
  };
  return { root, store, jobs: Object.fromEntries(jobs.map((j) => [j.key, j])), request };
}

describe('SqliteStore.commitPlacedBatch: the lease check', () => {
  it('writes nothing for a lease with at least half its length left, and extends a shorter one', async () => {
    const { store, jobs } = await setup(['l/long', 'l/short']);
    const [long, short] = [jobs['l/long']!, jobs['l/short']!];
    expect(await store.heartbeat(short.id, short.leaseToken, 1000, Date.now())).toBe(true); // 1 s left of a 60 s lease
    const leaseUntil = (key: string) => store.db.prepare('SELECT lease_until FROM jobs WHERE key = ?').pluck().get(key) as number;
    const before = leaseUntil('l/long');
    const seen: Record<string, number> = {};
    const rows = [long, short].map((j) => ({ id: j.id, token: j.leaseToken, localPath: j.key, bytes: 1, sha256: 'x', now: Date.now() }));
    const out = await store.commitPlacedBatch(
      rows,
      async (held) => {
        for (const k of ['l/long', 'l/short']) seen[k] = leaseUntil(k);
        return new Set(held);
      },
      60_000,
    );
    expect(out.map((o) => o.outcome)).toEqual(['done', 'done']);
    expect(seen['l/long']).toBe(before);
    expect(seen['l/short']! - Date.now()).toBeGreaterThan(30_000);
  });
});

describe('CommitBatcher', () => {
  it('commits files handed in together as one batch; nothing is done before the batch is', async () => {
    const keys = ['x/one', 'x/two', 'y/z/three'];
    const { root, store, jobs, request } = await setup(keys);
    const batcher = new CommitBatcher({ store, root, logger: createLogger({ level: 'silent' }), leaseMs: () => 60_000, busy: () => keys.length, maxAgeMs: 60_000 });
    const reqs = await Promise.all(keys.map((k) => request(jobs[k]!)));
    const first = batcher.commit(reqs[0]!);
    const second = batcher.commit(reqs[1]!);
    // two of three busy workers have handed in: the batch stays open
    expect((await store.counts()).done).toBe(0);
    const third = batcher.commit(reqs[2]!);
    const out = await Promise.all([first, second, third]);
    expect(out.map((o) => [o.placed, o.outcome])).toEqual(keys.map(() => [true, 'done']));
    expect(batcher.stats).toEqual({ batches: 1, files: 3 });
    for (const k of keys) {
      expect(await fsp.readFile(path.join(root, k), 'utf8')).toBe(k);
      expect(await store.getJob(k)).toMatchObject({ state: 'done', sha256: `sha-${k}` });
    }
  });

  it('closes a batch on age when not every busy worker joins', async () => {
    const { root, store, jobs, request } = await setup(['solo']);
    const batcher = new CommitBatcher({ store, root, logger: createLogger({ level: 'silent' }), leaseMs: () => 60_000, busy: () => 8, maxAgeMs: 5 });
    expect(await batcher.commit(await request(jobs.solo!))).toMatchObject({ placed: true, outcome: 'done' });
  });

  it('a partial handed in still open is fsynced through its handle and closed by the batch', async () => {
    const keys = ['h/one', 'h/two'];
    const { root, store, jobs, request } = await setup(keys);
    const batcher = new CommitBatcher({ store, root, logger: createLogger({ level: 'silent' }), leaseMs: () => 60_000, busy: () => keys.length });
    const reqs = await Promise.all(keys.map((k) => request(jobs[k]!)));
    const handles = await Promise.all(reqs.map((r) => fsp.open(r.staging.partial, 'r+')));
    const out = await Promise.all(reqs.map((r, i) => batcher.commit({ ...r, handle: handles[i] })));
    expect(out.map((o) => [o.placed, o.outcome])).toEqual([
      [true, 'done'],
      [true, 'done'],
    ]);
    expect(handles.map((h) => h.fd)).toEqual([-1, -1]); // closed
    for (const k of keys) expect(await fsp.readFile(path.join(root, k), 'utf8')).toBe(k);
  });

  // keep: CommitBatchOptions.keepFolderHandles; between: what happens between the two batches.
  const handleCases = [
    { name: 'kept (SQLite): opened once for the two batches', keep: true, between: async (_root: string) => {}, opens: 1 },
    { name: 'not kept (a mirror shared with other processes): opened per batch', keep: false, between: async (_root: string) => {}, opens: 2 },
    {
      name: 'kept, but this process removed an empty folder in between: opened again (the path may name another folder now)',
      keep: true,
      between: async (root: string) => {
        await fsp.mkdir(path.join(root, 'gone'), { recursive: true });
        expect(await removeEmptyFolders(root, 'gone/file')).toBe(1);
      },
      opens: 2,
    },
  ];
  for (const c of handleCases) {
    it(`a folder's handle for the fsyncs of the batches of a second: ${c.name}`, async () => {
      const keys = ['h/one', 'h/two', 'h/three', 'h/four'];
      const { root, store, jobs, request } = await setup(keys);
      await fsp.mkdir(path.join(root, 'h'), { recursive: true });
      const batcher = new CommitBatcher({ store, root, logger: createLogger({ level: 'silent' }), leaseMs: () => 60_000, busy: () => 2, keepFolderHandles: c.keep, folderCheckMs: 60_000 });
      const reqs = await Promise.all(keys.map((k) => request(jobs[k]!)));
      const open = vi.spyOn(fsp, 'open');
      let opened: unknown[] = [];
      try {
        await Promise.all(reqs.slice(0, 2).map((r) => batcher.commit(r)));
        await c.between(root);
        await Promise.all(reqs.slice(2).map((r) => batcher.commit(r)));
        opened = open.mock.calls.map(([p]) => p);
      } finally {
        open.mockRestore();
      }
      expect(batcher.stats).toEqual({ batches: 2, files: 4 });
      expect(opened.filter((p) => p === path.join(root, 'h'))).toHaveLength(c.opens); // two fsyncs
      for (const k of keys) expect(await fsp.readFile(path.join(root, k), 'utf8')).toBe(k);
    });
  }

  it('the folders on a path are checked once for the batches of a second, not once per file', async () => {
    const keys = ['f/g/one', 'f/g/two', 'f/g/three', 'f/g/four'];
    const { root, store, jobs, request } = await setup(keys);
    await fsp.mkdir(path.join(root, 'f/g'), { recursive: true });
    const batcher = new CommitBatcher({ store, root, logger: createLogger({ level: 'silent' }), leaseMs: () => 60_000, busy: () => 2, folderCheckMs: 60_000 });
    const reqs = await Promise.all(keys.map((k) => request(jobs[k]!)));
    const lstat = vi.spyOn(fsp, 'lstat');
    let looked: unknown[] = [];
    try {
      await Promise.all(reqs.slice(0, 2).map((r) => batcher.commit(r)));
      await Promise.all(reqs.slice(2).map((r) => batcher.commit(r)));
      looked = lstat.mock.calls.map(([p]) => p);
    } finally {
      lstat.mockRestore();
    }
    expect(batcher.stats).toEqual({ batches: 2, files: 4 });
    const folderChecks = looked.filter((p) => p === path.join(root, 'f') || p === path.join(root, 'f/g'));
    expect(folderChecks).toHaveLength(2); // f and f/g, once
    for (const k of keys) expect(await fsp.readFile(path.join(root, k), 'utf8')).toBe(k);
  });

  it('a file that cannot be placed fails alone; a lost lease places nothing', async () => {
    const keys = ['a/ok', 'a/dir', 'a/lost'];
    const { root, store, jobs, request } = await setup(keys);
    await fsp.mkdir(path.join(root, 'a/dir'), { recursive: true }); // a folder where the file must go
    expect(await store.release(jobs['a/lost']!.id, jobs['a/lost']!.leaseToken, Date.now())).toBe(true);
    const batcher = new CommitBatcher({ store, root, logger: createLogger({ level: 'silent' }), leaseMs: () => 60_000, busy: () => keys.length });
    const reqs = await Promise.all(keys.map((k) => request(jobs[k]!)));
    const [ok, dir, lost] = await Promise.allSettled(reqs.map((r) => batcher.commit(r)));
    expect(ok).toMatchObject({ status: 'fulfilled', value: { placed: true, outcome: 'done' } });
    expect(dir).toMatchObject({ status: 'rejected', reason: { code: 'SYNC_MIRROR_PATH_CONFLICT', reason: 'not_a_file' } });
    expect(lost).toMatchObject({ status: 'fulfilled', value: { placed: false, outcome: 'lost' } });
    expect(await fsp.stat(reqs[2]!.staging.partial).then(() => true)).toBe(true); // not renamed
    await expect(fsp.stat(path.join(root, 'a/lost'))).rejects.toMatchObject({ code: 'ENOENT' });
    expect((await store.getJob('a/dir'))?.state).toBe('running');
  });

  describe('a folder another batch created is durable before a file in it commits', () => {
    /**
     * Holds the fsync of the mirror root (the parent of the folder the first batch creates) until a
     * second commit has fsynced the new folder itself and closed it, plus one turn of the event loop:
     * a commit that does not wait for the held fsync reaches its rows in that turn.
     */
    function holdRootSync(root: string, folder: string, events: string[]) {
      const open = fsp.open.bind(fsp);
      let held!: () => void;
      const gate = new Promise<void>((r) => (held = r));
      let rootHeld!: () => void;
      const rootReached = new Promise<void>((r) => (rootHeld = r));
      let folderSyncs = 0;
      const spy = vi.spyOn(fsp, 'open').mockImplementation(async (...args: Parameters<typeof fsp.open>) => {
        const fh = await open(...args);
        if (args[0] === root) {
          const sync = fh.sync.bind(fh);
          fh.sync = async () => {
            rootHeld();
            await gate;
            await sync();
            events.push('root synced');
          };
        } else if (args[0] === folder) {
          // the second commit's fsync of the new folder (the first batch synced it beside the root),
          // through a handle of its own or the one the batches keep open (group-commit.ts)
          const sync = fh.sync.bind(fh);
          fh.sync = async () => {
            const second = ++folderSyncs === 2;
            await sync();
            if (second) {
              setImmediate(() => {
                events.push('released');
                held();
              });
            }
          };
        }
        return fh;
      });
      cleanups.push(async () => spy.mockRestore());
      return rootReached;
    }

    it('a second batch', async () => {
      const keys = ['n/a', 'n/b'];
      const { root, store, jobs, request } = await setup(keys);
      const events: string[] = [];
      const rootReached = holdRootSync(root, path.join(root, 'n'), events);
      const complete = store.completeBatch.bind(store);
      vi.spyOn(store, 'completeBatch').mockImplementation(async (rows) => {
        events.push(`commit ${rows.map((r) => r.localPath).join(',')}`);
        return complete(rows);
      });
      const batcher = new CommitBatcher({ store, root, logger: createLogger({ level: 'silent' }), leaseMs: () => 60_000, busy: () => 1 });
      const [a, b] = await Promise.all(keys.map((k) => request(jobs[k]!)));
      const first = batcher.commit(a!);
      await rootReached; // the first batch made n, renamed n/a and is fsyncing the root
      expect(pendingNewFolders().filter((d) => d.startsWith(root))).toEqual([path.join(root, 'n')]);
      const second = batcher.commit(b!);
      const out = await Promise.all([first, second]);
      expect(out.map((o) => o.outcome)).toEqual(['done', 'done']);
      expect(batcher.stats).toEqual({ batches: 2, files: 2 });
      // on the old code: ['commit n/b', 'released', 'root synced', 'commit n/a']
      expect(events.indexOf('root synced')).toBeLessThan(events.indexOf('commit n/b'));
      expect(pendingNewFolders().filter((d) => d.startsWith(root))).toEqual([]);
    });

    it('a single (not batched) file', async () => {
      const keys = ['m/a', 'm/c'];
      const { root, store, jobs, request } = await setup(keys);
      const events: string[] = [];
      const rootReached = holdRootSync(root, path.join(root, 'm'), events);
      const batcher = new CommitBatcher({ store, root, logger: createLogger({ level: 'silent' }), leaseMs: () => 60_000, busy: () => 1 });
      const [a, c] = await Promise.all(keys.map((k) => request(jobs[k]!)));
      const first = batcher.commit(a!);
      await rootReached;
      const single = placeFile(root, c!.staging, c!.target, c!.place).then(() => events.push('single placed'));
      await Promise.all([first, single]);
      // on the old code: ['single placed', 'released', 'root synced']
      expect(events).toEqual(['released', 'root synced', 'single placed']);
      expect(await fsp.readFile(path.join(root, 'm/c'), 'utf8')).toBe('m/c');
    });

    it('a folder whose creator failed before fsyncing its parent: the next commit fsyncs it, then it is durable', async () => {
      const { root } = await setup([]);
      const { makeParentDirs, newFoldersDurable, pendingNewFolders, settleNewFolders } = await import('../../src/download/new-folders.js');
      const created = await makeParentDirs(root, ['p', 'q']);
      expect(created).toEqual([path.join(root, 'p'), path.join(root, 'p/q')]);
      expect(newFoldersDurable(root, path.join(root, 'p/q'), created)).toBeNull(); // its own folders
      settleNewFolders(created, false);
      const open = vi.spyOn(fsp, 'open');
      try {
        await newFoldersDurable(root, path.join(root, 'p/q'), []);
        expect(open.mock.calls.map(([p]) => p).sort()).toEqual([root, path.join(root, 'p')]);
        // Those fsyncs made both folders durable: they leave the map, and the next commit through
        // them fsyncs nothing more (on the old code they stayed for the rest of the run).
        expect(pendingNewFolders().filter((d) => d.startsWith(root))).toEqual([]);
        expect(newFoldersDurable(root, path.join(root, 'p/q'), [])).toBeNull();
      } finally {
        open.mockRestore();
      }
    });
  });
});
