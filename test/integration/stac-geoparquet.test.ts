// The mirror's GeoParquet index (items.parquet) read with real tools (test/python/geoparquet_check.py in
// .venv-ci): the geo and stac-geoparquet metadata, the spec's column types, every row back to a STAC item
// with stac-geoparquet equal to the catalog's item JSON (ids, geometry, bbox, datetime, properties,
// asset files), GeoPandas and DuckDB reading it, and README "Query the mirror"'s three queries run in the
// mirror folder with the answer the simulator's items give. After a sync, for `export --format
// stac-geoparquet`, and after a reconcile deletes an item. Outside CI a missing venv skips (printed).
import { existsSync, promises as fsp } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Simulator } from '../../src/simulator/index.js';
import { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects } from 'hyparquet';
import { configFlags, killAll, runSyncChild } from '../helpers/fault-daemon.js';
import { runCli, syncInProcess, tempDirs, testSeed, type TempDirs } from '../helpers/harness.js';
import { runPythonJson, skipPystac } from '../helpers/pystac.js';
import { STAC_KEY, startStacSim } from '../helpers/stac.js';

const seed = testSeed();
console.log(`stac-geoparquet seed: ${seed} (reproduce with TEST_SEED=${seed})`);

const ROOT = path.resolve(import.meta.dirname, '../..');
const SCRIPT = path.join(ROOT, 'test/python/geoparquet_check.py');
const README = path.join(ROOT, 'README.md');
const PROBE = path.join(ROOT, 'test/helpers/import-probe.mjs');

let sim: Simulator | undefined;
let dirs: TempDirs | undefined;
afterEach(async () => {
  await killAll();
  await sim?.close();
  await dirs?.cleanup();
  sim = undefined;
  dirs = undefined;
});

const stacConfig = { source: 'stac', 'sync.reconcileSchedule': 'off' } as const;

interface Check {
  rows: number;
  catalog: number;
  problems: string[];
  readme?: Record<string, string[]>;
}

function check(mirror: string, file: string, readme?: string): Promise<Check> {
  return runPythonJson<Check>(SCRIPT, readme ? [mirror, file, readme] : [mirror, file], {}, 180_000);
}

// README "Query the mirror": a field (west, south, east, north) and July 2026.
const FIELD = [11.0, 48.0, 11.3, 48.3] as const;
const FROM = Date.parse('2026-07-01T00:00:00Z');
const TO = Date.parse('2026-08-01T00:00:00Z');

/** The ids README's queries must return: footprint over the field, acquired in July, newest first. */
function expectedHits(s: Simulator): string[] {
  return s
    .stac!.all()
    .filter((r) => r.bbox[0] <= FIELD[2] && r.bbox[2] >= FIELD[0] && r.bbox[1] <= FIELD[3] && r.bbox[3] >= FIELD[1] && r.datetimeMs >= FROM && r.datetimeMs < TO)
    .sort((a, b) => b.datetimeMs - a.datetimeMs)
    .map((r) => r.id);
}

describe.skipIf(skipPystac())('the GeoParquet index with stac-geoparquet, GeoPandas, DuckDB, pyarrow', () => {
  it('equals the catalog after a sync, in an export, and after a reconcile deletes an item; the README queries answer right', { timeout: 300_000 }, async () => {
    sim = await startStacSim(seed, 12);
    // Items around README's field: two hits, one a day before July, one on 1 August (excluded), one beside the field.
    const at = (center: [number, number], datetime: string) => sim!.stac!.put({ collection: 'lstprecision', center, datetime, updated: Date.now() - 60_000 });
    at([11.1, 48.1], '2026-07-10T10:31:00Z');
    at([11.2, 48.2], '2026-07-20T10:05:00.250Z');
    at([11.1, 48.15], '2026-06-30T23:00:00Z');
    at([11.15, 48.1], '2026-08-01T00:00:00Z');
    at([12.5, 48.1], '2026-07-15T10:00:00Z');
    const want = expectedHits(sim);
    expect(want.length).toBeGreaterThanOrEqual(2);
    const readme = await fsp.readFile(README, 'utf8');
    expect(readme).toContain('box(11.0, 48.0, 11.3, 48.3)');
    expect(readme).toContain('bbox.xmin <= 11.3 AND bbox.xmax >= 11.0 AND bbox.ymin <= 48.3 AND bbox.ymax >= 48.0');

    dirs = await tempDirs('stac-geoparquet');
    const r1 = await syncInProcess({ sim, dirs, apiKey: STAC_KEY, config: stacConfig });
    expect(r1.counts).toMatchObject({ done: sim.stac!.size * 3, failed: 0 });
    const index = path.join(dirs.mirror, 'items.parquet');
    const c1 = await check(dirs.mirror, index, README);
    expect(c1.problems).toEqual([]);
    expect(c1.rows).toBe(sim.stac!.size);
    expect(c1.catalog).toBe(sim.stac!.size);
    expect(Object.keys(c1.readme!)).toEqual(['GeoPandas', 'DuckDB', 'pyarrow']);
    for (const [tool, ids] of Object.entries(c1.readme!)) expect(ids, tool).toEqual(want);

    // The same for any state, on demand (to a file: Parquet is not written to a pipe).
    const noOut = await runCli(['export', '--format', 'stac-geoparquet', '--source', 'stac', '--mirror-dir', dirs.mirror, '--state-dir', dirs.state]);
    expect(noOut.code).toBe(2);
    expect(noOut.stderr).toContain('--format stac-geoparquet needs --output FILE');
    const out = path.join(dirs.root, 'export.parquet');
    const e = await runCli(['export', '--format', 'stac-geoparquet', '--output', out, '--source', 'stac', '--mirror-dir', dirs.mirror, '--state-dir', dirs.state]);
    expect(e.code, e.stderr).toBe(0);
    expect(e.stderr).toContain(`${sim.stac!.size} items written to ${out}`);
    const c2 = await check(dirs.mirror, out);
    expect(c2.problems).toEqual([]);
    expect(c2.rows).toBe(sim.stac!.size);
    expect(existsSync(`${out}.tmp-${process.pid}`)).toBe(false);

    // Deleted upstream; reconcile with the delete policy: the index leaves with the files.
    const victim = sim.stac!.all().find((r) => r.id === want[0])!;
    sim.stac!.remove(victim.collection, victim.id);
    const rec = await runCli(
      ['reconcile', '--source', 'stac', '--api-url', sim.url, '--mirror-dir', dirs.mirror, '--state-dir', dirs.state, '--delete-policy', 'delete', '--max-delete', '100%'],
      { env: { CONSTELLR_API_KEY: STAC_KEY } },
    );
    expect(rec.code, rec.stderr).toBe(0);
    const c3 = await check(dirs.mirror, index, README);
    expect(c3.problems).toEqual([]);
    expect(c3.rows).toBe(sim.stac!.size);
    for (const [tool, ids] of Object.entries(c3.readme!)) expect(ids, tool).toEqual(want.slice(1));
  });
});

