// The key → path rules, table-driven over hostile keys, plus the filter globs, name folding and the
// manifest's CSV quoting.
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { NAME_MAX, PATH_MAX, RESERVED_DIR, resolveKey, shortenSegment } from '../../src/mirror/paths.js';
import { foldPath, suffixedTarget, versionStamp } from '../../src/mirror/layout.js';
import { compileFilter, globToRegExp, matchesGlob } from '../../src/config/filters.js';
import { deleteLimit } from '../../src/sync/reconcile-listing.js';
import { csvField } from '../../src/mirror/manifest.js';
import { SyncError } from '../../src/errors.js';

const ROOT = '/srv/mirror';
const long = (n: number, ch = 'a') => ch.repeat(n);

type Case = { key: string; size?: number; refused?: RegExp; rel?: string; shortened?: boolean; marker?: boolean };

const cases: Case[] = [
  // traversal variants
  { key: '../etc/passwd', refused: /"\.\." segment/ },
  { key: 'a/../../etc/passwd', refused: /"\.\." segment/ },
  { key: 'orders/..', refused: /"\.\." segment/ },
  { key: '..', refused: /"\.\." segment/ },
  { key: './a', refused: /"\." segment/ },
  { key: 'a/./b', refused: /"\." segment/ },
  { key: '.', refused: /"\." segment/ },
  { key: 'a//b', refused: /empty path segment/ },
  { key: '//etc/passwd', refused: /absolute/ },
  { key: '/etc/passwd', refused: /absolute/ },
  { key: '', refused: /empty key/ },
  { key: 'a/b//', size: 0, refused: /empty path segment/ },
  { key: 'a/b/', size: 10, refused: /empty path segment/ }, // a non-empty key ending in '/' is no folder marker
  // encoded traversal stays literal text
  { key: '%2e%2e/%2e%2e/etc/passwd', rel: '%2e%2e/%2e%2e/etc/passwd' },
  { key: '..%2f..%2fetc', rel: '..%2f..%2fetc' },
  { key: '%2E%2E', rel: '%2E%2E' },
  { key: '..a/b..', rel: '..a/b..' },
  { key: '...', rel: '...' },
  { key: '.hidden/file', rel: '.hidden/file' },
  // backslashes are ordinary characters on POSIX, never separators
  { key: '..\\..\\windows\\system32', rel: '..\\..\\windows\\system32' },
  { key: 'a\\b', rel: 'a\\b' },
  // control characters
  { key: 'a\u0000b', refused: /control character/ },
  { key: 'a\nb', refused: /control character/ },
  { key: 'a\rb', refused: /control character/ },
  { key: 'tab\there', refused: /control character/ },
  { key: 'esc\u001b[31m', refused: /control character/ },
  { key: 'del\u007f', refused: /control character/ },
  // the reserved folder
  { key: `${RESERVED_DIR}/staging/x.partial`, refused: /reserved folder/ },
  { key: `${RESERVED_DIR}`, refused: /reserved folder/ },
  // ... in every spelling a filesystem may equate with it (issue 11 §5)
  { key: '.Constellr-Sync/staging/x.partial', refused: /reserved folder/ },
  { key: '.CONSTELLR-SYNC/trash/2026-01-01/a', refused: /reserved folder/ },
  { key: '.constellr-sync./staging/x', refused: /reserved folder/ },
  { key: '.constellr-sync /x', refused: /reserved folder/ },
  { key: '.con\u017Ftellr-sync/x', refused: /reserved folder/ }, // long s: NFKC "s"
  { key: '\uFF0Econstellr-sync/x', refused: /reserved folder/ }, // full-width full stop
  { key: '.constellr-sync-not/x', rel: '.constellr-sync-not/x' },
  { key: `orders/${RESERVED_DIR}/x`, rel: `orders/${RESERVED_DIR}/x` }, // only at the root
  // unicode, kept byte for byte (no normalization)
  { key: 'caf\u00e9/\u00e9t\u00e9.tif', rel: 'caf\u00e9/\u00e9t\u00e9.tif' },
  { key: 'cafe\u0301/x', rel: 'cafe\u0301/x' },
  { key: '\u{1F30D}/earth.tif', rel: '\u{1F30D}/earth.tif' },
  { key: 'orders/\u202e/fdp.exe', rel: 'orders/\u202e/fdp.exe' },
  // folder markers
  { key: 'orders/2026/', size: 0, rel: 'orders/2026', marker: true },
  // spaces and odd but legal names
  { key: ' leading space', rel: ' leading space' },
  { key: 'trailing dot.', rel: 'trailing dot.' },
  { key: 'a:b*c?"<>|', rel: 'a:b*c?"<>|' },
  // long names
  { key: `orders/${long(300)}.tif`, shortened: true },
  { key: `${long(255)}`, rel: long(255) },
  { key: `${long(200, '\u00e9')}.tif`, shortened: true }, // 400 bytes in UTF-8
  { key: Array.from({ length: 40 }, () => long(120)).join('/'), shortened: true }, // > PATH_MAX
];

