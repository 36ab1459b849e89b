// Issue 22, acceptance: a hostile (or unlucky) STAC server names items and assets like the catalog's
// own files — collection.json, catalog.json, <id>.json, <id>.item.json, .constellr-sync — in several
// case spellings. After `sync`: `verify --deep` is clean, every asset is byte-exact at the path the
// manifest names, and pystac opens the catalog with every href resolving (catalogProblems also
// compares every item with the simulator's). The same after a SIGKILL at each catalog crash point
// and a restart; a reconcile that deletes such an item leaves no folder behind.
import { existsSync, promises as fsp } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { extensionFor } from '../../src/api/stac/items.js';
import type { Simulator } from '../../src/simulator/index.js';
import { killAll, spawnCli } from '../helpers/fault-daemon.js';
import { openStore, runCli, sha256File, tempDirs, testSeed, type TempDirs } from '../helpers/harness.js';
import { skipPystac } from '../helpers/pystac.js';
import { catalogProblems, runCatalogCheck } from '../helpers/stac-catalog.js';
import { expectedStacFiles, STAC_KEY, startStacSim } from '../helpers/stac.js';

const seed = testSeed();
console.log(`stac-hostile-names seed: ${seed} (reproduce with TEST_SEED=${seed})`);

let sim: Simulator | undefined;
let dirs: TempDirs | undefined;
afterEach(async () => {
  await killAll();
  await sim?.close();
  await dirs?.cleanup();
  sim = undefined;
  dirs = undefined;
});

const C = 'lstzoom';
/** Item ids that name catalog files or the reserved folder, in several spellings. */
const HOSTILE_IDS = ['collection.json', 'Collection.JSON', 'COLLECTION.json', 'catalog.json', 'CATALOG.JSON', '.constellr-sync', '.Constellr-Sync'];
/** File names an item's assets get: its own JSON's name in three spellings, the old fallback, the other catalog names. */
const fileNames = (id: string) => [`${id}.json`, `${id.toUpperCase()}.JSON`, `${id[0]!.toUpperCase()}${id.slice(1)}.Json`, `${id}.item.json`, 'collection.json', 'Catalog.json', '.constellr-sync', '.CONSTELLR-SYNC'];

function addHostileItems(s: Simulator): void {
  const when = Date.now() - 60_000;
  for (const id of [...HOSTILE_IDS, 'scene-a']) {
    const names = [...new Set(fileNames(id))];
    s.stac!.put({ collection: C, id, updated: when, assets: names.map((fileName, n) => ({ key: `a${n}`, fileName, size: 100 + n * 37 + id.length })) });
  }
}

function cli(args: string[]): string[] {
  return [...args, '--source', 'stac', '--api-url', sim!.url, '--mirror-dir', dirs!.mirror, '--state-dir', dirs!.state];
}
const env = { CONSTELLR_API_KEY: STAC_KEY, CONSTELLR_SYNC_RECONCILE_SCHEDULE: 'off' };

/** The acceptance checks; [] when all hold. */
async function acceptance(): Promise<string[]> {
  const problems: string[] = [];
  const verify = await runCli(cli(['verify', '--deep']), { env });
  if (verify.code !== 0) problems.push(`verify --deep exited ${verify.code}: ${verify.stderr}`);
  // Every asset byte-exact at the path the manifest names; every listed asset in the manifest, done.
  const exp = await runCli(cli(['export', '--format', 'jsonl']), { env });
  if (exp.code !== 0) problems.push(`export exited ${exp.code}: ${exp.stderr}`);
  const rows = exp.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { key: string; path: string | null; state: string; sha256: string | null });
  const want = await expectedStacFiles(sim!.stac!);
  const byKey = new Map(rows.map((r) => [r.key, r]));
  // With opaque hrefs the key is <collection>/<item id>/<asset key> (the server names the file).
  const keyOf = new Map<string, string>(sim!.stac!.all().flatMap((rec) => rec.assets.map((a) => [`${rec.collection}/${rec.id}/${a.fileName}`, `${rec.collection}/${rec.id}/${a.key}${extensionFor(a.mediaType)}`] as const)));
  for (const [key, w] of want) {
    const r = byKey.get(key) ?? byKey.get(keyOf.get(key)!);
    if (!r || r.state !== 'done' || !r.path) {
      problems.push(`manifest: ${key} is ${r ? `${r.state} at ${r.path}` : 'missing'}`);
      continue;
    }
    const file = path.join(dirs!.mirror, ...r.path.split('/'));
    const st = await fsp.lstat(file).catch(() => null);
    if (!st?.isFile()) problems.push(`${key}: nothing at ${r.path}`);
    else if ((await sha256File(file)) !== w.sha256 || r.sha256 !== w.sha256) problems.push(`${key}: bytes at ${r.path} differ`);
  }
  problems.push(...(await catalogProblems(dirs!.mirror, sim!.stac!)));
  return problems;
}