describe('stac.geoparquet', () => {
  it('off: no items.parquet and the writer library is never loaded; on: both', { timeout: 120_000 }, async () => {
    sim = await startStacSim(seed, 3);
    dirs = await tempDirs('stac-geoparquet-off');
    const run = async (geoparquet: boolean) => {
      const flags = await configFlags(dirs!.root, { sim: sim!, mirror: dirs!.mirror, state: dirs!.state, config: { source: 'stac', stac: { geoparquet }, sync: { reconcileSchedule: 'off' } }, name: `gp-${geoparquet}` });
      return runCli(['sync', ...flags], { env: { CONSTELLR_API_KEY: STAC_KEY, NODE_OPTIONS: `--import ${PROBE}` }, timeoutMs: 60_000 });
    };
    const off = await run(false);
    expect(off.code, off.stderr).toBe(0);
    expect(existsSync(path.join(dirs.mirror, 'catalog.json'))).toBe(true);
    expect(existsSync(path.join(dirs.mirror, 'items.parquet'))).toBe(false);
    expect(off.stderr).not.toContain('import-probe: hyparquet');

    const on = await run(true);
    expect(on.code, on.stderr).toBe(0);
    expect(existsSync(path.join(dirs.mirror, 'items.parquet'))).toBe(true);
    expect(on.stderr).toContain('import-probe: hyparquet-writer');
  });
});

/** The ids in an index file, read with hyparquet; null when there is none. A torn file throws. */
async function indexIds(file: string): Promise<string[] | null> {
  if (!existsSync(file)) return null;
  const buf = await asyncBufferFromFile(file);
  await parquetMetadataAsync(buf);
  return ((await parquetReadObjects({ file: buf, columns: ['id'] })) as { id: string }[]).map((r) => r.id);
}

describe('the index across SIGKILLs', () => {
  it.each(['index_synced', 'index_renamed'])('SIGKILL at %s leaves the previous complete index or the new one; the next run completes it', { timeout: 120_000 }, async (point) => {
    sim = await startStacSim(seed, 4);
    dirs = await tempDirs(`stac-geoparquet-${point}`);
    const flags = await configFlags(dirs.root, { sim, mirror: dirs.mirror, state: dirs.state, config: { source: 'stac', sync: { reconcileSchedule: 'off' } } });
    const env = { CONSTELLR_API_KEY: STAC_KEY };
    const file = path.join(dirs.mirror, 'items.parquet');
    const ok = await runSyncChild(flags, env);
    expect(ok.code, ok.stderr).toBe(0);
    const before = (await indexIds(file))!.sort();
    expect(before).toEqual(sim.stac!.all().map((r) => r.id).sort());

    // New items; the run dies in the middle of the index's rewrite.
    sim.stac!.put({ collection: 'lstprecision', center: [11.1, 48.1], datetime: '2026-07-10T10:31:00Z', updated: Date.now() - 60_000 });
    sim.stac!.put({ collection: 'lstprecision', center: [11.2, 48.2], datetime: '2026-07-11T10:31:00Z', updated: Date.now() - 60_000 });
    const tmpFiles = async () => ((await fsp.readdir(path.join(dirs!.mirror, '.constellr-sync', 'catalog-tmp'), { recursive: true }).catch(() => [])) as string[]).filter((f) => f.endsWith('.parquet')).sort();
    const dead = await runSyncChild(flags, env, point);
    expect(dead.signal, dead.stderr).toBe('SIGKILL');
    expect(dead.stderr).toContain(`crash point ${point}`);
    const after = (await indexIds(file))!.sort();
    const now = sim.stac!.all().map((r) => r.id).sort();
    // Killed before the rename: the previous complete file. After it: the new complete file, which
    // holds the catalog as that rewrite read it (the run's first rewrite may come before or after
    // the new items reached the catalog).
    if (point === 'index_synced') expect(after).toEqual(before);
    else expect(after.filter((id) => !before.includes(id)).every((id) => now.includes(id)) && before.every((id) => after.includes(id))).toBe(true);

    const left = await tmpFiles();
    expect(left.length).toBe(point === 'index_synced' ? 1 : 0);

    const again = await runSyncChild(flags, env);
    expect(again.code, again.stderr).toBe(0);
    expect((await indexIds(file))!.sort()).toEqual(now);
    // a live writer leaves no temporary file; a dead one's goes at a start once it is old (stac-files.ts)
    expect(await tmpFiles()).toEqual(left);
  });
});
