// The state database out of reach when a command starts (issue: a StoreFault or store_unavailable that
// reaches the command line's top level): one line naming the database by host, port and database,
// never its password, and exit 6, not an `unexpected error` with a stack trace, nor exit 2 (a
// configuration error, which the systemd unit does not restart on).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sampleInventory, startSimulator, type Simulator } from '../../src/simulator/index.js';
import { closedPort, runCli, tempDirs, type TempDirs } from '../helpers/harness.js';

let sim: Simulator;
const cleanups: (() => Promise<unknown>)[] = [];
beforeAll(async () => {
  sim = await startSimulator({ port: 0, adminPort: false, inventory: sampleInventory(3, { count: 2, maxSize: 4096 }), seed: 3 });
});
afterAll(async () => {
  await sim.close();
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

describe('the state database unreachable at start', () => {
  it.each(['sync', 'run', 'status'])('%s: one line naming the database without its password, exit 6', async (cmd) => {
    const d: TempDirs = await tempDirs('store-unreachable-cli');
    cleanups.push(() => d.cleanup());
    const port = await closedPort();
    const r = await runCli([cmd, '--api-url', sim.url, '--mirror-dir', d.mirror, '--state-dir', d.state], {
      env: {
        CONSTELLR_USERNAME: sim.username,
        CONSTELLR_PASSWORD: sim.password,
        CONSTELLR_SYNC_DATABASE_URL: `postgres://sync:Sup3rSecretPw@127.0.0.1:${port}/mirrordb?sslmode=disable`,
        CONSTELLR_HTTP_ENABLED: 'false',
      },
      timeoutMs: 30_000,
    });
    const lines = r.stderr.split('\n').filter((l) => l.startsWith(`constellr-sync ${cmd}:`));
    expect(r.stdout + r.stderr).not.toContain('Sup3rSecretPw');
    expect(r.stderr).not.toMatch(/unexpected error|\n\s+at /);
    expect(lines, r.stderr).toEqual([
      `constellr-sync ${cmd}: the state database at postgres://sync:***@127.0.0.1:${port}/mirrordb?sslmode=disable cannot be reached (connection refused): check that the server is up and state.url / CONSTELLR_SYNC_DATABASE_URL`,
    ]);
    expect(r.code, r.stderr).toBe(6);
  }, 40_000);
});
