// The claim window's batch steps (issue 23 §1-2): one transaction claims a window of jobs and reserves
// their mirror paths; the jobs workers take from it in one turn are marked started in one
// transaction; a stop gives the window's unstarted part back. `sync` with 4 workers over many
// small files is SIGKILLed by itself right after the second window's transaction, and (with a
// transfer cap that stops claiming while a window is held) right after the window's release. Right
// after the kill no `done` row may name a missing or other file; the restart must converge to an
// exact mirror. Without a kill, the capped run gives back every job it did not start.
import { createHash } from 'node:crypto';
import Database from 'better-sqlite3';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { AssetInput } from '../../src/simulator/index.js';
import { tempDirs } from '../helpers/harness.js';
import { configFlags, crashTestBed, endStateProblems, readState } from '../helpers/fault-daemon.js';

const FOLDERS = ['a', 'b/c'];
const base = Math.floor(Date.now() / 1000) * 1000 - 86_400_000;
const ASSETS: AssetInput[] = Array.from({ length: 48 }, (_, i) => ({
  key: `${FOLDERS[i % FOLDERS.length]}/w-${String(i).padStart(3, '0')}.bin`,
  size: 2000 + ((i * 7919) % 30_000),
  lastModified: base + i * 1000,
  seed: `win-${i}`,
}));

const bed = crashTestBed(() => ASSETS);
const { cleanup, runSync } = bed;

const sha256 = async (file: string) => createHash('sha256').update(await fsp.readFile(file)).digest('hex');

async function setUp(name: string, extra: string[] = []): Promise<{ args: string[]; dirs: Awaited<ReturnType<typeof tempDirs>> }> {
  const dirs = await tempDirs(`win-${name}`);
  cleanup.push(dirs);
  const args = await configFlags(dirs.root, {
    sim: bed.sim,
    mirror: dirs.mirror,
    state: dirs.state,
    config: { sync: { concurrency: 4, order: 'key' }, log: { level: 'info' } },
  });
  return { args: [...args, ...extra], dirs };
}

describe('claim window: SIGKILL at its batch steps, then a clean restart', () => {
  const keys = () => [...bed.sim.inventory].map((a) => a.key);

  it('window_claimed:2 (after the claim and path reservations commit): no done row without its file; the restart converges', async () => {
    const { args, dirs } = await setUp('claimed');
    const first = await runSync(args, 'window_claimed:2');
    expect(first.signal, `first run should die at window_claimed; stderr: ${first.stderr}`).toBe('SIGKILL');
    expect(first.stderr).toContain('crash point window_claimed: SIGKILL');
    const after = await readState(dirs.state, keys());
    // The window's jobs were left running under the dead process's leases, their attempts counted.
    expect(after.counts.running).toBeGreaterThan(0);
    for (const j of [...after.jobs.values()].filter((x) => x.state === 'done')) {
      const file = path.join(dirs.mirror, j.localPath!);
      expect(await sha256(file), j.key).toBe(j.sha256);
    }
    const second = await runSync(args);
    expect(second.code, `restart failed: ${second.stderr}`).toBe(0);
    expect(await endStateProblems(dirs.mirror, dirs.state, bed.sim.inventory)).toEqual([]);
  });

  it('window_started:3 (after window jobs are marked started together): started jobs count their attempt; the restart converges', async () => {
    const { args, dirs } = await setUp('started');
    const first = await runSync(args, 'window_started:3');
    expect(first.signal, `first run should die at window_started; stderr: ${first.stderr}`).toBe('SIGKILL');
    expect(first.stderr).toContain('crash point window_started: SIGKILL');
    const db = new Database(path.join(dirs.state, 'state.db'), { readonly: true });
    const running = db.prepare("SELECT key, attempts, started_at FROM jobs WHERE state = 'running'").all() as { key: string; attempts: number; started_at: number | null }[];
    db.close();
    // The marks committed: those jobs started (a death now counts their attempt), as claimed.
    expect(running.filter((j) => j.started_at !== null).length).toBeGreaterThan(0);
    for (const j of running) expect(j.attempts, j.key).toBe(1);
    const after = await readState(dirs.state, keys());
    for (const j of [...after.jobs.values()].filter((x) => x.state === 'done')) {
      expect(await sha256(path.join(dirs.mirror, j.localPath!)), j.key).toBe(j.sha256);
    }
    const second = await runSync(args);
    expect(second.code, `restart failed: ${second.stderr}`).toBe(0);
    expect(await endStateProblems(dirs.mirror, dirs.state, bed.sim.inventory)).toEqual([]);
  });

  it('a transfer cap stops claiming: the unstarted window is given back (queued, its attempt returned)', async () => {
    const { args, dirs } = await setUp('released', ['--max-transfer', '1']);
    const first = await runSync(args);
    expect(first.code, first.stderr).toBe(5);
    const after = await readState(dirs.state, keys());
    expect(after.counts.running ?? 0).toBe(0);
    const queued = [...after.jobs.values()].filter((j) => j.state === 'queued');
    expect(queued.length).toBeGreaterThan(0);
    for (const j of queued) expect(j.attempts, j.key).toBe(0);
    const second = await runSync(args.filter((a) => a !== '--max-transfer' && a !== '1'));
    expect(second.code, `restart failed: ${second.stderr}`).toBe(0);
    expect(await endStateProblems(dirs.mirror, dirs.state, bed.sim.inventory)).toEqual([]);
  });

  it('window_released (a kill right after the release commits): the restart converges', async () => {
    const { args, dirs } = await setUp('release-kill', ['--max-transfer', '1']);
    const first = await runSync(args, 'window_released');
    expect(first.signal, `first run should die at window_released; stderr: ${first.stderr}`).toBe('SIGKILL');
    const after = await readState(dirs.state, keys());
    expect(after.counts.queued ?? 0).toBeGreaterThan(0);
    const second = await runSync(args.filter((a) => a !== '--max-transfer' && a !== '1'));
    expect(second.code, `restart failed: ${second.stderr}`).toBe(0);
    expect(await endStateProblems(dirs.mirror, dirs.state, bed.sim.inventory)).toEqual([]);
  });
});