describe('hostile item and asset names (issue 22 acceptance)', () => {
  it('items and assets named like catalog files, in every case spelling: verify clean, byte-exact, pystac resolves every href', async () => {
    sim = await startStacSim(seed, 3);
    addHostileItems(sim);
    dirs = await tempDirs('stac-hostile-names');
    const r = await runCli(cli(['sync']), { env, timeoutMs: 120_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/unhandled|internal error/i);
    expect(await acceptance()).toEqual([]);
    // The mapped names are the ones the layout rule gives (README, "Using the mirror with STAC tools").
    const ids = (await fsp.readdir(path.join(dirs.mirror, C))).sort();
    for (const id of ['collection.json', 'Collection.JSON', 'COLLECTION.json']) expect(ids).toContain(`%%${id}`);
    expect(ids).toContain('catalog.json');
    expect(await fsp.readdir(path.join(dirs.mirror, C, 'scene-a'))).toEqual(expect.arrayContaining(['scene-a.json', '%%scene-a.json', '%%SCENE-A.JSON', '%%Scene-a.Json', 'scene-a.item.json']));
    // A second sync changes nothing and keeps it exact.
    const again = await runCli(cli(['sync']), { env, timeoutMs: 120_000 });
    expect(again.code, again.stderr).toBe(0);
    expect(await acceptance()).toEqual([]);
  });

  it('opaque hrefs: the names the server gives (Content-Disposition) follow the same rule', async () => {
    sim = await startStacSim(seed, 2);
    sim.stac!.setKnobs({ opaqueHrefs: 'all' });
    addHostileItems(sim);
    dirs = await tempDirs('stac-hostile-opaque');
    const r = await runCli(cli(['sync']), { env, timeoutMs: 120_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(await acceptance()).toEqual([]);
    expect(await fsp.readdir(path.join(dirs.mirror, C, 'scene-a'))).toEqual(expect.arrayContaining(['scene-a.json', '%%scene-a.json', '%%SCENE-A.JSON', 'scene-a.item.json']));
  });

  it.skipIf(skipPystac()).each(['catalog_item_written:4', 'catalog_collection_written:1', 'catalog_root_written:2'])(
    'SIGKILL at %s: every link still resolves, and the next sync meets the acceptance',
    async (point) => {
      sim = await startStacSim(seed, 2);
      addHostileItems(sim);
      dirs = await tempDirs('stac-hostile-kill');
      const p = spawnCli(cli(['sync', '--concurrency', '2']), { ...env, CONSTELLR_SYNC_CRASH_AT: point });
      expect((await p.exited).signal, p.stderr()).toBe('SIGKILL');
      expect((await runCatalogCheck(dirs.mirror)).problems).toEqual([]);
      const r = await runCli(cli(['sync']), { env, timeoutMs: 120_000 });
      expect(r.code, r.stderr).toBe(0);
      expect(await acceptance()).toEqual([]);
    },
  );

  it.skipIf(skipPystac())('SIGKILL at catalog_withdrawn while a reconcile deletes a hostile item; afterwards it and its folder are gone', async () => {
    sim = await startStacSim(seed, 2);
    addHostileItems(sim);
    dirs = await tempDirs('stac-hostile-withdraw');
    expect((await runCli(cli(['sync']), { env, timeoutMs: 120_000 })).code).toBe(0);
    sim.stac!.remove(C, 'Collection.JSON');
    const del = ['reconcile', '--delete-policy', 'delete', '--max-delete', '100%'];
    const p = spawnCli(cli(del), { ...env, CONSTELLR_SYNC_CRASH_AT: 'catalog_withdrawn' });
    expect((await p.exited).signal, p.stderr()).toBe('SIGKILL');
    expect((await runCatalogCheck(dirs.mirror)).problems).toEqual([]);
    const r = await runCli(cli(del), { env });
    expect(r.code, r.stderr).toBe(0);
    expect(await acceptance()).toEqual([]);
    expect(existsSync(path.join(dirs.mirror, C, '%%Collection.JSON'))).toBe(false);
  });

  it('a mirror laid out by the previous version (item JSON at <id>.item.json, over an asset) is migrated by the next start', async () => {
    sim = await startStacSim(seed, 1);
    const when = Date.now() - 60_000;
    // X: assets X.json and X.item.json; the old writer put the item JSON at X.item.json over the
    // second asset and had removed X.json (the first asset, then at the item JSON's path).
    sim.stac!.put({ collection: C, id: 'X', updated: when, assets: [{ key: 'a', fileName: 'X.json', size: 301 }, { key: 'b', fileName: 'X.item.json', size: 302 }] });
    dirs = await tempDirs('stac-hostile-migrate');
    expect((await runCli(cli(['sync']), { env, timeoutMs: 120_000 })).code).toBe(0);
    const m = (p: string) => path.join(dirs!.mirror, C, ...p.split('/'));
    const s = openStore(dirs.state);
    try {
      const json = await fsp.readFile(m('X/X.json'), 'utf8');
      // The old layout, as the old writer left it.
      await fsp.rm(m('X/%%X.json'));
      await fsp.rm(m('X/X.json'));
      await fsp.writeFile(m('X/X.item.json'), json);
      s.db.prepare('UPDATE jobs SET local_path = ?, mirror_path = ? WHERE key = ?').run(`${C}/X/X.json`, `${C}/X/X.json`, `${C}/X/X.json`);
      s.db.prepare('UPDATE stac_items SET json_path = ? WHERE item_id = ?').run(`${C}/X/X.item.json`, 'X');
    } finally {
      await s.close();
    }
    const r = await runCli(cli(['sync']), { env, timeoutMs: 120_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(await acceptance()).toEqual([]);
    expect((await fsp.readdir(m('X'))).sort()).toEqual(['%%X.json', 'X.item.json', 'X.json']);
  });
});
