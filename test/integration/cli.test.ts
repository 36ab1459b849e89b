// The built CLI as a real child process (`node dist/cli/main.js`; run `npx tsc -p .` first): exit codes
// of `sync`, `status --json`, `--help`, and that secrets never reach stdout/stderr, even at trace.
import { existsSync, promises as fsp } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startSimulator, type AssetInput, type Simulator, type SimulatorOptions } from '../../src/simulator/index.js';
import { CLI_MAIN, closedPort, runCli, startRecordingProxy, tempDirs, verifyMirror, type TempDirs } from '../helpers/harness.js';

const T0 = Date.UTC(2025, 2, 1, 8, 0, 0);
const PASSWORD = 'pw-Zq8#x!r7-unique-secret';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

beforeAll(() => {
  if (!existsSync(CLI_MAIN)) throw new Error(`${CLI_MAIN} is missing: build first with npx tsc -p .`);
});

async function setup(opts: SimulatorOptions = {}): Promise<{ sim: Simulator; dirs: TempDirs }> {
  const sim = await startSimulator({ adminPort: false, password: PASSWORD, seed: 7, ...opts });
  cleanups.push(() => sim.close());
  const dirs = await tempDirs('cli');
  cleanups.push(() => dirs.cleanup());
  return { sim, dirs };
}

function envFor(sim: { url: string; username: string }, dirs: TempDirs, extra: Record<string, string> = {}): Record<string, string> {
  return {
    CONSTELLR_API_URL: sim.url,
    CONSTELLR_USERNAME: sim.username,
    CONSTELLR_PASSWORD: PASSWORD,
    CONSTELLR_SYNC_MIRROR_DIR: dirs.mirror,
    CONSTELLR_SYNC_STATE_DIR: dirs.state,
    CONSTELLR_SYNC_LOG_LEVEL: 'warn',
    ...extra,
  };
}

const assets = (n: number, prefix = 'cli'): AssetInput[] =>
  Array.from({ length: n }, (_, i) => ({ key: `${prefix}/file ${i}.bin`, size: 2000 + i * 31, lastModified: T0 + i * 1000 }));

