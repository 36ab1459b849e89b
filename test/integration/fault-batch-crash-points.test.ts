// Group commit's crash points (issue 13 §1): `sync` with 8 workers over many small files in several
// folders is SIGKILLed by itself inside a batch commit (after the files' fsyncs, after the renames,
// after the folder fsyncs = before the transaction, after the transaction), on the second batch so
// one batch has committed before. Right after the kill no `done` row may name a file that is missing,
// short or other bytes; the restart must converge to an exact mirror.
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { AssetInput } from '../../src/simulator/inventory.js';
import { tempDirs } from '../helpers/harness.js';
import { configFlags, crashTestBed, endStateProblems, readState } from '../helpers/fault-daemon.js';

const FOLDERS = ['a', 'a/b', 'c', 'd/e/f'];
const base = Math.floor(Date.now() / 1000) * 1000 - 86_400_000;
const ASSETS: AssetInput[] = Array.from({ length: 60 }, (_, i) => ({
  key: `${FOLDERS[i % FOLDERS.length]}/small-${String(i).padStart(3, '0')}.bin`,
  size: i === 7 ? 0 : 1000 + ((i * 7919) % 60_000),
  lastModified: base + i * 1000,
  seed: `gc-${i}`,
}));

const bed = crashTestBed(() => ASSETS);
const { cleanup, runSync } = bed;

const sha256 = async (file: string) => createHash('sha256').update(await fsp.readFile(file)).digest('hex');

describe('group commit: SIGKILL inside a batch commit, then a clean restart', () => {
  const keys = () => [...bed.sim.inventory].map((a) => a.key);

  it.each(['batch_synced:2', 'batch_renamed:2', 'batch_dirs_synced:2', 'batch_committed:2'])('%s: no done row without its whole file; the restart converges', async (point) => {
    const dirs = await tempDirs(`gc-${point.replace(':', '-')}`);
    cleanup.push(dirs);
    const args = await configFlags(dirs.root, {
      sim: bed.sim,
      mirror: dirs.mirror,
      state: dirs.state,
      config: { sync: { concurrency: 8, order: 'key' }, log: { level: 'info' } },
    });
    const first = await runSync(args, point);
    expect(first.signal, `first run should die at ${point}; stderr: ${first.stderr}`).toBe('SIGKILL');
    expect(first.stderr).toContain(`crash point ${point.split(':')[0]}: SIGKILL`);

    const after = await readState(dirs.state, keys());
    const done = [...after.jobs.values()].filter((j) => j.state === 'done');
    // Batches overlap, so the second batch may reach a point before the first one commits: only a kill
    // after a commit guarantees done rows (the ones this very batch just committed).
    if (point.startsWith('batch_committed')) expect(done.length).toBeGreaterThan(0);
    for (const j of done) {
      const file = path.join(dirs.mirror, j.localPath!);
      const st = await fsp.stat(file).catch(() => null);
      expect(st?.size, `done row ${j.key}: file ${st ? 'short' : 'missing'}`).toBe(j.remoteSize);
      expect(await sha256(file), j.key).toBe(j.sha256);
    }

    const second = await runSync(args);
    expect(second.code, `restart failed: ${second.stderr}`).toBe(0);
    expect(await endStateProblems(dirs.mirror, dirs.state, bed.sim.inventory)).toEqual([]);
  });
});
