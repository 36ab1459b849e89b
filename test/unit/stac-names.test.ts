// The STAC mirror's layout rule for reserved names (mirror/stac-names.ts): a collection, item or file
// name from the server that would take a catalog file's name at its depth, in any spelling a
// filesystem may fold together, is stored with `%%` in front; nothing else is, and no mapped name can
// be another key's name.
import { describe, expect, it } from 'vitest';
import { escapeSegment } from '../../src/api/stac/items.js';
import { mirrorTarget } from '../../src/mirror/layout.js';
import { RESERVED_DIR } from '../../src/mirror/paths.js';
import { INDEX_FILE } from '../../src/mirror/stac-index.js';
import { collectionFilePath, isCatalogName, itemJsonPath, itemOfKey, mapStacSegments } from '../../src/mirror/stac-names.js';

const key = (c: string, i: string, f: string) => `${escapeSegment(c)}/${escapeSegment(i)}/${escapeSegment(f)}`;
const stacPath = (c: string, i: string, f: string) => mirrorTarget('/m', key(c, i, f), 1, { names: 'stac' }).relPath;

/** Every case spelling of a name (up to 2^n, capped), plus NFKC and trailing-dot/space spellings. */
function spellings(name: string): string[] {
  const out = new Set<string>([name, name.toUpperCase(), name[0]!.toUpperCase() + name.slice(1), `${name}.`, `${name} `]);
  const letters = [...name].map((ch, i) => [ch, i] as const).filter(([ch]) => ch.toLowerCase() !== ch.toUpperCase());
  for (let mask = 0; mask < Math.min(1 << letters.length, 512); mask++) {
    const chars = [...name];
    letters.forEach(([ch, i], b) => (chars[i] = mask & (1 << b) ? ch.toUpperCase() : ch.toLowerCase()));
    out.add(chars.join(''));
  }
  // Full-width first letter (NFKC folds it back).
  const fw = String.fromCharCode(name.charCodeAt(0) - 0x20 + 0xff00);
  if (/[a-z]/.test(name[0]!)) out.add(fw + name.slice(1));
  return [...out];
}

describe('STAC layout: reserved names', () => {
  it('a collection named catalog.json or .constellr-sync, in any spelling, gets its own folder', () => {
    for (const c of [...spellings('catalog.json'), ...spellings(RESERVED_DIR)]) {
      const p = stacPath(c, 'i', 'a.tif');
      expect(p, c).toBe(`%%${c}/i/a.tif`);
      expect(isCatalogName(0, p.split('/')[0]!), c).toBe(false);
    }
    expect(collectionFilePath('catalog.json')).toBe('%%catalog.json/collection.json');
    // The GeoParquet index sits at the root too.
    for (const c of spellings(INDEX_FILE)) expect(stacPath(c, 'i', 'a.tif'), c).toBe(`%%${c}/i/a.tif`);
  });

  it('an item named collection.json, in any spelling, gets its own folder; its JSON is inside it', () => {
    for (const i of spellings('collection.json')) expect(stacPath('c', i, 'a.tif'), i).toBe(`c/%%${i}/a.tif`);
    expect(itemJsonPath('c', 'collection.json')).toBe('c/%%collection.json/collection.json.json');
    // An item named catalog.json is not at the root: nothing to map.
    expect(stacPath('c', 'catalog.json', 'a.tif')).toBe('c/catalog.json/a.tif');
  });

  it('an asset named <id>.json, in any spelling, never takes the item JSON; <id>.item.json and collection.json are plain files', () => {
    for (const f of spellings('scene.json')) expect(stacPath('c', 'scene', f), f).toBe(`c/scene/%%${f}`);
    expect(stacPath('c', 'scene', 'scene.item.json')).toBe('c/scene/scene.item.json');
    expect(stacPath('c', 'scene', 'collection.json')).toBe('c/scene/collection.json');
    expect(stacPath('c', 'scene', 'catalog.json')).toBe('c/scene/catalog.json');
    expect(itemJsonPath('c', 'scene')).toBe('c/scene/scene.json');
  });

  it('a mapped name is never another name: names with % are escaped, so %% appears only in mapped ones', () => {
    // An item whose id starts with % (escaped to %25…) and the asset names that could look alike.
    const id = '%x';
    const json = itemJsonPath('c', escapeSegment(id));
    expect(json).toBe('c/%25x/%25x.json');
    const paths = ['%x.json', '25x.json', '%25x.json', '%%x.json'].map((f) => stacPath('c', id, f));
    expect(new Set(paths).size).toBe(paths.length);
    expect(paths).not.toContain(json);
    expect(paths[0]).toBe('c/%25x/%%%25x.json');
  });

  it('plain keys (source: assets) are unchanged, and still refuse the reserved folder', () => {
    expect(mirrorTarget('/m', 'catalog.json/i/a.tif', 1).relPath).toBe('catalog.json/i/a.tif');
    expect(mirrorTarget('/m', 'c/collection.json/a.tif', 1).relPath).toBe('c/collection.json/a.tif');
    expect(() => mirrorTarget('/m', `${RESERVED_DIR}/x/a.tif`, 1)).toThrow(/reserved folder/);
  });

  it('ordinary names are not mapped', () => {
    expect(mapStacSegments(['lstzoom', 'LST_2026', 'LST_2026_LST.tiff'], ['lstzoom', 'LST_2026', 'LST_2026_LST.tiff'])).toEqual(['lstzoom', 'LST_2026', 'LST_2026_LST.tiff']);
    expect(itemOfKey(key('a/b', 'x', 'f'))).toEqual({ collection: 'a/b', id: 'x' });
  });
});
