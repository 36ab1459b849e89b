// The job locator (api/stac/locator.ts): one parser and one printer for jobs.locator. The stored form
// is the one every state database already holds, byte for byte, so no migration: the parser reads the
// forms written before (without `n`, with it) and the form the store leaves once it blanks a settled
// job's signed URL (issue 22 §6), on SQLite and on PostgreSQL (jsonb re-serialises it).
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { LocatorError, parseLocator, printLocator, type Locator } from '../../src/api/stac/locator.js';
import { postgresDialect, sqliteDialect } from '../../src/store/sql/dialect.js';
import { requirePostgres, sql } from '../helpers/postgres.js';

const SHA = 'ab'.repeat(32);
const HREF = 'https://storage.example/b/LST.tiff?X-Amz-Date=20260708T235815Z&X-Amz-Expires=900&X-Amz-Signature=f00';
const full: Locator = { collection: 'lstprecision', item: 'a/b', asset: 'lst', href: HREF, expiresAt: 1_783_555_995_000, sha256: SHA, namedByServer: false };

/** What the STAC source wrote before the Locator type (issue 14 and issue 22 §16), byte for byte. */
const OLD = `{"c":"lstprecision","i":"a/b","a":"lst","h":${JSON.stringify(HREF)},"x":1783555995000,"s":"${SHA}"}`;
const OLD_NAMED = '{"c":"c1","i":"i1","a":"data","h":"https://s.example/obj/9f2c","x":null,"s":null,"n":true}';

describe('the job locator', () => {
  it('prints the stored form the state already holds, and reads it back', () => {
    expect(printLocator(full)).toBe(OLD);
    expect(parseLocator(OLD, 'k')).toEqual(full);
    const named: Locator = { collection: 'c1', item: 'i1', asset: 'data', href: 'https://s.example/obj/9f2c', expiresAt: null, sha256: null, namedByServer: true };
    expect(printLocator(named)).toBe(OLD_NAMED);
    expect(parseLocator(OLD_NAMED, 'k')).toEqual(named);
  });

  it('reads forms without n, s or x as written by older versions', () => {
    expect(parseLocator('{"c":"c","i":"i","a":"a","h":"https://s/x.tiff"}', 'k')).toEqual({ collection: 'c', item: 'i', asset: 'a', href: 'https://s/x.tiff', expiresAt: null, sha256: null, namedByServer: false });
  });

  it('a blanked locator (SQLite json_replace) has no href, prints as blanked, and keeps what names the asset', () => {
    const db = new Database(':memory:');
    try {
      const { locator } = db.prepare(`SELECT ${sqliteDialect.settledLocator} AS locator FROM (SELECT ? AS locator)`).get(printLocator(full)) as { locator: string };
      expect(locator).not.toContain('Signature');
      const l = parseLocator(locator, 'k');
      expect(l).toEqual({ ...full, href: null, expiresAt: null });
      expect(printLocator(l)).toBe(locator);
    } finally {
      db.close();
    }
  });

  it('a blanked locator as PostgreSQL hands it back (jsonb order and spacing) reads the same', async () => {
    const pgText = `{"a": "lst", "c": "lstprecision", "h": "", "i": "a/b", "s": "${SHA}", "x": 0}`;
    expect(parseLocator(pgText, 'k')).toEqual({ ...full, href: null, expiresAt: null });
    if (!(await requirePostgres())) return;
    const [row] = await sql<{ locator: string }>(`SELECT ${postgresDialect.settledLocator} AS locator FROM (SELECT $1::text AS locator) t`, [printLocator({ ...full, namedByServer: true })]);
    expect(parseLocator(row!.locator, 'k')).toEqual({ ...full, href: null, expiresAt: null, namedByServer: true });
  });

  it('a missing or malformed locator is a LocatorError naming the job, not a wire error', () => {
    for (const text of [null, '', 'not json', '[]', '"s"', '{}', '{"c":"c","i":"i","a":"a"}', '{"c":1,"i":"i","a":"a","h":"x"}'])
      expect(() => parseLocator(text, 'c/i/f.tiff'), String(text)).toThrow(/job "c\/i\/f\.tiff" has no STAC locator/);
    for (const text of ['{"c":"c","i":"i","a":"a","h":"x","x":"soon"}', '{"c":"c","i":"i","a":"a","h":"x","s":"xyz"}', '{"c":"c","i":"i","a":"a","h":"x","n":1}'])
      expect(() => parseLocator(text, 'k'), text).toThrow(LocatorError);
  });
});
