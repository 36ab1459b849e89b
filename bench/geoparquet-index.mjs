// Writing the GeoParquet index (<mirror>/items.parquet) for N catalog items: wall time and peak RSS
// of the writer alone, as the daemon runs it (two passes over the item JSON, row groups of 10,000).
// Prepares a SQLite state and a mirror with N item JSON files shaped like the catalog's (3 assets
// with relative hrefs, file:size and file:checksum, 6 properties, a polygon footprint, canonical
// link), then runs writeIndexFile from dist/ in a child process under /usr/bin/time. Not part of
// `npm run bench` or the tests.
// Usage: npm run build && node bench/geoparquet-index.mjs [items=100000] [--keep]
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';

const N = Number(process.argv.find((a) => /^\d+$/.test(a)) ?? 100_000);
const DIST = path.resolve(import.meta.dirname, '../dist');

if (process.argv[2] === '--child') {
  const [, , , stateDir, root] = process.argv;
  const { SqliteStore } = await import(`${DIST}/store/sqlite-store.js`);
  const { catalogStoreFor } = await import(`${DIST}/store/catalog-store.js`);
  const { writeIndexFile } = await import(`${DIST}/mirror/stac-index.js`);
  const store = SqliteStore.open(stateDir, { maxAttempts: 3 });
  const t0 = performance.now();
  const r = await writeIndexFile(catalogStoreFor(store), root, path.join(root, 'items.parquet'), path.join(root, 'items.parquet.tmp'));
  console.log(JSON.stringify({ rows: r.rows, bytes: r.bytes, ms: Math.round(performance.now() - t0) }));
  store.close();
  process.exit(0);
}

const tmp = mkdtempSync(path.join(os.tmpdir(), 'cs-bench-gp-'));
const stateDir = path.join(tmp, 'state');
const root = path.join(tmp, 'mirror');
mkdirSync(root, { recursive: true });
const { SqliteStore } = await import(`${DIST}/store/sqlite-store.js`);
SqliteStore.open(stateDir, { maxAttempts: 3 }).close();
const { STATE_FILE } = await import(`${DIST}/store/migrations.js`);
const db = new Database(path.join(stateDir, STATE_FILE));
const ins = db.prepare('INSERT INTO stac_items (collection, item_id, raw, assets, api_url, seen_at, written, json_path) VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
const prepStart = performance.now();
let s = 42;
const rnd = () => (s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32;
const coll = 'lstprecision';
mkdirSync(path.join(root, coll));
writeFileSync(path.join(root, coll, 'collection.json'), JSON.stringify({ type: 'Collection', id: coll, stac_version: '1.0.0', description: 'LST', license: 'proprietary', extent: { spatial: { bbox: [[-180, -90, 180, 90]] }, temporal: { interval: [[null, null]] } }, links: [] }));
db.transaction(() => {
  for (let i = 0; i < N; i++) {
    const x = -10 + rnd() * 40, y = 35 + rnd() * 20, w = 0.1;
    const t = Date.UTC(2023, 0, 1) + Math.floor(rnd() * 3 * 365 * 86400) * 1000;
    const id = `LSTPRECISION_SBA01_${String(i).padStart(7, '0')}_${new Date(t).toISOString().replace(/[-:]|\.\d+/g, '')}`;
    const asset = (k, type, roles) => ({ href: `./${id}_${k.toUpperCase()}.tiff`, type, title: k, roles, 'file:size': Math.floor(rnd() * 1e8), 'file:checksum': `1220${'ab'.repeat(32)}` });
    const item = {
      type: 'Feature', stac_version: '1.0.0', stac_extensions: ['https://stac-extensions.github.io/file/v2.1.0/schema.json'], id, collection: coll,
      geometry: { type: 'Polygon', coordinates: [[[x, y], [x + w, y], [x + w, y + w], [x, y + w], [x, y]]] }, bbox: [x, y, x + w, y + w],
      properties: { datetime: new Date(t).toISOString(), 'order:id': `ORD-${i % 500}`, gsd: 30, platform: i % 2 ? 'SBA01' : 'SBA02', constellation: 'constellr', updated: new Date(t + 3600e3).toISOString() },
      links: [
        { rel: 'root', href: '../../catalog.json', type: 'application/json' },
        { rel: 'parent', href: '../collection.json', type: 'application/json' },
        { rel: 'collection', href: '../collection.json', type: 'application/json' },
        { rel: 'canonical', href: `https://api.example/stac/collections/${coll}/items/${id}`, type: 'application/geo+json' },
      ],
      assets: { lst: asset('lst', 'image/tiff; application=geotiff', ['data']), mask: asset('mask', 'image/tiff; application=geotiff', ['data', 'mask']), metadata: asset('metadata', 'application/json', ['metadata']) },
    };
    const jsonPath = `${coll}/${id}/${id}.json`;
    mkdirSync(path.join(root, coll, id));
    writeFileSync(path.join(root, jsonPath), `${JSON.stringify(item, null, 2)}\n`);
    ins.run(coll, id, JSON.stringify(item), '[]', `https://api.example/stac/collections/${coll}/items/${id}`, 0, 'x', jsonPath);
  }
})();
db.close();
console.log(`prepared ${N} items in ${((performance.now() - prepStart) / 1000).toFixed(1)} s (${tmp})`);

// Cold start for the writer: its own process, so its peak RSS is the writer's alone.
const r = spawnSync('/usr/bin/time', ['-f', 'TIME %e %M %U %S', process.execPath, import.meta.filename, '--child', stateDir, root], { encoding: 'utf8' });
if (r.status !== 0) throw new Error(`the writer failed: ${r.stderr}`);
const [, wall, rssKiB, user, sys] = /TIME (\S+) (\S+) (\S+) (\S+)/.exec(r.stderr);
const w = JSON.parse(r.stdout);
console.log(`${w.rows} items -> items.parquet ${(w.bytes / 2 ** 20).toFixed(1)} MiB: writer ${(w.ms / 1000).toFixed(1)} s (process ${wall} s wall, ${user} s user, ${sys} s sys), peak RSS ${(Number(rssKiB) / 1024).toFixed(0)} MiB`);
if (!process.argv.includes('--keep')) rmSync(tmp, { recursive: true, force: true });
