// The state keeps signed URLs only while a download needs them (issue 22 §6), on SQLite and
// PostgreSQL: stac_items.raw holds the selected assets only and no signed href, collection documents
// likewise; a job's locator loses its href and expiry once the job is done, failed or gone (a listing
// of the unchanged version does not put a fresh one back), and a settled job queued again still
// downloads (the source fetches the item for a new URL). Rows an older version wrote are cleaned up.
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { openRuntime } from '../../src/daemon/runtime.js';
import { loadConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/lib/logger.js';
import { scrubStoredItems } from '../../src/mirror/stac-hrefs.js';
import { loadMigrations, MIGRATIONS_DIR } from '../../src/store/migrations.js';
import type { Simulator } from '../../src/simulator/index.js';
import type { StateStore } from '../../src/store/types.js';
import { sha256File, syncInProcess, tempDirs, testSeed, type TempDirs } from '../helpers/harness.js';
import { dropSchema, requirePostgres, sql, TEST_DATABASE_URL, uniqueSchema } from '../helpers/postgres.js';
import { STAC_KEY, startStacSim } from '../helpers/stac.js';
import { storeBackends } from '../helpers/stores.js';

const seed = testSeed();
console.log(`state-signed-urls seed: ${seed} (reproduce with TEST_SEED=${seed})`);
/** What a signed URL of the simulator carries (and a URL of the state must not). */
const SIGNED = /X-Amz-Signature|X-Amz-Credential|X-Amz-Expires/;

let sim: Simulator | undefined;
let dirs: TempDirs | undefined;
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async (ctx) => {
  if (ctx.task.result?.state === 'fail') console.error(`state-signed-urls: failed with TEST_SEED=${seed}`);
  while (cleanups.length) await cleanups.pop()!().catch(() => undefined);
  await sim?.close();
  await dirs?.cleanup();
  sim = undefined;
  dirs = undefined;
});

const backends = await storeBackends('signed');
const pgOk = await requirePostgres();

interface Tables {
  jobs: { key: string; state: string; locator: string | null }[];
  items: { raw: string; api_url: string }[];
  collections: { raw: string | null }[];
}

async function tables(backend: 'sqlite' | 'postgres', stateDir: string, schema: string): Promise<Tables> {
  if (backend === 'postgres') {
    return {
      jobs: await sql(`SELECT key, state, locator FROM "${schema}".jobs ORDER BY key`),
      items: await sql(`SELECT raw, api_url FROM "${schema}".stac_items`),
      collections: await sql(`SELECT raw FROM "${schema}".stac_collections`),
    } as Tables;
  }
  const db = new Database(path.join(stateDir, 'state.db'), { readonly: true });
  try {
    return {
      jobs: db.prepare('SELECT key, state, locator FROM jobs ORDER BY key').all(),
      items: db.prepare('SELECT raw, api_url FROM stac_items').all(),
      collections: db.prepare('SELECT raw FROM stac_collections').all(),
    } as Tables;
  } finally {
    db.close();
  }
}

describe.each([{ backend: 'sqlite' as const }, { backend: 'postgres' as const }])('signed URLs in the $backend state', ({ backend }) => {
  it('are gone from items, collections and settled jobs; a settled job queued again downloads with a fresh URL', async (ctx) => {
    if (backend === 'postgres' && !pgOk) return ctx.skip();
    const schema = uniqueSchema('signed');
    if (backend === 'postgres') cleanups.push(() => dropSchema(schema));
    sim = await startStacSim(seed, 6);
    dirs = await tempDirs('state-signed-urls');
    const config = {
      source: 'stac',
      'sync.reconcileSchedule': 'off',
      'stac.assets': ['lst', 'metadata'],
      ...(backend === 'postgres' ? { 'state.url': TEST_DATABASE_URL, 'state.schema': schema } : {}),
    };
    const r1 = await syncInProcess({ sim, dirs, apiKey: STAC_KEY, config });
    expect(r1.counts).toMatchObject({ done: 12, failed: 0 });

    const t = await tables(backend, dirs.state, schema);
    expect(t.jobs).toHaveLength(12);
    for (const j of t.jobs) {
      const loc = JSON.parse(j.locator!) as { h: string; x: number | null; a: string; c: string; i: string };
      expect({ key: j.key, h: loc.h, x: loc.x }).toEqual({ key: j.key, h: '', x: 0 });
      expect(['lst', 'metadata']).toContain(loc.a);
    }
    expect(t.items).toHaveLength(6);
    for (const it of t.items) {
      expect(it.raw).not.toMatch(SIGNED);
      expect(Object.keys((JSON.parse(it.raw) as { assets: object }).assets).sort()).toEqual(['lst', 'metadata']);
    }
    for (const c of t.collections) expect(c.raw ?? '').not.toMatch(SIGNED);

    // A listing of the unchanged versions (fresh signatures) puts no URL back into settled jobs.
    const r2 = await syncInProcess({ sim, dirs, apiKey: STAC_KEY, config: { ...config, 'sync.lookback': '3650d', 'stac.lookback': '3650d' } });
    expect(r2.counts).toMatchObject({ done: 12 });
    for (const j of (await tables(backend, dirs.state, schema)).jobs) expect(j.locator).not.toMatch(SIGNED);

    // verify --repair's requeue of a done job whose file went: the download needs a URL again.
    const victim = t.jobs[0]!.key;
    const loaded = loadConfig({ env: { CONSTELLR_API_KEY: STAC_KEY }, flags: { 'api-url': sim.url, 'mirror-dir': dirs.mirror, 'state-dir': dirs.state }, defaults: config });
    const rt = await openRuntime(loaded, createLogger({ level: 'silent' }));
    const before = (await rt.store.getJob(victim))!;
    const file = path.join(dirs.mirror, before.localPath!);
    const sum = await sha256File(file);
    await fsp.rm(file);
    expect(await rt.store.requeue([before.id], { errorClass: 'missing', message: 'the file is missing' }, Date.now())).toBe(1);
    await rt.close();
    const r3 = await syncInProcess({ sim, dirs, apiKey: STAC_KEY, config });
    expect(r3.counts).toMatchObject({ done: 12, failed: 0 });
    expect(await sha256File(file)).toBe(sum);
    for (const j of (await tables(backend, dirs.state, schema)).jobs) expect(j.locator).not.toMatch(SIGNED);
  });
});