describe('resolveKey: hostile keys', () => {
  it('has at least 30 cases', () => expect(cases.length).toBeGreaterThanOrEqual(30));

  for (const c of cases) {
    it(`${c.refused ? 'refuses' : 'maps'} ${JSON.stringify(c.key).slice(0, 60)}`, () => {
      const size = c.size ?? 1;
      if (c.refused) {
        let e: unknown;
        try {
          resolveKey(ROOT, c.key, size);
        } catch (x) {
          e = x;
        }
        expect(e).toBeInstanceOf(SyncError);
        expect((e as SyncError).errorClass).toBe('unsafe_key');
        expect((e as SyncError).kind).toBe('permanent');
        expect((e as SyncError).message).toMatch(c.refused);
        return;
      }
      const t = resolveKey(ROOT, c.key, size);
      // Always strictly inside the root, whatever the key.
      const rel = path.relative(ROOT, t.absPath);
      expect(rel === '..' || rel.startsWith('../')).toBe(false);
      expect(path.isAbsolute(rel)).toBe(false);
      expect(t.absPath.startsWith(ROOT + '/')).toBe(true);
      if (c.rel !== undefined) expect(t.relPath).toBe(c.rel);
      expect(t.isFolderMarker).toBe(c.marker ?? false);
      expect(t.shortened).toBe(c.shortened ?? false);
      for (const seg of t.segments) expect(Buffer.byteLength(seg)).toBeLessThanOrEqual(NAME_MAX);
      expect(Buffer.byteLength(t.absPath)).toBeLessThan(PATH_MAX);
      if (c.shortened) {
        // Deterministic: the same key always gets the same name; a different key another one.
        expect(resolveKey(ROOT, c.key, size).relPath).toBe(t.relPath);
        expect(resolveKey(ROOT, c.key + 'x', size).relPath).not.toBe(t.relPath);
      }
    });
  }

  it('shortens keeping a prefix and the extension', () => {
    const s = shortenSegment(`${long(300)}.tif`);
    expect(Buffer.byteLength(s)).toBeLessThanOrEqual(NAME_MAX);
    expect(s).toMatch(/^a+~[0-9a-f]{16}\.tif$/);
    // never splits a multi-byte character
    const u = shortenSegment(long(200, '\u00e9'));
    expect(Buffer.from(u).toString('utf8')).toBe(u);
    expect(u.includes('\ufffd')).toBe(false);
  });
});

describe('name folding and twins', () => {
  const ci = { caseInsensitive: true, normalizationInsensitive: true };
  const cs = { caseInsensitive: false, normalizationInsensitive: false };
  it('folds case and normalization only where the filesystem does', () => {
    expect(foldPath('Orders/A.TIF', ci)).toBe(foldPath('orders/a.tif', ci));
    expect(foldPath('caf\u00e9', ci)).toBe(foldPath('cafe\u0301', ci));
    expect(foldPath('caf\u00e9', { caseInsensitive: false, normalizationInsensitive: true })).toBe('caf\u00e9');
    expect(foldPath('Orders/A.TIF', cs)).not.toBe(foldPath('orders/a.tif', cs));
    expect(foldPath('caf\u00e9', cs)).not.toBe(foldPath('cafe\u0301', cs));
  });
  it('suffixes a twin deterministically, keeping the extension', () => {
    const t = resolveKey(ROOT, 'orders/A.tif', 1);
    const s1 = suffixedTarget(ROOT, 'orders/A.tif', t);
    expect(s1.relPath).toMatch(/^orders\/A~[0-9a-f]{8}\.tif$/);
    expect(suffixedTarget(ROOT, 'orders/A.tif', t).relPath).toBe(s1.relPath);
    expect(suffixedTarget(ROOT, 'orders/B.tif', t).relPath).not.toBe(s1.relPath);
  });
  it('version stamps sort by time and carry no colon', () => {
    const a = versionStamp(Date.UTC(2026, 0, 2, 3, 4, 5));
    expect(a).toBe('2026-01-02T03-04-05.000Z');
    expect(versionStamp(Date.UTC(2026, 0, 2, 3, 4, 6)) > a).toBe(true);
  });
});

