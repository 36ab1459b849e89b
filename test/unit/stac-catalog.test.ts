// The catalog's documents, built from stored items and jobs: relative links only, no self, a
// canonical link, local hrefs with file:size and file:checksum, the extent of the mirrored items.
import { describe, expect, it } from 'vitest';
import { escapeSegment } from '../../src/api/stac/items.js';
import { buildCatalog, buildCollection, buildItem, itemOfKey, FILE_EXTENSION } from '../../src/mirror/stac-catalog.js';
import { itemExtent } from '../../src/mirror/stac-extent.js';
import type { StoredItem } from '../../src/store/catalog-store.js';
import type { Job } from '../../src/store/types.js';

function job(key: string, localPath: string, bytes: number, sha: string): Job {
  return {
    id: 1, key, remoteModifiedMs: 1000, remoteSize: bytes, remoteEtag: null, revision: 1, state: 'done', attempts: 1, runAt: 0,
    errorClass: null, errorStatus: null, errorMessage: null, localPath, localModifiedMs: 1000, bytesWritten: bytes, sha256: sha,
    updatedAt: 0, finishedAt: 0, mirrorPath: localPath, shortened: false, remoteDeletedAt: null, localRemoved: null,
  };
}

const raw = {
  type: 'Feature', stac_version: '1.0.0', id: 'A/B', collection: 'c1',
  geometry: { type: 'Point', coordinates: [1, 2] }, bbox: [1, 2, 3, 4],
  properties: { datetime: '2026-01-02T03:04:05Z' },
  links: [{ rel: 'self', href: 'https://api/x' }, { rel: 'license', href: 'https://example.org/license' }, { rel: 'parent', href: 'https://api/c' }],
  assets: {
    lst: { href: 'https://storage/a.tif?X-Amz-Date=20260101T000000Z&X-Amz-Expires=60', type: 'image/tiff', roles: ['data'] },
    meta: { href: 'https://storage/m.json?X-Amz-Date=20260101T000000Z&X-Amz-Expires=60', type: 'application/json' },
    thumb: { href: 'https://storage/t.png' },
  },
};