describe('constellr-sync CLI', () => {
  it('--help and command help exit 0; no command or an unknown one exits 2', async () => {
    const top = await runCli(['--help']);
    expect(top.code).toBe(0);
    expect(top.stdout).toMatch(/Usage: constellr-sync <command>/);
    for (const c of ['run', 'sync', 'status', 'simulate', 'demo']) expect(top.stdout).toContain(c);
    const sync = await runCli(['sync', '--help']);
    expect(sync.code).toBe(0);
    expect(sync.stdout).toMatch(/Exit codes/);
    expect((await runCli([])).code).toBe(2);
    const unknown = await runCli(['frobnicate']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown command "frobnicate"/);
  });

  it('sync exits 0 when everything is mirrored; status --json has the documented shape', async () => {
    const { sim, dirs } = await setup({ assets: assets(6) });
    const r = await runCli(['sync'], { env: envFor(sim, dirs) });
    expect(r.code, r.stderr).toBe(0);
    expect(await verifyMirror(dirs.mirror, sim.inventory)).toEqual([]);
    const st = await runCli(['status', '--json'], { env: envFor(sim, dirs) });
    expect(st.code, st.stderr).toBe(0);
    const json = JSON.parse(st.stdout) as { jobs: Record<string, unknown>; highWaterMark: string | null };
    expect(json.jobs).toEqual({ queued: 0, running: 0, done: 6, failed: 0, gone: 0 });
    expect(Object.keys(json.jobs).sort()).toEqual(['done', 'failed', 'gone', 'queued', 'running']);
    expect(json.highWaterMark).toBe(new Date(T0 + 5000).toISOString());
    // an idle second sync is also 0 and downloads nothing; with --json, stdout is one JSON document
    // even with debug logs on (they go to stderr)
    sim.resetStats();
    const idle = await runCli(['sync', '--json'], { env: envFor(sim, dirs, { CONSTELLR_SYNC_LOG_LEVEL: 'debug' }) });
    expect(idle.code, idle.stderr).toBe(0);
    expect(sim.stats.downloadRequests).toBe(0);
    const summary = JSON.parse(idle.stdout) as { exitCode: number; jobs: Record<string, number>; downloaded: number };
    expect(summary).toMatchObject({ exitCode: 0, downloaded: 0, jobs: { queued: 0, running: 0, done: 6, failed: 0, gone: 0 } });
    expect(idle.stderr).toMatch(/"level":"debug"/);
  });

  it('sync exits 1 and lists the asset when one fails permanently (an unsafe key)', async () => {
    const { sim, dirs } = await setup({ assets: [...assets(3), { key: 'cli/../../escape.txt', size: 10, lastModified: T0 }] });
    const r = await runCli(['sync'], { env: envFor(sim, dirs) });
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain('cli/../../escape.txt');
    expect(r.stderr).toMatch(/unsafe/);
    expect(await fsp.stat(path.join(dirs.root, 'escape.txt')).catch(() => null)).toBeNull();
    const st = JSON.parse((await runCli(['status', '--json'], { env: envFor(sim, dirs) })).stdout) as { jobs: Record<string, number> };
    expect(st.jobs).toEqual({ queued: 0, running: 0, done: 3, failed: 1, gone: 0 });
  });

  it('sync exits 2 on configuration errors, naming the key', async () => {
    const { sim, dirs } = await setup({ assets: assets(1) });
    const file = path.join(dirs.root, 'config.yaml');
    await fsp.writeFile(file, 'sync:\n  concurency: 3\n');
    const unknownKey = await runCli(['sync', '--config', file], { env: envFor(sim, dirs) });
    expect(unknownKey.code).toBe(2);
    expect(unknownKey.stderr).toMatch(/sync\.concurency: unknown key/);

    const badEnv = await runCli(['sync'], { env: envFor(sim, dirs, { CONSTELLR_SYNC_CONCURRENCY: 'many' }) });
    expect(badEnv.code).toBe(2);
    expect(badEnv.stderr).toMatch(/sync\.concurrency/);
    expect(badEnv.stderr).toMatch(/CONSTELLR_SYNC_CONCURRENCY/);

    const badFlag = await runCli(['sync', '--lookback', 'forever'], { env: envFor(sim, dirs) });
    expect(badFlag.code).toBe(2);
    expect(badFlag.stderr).toMatch(/sync\.lookback/);

    expect((await runCli(['sync', '--no-such-flag'], { env: envFor(sim, dirs) })).code).toBe(2);
    expect(sim.stats.tokenRequests).toBe(0); // nothing was attempted
  });

  it('sync exits 3 on a wrong password, after exactly one token request', async () => {
    const { sim, dirs } = await setup({ assets: assets(2) });
    const wrong = 'wrong-Pa55word-xyz';
    const r = await runCli(['sync'], { env: envFor(sim, dirs, { CONSTELLR_PASSWORD: wrong, CONSTELLR_SYNC_LOG_LEVEL: 'trace' }) });
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr + r.stdout).toMatch(/rejected the credentials/);
    expect(sim.stats.tokenRequests).toBe(1);
    expect(sim.stats.listRequests).toBe(0);
    expect(r.stdout + r.stderr).not.toContain(wrong);
  });

  it('an unreachable API: sync, ls and reconcile report it within seconds, naming the URL and the fix (exit 3)', async () => {
    const dirs = await tempDirs('cli');
    cleanups.push(() => dirs.cleanup());
    const url = `http://127.0.0.1:${await closedPort()}`;
    for (const cmd of ['sync', 'ls', 'reconcile']) {
      const t0 = performance.now();
      // Default settings: no shortened retries.
      const r = await runCli([cmd], { env: envFor({ url, username: 'u' }, dirs), timeoutMs: 45_000 });
      const took = performance.now() - t0;
      expect(r.code, `${cmd}: ${r.stderr}`).toBe(3);
      expect(r.stderr).toContain(`cannot reach ${url} (connection refused): check api.url / CONSTELLR_API_URL`);
      // Three tries (about 1 + 2 s of backoff), not 31-62 s of listing retries.
      expect(took, cmd).toBeLessThan(15_000);
      expect(r.stderr + r.stdout).not.toMatch(/listing page failed/);
    }
  });

  it('a 404 on POST /token is not retried: exit 3, "is api.url right?"', async () => {
    const { sim, dirs } = await setup({ assets: assets(2) });
    const wrong = `${sim.url}/not-the-api`;
    const r = await runCli(['sync'], { env: envFor({ url: wrong, username: sim.username }, dirs) });
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).toMatch(/no token endpoint there; is api\.url right\?/);
    expect(sim.stats.listRequests).toBe(0);
    const st = JSON.parse((await runCli(['status', '--json'], { env: envFor(sim, dirs) })).stdout) as { jobs: Record<string, number> };
    expect(st.jobs.failed ?? 0).toBe(0);
  });

  it('never prints the password or a token, even at log level trace', async () => {
    // Short-lived opaque tokens (no JWT shape for a scrubbing regex to catch; each one replaced after
    // a 401) and throttled bodies, through a proxy that captures every token the simulator issues.
    const { sim, dirs } = await setup({ assets: assets(8, 'sec'), tokenTtlMs: 2000, tokenFormat: 'opaque', faults: { bodyBytesPerSecond: 1500 } });
    const proxy = await startRecordingProxy(sim.url);
    cleanups.push(() => proxy.close());
    const r = await runCli(['sync', '--concurrency', '3'], { env: envFor({ url: proxy.url, username: sim.username }, dirs, { CONSTELLR_SYNC_LOG_LEVEL: 'trace' }), timeoutMs: 45_000 });
    expect(r.code, r.stderr).toBe(0);
    const output = r.stdout + r.stderr;
    expect(output).toMatch(/"level":"(trace|debug)"/); // the verbose levels really were on
    expect(proxy.tokens.length).toBeGreaterThanOrEqual(2);
    expect(proxy.requests.some((q) => q.status === 401)).toBe(true); // the 401 paths were logged too
    expect(output).not.toContain(PASSWORD);
    for (const t of proxy.tokens) {
      expect(output).not.toContain(t);
      for (const part of t.split('.')) if (part.length > 20) expect(output).not.toContain(part);
    }
    expect(output).not.toMatch(/Bearer [A-Za-z0-9]/);
    expect(await verifyMirror(dirs.mirror, sim.inventory)).toEqual([]);
  });
});
