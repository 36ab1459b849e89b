// One state and one mirror hold one catalog. The two demos each work on their own directories, in
// either order; a state made for one source, API host or account is refused for another (exit 2, one
// line saying why and what to do) instead of mixing two catalogs in one mirror; `status` reports
// the source the state was made for.
import { promises as fsp } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { sampleInventory, startSimulator, type Simulator } from '../../src/simulator/index.js';
import { runCli, tempDirs, type CliResult, type TempDirs } from '../helpers/harness.js';

let sim: Simulator;
const cleanups: (() => Promise<unknown>)[] = [];
beforeAll(async () => {
  sim = await startSimulator({ port: 0, adminPort: false, inventory: sampleInventory(7, { count: 12, maxSize: 64 * 1024 }), seed: 7 });
});
afterAll(async () => {
  await sim.close();
});
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

async function dirs(): Promise<TempDirs> {
  const d = await tempDirs('state-identity');
  cleanups.push(() => d.cleanup());
  await fsp.mkdir(d.root, { recursive: true });
  return d;
}

const STACK = /\n\s+at .+[(:]\d+|unexpected error/;

function expectRefused(r: CliResult, message: RegExp): void {
  expect(r.code, r.stderr).toBe(2);
  expect(r.stderr.trim()).toMatch(message);
  expect(r.stderr).not.toMatch(STACK);
  expect(r.stderr.trim().split('\n'), r.stderr).toHaveLength(1);
}

describe('the demos', () => {
  it('demo, then demo --source stac (and the other order) in one directory: each verifies every file', async () => {
    for (const order of [['assets', 'stac'], ['stac', 'assets']]) {
      const d = await dirs();
      for (const source of order) {
        const r = await runCli(['demo', '--source', source], { cwd: d.root, timeoutMs: 120_000 });
        expect(r.code, `${source}: ${r.stdout}\n${r.stderr}`).toBe(0);
        expect(r.stdout).toMatch(/(\d+) of \1 assets verified\./);
        expect(r.stdout).not.toMatch(/NOT/);
        // Its "try next" status line names both of its directories.
        const [stateDir, mirrorDir] = source === 'stac' ? ['constellr-stac-state', 'constellr-stac-mirror'] : ['constellr-state', 'constellr-mirror'];
        expect(r.stdout).toContain(`npx constellr-sync status --state-dir ${stateDir} --mirror-dir ${mirrorDir}`);
      }
      const names = (await fsp.readdir(d.root)).sort();
      expect(names).toEqual(['constellr-mirror', 'constellr-stac-mirror', 'constellr-stac-state', 'constellr-state']);
      // status without --source knows the STAC state is one.
      const st = await runCli(['status', '--state-dir', 'constellr-stac-state', '--mirror-dir', 'constellr-stac-mirror'], { cwd: d.root });
      expect(st.code, st.stderr).toBe(0);
      expect(st.stdout).toMatch(/^source: +stac; incremental strategy/m);
      expect((JSON.parse((await runCli(['status', '--json', '--state-dir', 'constellr-stac-state'], { cwd: d.root })).stdout) as { source: string }).source).toBe('stac');
    }
  }, 300_000);

  it('a demo pointed at the other demo\'s directories refuses with one line, exit 2', async () => {
    const d = await dirs();
    expect((await runCli(['demo'], { cwd: d.root, timeoutMs: 120_000 })).code).toBe(0);
    const r = await runCli(['demo', '--source', 'stac', '--state-dir', 'constellr-state', '--mirror-dir', 'constellr-mirror'], { cwd: d.root, timeoutMs: 120_000 });
    expect(r.code, r.stdout + r.stderr).toBe(2);
    expect(r.stderr).toMatch(/cannot use the state directory .*constellr-state: it was made for source assets at 127\.0\.0\.1, user demo, and this configuration is for source stac/);
    expect(r.stderr).toMatch(/give this one its own --state-dir and --mirror-dir/);
    expect(r.stderr).not.toMatch(STACK);
  }, 300_000);
});

describe('a state made for one catalog is refused for another', () => {
  it('another source, another API host, another username: exit 2 before anything is listed; the same host on another port is the same API', async () => {
    const d = await dirs();
    const env = { CONSTELLR_USERNAME: sim.username, CONSTELLR_PASSWORD: sim.password, CONSTELLR_SYNC_STATE_DIR: d.state, CONSTELLR_SYNC_MIRROR_DIR: d.mirror };
    const first = await runCli(['sync', '--api-url', sim.url], { env });
    expect(first.code, first.stderr).toBe(0);
    sim.resetStats();

    expectRefused(
      await runCli(['sync', '--source', 'stac', '--api-url', sim.url], { env }),
      new RegExp(`^constellr-sync sync: cannot use the state directory ${d.state}: it was made for source assets at 127\\.0\\.0\\.1, user ${sim.username}, and this configuration is for source stac .*\\(or use --source assets with this state\\)$`),
    );
    expectRefused(await runCli(['sync', '--api-url', sim.url.replace('127.0.0.1', 'localhost')], { env }), /made for source assets at 127\.0\.0\.1.*this configuration is for source assets at localhost/);
    expectRefused(await runCli(['sync', '--api-url', sim.url], { env: { ...env, CONSTELLR_USERNAME: 'someone-else' } }), /user demo, and this configuration is for source assets at 127\.0\.0\.1, user someone-else/);
    expectRefused(await runCli(['reconcile', '--source', 'stac', '--api-url', sim.url], { env }), /cannot use the state directory .*made for source assets/);
    expect(sim.stats.listRequests).toBe(0);

    // The simulator on another port (a restart): the same API, so the state is used.
    const again = await startSimulator({ port: 0, adminPort: false, inventory: sampleInventory(7, { count: 12, maxSize: 64 * 1024 }), seed: 7 });
    cleanups.push(() => again.close());
    const r = await runCli(['sync', '--api-url', again.url], { env });
    expect(r.code, r.stderr).toBe(0);
    // An API key run on a legacy account's state: the key's account cannot be told, so it is not refused.
    const keyed = await runCli(['sync', '--api-url', sim.url], { env: { ...env, CONSTELLR_USERNAME: '', CONSTELLR_PASSWORD: '', CONSTELLR_API_KEY: 'k-not-accepted-0001' } });
    expect(keyed.stderr).not.toMatch(/cannot use the state directory/);
  }, 120_000);
});
