// Issue 26 §3: one rule for folder markers (lib/key-kind.ts) instead of endsWith('/') in ten files.
import { describe, expect, it } from 'vitest';
import { folderPath, isFolderPath, keyKind, markerFolder } from '../../src/lib/key-kind.js';
import { resolveKey } from '../../src/mirror/paths.js';

describe('KeyKind', () => {
  it('a key ending in / with no bytes is a folder; anything else is a file', () => {
    expect(keyKind('a/b/', 0)).toBe('folder');
    expect(keyKind('a/b', 0)).toBe('file');
    expect(keyKind('a/b/', 5)).toBe('file');
    // an unknown size is not "no bytes"
    expect(keyKind('a/b/', null)).toBe('file');
  });

  it('prints and reads a marker path with one trailing /', () => {
    expect(markerFolder('a/b/')).toBe('a/b');
    expect(markerFolder('a/b')).toBe('a/b');
    expect(folderPath('a/b')).toBe('a/b/');
    expect(isFolderPath(folderPath('a/b'))).toBe(true);
    expect(isFolderPath('a/b')).toBe(false);
  });

  it('the mirror maps a folder key to its folder and refuses a /-ending key with bytes', () => {
    expect(resolveKey('/m', 'a/b/', 0)).toMatchObject({ relPath: 'a/b', isFolderMarker: true });
    expect(() => resolveKey('/m', 'a/b/', 3)).toThrow(/empty path segment/);
    expect(resolveKey('/m', 'a/b', 0)).toMatchObject({ relPath: 'a/b', isFolderMarker: false });
  });
});