describe('filter globs', () => {
  const table: [string, string, boolean][] = [
    ['orders/*/**', 'orders/123/a/b.tif', true],
    ['orders/123/**', 'orders/123/x.tif', true],
    ['orders/123/**', 'orders/1234/x.tif', false],
    ['orders/123/**', 'orders/123/', true],
    ['**/*.tif', 'a.tif', true],
    ['**/*.tif', 'a/b/c.tif', true],
    ['**/*.tif', 'a/b/c.tiff', false],
    ['*.tif', 'a/b.tif', false],
    ['*.tif', 'b.tif', true],
    ['a/**/b', 'a/b', true],
    ['a/**/b', 'a/x/y/b', true],
    ['a/**/b', 'a/xb', false],
    ['**/*.{tif,tiff}', 'x/y.tiff', true],
    ['**/*.{tif,tiff}', 'x/y.png', false],
    ['file?.txt', 'file1.txt', true],
    ['file?.txt', 'file/.txt', false],
    ['[abc]*', 'b-file', true],
    ['[!abc]*', 'b-file', false],
    ['lit\\*eral', 'lit*eral', true],
    ['lit\\*eral', 'litXeral', false],
    ['a.b', 'aXb', false],
    ['(x)+', '(x)+', true],
  ];
  for (const [g, key, want] of table) it(`${g} ${want ? 'matches' : 'does not match'} ${key}`, () => expect(matchesGlob(key, g)).toBe(want));

  it('rejects malformed patterns', () => {
    expect(() => globToRegExp('[abc')).toThrow(/unclosed \[/);
    expect(() => globToRegExp('{a,b')).toThrow(/unclosed \{/);
    expect(() => globToRegExp('a\\')).toThrow(/trailing backslash/);
    expect(() => globToRegExp('')).toThrow(/empty/);
  });

  it('combines include, exclude, sizes and since', () => {
    const f = compileFilter({ include: ['orders/**'], exclude: ['**/*.tmp'], minSize: 10, maxSize: 100, sinceMs: 1000 });
    const a = (key: string, size = 50, lastModifiedMs = 2000) => ({ key, size, lastModifiedMs, etag: null });
    expect(f(a('orders/1/x.tif'))).toBe(true);
    expect(f(a('other/x.tif'))).toBe(false);
    expect(f(a('orders/1/x.tmp'))).toBe(false);
    expect(f(a('orders/1/x.tif', 9))).toBe(false);
    expect(f(a('orders/1/x.tif', 101))).toBe(false);
    expect(f(a('orders/1/x.tif', 50, 999))).toBe(false);
    expect(f.isAll).toBe(false);
    expect(compileFilter({ include: [], exclude: [], minSize: 0, maxSize: null, sinceMs: null }).isAll).toBe(true);
  });
});

describe('maxDelete and CSV', () => {
  it('computes the limit from a count or a percentage (rounded down)', () => {
    expect(deleteLimit({ count: 5 }, 1000)).toBe(5);
    expect(deleteLimit({ percent: 10 }, 1000)).toBe(100);
    expect(deleteLimit({ percent: 10 }, 15)).toBe(1);
    expect(deleteLimit({ percent: 10 }, 9)).toBe(0);
  });
  it('quotes CSV fields per RFC 4180', () => {
    expect(csvField('plain')).toBe('plain');
    expect(csvField('a,b')).toBe('"a,b"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField('line\nbreak')).toBe('"line\nbreak"');
    expect(csvField(null)).toBe('');
    expect(csvField(42)).toBe('42');
  });
});

describe('mirror.versionsDir (a path identity, folded like the reserved folder)', async () => {
  const { checkVersionsDir } = await import('../../src/daemon/runtime.js');
  const root = '/srv/Mirror';
  it.each([
    ['/srv/Mirror/versions', true],
    ['/srv/mirror/versions', true], // another spelling of the mirror on a case-insensitive filesystem
    ['/srv/MIRROR', true],
    ['/srv/Mirror/.Constellr-Sync/versions', false], // inside the reserved folder, in any spelling
    ['/srv/Mirror-versions', false],
    ['/srv/versions', false],
  ])('%s refused: %s', (dir, refused) => {
    const check = () => checkVersionsDir(root, dir);
    if (refused) expect(check).toThrow(/inside the mirror/);
    else expect(check).not.toThrow();
  });
});
