// `status` answers the operator's questions first (complete? last file, last poll "… ago", next poll,
// daemon running from the lock), `status --check` exits 0/1/2 for cron and monitoring, times in
// `--json` are ISO 8601, and a one-shot sync that hit an auth failure never reads as a paused daemon.
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startSimulator, type Simulator } from '../../src/simulator/index.js';
import { configFlags, credentials, killAll, makeAssets, spawnCli } from '../helpers/fault-daemon.js';
import { runCli, tempDirs, type TempDirs } from '../helpers/harness.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  await killAll();
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

async function setup(): Promise<{ sim: Simulator; d: TempDirs; flags: string[] }> {
  const sim = await startSimulator({ port: 0, adminPort: false, assets: makeAssets('st', [1000, 2000, 3000]), faults: { notFoundKeys: [] }, seed: 5 });
  cleanups.push(() => sim.close());
  const d = await tempDirs('status');
  cleanups.push(() => d.cleanup());
  await fsp.mkdir(d.root, { recursive: true });
  const flags = await configFlags(d.root, { sim, mirror: d.mirror, state: d.state, config: { sync: { schedule: '*/10 * * * *' } } });
  return { sim, d, flags };
}

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

describe('status', () => {
  it('first lines: complete, last file, last successful poll (… ago), next poll, daemon; --check 0, or 2 when stale; ISO times', async () => {
    const { sim, flags } = await setup();
    const sync = await runCli(['sync', '--json', ...flags], { env: credentials(sim) });
    expect(sync.code, sync.stderr).toBe(0);
    const summary = JSON.parse(sync.stdout) as Record<string, unknown> & { poll: Record<string, unknown> };
    expect(summary.startedAt).toMatch(ISO);
    expect(summary.finishedAt).toMatch(ISO);
    expect(summary.poll.newestRemoteChange).toMatch(ISO);

    const st = await runCli(['status', ...flags], { env: credentials(sim) });
    expect(st.code, st.stderr).toBe(0);
    const lines = st.stdout.split('\n');
    expect(lines[0]).toMatch(/^mirror: +complete: 3 of 3 assets mirrored, 5\.9 KiB of 5\.9 KiB listed; 0 to do, 0 failed, 0 gone$/);
    expect(lines[1]).toMatch(/^last file arrived: +(just now|\d+ s ago) \(/);
    expect(lines[2]).toMatch(/^last successful poll: +(just now|\d+ s ago) \(/);
    expect(lines[3]).toMatch(/^next poll: +when sync or run is started \(no daemon running\)$/);
    expect(lines[4]).toMatch(/^daemon: +not running$/);
    expect(st.stdout).toMatch(/newest remote change: \d{4}-/);
    expect(st.stdout).not.toMatch(/high-water/);

    const json = JSON.parse((await runCli(['status', '--json', ...flags], { env: credentials(sim) })).stdout) as Record<string, unknown> & { assets: Record<string, number> };
    expect(json).toMatchObject({ complete: true, stale: false, check: 0, daemon: { running: false } });
    for (const k of ['now', 'lastFileAt', 'lastSuccessfulPollAt', 'newestRemoteChange']) expect(json[k], k).toMatch(ISO);
    expect(json.assets).toMatchObject({ listed: 3, done: 3, bytesDone: 6000, bytesListed: 6000 });

    const ok = await runCli(['status', '--check', ...flags], { env: credentials(sim) });
    expect(ok.code, ok.stdout).toBe(0);
    expect(ok.stdout).toMatch(/^OK: mirror complete: 3 of 3 assets mirrored; last successful poll/);
    const stale = await runCli(['status', '--check', '--stale-after', '1ms', ...flags], { env: credentials(sim) });
    expect(stale.code, stale.stdout).toBe(2);
    expect(stale.stdout).toMatch(/^STALE: last successful poll .*; mirror complete: 3 of 3 assets mirrored$/m);
  });

  it('--check exits 1 when an asset failed; 2 when there is no state yet', async () => {
    const { sim, d, flags } = await setup();
    const empty = await runCli(['status', '--check', ...flags], { env: credentials(sim) });
    expect(empty.code).toBe(2);
    sim.inventory.put({ key: 'st/../../escape.bin', size: 10, lastModified: Date.now() - 60_000 });
    expect((await runCli(['sync', ...flags], { env: credentials(sim) })).code).toBe(1);
    const failed = await runCli(['status', '--check', ...flags], { env: credentials(sim) });
    expect(failed.code, failed.stdout).toBe(1);
    expect(failed.stdout).toMatch(/^FAILED: mirror incomplete: 1 failed: 3 of 4 assets mirrored; last successful poll/);
    const st = await runCli(['status', ...flags], { env: credentials(sim) });
    expect(st.stdout.split('\n')[0]).toMatch(/^mirror: +incomplete: 1 failed: 3 of 4 assets mirrored/);
    void d;
  });

  it('after a one-shot sync with rejected credentials: AUTH FAILED, the last sync stopped, not "the daemon is paused"', async () => {
    const { sim, flags } = await setup();
    const r = await runCli(['sync', ...flags], { env: { ...credentials(sim), CONSTELLR_PASSWORD: 'wrong-password-123' } });
    expect(r.code, r.stderr).toBe(3);
    const st = await runCli(['status', ...flags], { env: credentials(sim) });
    expect(st.stdout).toMatch(/AUTH FAILED: +the last sync stopped: the API rejected the credentials/);
    expect(st.stdout).not.toMatch(/daemon is paused/);
    expect(st.stdout).toMatch(/daemon: +not running/);
  });

  it('a running daemon: pid and since from the lock, and the next poll time', async () => {
    const { sim, d, flags } = await setup();
    const daemon = spawnCli(['run', ...flags], credentials(sim));
    await daemon.waitLog((l) => l.msg === 'poll finished', 30_000, 'first poll');
    const st = await runCli(['status', ...flags], { env: credentials(sim) });
    expect(st.stdout).toMatch(new RegExp(`daemon: +running \\(pid ${daemon.pid}, since (just now|\\d+ s ago)`));
    expect(st.stdout).toMatch(/next poll: +in \d+ (s|min) \(\d{4}-/);
    const start = daemon.logs().find((l) => l.msg === 'constellr-sync starting');
    expect(start).toMatchObject({ version: expect.stringMatching(/^\d+\.\d+\.\d+/) });
    expect(start?.nextPoll).toMatch(ISO);
    daemon.kill('SIGTERM');
    await daemon.exited;
    const after = await runCli(['status', ...flags], { env: credentials(sim) });
    expect(after.stdout).toMatch(/daemon: +not running/);
    expect(await fsp.stat(path.join(d.state, 'instance.pid')).catch(() => null)).toBeNull();
  });
});