describe('STAC catalog documents', () => {
  it('item: local relative hrefs, file:size and file:checksum, canonical, no self, only selected assets', () => {
    const dir = `c1/${escapeSegment('A/B')}`;
    const row: StoredItem = {
      collection: 'c1', id: 'A/B', raw: JSON.stringify(raw), apiUrl: 'https://api/stac/collections/c1/items/A%2FB', written: null, jsonPath: null, writtenExtent: null,
      assets: [{ asset: 'lst', key: `${dir}/a.tif`, version: 1000 }, { asset: 'meta', key: `${dir}/m.json`, version: 1000 }],
    };
    const { text, jsonPath } = buildItem(row, [job(`${dir}/a.tif`, `${dir}/a.tif`, 10, 'ab'.repeat(32)), job(`${dir}/m.json`, `${dir}/m.json`, 5, 'cd'.repeat(32))]);
    expect(jsonPath).toBe('c1/A%2FB/A%2FB.json');
    const item = JSON.parse(text) as { links: { rel: string; href: string }[]; assets: Record<string, Record<string, unknown>>; stac_extensions: string[] };
    expect(item.links.map((l) => l.rel)).not.toContain('self');
    expect(item.links).toEqual(
      expect.arrayContaining([
        { rel: 'root', href: '../../catalog.json', type: 'application/json' },
        { rel: 'collection', href: '../collection.json', type: 'application/json' },
        { rel: 'canonical', href: 'https://api/stac/collections/c1/items/A%2FB', type: 'application/geo+json' },
        { rel: 'license', href: 'https://example.org/license' },
      ]),
    );
    expect(Object.keys(item.assets).sort()).toEqual(['lst', 'meta']);
    expect(item.assets.lst).toEqual({ href: './a.tif', type: 'image/tiff', roles: ['data'], 'file:size': 10, 'file:checksum': `1220${'ab'.repeat(32)}` });
    expect(item.stac_extensions).toEqual([FILE_EXTENSION]);
  });

  it('item JSON has its own path by the layout rule; an asset named <id>.json is mapped away from it', () => {
    const row: StoredItem = { collection: 'c', id: 'x', raw: JSON.stringify({ ...raw, id: 'x' }), apiUrl: 'https://api/i', written: null, jsonPath: null, writtenExtent: null, assets: [{ asset: 'meta', key: 'c/x/x.json', version: 1000 }] };
    const r = buildItem(row, [job('c/x/x.json', 'c/x/%%x.json', 1, '00'.repeat(32))]);
    expect(r.jsonPath).toBe('c/x/x.json');
    expect((JSON.parse(r.text) as { assets: Record<string, { href: string }> }).assets.meta!.href).toBe('./%%x.json');
  });

  it('every document says stac_version 1.1.0, whatever the API said', () => {
    const row: StoredItem = { collection: 'c', id: 'x', raw: JSON.stringify({ ...raw, id: 'x', stac_version: '1.0.0' }), apiUrl: 'https://api/i', written: null, jsonPath: null, writtenExtent: null, assets: [{ asset: 'lst', key: 'c/x/a.tif', version: 1000 }] };
    expect(JSON.parse(buildItem(row, [job('c/x/a.tif', 'c/x/a.tif', 1, '00'.repeat(32))]).text).stac_version).toBe('1.1.0');
    expect(JSON.parse(buildCollection({ id: 'c', stac_version: '1.0.0' }, 'c/collection.json', [])).stac_version).toBe('1.1.0');
    expect(JSON.parse(buildCatalog(['c'])).stac_version).toBe('1.1.0');
  });

  it('collection: relative links to its items, extent of the mirrored items, expiring asset hrefs dropped', () => {
    const item = (id: string, bbox: number[], datetime: string): StoredItem & { writtenExtent: string } => ({
      collection: 'c1', id, raw: JSON.stringify({ ...raw, id, bbox: [99, 99, 99, 99], properties: { datetime: '2030-01-01T00:00:00Z' } }), apiUrl: '', assets: [], written: 'x', jsonPath: `c1/${id}/${id}.json`,
      // The extent comes from the version written (the listing in `raw` may be newer, not downloaded yet).
      writtenExtent: JSON.stringify(itemExtent(JSON.stringify({ bbox, properties: { datetime } }))),
    });
    const doc = {
      id: 'c1', type: 'Collection', description: 'd', license: 'l', extent: { spatial: { bbox: [[-180, -90, 180, 90]] }, temporal: { interval: [[null, null]] } },
      links: [{ rel: 'self', href: 'https://api/c1' }, { rel: 'items', href: 'https://api/c1/items' }, { rel: 'license', href: 'https://l' }],
      assets: { a: { href: 'https://s/x?X-Amz-Date=20260101T000000Z&X-Amz-Expires=60' }, b: { href: 'https://s/y' } },
    };
    const c = JSON.parse(buildCollection(doc, 'c1/collection.json', [item('i1', [0, 0, 1, 1], '2026-01-01T00:00:00Z'), item('i2', [-5, 2, 0.5, 8], '2026-03-01T00:00:00Z')])) as Record<string, any>;
    expect(c.extent.spatial.bbox).toEqual([[-5, 0, 1, 8]]);
    expect(c.extent.temporal.interval).toEqual([['2026-01-01T00:00:00.000Z', '2026-03-01T00:00:00.000Z']]);
    expect(c.links).toEqual([
      { rel: 'root', href: '../catalog.json', type: 'application/json' },
      { rel: 'parent', href: '../catalog.json', type: 'application/json' },
      { rel: 'item', href: './i1/i1.json', type: 'application/geo+json' },
      { rel: 'item', href: './i2/i2.json', type: 'application/geo+json' },
      { rel: 'license', href: 'https://l' },
    ]);
    expect(Object.keys(c.assets)).toEqual(['b']);
  });

  it('catalog: root and one child per collection, escaped like the folders', () => {
    const cat = JSON.parse(buildCatalog(['c1', 'a/b'])) as { links: { rel: string; href: string }[] };
    expect(cat.links.map((l) => [l.rel, l.href])).toEqual([['root', './catalog.json'], ['child', './c1/collection.json'], ['child', './a%2Fb/collection.json']]);
  });

  it('job keys map back to (collection, item id) through the escaping', () => {
    for (const [c, id] of [['c1', 'plain'], ['a/b', '../../etc/passwd'], ['x%2F', 'back\\slash%25']] as const)
      expect(itemOfKey(`${escapeSegment(c)}/${escapeSegment(id)}/file.tif`)).toEqual({ collection: c, id });
    expect(itemOfKey('no-item')).toBeNull();
  });
});
