// Issue 22 item 1 on a real full disk: the STAC catalog cannot be written (ENOSPC), and the daemon
// neither crashes nor loops on it. Inside its own mount namespace (`unshare -rm`, as
// fault-disk-full.test.ts) on a 2 MiB tmpfs: `run` mirrors 3 items, a filler takes every free byte,
// then an item with an empty asset is listed: its download needs no space (an empty file), its item
// JSON does. Expected: the download is done, the error is
// logged once with the path, `status --json` and /api/status show it, constellr_sync_catalog_failing is
// 1, the writer keeps trying (debug lines), and once space is freed the catalog is written again and
// pystac opens it with every href resolving. Skips where unprivileged namespaces are unavailable.
import { spawnSync } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Simulator } from '../../src/simulator/index.js';
import { configFlags, killAll, spawnProc } from '../helpers/fault-daemon.js';
import { CLI_MAIN, closedPort, runCli, tempDirs, testSeed, waitUntil, type TempDirs } from '../helpers/harness.js';
import { verifyCatalog } from '../../src/mirror/stac-verify.js';
import { skipPystac } from '../helpers/pystac.js';
import { runCatalogCheck } from '../helpers/stac-catalog.js';
import { STAC_KEY, startStacSim } from '../helpers/stac.js';

const probe = spawnSync('unshare', ['-rm', 'true'], { encoding: 'utf8' });
const noNamespaces = probe.status !== 0 ? `unshare -rm is unavailable here (${probe.error?.message ?? probe.stderr.trim()})` : null;
if (noNamespaces) console.log(`SKIP stac-catalog-disk-full: ${noNamespaces}`);
const seed = testSeed();
console.log(`stac-catalog-disk-full seed: ${seed} (reproduce with TEST_SEED=${seed})`);

let sim: Simulator | undefined;
let dirs: TempDirs | undefined;
afterEach(async () => {
  await killAll();
  await sim?.close();
  await dirs?.cleanup();
  sim = undefined;
  dirs = undefined;
});

const sh = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

describe.skipIf(noNamespaces !== null || skipPystac())('the STAC catalog on a full disk', () => {
  it('ENOSPC on a catalog write: logged once with the path, in status, /api/status and the metric, retried, written once space is back', async () => {
    sim = await startStacSim(seed, 3, { maxSize: 8 * 1024 });
    dirs = await tempDirs('stac-catalog-disk-full');
    const fsRoot = path.join(dirs.root, 'small');
    const mirror = path.join(fsRoot, 'mirror');
    await fsp.mkdir(fsRoot);
    const port = await closedPort();
    const args = await configFlags(dirs.root, {
      sim,
      mirror,
      state: dirs.state,
      config: {
        source: 'stac',
        mirror: { freeSpaceReserve: '0' },
        http: { enabled: true, listen: `127.0.0.1:${port}` },
        sync: { schedule: '*/2 * * * * *', leaseDuration: '4s', reconcileSchedule: 'off' },
        log: { level: 'debug' },
      },
    });
    const node = `${sh(process.execPath)} ${sh(CLI_MAIN)}`;
    const script = `mount -t tmpfs -o size=2m none ${sh(fsRoot)} && exec ${node} run ${args.map(sh).join(' ')}`;
    const d = spawnProc('unshare', ['-rm', 'sh', '-c', script], { CONSTELLR_API_KEY: STAC_KEY });
    const inNs = (p: string) => path.join(`/proc/${d.pid}/root`, p);
    // (pystac resolves /proc/<pid>/root to the host's root: our own verifier reads the catalog here.)
    await waitUntil(async () => ((r) => r.items === 3 && r.issues.length === 0)(await verifyCatalog(inNs(mirror))), 60_000, 200, 'the first 3 items in the catalog').catch((e: unknown) => {
      throw new Error(`${(e as Error).message}; stderr: ${d.stderr().slice(-1500)}; logs: ${JSON.stringify(d.logs().slice(-8))}`);
    });

    // Every free byte taken; then an item whose only asset is empty.
    const filler = await fsp.open(inNs(path.join(fsRoot, 'filler')), 'w');
    const chunk = Buffer.alloc(64 * 1024);
    try {
      for (;;) await filler.write(chunk);
    } catch (e) {
      expect((e as NodeJS.ErrnoException).code).toBe('ENOSPC');
    } finally {
      await filler.close();
    }
    sim.stac!.put({ collection: 'lstzoom', id: 'late-item', updated: Date.now() - 5_000, assets: [{ key: 'lst', fileName: 'late.tif', size: 0 }] });

    const failed = await d
      .waitLog((l) => l.msg === 'could not write the STAC catalog; downloads go on, the catalog is tried again later', 60_000, 'the catalog write error')
      .catch((e: unknown) => {
        throw new Error(`${(e as Error).message}; stderr: ${d.stderr().slice(-2000)}`);
      });
    expect(failed).toMatchObject({ level: 'error', errorClass: 'disk_full' });
    expect(failed.path).toBe('lstzoom/late-item/late-item.json');
    expect(String(failed.err)).toContain('ENOSPC');
    // The writer keeps trying (every half lease) without logging the error again.
    await waitUntil(() => d.logs().filter((l) => l.msg === 'the STAC catalog still cannot be written').length >= 2, 30_000, 50, 'two retries');

    const status = await runCli(['status', '--json', '--source', 'stac', '--mirror-dir', inNs(mirror), '--state-dir', dirs.state]);
    expect(JSON.parse(status.stdout).catalog).toMatchObject({ failing: true, errorClass: 'disk_full', path: failed.path });
    const api = (await (await fetch(`http://127.0.0.1:${port}/api/status`)).json()) as { catalog: unknown; catalogue: unknown };
    expect(api.catalog).toMatchObject({ failing: true, path: failed.path });
    expect(api.catalogue).toEqual(api.catalog);
    expect(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()).toMatch(/^constellr_sync_catalog_failing 1$/m);

    // The operator frees space: the next kick writes the catalog, and everything says so.
    await fsp.rm(inNs(path.join(fsRoot, 'filler')));
    await d.waitLog((l) => l.msg === 'the STAC catalog is written again', 30_000, 'the catalog written again');
    expect(d.logs().filter((l) => l.msg === failed.msg)).toHaveLength(1);
    const after = await runCli(['status', '--json', '--source', 'stac', '--mirror-dir', inNs(mirror), '--state-dir', dirs.state]);
    expect(JSON.parse(after.stdout).catalog).toMatchObject({ failing: false });
    expect(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()).toMatch(/^constellr_sync_catalog_failing 0$/m);
    // pystac on a copy taken from inside the namespace.
    const copy = path.join(dirs.root, 'copy');
    await fsp.cp(inNs(mirror), copy, { recursive: true, filter: (src) => !src.includes('.constellr-sync') });
    const check = await runCatalogCheck(copy);
    expect(check.problems).toEqual([]);
    expect(check.items).toHaveLength(4);
    d.kill('SIGTERM');
    expect((await d.exited).code, d.stderr()).toBe(0);
  });
});