const signed = (k: string) => `https://storage.example/${k}.tif?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIA%2Fx&X-Amz-Date=20260101T000000Z&X-Amz-Expires=3600&X-Amz-Signature=${'ab'.repeat(32)}`;
const locator = (a: string) => JSON.stringify({ c: 'c1', i: 'i1', a, h: signed(a), x: Date.now() + 3_600_000, s: null });

/** jobs.locator as stored (the Job rows do not carry it). */
async function locatorOf(store: StateStore, key: string): Promise<string> {
  const s = store as StateStore & { db?: { prepare(q: string): { get(k: string): unknown } }; pool?: { query(q: string, p: unknown[]): Promise<{ rows: unknown[] }> } };
  const row = (s.db ? s.db.prepare('SELECT locator FROM jobs WHERE key = ?').get(key) : (await s.pool!.query('SELECT locator FROM jobs WHERE key = $1', [key])).rows[0]) as { locator: string };
  return row.locator;
}

describe.each(backends)('job locators in the $name store', ({ name, make, skip }) => {
  it.skipIf(skip)('keep the signed href while queued or running, blank it when done, failed or gone, and a re-listing does not restore it', async () => {
    const store: StateStore = await make()([]);
    const keys = ['c1/i1/done.tif', 'c1/i1/failed.tif', 'c1/i1/gone.tif', 'c1/i1/running.tif', 'c1/i1/queued.tif'];
    const page = keys.map((key) => ({ key, lastModifiedMs: 1000, size: 3, etag: null, locator: locator(key.split('/')[2]!.split('.')[0]!) }));
    await store.upsertPage(page, Date.now());
    const claimed = await store.claimJobs(4, { owner: 't', leaseMs: 60_000, now: Date.now(), order: 'key' });
    const by = new Map(claimed.map((c) => [c.key, c]));
    expect(by.size).toBe(4);
    const err = { errorClass: 'x', message: 'x', status: 404 };
    const d = by.get('c1/i1/done.tif')!;
    expect(await store.complete(d.id, d.leaseToken, { localPath: d.key, bytes: 3, sha256: '00'.repeat(32), now: Date.now() })).toBe('done');
    const f = by.get('c1/i1/failed.tif')!;
    expect(await store.fail(f.id, f.leaseToken, err, Date.now())).toBe(true);
    const g = by.get('c1/i1/gone.tif')!;
    expect(await store.markGone(g.id, g.leaseToken, err, Date.now())).toBe(true);
    const loc = async (k: string) => JSON.parse(await locatorOf(store, k)) as { h: string; x: number; a: string; c: string; i: string };
    for (const k of keys.slice(0, 3)) expect(await loc(k), `${name} ${k}`).toMatchObject({ h: '', x: 0, c: 'c1', i: 'i1' });
    for (const k of keys.slice(3)) expect((await loc(k)).h, `${name} ${k}`).toMatch(SIGNED);
    // the same versions listed again with fresh signatures
    await store.upsertPage(page.map((p) => ({ ...p, locator: p.locator.replace('X-Amz-Date=20260101', 'X-Amz-Date=20260102') })), Date.now());
    for (const k of keys.slice(0, 2)) expect((await loc(k)).h, `${name} ${k}`).toBe('');
    // a gone key listed again is queued again, and needs its URL; queued and running ones get the new one
    expect((await store.getJob('c1/i1/gone.tif'))!.state).toBe('queued');
    for (const k of keys.slice(2)) expect((await loc(k)).h, `${name} ${k}`).toContain('X-Amz-Date=20260102');
  });

  it.skipIf(skip)('a state written by an older version: settled locators are blanked, whole items and collection documents cleaned at start-up', async () => {
    const open = make();
    const store: StateStore = await open([]);
    await store.upsertPage([{ key: 'c1/i1/old.tif', lastModifiedMs: 1000, size: 3, etag: null, locator: locator('old') }], Date.now());
    const [j] = await store.claimJobs(1, { owner: 't', leaseMs: 60_000, now: Date.now(), order: 'key' });
    await store.complete(j!.id, j!.leaseToken, { localPath: j!.key, bytes: 3, sha256: '00'.repeat(32), now: Date.now() });
    const item = {
      type: 'Feature', id: 'i1', collection: 'c1', properties: { datetime: '2026-01-01T00:00:00Z' },
      links: [{ rel: 'via', href: 'https://portal.example/o/1?token=t0k3n' }],
      assets: { lst: { href: signed('lst') }, mask: { href: signed('mask') }, metadata: { href: signed('metadata') } },
    };
    // As an older version left it: a done job with its signed href, the item whole, the collection
    // document as the API sent it, and the schema before the migrations that clean them
    // (settled_locators, stac_items_unscrubbed). Migrations after those are undone too, so that this
    // test does not depend on how many came later.
    const s = store as StateStore & { db?: Database.Database; pool?: { query(q: string, p?: unknown[]): Promise<unknown> } };
    const run = async (q: string, p: unknown[] = []) => (s.db ? s.db.prepare(q.replace(/\$\d/g, '?')).run(...p) : s.pool!.query(q, p));
    await run('UPDATE jobs SET locator = $1', [locator('old')]);
    await run('INSERT INTO stac_items (collection, item_id, raw, assets, api_url, seen_at) VALUES ($1, $2, $3, $4, $5, 0)', ['c1', 'i1', JSON.stringify(item), JSON.stringify([{ asset: 'lst', key: 'c1/i1/lst.tif', version: 1 }]), 'https://me:pw@api.example/stac/collections/c1/items/i1']);
    await run('INSERT INTO stac_collections (id, raw, fetched_at) VALUES ($1, $2, 0)', ['c1', JSON.stringify({ id: 'c1', assets: { thumb: { href: signed('thumb') }, doc: { href: 'https://d.example/x.pdf?sig=s1g' } } })]);
    await run('DROP TABLE catalog_status');
    await run('ALTER TABLE stac_items DROP COLUMN written_extent');
    await run('DROP INDEX stac_items_unscrubbed');
    await run('ALTER TABLE stac_items DROP COLUMN unscrubbed');
    const before = loadMigrations(path.join(MIGRATIONS_DIR, s.db ? 'sqlite' : 'postgres')).find((m) => m.name.includes('settled_locators'))!.version - 1;
    if (s.db) s.db.pragma(`user_version = ${before}`);
    else await run('DELETE FROM schema_migrations WHERE version > $1', [before]);
    expect(await locatorOf(store, 'c1/i1/old.tif')).toMatch(SIGNED);
    await store.close();

    const reopened = await open([]);
    expect(JSON.parse(await locatorOf(reopened, 'c1/i1/old.tif'))).toMatchObject({ h: '', x: 0, a: 'old', c: 'c1', i: 'i1' });
    const cat = reopened.catalog;
    expect(await scrubStoredItems(cat)).toBe(2);
    const row = (await cat.getItem('c1', 'i1'))!;
    expect(row.raw).not.toMatch(SIGNED);
    expect(row.raw).not.toContain('t0k3n');
    expect(Object.keys((JSON.parse(row.raw) as { assets: object }).assets)).toEqual(['lst']);
    expect(row.apiUrl).toBe('https://api.example/stac/collections/c1/items/i1');
    const coll = (await cat.getCollection('c1'))!;
    expect(coll).not.toMatch(SIGNED);
    expect(coll).not.toContain('s1g');
    expect(await scrubStoredItems(cat)).toBe(0);
    // rows this version writes are never marked
    await cat.putItems([{ collection: 'c1', id: 'i2', raw: JSON.stringify({ ...item, id: 'i2' }), assets: [], apiUrl: '' }], Date.now());
    expect(await cat.unscrubbedItems(10)).toEqual([]);
  });
});
