// The PostgreSQL path never loads the native SQLite addon (issue 12 §4): a child node process opens a
// postgres:// store through the built store factory (or imports the PostgreSQL store) and reports
// every loaded module path that contains better-sqlite3 (the addon is CommonJS, so it shows in the
// require cache even when imported from ES modules). A control run proves the probe sees it.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { dropSchema, requirePostgres, TEST_DATABASE_URL, uniqueSchema } from '../helpers/postgres.js';

const pgOk = await requirePostgres();
const run = promisify(execFile);
const DIST = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../dist/store');
const schema = uniqueSchema('lazy');

/** Run `body` (ES module code) in a child node and return the loaded module paths naming better-sqlite3. */
async function sqliteModulesLoadedBy(body: string): Promise<string[]> {
  const script = `
    import { createRequire } from 'node:module';
    ${body}
    const loaded = Object.keys(createRequire(import.meta.url).cache).filter((p) => p.includes('better-sqlite3'));
    process.stdout.write(JSON.stringify(loaded));`;
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { cwd: DIST, timeout: 60_000 });
  return JSON.parse(stdout) as string[];
}

const mod = (file: string) => JSON.stringify(pathToFileURL(path.join(DIST, file)).href);

describe('lazy backend loading', () => {
  afterAll(async () => {
    if (pgOk) await dropSchema(schema);
  });

  it.skipIf(!pgOk)('opening a postgres:// store through openStore loads no better-sqlite3 module', async () => {
    const loaded = await sqliteModulesLoadedBy(`
      const { openStore } = await import(${mod('open.js')});
      const config = { state: { url: ${JSON.stringify(TEST_DATABASE_URL)}, schema: ${JSON.stringify(schema)}, dir: '/nonexistent', poolSize: 2, synchronous: 'normal' }, sync: { maxAttempts: 3 } };
      const store = await openStore(config, {});
      if (store.backend !== 'postgres') throw new Error('opened ' + store.backend);
      await store.counts();
      await store.close();`);
    expect(loaded).toEqual([]);
  });

  it('importing the PostgreSQL store loads no better-sqlite3 module', async () => {
    expect(await sqliteModulesLoadedBy(`await import(${mod('postgres-store.js')});`)).toEqual([]);
  });

  it('the probe sees better-sqlite3 when the SQLite store is imported (control)', async () => {
    const loaded = await sqliteModulesLoadedBy(`await import(${mod('sqlite-store.js')});`);
    expect(loaded.some((p) => p.includes(`${path.sep}better-sqlite3${path.sep}`))).toBe(true);
  });
});
