// The smaller inconsistencies of issue 25 item 11: a one-shot sync with rejected credentials says it
// stops (and nothing about pausing), the STAC simulator's banner counts what a STAC sync mirrors, and
// a listing page that is not a listing is retried a bounded number of times, saying so.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { sampleInventory, startSimulator, type Simulator } from '../../src/simulator/index.js';
import { killAll, spawnCli } from '../helpers/fault-daemon.js';
import { runCli, tempDirs, type TempDirs } from '../helpers/harness.js';

let sim: Simulator;
const cleanups: (() => Promise<unknown>)[] = [];
beforeAll(async () => {
  sim = await startSimulator({ port: 0, adminPort: false, inventory: sampleInventory(11, { count: 6, maxSize: 32 * 1024 }), seed: 11 });
});
afterAll(async () => {
  await sim.close();
});
afterEach(async () => {
  await killAll();
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

async function dirs(): Promise<TempDirs> {
  const d = await tempDirs('small-items');
  cleanups.push(() => d.cleanup());
  return d;
}

const logLines = (stdout: string) =>
  stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { msg?: string; level?: string; reason?: string });

describe('a one-shot sync with rejected credentials', () => {
  it('says it stops, exit 3, and nothing about pausing', async () => {
    const d = await dirs();
    const r = await runCli(['sync', '--api-url', sim.url, '--mirror-dir', d.mirror, '--state-dir', d.state], {
      env: { CONSTELLR_USERNAME: sim.username, CONSTELLR_PASSWORD: 'not-the-password' },
    });
    expect(r.code, r.stderr).toBe(3);
    const msgs = logLines(r.stdout).map((l) => l.msg);
    expect(msgs).toContain('the API rejected the credentials; stopping');
    expect(msgs.filter((m) => /paus/.test(m ?? '')), r.stdout).toEqual([]);
  });
});

describe('simulate --source stac', () => {
  it('the banner counts the STAC assets next to the items, and names the asset API inventory as the other one', async () => {
    const p = spawnCli(['simulate', '--source', 'stac', '--items', '20', '--port', '0', '--admin-port', '0']);
    await new Promise<void>((resolve, reject) => {
      const t = setInterval(() => {
        if (p.stdout().includes('Press Ctrl-C')) {
          clearInterval(t);
          resolve();
        }
      }, 20);
      void p.exited.then(() => {
        clearInterval(t);
        reject(new Error(`simulate exited: ${p.stderr()}`));
      });
    });
    const out = p.stdout();
    expect(out).toMatch(/^STAC API: +http:\/\/127\.0\.0\.1:\d+\/stac {2}\(20 items, 60 assets, \d+ bytes, in lstprecision, lstzoom, lstfusion\)$/m);
    expect(out).toMatch(/^asset API \(legacy\): +120 assets \(\d+ bytes\) at GET \/assets$/m);
    expect(out).not.toMatch(/^assets:/m);
    p.kill('SIGTERM');
    expect((await p.exited).code).toBe(0);
  });
});

describe('a listing page that is not a listing', () => {
  it('a one-shot sync says so while it retries, gives up after 3 tries (exit 1), and the summary says why', async () => {
    const bad = await startSimulator({ port: 0, adminPort: false, inventory: sampleInventory(12, { count: 4, maxSize: 8 * 1024 }), faults: { malformedListing: 'always' }, seed: 12 });
    cleanups.push(() => bad.close());
    const d = await dirs();
    const r = await runCli(['sync', '--api-url', bad.url, '--mirror-dir', d.mirror, '--state-dir', d.state], {
      env: { CONSTELLR_USERNAME: bad.username, CONSTELLR_PASSWORD: bad.password },
      timeoutMs: 60_000,
    });
    expect(r.code, r.stderr).toBe(1);
    // 3 tries, as for an unreachable API (it was 6, with backoff up to 16 s: about 50 s in all).
    expect(bad.stats.listRequests).toBe(3);
    const retrying = logLines(r.stdout).filter((l) => /not a listing/.test(l.msg ?? ''));
    expect(retrying.map((l) => l.msg)).toEqual([
      'poll: the API answered a page that is not a listing (try 1 of 3 failed); retrying',
      'poll: the API answered a page that is not a listing (try 2 of 3 failed); retrying',
    ]);
    expect(r.stderr).toMatch(/poll failed: /);
  }, 90_000);
});

describe('simulate: throttling and latency from flags', () => {
  it('--bytes-per-second, --latency, --not-found and --retry-after set the faults GET /faults shows', async () => {
    const p = spawnCli(['simulate', '--port', '0', '--admin-port', '0', '--bytes-per-second', '262144', '--latency', '25', '--not-found', 'a/b.tif', '--not-found', 'c.tif', '--rate-429', '0.1', '--retry-after', '7']);
    const admin = await new Promise<string>((resolve, reject) => {
      const t = setInterval(() => {
        const m = /^admin: +(http:\/\/\S+)/m.exec(p.stdout());
        if (m && p.stdout().includes('Press Ctrl-C')) {
          clearInterval(t);
          resolve(m[1]!);
        }
      }, 20);
      void p.exited.then(() => {
        clearInterval(t);
        reject(new Error(`simulate exited: ${p.stderr()}`));
      });
    });
    const faults = (await (await fetch(`${admin}/faults`)).json()) as Record<string, unknown>;
    expect(faults).toMatchObject({ bodyBytesPerSecond: 262144, latencyMs: 25, notFoundKeys: ['a/b.tif', 'c.tif'], rate429: 0.1, retryAfterSeconds: 7 });
    p.kill('SIGTERM');
    await p.exited;
  });
});
